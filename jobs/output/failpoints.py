"""Named points where the fault-injection tests stop or break a `rerate` run.

`RERATE_FAILPOINT=kill@publish:3` kills the process with SIGKILL just before step 3 of a
publish; `raise@staged` raises an exception there. `image@publish` copies the output folder
to `$RERATE_FAILPOINT_IMAGES/publish-N` before every step N of a publish and goes on: each copy
is what a crash at that point leaves on disk (every step before it is a finished file
operation), so one run yields a crash image of every step. Several specs are separated by
commas. Unset (always, in production), a failpoint does nothing. They exist so that the tests
can prove, on real files (and, for a kill, a real process), that a crash at any step of a
publish or rollback leaves nothing partial behind.
"""

import os
import shutil
import signal
from pathlib import Path

ENV = "RERATE_FAILPOINT"
IMAGES_ENV = "RERATE_FAILPOINT_IMAGES"


class InjectedFault(RuntimeError):
    pass


def failpoint(name: str, output: str | None = None) -> None:
    """Acts on the specs that name this point; `output` is the output folder the process is
    changing there (needed by `image`)."""
    for spec in os.environ.get(ENV, "").split(","):
        action, _, point = spec.strip().partition("@")
        if action == "image" and (name == point or name.startswith(point + ":")):
            _take_image(name, output)
        elif point == name and action == "kill":
            os.killpg(os.getpgrp(), signal.SIGKILL)
        elif point == name and action == "raise":
            raise InjectedFault(f"fault injected at {name}")


def _take_image(name: str, output: str | None) -> None:
    folder = os.environ.get(IMAGES_ENV)
    if not folder or not output or "://" in output.removeprefix("file://"):
        raise InjectedFault(f"image@{name} needs {IMAGES_ENV} and a local output folder")
    target = Path(folder) / name.replace(":", "-")
    shutil.copytree(output.removeprefix("file://"), target, symlinks=True)
