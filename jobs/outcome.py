"""How an attempt ends: the contract's exit codes and the report status each one writes."""

from enum import IntEnum


class ExitCode(IntEnum):
    PUBLISHED = 0
    FAILURE = 1
    USAGE = 2
    NOT_READY = 3
    BAD_INPUT = 4
    BLOCKED = 5


STATUS = {
    ExitCode.PUBLISHED: "published",
    ExitCode.FAILURE: "failed",
    ExitCode.USAGE: "usage_error",
    ExitCode.NOT_READY: "not_ready",
    ExitCode.BAD_INPUT: "bad_input",
    ExitCode.BLOCKED: "blocked",
}


class Stop(Exception):
    """Ends an attempt early with an exit code and a reason the report states."""

    def __init__(self, code: ExitCode, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


WHAT_TO_DO = {
    ExitCode.FAILURE: "read the reason and the traceback in the report; a retry is safe",
    ExitCode.USAGE: "fix the command or the configuration named above; a retry will not help",
    ExitCode.NOT_READY: "wait for the upstream loader to finish the partition (its _SUCCESS); "
    "retry later",
    ExitCode.BAD_INPUT: "ask the ledger's owner to fix or reload the partition named above, then "
    "run again; `rerate validate --date D` rechecks the input alone",
    ExitCode.BLOCKED: "look at the figures and the largest cuts in the report; if the change is "
    'real, run again with --accept-anomaly "why"; if not, find the upstream cause',
}
