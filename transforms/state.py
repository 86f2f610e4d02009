"""The state an account brings into a run, derived from what earlier runs published.

The previous published `limits` give the old limit, status and score; the published
`limit_changes` before the run give the dates and limits the rules need (the last raise, when a
suspension began and the limit before it). Deriving them keeps a rollback honest: a withdrawn
run's changes are simply no longer there.
"""

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.notices import PENDING_AS_PREVIOUS, pending_as_previous

PREVIOUS_COLUMNS = (
    "prev_limit",
    "prev_status",
    "prev_score",
    "prev_segment",
    "last_raise_on",
    "last_increase_on",
    "suspended_on",
    "pre_suspension_limit",
    "suspension_reasons",
    *PENDING_AS_PREVIOUS,
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


def previous_state(previous_limits: DataFrame, history: DataFrame, pending: DataFrame) -> DataFrame:
    """Per user known before the run: PREVIOUS_COLUMNS (any may be null for a new account).
    `pending` holds the cuts announced and not yet applied or withdrawn (transforms.notices)."""
    prev = previous_limits.select(
        "user_id",
        F.col("credit_limit").alias("prev_limit"),
        F.col("status").alias("prev_status"),
        F.col("score").alias("prev_score"),
        F.col("segment").alias("prev_segment"),
    )
    return (
        prev.join(history, "user_id", "full_outer")
        .join(pending_as_previous(pending), "user_id", "left")
        .select("user_id", *PREVIOUS_COLUMNS)
    )
