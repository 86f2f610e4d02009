"""Named points where the fault-injection tests stop a real `rerate` process.

`RERATE_FAILPOINT=kill@publish:3` kills the process with SIGKILL just before step 3 of a
publish; `raise@staged` raises an exception there. Unset (always, in production), a failpoint
does nothing. They exist so that the tests can prove, on a real process and real files, that a
crash at any step of a publish or rollback leaves nothing partial behind.
"""

import os
import signal

ENV = "RERATE_FAILPOINT"


class InjectedFault(RuntimeError):
    pass


def failpoint(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec or "@" not in spec:
        return
    action, point = spec.split("@", 1)
    if point != name:
        return
    if action == "kill":
        os.killpg(os.getpgrp(), signal.SIGKILL)
    if action == "raise":
        raise InjectedFault(f"fault injected at {name}")
