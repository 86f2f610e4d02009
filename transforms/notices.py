"""Notices: what each affected user is told by a run, and the cuts announced and not yet applied.

The limit decision (transforms.limits) announces a cut short of suspension instead of applying
it (`d_step = announce`), holds the limit while the notice runs (`notice_pending`) and applies it
on or after the effective date (`decrease`). This module turns a decision into the contract's
`notices` rows and into the pending notices a run carries to the next: one row per account
whose announced cut is neither applied nor withdrawn yet.

A normal night reads the pending notices from the previous run's carried state; a full recompute
derives the same from the published notices (`pending_from_published`): an account's notice is
pending when the newest notice that starts or ends one is a `pending_decrease`.
"""

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.schemas import AMOUNT, NOTICES, names

PENDING = T.StructType(
    [
        T.StructField("user_id", T.LongType(), False),
        T.StructField("announced_on", T.DateType(), False),
        T.StructField("effective_date", T.DateType(), False),
        T.StructField("proposed_limit", AMOUNT, False),
        T.StructField("reason_codes", T.ArrayType(T.StringType())),
        T.StructField("next_steps", T.ArrayType(T.StringType())),
    ]
)
# The pending notice as the decision reads it, joined with the previous state.
PENDING_AS_PREVIOUS = tuple(f"pending_{name}" for name in names(PENDING)[1:])
# The kinds that start or end a pending notice.
PENDING_EVENTS = ("pending_decrease", "decreased", "decrease_withdrawn", "suspended")
DORMANT = "DORMANT"

DECIDED_COLUMNS = (
    "notice_kind",
    "d_notice_until",
    "d_step",
    "d_cut_limit",
    "d_held",
    "d_frozen",
    "last_raise_on",
    "last_increase_on",
    "suspended_on",
    "pre_suspension_limit",
    "suspension_reasons",
    "cut_reasons",
    "pending_announced_on",
    "pending_effective_date",
    "pending_proposed_limit",
    "pending_reason_codes",
    "pending_next_steps",
)
"""What notices and their steps (transforms.next_steps) need of a decision, besides
transforms.diff.DECIDED_COLUMNS."""


def pending_as_previous(pending: DataFrame) -> DataFrame:
    return pending.select("user_id", *(F.col(n).alias(f"pending_{n}") for n in names(PENDING)[1:]))


def pending_from_published(notices: DataFrame, previous_limits: DataFrame) -> DataFrame:
    """The pending notices as a full recompute derives them: from every published notice before
    the run, of the accounts active in the previous published run."""
    newest = (
        notices.filter(F.col("kind").isin(*PENDING_EVENTS))
        .groupBy("user_id")
        .agg(
            F.max_by(F.struct(*(c for c in names(NOTICES) if c != "user_id")), "run_date").alias(
                "n"
            )
        )
        .filter(F.col("n.kind") == "pending_decrease")
    )
    active = previous_limits.filter(F.col("status") == "active").select("user_id")
    return newest.join(active, "user_id", "left_semi").select(
        "user_id",
        F.col("n.run_date").alias("announced_on"),
        F.col("n.effective_date").alias("effective_date"),
        F.col("n.proposed_limit").alias("proposed_limit"),
        F.col("n.reason_codes").alias("reason_codes"),
        F.col("n.next_steps").alias("next_steps"),
    )


def notice_kind(*, dormant_turned: Column) -> Column:
    """The notice an account gets from a decision (null: none). One per account and run: a
    withdrawn cut is told before a re-engagement."""
    step = F.col("d_step")
    return (
        F.when(step == "announce", "pending_decrease")
        .when(step == "decrease", "decreased")
        .when((step == "suspend") & (F.col("old_status") == "active"), "suspended")
        .when(step == "reinstate", "reinstated")
        .when(
            F.col("d_has_notice") & ~step.isin("notice_pending", "suspend", "closed"),
            "decrease_withdrawn",
        )
        .when(dormant_turned, "re_engage")
    )


def turned_dormant() -> Column:
    """An active account's first run in the dormant segment, in good standing, kept as it is."""
    return (
        (F.col("limit_status") == "active")
        & (F.col("segment") == "dormant")
        & F.col("prev_segment").isNull()
        & (F.col("prev_status") == "active")
        & F.col("d_good_standing")
        & (F.col("d_step") == "hold")
    )


def with_notice_kind(decided: DataFrame) -> DataFrame:
    return decided.withColumn("notice_kind", notice_kind(dormant_turned=turned_dormant()))


def to_notices(decided: DataFrame, steps: DataFrame, *, run_date: date) -> DataFrame:
    """The contract's `notices` rows of a decision; `steps` holds `next_steps` per user for the
    notices that carry steps (transforms.next_steps)."""
    kind = F.col("notice_kind")
    empty = F.array().cast("array<string>")
    proposed = F.when(kind == "pending_decrease", F.col("d_cut_limit")).when(
        kind.isin("decreased", "suspended", "reinstated"), F.col("credit_limit")
    )
    reasons = (
        F.when(kind.isin("pending_decrease", "decreased"), F.col("cut_reasons"))
        .when(kind.isin("suspended", "reinstated"), F.col("change_reasons"))
        .when(kind == "re_engage", F.array(F.lit(DORMANT)))
    )
    return (
        decided.filter(kind.isNotNull())
        .join(steps, "user_id", "left")
        .select(
            "user_id",
            F.lit(run_date).alias("run_date"),
            kind.alias("kind"),
            F.col("credit_limit").cast(AMOUNT).alias("current_limit"),
            proposed.cast(AMOUNT).alias("proposed_limit"),
            F.when(kind == "pending_decrease", F.col("d_notice_until")).alias("effective_date"),
            F.coalesce(reasons, empty).alias("reason_codes"),
            F.coalesce(F.col("next_steps"), empty).alias("next_steps"),
            "policy_version",
            "cell",
        )
        .select(*names(NOTICES))
    )


def pending_after(decided: DataFrame, steps: DataFrame, *, run_date: date) -> DataFrame:
    """The pending notices a run carries to the next: the cuts it announced, and the earlier
    ones still waiting for their effective date."""
    announced = decided.filter(F.col("d_step") == "announce").join(steps, "user_id", "left")
    empty = F.array().cast("array<string>")
    new = announced.select(
        "user_id",
        F.lit(run_date).alias("announced_on"),
        F.col("d_notice_until").alias("effective_date"),
        F.col("d_cut_limit").alias("proposed_limit"),
        F.col("cut_reasons").alias("reason_codes"),
        F.coalesce(F.col("next_steps"), empty).alias("next_steps"),
    )
    waiting = decided.filter(F.col("d_step") == "notice_pending").select(
        "user_id", *(F.col(f"pending_{n}").alias(n) for n in names(PENDING)[1:])
    )
    return new.unionByName(waiting).select(*names(PENDING))
