"""The state an account brings into a run, derived from what earlier runs published.

The previous published `limits` give the old limit, status and score; the published
`limit_changes` before the run give the dates and limits the rules need (the last raise, when a
suspension began and the limit before it). Deriving them keeps a rollback honest: a withdrawn
run's changes are simply no longer there.
"""

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

PREVIOUS_COLUMNS = (
    "prev_limit",
    "prev_status",
    "prev_score",
    "last_raise_on",
    "last_increase_on",
    "suspended_on",
    "pre_suspension_limit",
    "suspension_reasons",
)


def summarize_history(limit_changes: DataFrame, *, before: date) -> DataFrame:
    """Per user: the last raise (increase or reinstatement), the last increase proper and the
    latest suspension."""
    earlier = limit_changes.filter(F.col("run_date") < F.lit(before))
    raised = F.col("change_type").isin("increase", "reinstate")
    latest_suspension = F.max_by(
        F.struct("run_date", "old_limit", "reason_codes"),
        F.when(F.col("change_type") == "suspend", F.col("run_date")),
    )
    return (
        earlier.groupBy("user_id")
        .agg(
            F.max(F.when(raised, F.col("run_date"))).alias("last_raise_on"),
            F.max(F.when(F.col("change_type") == "increase", F.col("run_date"))).alias(
                "last_increase_on"
            ),
            latest_suspension.alias("suspension"),
        )
        .select(
            "user_id",
            "last_raise_on",
            "last_increase_on",
            F.col("suspension.run_date").alias("suspended_on"),
            F.col("suspension.old_limit").alias("pre_suspension_limit"),
            F.col("suspension.reason_codes").alias("suspension_reasons"),
        )
    )


def previous_state(previous_limits: DataFrame, history: DataFrame) -> DataFrame:
    """Per user known before the run: PREVIOUS_COLUMNS (any may be null for a new account)."""
    prev = previous_limits.select(
        "user_id",
        F.col("credit_limit").alias("prev_limit"),
        F.col("status").alias("prev_status"),
        F.col("score").alias("prev_score"),
    )
    return prev.join(history, "user_id", "full_outer").select("user_id", *PREVIOUS_COLUMNS)
