"""How an attempt ends: the contract's exit codes and the report status each one writes."""

import traceback
from enum import IntEnum

from py4j.protocol import Py4JJavaError


class ExitCode(IntEnum):
    PUBLISHED = 0
    FAILURE = 1
    USAGE = 2
    NOT_READY = 3
    BAD_INPUT = 4
    BLOCKED = 5
    DIFFERS = 6  # `rerate replay` only


STATUS = {
    ExitCode.PUBLISHED: "published",
    ExitCode.FAILURE: "failed",
    ExitCode.USAGE: "usage_error",
    ExitCode.NOT_READY: "not_ready",
    ExitCode.BAD_INPUT: "bad_input",
    ExitCode.BLOCKED: "blocked",
    ExitCode.DIFFERS: "differs",
}


class Stop(Exception):
    """Ends an attempt early with an exit code and a reason the report states."""

    def __init__(self, code: ExitCode, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


WHAT_TO_DO = {
    ExitCode.FAILURE: "an unexpected failure: the attempt's report (runs/run_date=D/attempts/) "
    "has the reason and the last frames of its traceback; nothing was published, so a retry is "
    "safe, and helps only if the cause has passed",
    ExitCode.USAGE: "fix the command or the configuration named above; a retry will not help",
    ExitCode.NOT_READY: "wait for the upstream loader to finish the partition (its _SUCCESS); "
    "retry later",
    ExitCode.BAD_INPUT: "ask the ledger's owner to fix or reload the partition named above, then "
    "run again; `rerate validate --date D` rechecks the input alone",
    ExitCode.BLOCKED: "look at the figures and the largest cuts in the report; if the change is "
    'real, run again with --accept-anomaly "why"; if not, find the upstream cause',
    ExitCode.DIFFERS: "the published decision cannot be reproduced from what its run recorded: "
    "compare the rows above, and the run's code_version with the installed one",
}

OUT_OF_MEMORY = (
    "Spark ran out of memory, and a retry with the same settings runs out again: raise "
    "spark.driver.memory in the profile (local) or the executors' memory (cluster, "
    "spark-submit --conf spark.executor.memory=...), then run again; nothing was published"
)
# Failures the job recognises by their reason, each with its own advice (the first that
# matches): a retry alone does not help any of them.
KNOWN_FAILURES = (
    (("OutOfMemory", "OUT_OF_MEMORY"), OUT_OF_MEMORY),
    (
        ("No space left on device", "disk quota exceeded", "Disk quota exceeded", "ENOSPC"),
        "the disk that holds the output is full: free space there (or move the output), then "
        "run again; nothing was published, and the next run cleans up what this one left",
    ),
    (
        (
            "Read-only file system",
            "Permission denied",
            "AccessDenied",
            "EROFS",
            "the output cannot be written",  # the lock file could not even be made
        ),
        "the output cannot be written (read-only or permission denied): fix its mount or "
        "permissions for the user the job runs as; a retry will not help until then",
    ),
    (
        ("another run holds the output",),
        "another rerate is writing this output (the lock above names it): wait for it to end "
        "and run again. A lock left by a process that died on this host is taken over by the "
        "next run; one from another host is not: if that process is gone, delete the lock file",
    ),
)


def failure_reason(e: BaseException) -> str:
    """One line that names what went wrong. A Spark failure arrives as a Py4JJavaError whose
    first line only names the JVM call ("An error occurred while calling o214.parquet"): its
    innermost Java cause says what happened."""
    if isinstance(e, Py4JJavaError):
        try:
            cause = e.java_exception
            while cause.getCause() is not None:
                cause = cause.getCause()
            name = cause.getClass().getSimpleName()
            message = (cause.getMessage() or "").strip().splitlines()
            return f"{name}: {message[0]}" if message else name
        except Exception:  # noqa: BLE001 - a JVM that is gone cannot be asked: the Python text
            pass
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def what_to_do(code: ExitCode, reason: str | None) -> str:
    if code == ExitCode.FAILURE and reason:
        for marks, advice in KNOWN_FAILURES:
            if any(mark in reason for mark in marks):
                return advice
    return WHAT_TO_DO[code]


def traceback_tail(e: BaseException, frames: int = 8) -> str:
    """The last `frames` Python frames of a failure and its one-line reason: where it happened,
    without the thousand lines of a Java stack."""
    stack = traceback.extract_tb(e.__traceback__)[-frames:]
    return "".join(traceback.format_list(stack)) + failure_reason(e) + "\n"
