"""The diff: the accounts whose limit or status changed, in the `limit_changes` layout."""

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.schemas import AMOUNT, LIMIT_CHANGES, LIMITS, names


def change_type(
    old_status: Column, new_status: Column, old_limit: Column, new_limit: Column
) -> Column:
    """active->suspended is a suspend, back a reinstate; between actives the sign decides;
    closures and unchanged accounts are not changes (null)."""
    return (
        F.when((old_status == "active") & (new_status == "suspended"), "suspend")
        .when((old_status == "suspended") & (new_status == "active"), "reinstate")
        .when(
            (old_status == "active") & (new_status == "active") & (new_limit > old_limit),
            "increase",
        )
        .when(
            (old_status == "active") & (new_status == "active") & (new_limit < old_limit),
            "decrease",
        )
    )


DECIDED_COLUMNS = (
    "user_id",
    "score",
    "credit_limit",
    "limit_status",
    "balance",
    "segment",
    "account_reasons",
    "old_limit",
    "old_status",
    "prev_score",
    "change_reasons",
    "policy_version",
    "cell",
)
"""What `to_limits` and `classify_changes` read of a decision: all a night needs to keep of it."""


def to_limits(decided: DataFrame, *, run_date: date) -> DataFrame:
    """One row per account, in the contract's `limits` layout."""
    return decided.select(
        F.col("user_id"),
        F.lit(run_date).alias("run_date"),
        F.col("score").cast("int"),
        F.col("credit_limit").cast(AMOUNT),
        F.col("limit_status").alias("status"),
        F.col("balance").cast(AMOUNT),
        F.col("segment"),
        F.col("account_reasons").alias("reason_codes"),
        "policy_version",
        "cell",
    ).select(*names(LIMITS))


def classify_changes(decided: DataFrame, *, run_date: date) -> DataFrame:
    """The changed accounts, in the contract's `limit_changes` layout."""
    kind = change_type(
        F.col("old_status"), F.col("limit_status"), F.col("old_limit"), F.col("credit_limit")
    )
    return (
        decided.withColumn("change_type", kind)
        .filter(F.col("change_type").isNotNull())
        .select(
            F.col("user_id"),
            F.lit(run_date).alias("run_date"),
            F.col("change_type"),
            F.col("old_limit").cast(AMOUNT),
            F.col("credit_limit").cast(AMOUNT).alias("new_limit"),
            F.col("old_status"),
            F.col("limit_status").alias("new_status"),
            F.col("prev_score").cast("int").alias("old_score"),
            F.col("score").cast("int").alias("new_score"),
            F.col("change_reasons").alias("reason_codes"),
            "policy_version",
            "cell",
        )
        .select(*names(LIMIT_CHANGES))
    )


ROLLBACK = "ROLLBACK"


def reversal_of(changes: DataFrame) -> DataFrame:
    """The diff that undoes a run: each change with old and new swapped, the change type
    mirrored and the reason `ROLLBACK`, in the `limit_changes` layout."""
    return changes.select(
        F.col("user_id"),
        F.col("run_date"),
        F.when(F.col("change_type") == "increase", "decrease")
        .when(F.col("change_type") == "decrease", "increase")
        .when(F.col("change_type") == "suspend", "reinstate")
        .when(F.col("change_type") == "reinstate", "suspend")
        .alias("change_type"),
        F.col("new_limit").alias("old_limit"),
        F.col("old_limit").alias("new_limit"),
        F.col("new_status").alias("old_status"),
        F.col("old_status").alias("new_status"),
        F.col("new_score").alias("old_score"),
        F.col("old_score").alias("new_score"),
        F.array(F.lit(ROLLBACK)).alias("reason_codes"),
        F.col("policy_version"),
        F.col("cell"),
    ).select(*names(LIMIT_CHANGES))
