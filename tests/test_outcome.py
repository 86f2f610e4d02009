"""What a failed run tells the operator: the cause, and what to do about it."""

import pytest
from py4j.protocol import Py4JJavaError

from jobs.outcome import OUT_OF_MEMORY, WHAT_TO_DO, ExitCode, failure_reason, what_to_do


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
    reason = failure_reason(_spark_failure(spark, jvm.java.io.IOException("disk quota exceeded")))
    assert reason == "IOException: disk quota exceeded"
    assert what_to_do(ExitCode.FAILURE, reason) == WHAT_TO_DO[ExitCode.FAILURE]

    without_message = _spark_failure(spark, jvm.java.lang.IllegalStateException())
    assert failure_reason(without_message) == "IllegalStateException"
    two_lines = _spark_failure(spark, jvm.java.lang.IllegalStateException("first\nsecond"))
    assert failure_reason(two_lines) == "IllegalStateException: first"

    assert failure_reason(ValueError("bad\nsecond line")) == "ValueError: bad"
