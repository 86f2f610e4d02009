"""What a failed run tells the operator: the cause, and what to do about it."""

import pytest
from py4j.protocol import Py4JJavaError

from jobs.outcome import (
    OUT_OF_MEMORY,
    WHAT_TO_DO,
    ExitCode,
    failure_reason,
    traceback_tail,
    what_to_do,
)


def _spark_failure(spark, cause) -> Py4JJavaError:
    """A real Py4JJavaError as Spark raises one: a JVM call that throws, wrapping `cause`."""
    jvm = spark.sparkContext._jvm
    with pytest.raises(Py4JJavaError) as raised:
        jvm.java.util.concurrent.CompletableFuture.failedFuture(cause).get()
    return raised.value


def test_a_spark_failure_is_reported_by_its_innermost_cause_not_the_jvm_call(spark):
    jvm = spark.sparkContext._jvm
    error = _spark_failure(
        spark, jvm.java.lang.OutOfMemoryError("No enough memory for aggregation")
    )
    assert "An error occurred while calling" in str(error).splitlines()[0]

    reason = failure_reason(error)

    assert reason == "OutOfMemoryError: No enough memory for aggregation"
    assert what_to_do(ExitCode.FAILURE, reason) == OUT_OF_MEMORY
    assert "spark.driver.memory" in OUT_OF_MEMORY


def test_other_failures_keep_their_first_line_and_the_usual_advice(spark):
    jvm = spark.sparkContext._jvm
    reason = failure_reason(_spark_failure(spark, jvm.java.io.IOException("connection reset")))
    assert reason == "IOException: connection reset"
    assert what_to_do(ExitCode.FAILURE, reason) == WHAT_TO_DO[ExitCode.FAILURE]

    without_message = _spark_failure(spark, jvm.java.lang.IllegalStateException())
    assert failure_reason(without_message) == "IllegalStateException"
    two_lines = _spark_failure(spark, jvm.java.lang.IllegalStateException("first\nsecond"))
    assert failure_reason(two_lines) == "IllegalStateException: first"

    assert failure_reason(ValueError("bad\nsecond line")) == "ValueError: bad"


@pytest.mark.parametrize(
    ("reason", "advice"),
    [
        ("IOException: No space left on device", "is full: free space"),
        ("IOException: disk quota exceeded", "is full: free space"),
        ("AccessDeniedException: /out/_staging", "read-only or permission denied"),
        ("the output cannot be written: IOException: Mkdirs failed", "read-only or permission"),
        ("another run holds the output: /out/_lock is held by", "wait for it to end"),
    ],
)
def test_a_failure_the_job_recognises_gets_its_own_advice_not_a_retry(reason, advice):
    said = what_to_do(ExitCode.FAILURE, reason)
    assert advice in said
    assert "a retry is safe" not in said and said != WHAT_TO_DO[ExitCode.FAILURE]


def test_the_report_keeps_the_last_frames_and_the_reason_not_the_whole_trace():
    def deep(n):
        if n == 0:
            raise ValueError("the cause\nsecond line")
        deep(n - 1)

    try:
        deep(20)
    except ValueError as e:
        tail = traceback_tail(e, frames=4)
    lines = tail.splitlines()
    assert lines[-1] == "ValueError: the cause"
    assert sum(line.startswith("  File ") for line in lines) == 4
    assert 'raise ValueError("the cause' in tail
