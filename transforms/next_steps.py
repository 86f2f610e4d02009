"""The next steps a notice carries: counterfactuals the program has checked, not advice.

Each candidate action is applied to what the account carries (its bills, its balance, its
purchase windows), the account is projected to the date the notice is about with no other
activity, and decided again by the same code as the night (transforms.pipeline.decide). A step is
offered only where that decision comes out as promised:

- a cut (`pending_decrease`, and `decreased`: what would have kept the old limit): settling one
  past-due bill (`PAY_BILL`), or paying the balance down (`PAY_DOWN_TO`) to just under an edge
  of the utilization bins, to the balance without the past-due bills, or to nothing; each paid
  the day before the effective date (the latest a user can) and decided on that date; the
  cheapest that averts the cut comes first, at most 3. Where none does, only `WAIT_UNTIL` the
  day the history behind the cut leaves the look-back: nothing in the user's power averts it.
- a suspension (`suspended`): every past-due bill paid (a `PAY_BILL` each, or one `PAY_DOWN_TO`
  where there are more than two) and the bills falling due meanwhile paid on time, then
  `WAIT_UNTIL` the reinstatement wait ends; checked to be reinstated on that date. Where paying
  is not enough by then, the wait is until the late history leaves the look-back (that date is
  the time rule's, not a decision run). A manual hold (`frozen`) is `CONTACT_SUPPORT` first:
  only a person lifts it.
- a re-engagement (`re_engage`): `USE_ACCOUNT`.

A payment is booked to the user's unsettled bills oldest due first, as the platform books it.
The candidates of every account are decided in one pass per date: each gets a surrogate id in
place of `user_id`, so the decision code runs on them unchanged.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.carry import Carried
from transforms.pipeline import decide
from transforms.policy import Policy
from transforms.schemas import AMOUNT
from transforms.windows import roll_windows

PAY_BILL, PAY_DOWN_TO, WAIT_UNTIL = "PAY_BILL", "PAY_DOWN_TO", "WAIT_UNTIL"
CONTACT_SUPPORT, USE_ACCOUNT = "CONTACT_SUPPORT", "USE_ACCOUNT"
MAX_STEPS = 3
QUIET_LOOKBACK_DAYS = 180  # a cut with no late bill behind it rests on the six-month windows
LATE_LOOKBACK_DAYS = 365  # a late bill counts while it ran within the year

# What the steps need of a decision (jobs.commands.run keeps these columns of it).
DECIDED_COLUMNS = (
    "user_id",
    "cell",
    "notice_kind",
    "score",
    "segment",
    "balance",
    "old_limit",
    "d_held",
    "d_cut_limit",
    "d_frozen",
    "change_reasons",
    "last_raise_on",
    "last_increase_on",
    "suspended_on",
    "pre_suspension_limit",
    "suspension_reasons",
)


def next_steps(
    decided: DataFrame,
    carried: Carried,
    accounts: DataFrame,
    *,
    policy: Policy,
    as_of: date,
    materialize: Callable[[DataFrame, str], DataFrame] = lambda rows, _: rows.localCheckpoint(),
) -> DataFrame:
    """`user_id, next_steps` for every account whose notice carries steps. `carried` is the
    state the night decided with (as of `as_of`); `accounts` the accepted account master.
    `materialize(rows, name)` computes rows once and returns them cut loose from their plan
    (the nightly run writes them to its staging folder: a local checkpoint is lost with an
    executor)."""
    # The told accounts are few; cut down to them and cut loose from the night's long lineage
    # (every operation below would otherwise analyse the whole decision's plan again).
    told = materialize(
        decided.filter(
            F.col("notice_kind").isin("pending_decrease", "decreased", "suspended", "re_engage")
        ).select(*DECIDED_COLUMNS),
        "told",
    )
    mine = F.broadcast(told.select("user_id"))

    def cut_down(table: DataFrame) -> DataFrame:
        return table.join(mine, "user_id", "left_semi")

    # the settled bills and the checked accounts come out of long plans of their own
    bills = materialize(cut_down(carried.bills), "bills")
    master = accounts.select("user_id", "opened_on", "initial_limit", "status")
    at_hand = _AtHand(
        bills=bills,
        open_bills=_open_bills(bills),
        totals=cut_down(carried.totals),
        activity=cut_down(carried.activity),
        windows=cut_down(carried.windows),
        accounts=materialize(cut_down(master), "accounts"),
        since=carried.as_of,
        signals=None if carried.signals is None else cut_down(carried.signals),
    )
    cuts = told.filter(F.col("notice_kind").isin("pending_decrease", "decreased"))
    suspended = told.filter(F.col("notice_kind") == "suspended")
    steps = told.filter(F.col("notice_kind") == "re_engage").select(
        "user_id", F.array(F.lit(USE_ACCOUNT)).alias("next_steps")
    )
    cells = policy.cells()
    for cell, deciding in cells:
        # each cell's accounts are checked under the policy that decided them
        in_cell = F.lit(True) if len(cells) == 1 else F.col("cell") == cell
        cell_cuts, cell_suspended = cuts.filter(in_cell), suspended.filter(in_cell)
        # Deciding candidates is a plan as large as the night's: built only for notices there are.
        if not cell_cuts.isEmpty():
            steps = steps.unionByName(_cut_steps(cell_cuts, at_hand, policy=deciding, as_of=as_of))
        if not cell_suspended.isEmpty():
            steps = steps.unionByName(
                _suspension_steps(cell_suspended, at_hand, policy=deciding, as_of=as_of)
            )
    return steps


@dataclass(frozen=True, kw_only=True)
class _AtHand:
    """What the told accounts carry (transforms.carry.Carried), cut down to them."""

    bills: DataFrame
    open_bills: DataFrame
    totals: DataFrame
    activity: DataFrame
    windows: DataFrame
    accounts: DataFrame
    since: date  # the date the windows are as of
    signals: DataFrame | None  # the newest observations, where the policy scores signals


def _open_bills(bills: DataFrame) -> DataFrame:
    """Unsettled bills with what is owed on each and what is owed on the bills due before it
    (a payment is booked oldest due first)."""
    oldest_first = Window.partitionBy("user_id").orderBy("due_date", "bill_id")
    owed = (F.col("bill_amount") - F.col("paid_amount")).cast(AMOUNT)
    return (
        bills.filter(F.col("settled_on").isNull())
        .withColumn("owed", owed)
        .withColumn(
            "owed_before",
            F.coalesce(
                F.sum("owed").over(oldest_first.rowsBetween(Window.unboundedPreceding, -1)),
                F.lit(0),
            ).cast(AMOUNT),
        )
    )


def _money(amount: Column) -> Column:
    return amount.cast(AMOUNT).cast("string")


def _cut_steps(cuts: DataFrame, at_hand: _AtHand, *, policy: Policy, as_of: date) -> DataFrame:
    effective = as_of + timedelta(days=policy.limits.decrease_notice_days)
    pay_day = max(as_of + timedelta(days=1), effective - timedelta(days=1))
    standing = at_hand.open_bills.filter(F.col("due_date") < F.lit(effective))
    standing_sum = standing.groupBy("user_id").agg(
        F.sum("owed").cast(AMOUNT).alias("standing_owed"), F.count("*").alias("standing_bills")
    )
    # one bill settled
    by_bill = standing.join(cuts.select("user_id"), "user_id").select(
        "user_id",
        F.concat_ws(":", F.lit(PAY_BILL), "bill_id", _money(F.col("owed"))).alias("step"),
        F.col("owed").alias("cost"),
        F.col("bill_id").alias("only_bill"),
    )
    # the balance paid down to a target
    edges = [
        b.below
        for c in policy.scorecard.characteristics
        if c.feature == "utilization"
        for b in c.bins
        if b.below is not None and b.below > 0
    ]
    limit_cents = (F.col("d_held") * 100).cast("double")
    under_edges = [(F.ceil(F.lit(e) * limit_cents) - 1) / 100 for e in edges]
    targets = F.array(
        *(t.cast(AMOUNT) for t in under_edges),
        F.when(F.col("standing_bills") >= 2, F.col("balance") - F.col("standing_owed")).cast(
            AMOUNT
        ),
        F.lit(0).cast(AMOUNT),
    )
    down = (
        cuts.join(standing_sum, "user_id", "left")
        .select("user_id", "balance", F.explode(targets).alias("target"))
        .filter(F.col("target").isNotNull() & (F.col("target") >= 0))
        .filter(F.col("target") < F.col("balance"))
        .select(
            "user_id",
            F.concat_ws(":", F.lit(PAY_DOWN_TO), _money(F.col("target"))).alias("step"),
            (F.col("balance") - F.col("target")).cast(AMOUNT).alias("cost"),
            F.lit(None).cast("string").alias("only_bill"),
        )
        .dropDuplicates(["user_id", "step"])
    )
    candidates = _numbered(by_bill.unionByName(down))
    bills = _paid(
        candidates, at_hand, booked=_booked(candidates, at_hand.open_bills, pay_day=pay_day)
    )
    previous = cuts.select(
        "user_id",
        F.col("d_held").alias("prev_limit"),
        F.lit("active").alias("prev_status"),
        F.col("score").alias("prev_score"),
        F.col("segment").alias("prev_segment"),
        "last_raise_on",
        "last_increase_on",
        "suspended_on",
        "pre_suspension_limit",
        "suspension_reasons",
        F.lit(as_of).alias("pending_announced_on"),
        F.lit(effective).alias("pending_effective_date"),
        F.col("d_cut_limit").alias("pending_proposed_limit"),
        F.array().cast("array<string>").alias("pending_reason_codes"),
        F.array().cast("array<string>").alias("pending_next_steps"),
    )
    outcome = _decide(candidates, at_hand, bills, previous, policy=policy, on=effective)
    averts = ~F.col("d_step").isin("decrease", "suspend")
    chosen = _cheapest(outcome.filter(averts))
    wait = _history_leaves(cuts, at_hand.bills, effective=effective, as_of=as_of)
    return (
        cuts.select("user_id")
        .join(chosen, "user_id", "left")
        .join(wait, "user_id")
        .select("user_id", F.coalesce(F.col("steps"), F.array(_wait_until())).alias("next_steps"))
    )


def _wait_until() -> Column:
    return F.concat_ws(":", F.lit(WAIT_UNTIL), F.col("wait_until").cast("string"))


def _suspension_steps(
    suspended: DataFrame, at_hand: _AtHand, *, policy: Policy, as_of: date
) -> DataFrame:
    reinstated_on = as_of + timedelta(days=max(policy.limits.reinstate_after_days, 1))
    # A bill due on the run date and still open is past due from tomorrow: the user is told to
    # pay it with the others.
    past_due = at_hand.open_bills.filter(F.col("due_date") <= F.lit(as_of))
    falling_due = at_hand.open_bills.filter(
        (F.col("due_date") > F.lit(as_of)) & (F.col("due_date") < F.lit(reinstated_on))
    )
    listed = past_due.groupBy("user_id").agg(
        F.sort_array(F.collect_list(F.struct("due_date", "bill_id", "owed"))).alias("bills"),
        F.sum("owed").cast(AMOUNT).alias("past_due_owed"),
    )
    to_pay = past_due.unionByName(falling_due)
    owed_meanwhile = to_pay.groupBy("user_id").agg(F.sum("owed").cast(AMOUNT).alias("cost"))
    pay_each = F.transform(
        F.col("bills"),
        lambda b: F.concat_ws(":", F.lit(PAY_BILL), b["bill_id"], _money(b["owed"])),
    )
    pay_steps = F.coalesce(
        F.when(F.col("bills").isNull(), F.array().cast("array<string>"))
        .when(F.size("bills") <= MAX_STEPS - 1, pay_each)
        .otherwise(
            F.array(
                F.concat_ws(
                    ":",
                    F.lit(PAY_DOWN_TO),
                    _money(F.greatest(F.col("balance") - F.col("past_due_owed"), F.lit(0))),
                )
            )
        ),
        F.array().cast("array<string>"),
    )
    wait = F.lit(f"{WAIT_UNTIL}:{reinstated_on.isoformat()}")
    candidates = _numbered(
        suspended.filter(~F.col("d_frozen"))
        .join(owed_meanwhile, "user_id", "left")
        .select(
            "user_id",
            F.lit("settle").alias("step"),
            F.coalesce(F.col("cost"), F.lit(0)).cast(AMOUNT).alias("cost"),
            F.lit(None).cast("string").alias("only_bill"),
        )
    )
    # every past-due bill paid the next day, the ones falling due paid on their due date
    booked = candidates.join(to_pay, "user_id").select(
        "scenario",
        "bill_id",
        F.col("owed").alias("paid_now"),
        F.greatest(F.lit(as_of + timedelta(days=1)), F.col("due_date")).alias("paid_on"),
    )
    bills = _paid(candidates, at_hand, booked=booked)
    previous = suspended.select(
        "user_id",
        F.lit(0).cast(AMOUNT).alias("prev_limit"),
        F.lit("suspended").alias("prev_status"),
        F.col("score").alias("prev_score"),
        F.col("segment").alias("prev_segment"),
        "last_raise_on",
        "last_increase_on",
        F.lit(as_of).alias("suspended_on"),
        F.col("old_limit").alias("pre_suspension_limit"),
        F.col("change_reasons").alias("suspension_reasons"),
        *(
            F.lit(None).cast(t).alias(c)
            for c, t in (
                ("pending_announced_on", "date"),
                ("pending_effective_date", "date"),
                ("pending_proposed_limit", AMOUNT),
                ("pending_reason_codes", "array<string>"),
                ("pending_next_steps", "array<string>"),
            )
        ),
    )
    outcome = _decide(candidates, at_hand, bills, previous, policy=policy, on=reinstated_on)
    checked = outcome.select("user_id", (F.col("d_step") == "reinstate").alias("reinstated"))
    # Reinstated later than the wait allows: the earliest date the time rules name is when the
    # late history leaves the look-back (a date, not a decision the program has run).
    later = _history_leaves(suspended, at_hand.bills, effective=reinstated_on, as_of=as_of)
    return (
        suspended.join(listed, "user_id", "left")
        .join(checked, "user_id", "left")
        .join(later, "user_id")
        .select(
            "user_id",
            F.when(
                F.col("d_frozen"),
                F.slice(F.concat(F.array(F.lit(CONTACT_SUPPORT)), pay_steps), 1, MAX_STEPS),
            )
            .when(F.col("reinstated"), F.concat(pay_steps, F.array(wait)))
            .otherwise(F.concat(F.slice(pay_steps, 1, MAX_STEPS - 1), F.array(_wait_until())))
            .alias("next_steps"),
        )
    )


def _numbered(candidates: DataFrame) -> DataFrame:
    """Each candidate with a surrogate id (`scenario`) to be decided under: few rows, so one
    ordered pass numbers them the same way every time."""
    order = Window.orderBy("user_id", "cost", "step")
    return candidates.withColumn("scenario", F.row_number().over(order).cast("long"))


def _booked(candidates: DataFrame, open_bills: DataFrame, *, pay_day: date) -> DataFrame:
    """What each candidate pays on each unsettled bill, on `pay_day`: the named bill, or the
    pay-down booked oldest due first."""
    paid_now = F.when(
        F.col("only_bill").isNotNull(),
        F.when(F.col("bill_id") == F.col("only_bill"), F.col("owed")).otherwise(F.lit(0)),
    ).otherwise(F.least(F.col("owed"), F.greatest(F.col("cost") - F.col("owed_before"), F.lit(0))))
    return candidates.join(open_bills, "user_id").select(
        "scenario",
        "bill_id",
        paid_now.cast(AMOUNT).alias("paid_now"),
        F.lit(pay_day).alias("paid_on"),
    )


def _paid(candidates: DataFrame, at_hand: _AtHand, *, booked: DataFrame) -> DataFrame:
    """Each candidate's bills after its payments (`booked`: scenario, bill_id, paid_now,
    paid_on), keyed by the candidate's surrogate id. A bill paid in full is settled on the
    payment's day; a payment made by the due date counts as paid by it."""
    zero = F.lit(0).cast(AMOUNT)
    paid_now = F.coalesce(F.col("paid_now"), zero)
    settles = (
        F.col("settled_on").isNull()
        & (paid_now > 0)
        & (F.col("paid_amount") + paid_now >= F.col("bill_amount"))
    )
    by_due = F.when(F.col("paid_on") <= F.col("due_date"), paid_now).otherwise(zero)
    return (
        candidates.select("scenario", "user_id")
        .join(at_hand.bills, "user_id")
        .join(booked, ["scenario", "bill_id"], "left")
        .select(
            F.col("scenario").alias("user_id"),
            "bill_id",
            "bill_amount",
            "due_date",
            (F.col("paid_amount") + paid_now).cast(AMOUNT).alias("paid_amount"),
            (F.col("paid_by_due") + by_due).cast(AMOUNT).alias("paid_by_due"),
            F.when(settles, F.col("paid_on")).otherwise(F.col("settled_on")).alias("settled_on"),
        )
    )


def _decide(
    candidates: DataFrame,
    at_hand: _AtHand,
    bills: DataFrame,
    previous: DataFrame,
    *,
    policy: Policy,
    on: date,
) -> DataFrame:
    """Every candidate decided on `on` with nothing else changed: `user_id`, `step`, `cost`,
    `scenario`, `d_step`."""
    keys = candidates.select("scenario", "user_id", "cost")

    def as_candidates(table: DataFrame) -> DataFrame:
        return keys.select("scenario", "user_id").join(table, "user_id").drop("user_id")

    paid = keys.groupBy("scenario").agg(F.first("cost").alias("cost"))
    totals = (
        as_candidates(at_hand.totals)
        .join(paid, "scenario")
        .withColumn("payments_total", (F.col("payments_total") + F.col("cost")).cast(AMOUNT))
        .drop("cost")
        .withColumnRenamed("scenario", "user_id")
    )
    nothing_new = at_hand.activity.limit(0)
    windows = roll_windows(
        at_hand.windows, at_hand.activity, nothing_new, since=at_hand.since, as_of=on
    )
    projected = Carried(
        activity=None,
        totals=totals,
        repayments=None,
        windows=as_candidates(windows).withColumnRenamed("scenario", "user_id"),
        bills=bills,
        as_of=on,
        # as observed by the night: on a later date an observation may be too old to count
        signals=None
        if at_hand.signals is None
        else as_candidates(at_hand.signals).withColumnRenamed("scenario", "user_id"),
    )
    decided = decide(
        as_candidates(at_hand.accounts).withColumnRenamed("scenario", "user_id"),
        projected,
        as_candidates(previous).withColumnRenamed("scenario", "user_id"),
        policy=policy,
        as_of=on,
    )
    return candidates.join(decided.select(F.col("user_id").alias("scenario"), "d_step"), "scenario")


def _cheapest(averting: DataFrame) -> DataFrame:
    """Per user: the averting candidates' steps, cheapest first, at most MAX_STEPS."""
    ranked = F.array_sort(F.collect_list(F.struct("cost", "scenario", "step")))
    return averting.groupBy("user_id").agg(
        F.transform(F.slice(ranked, 1, MAX_STEPS), lambda c: c["step"]).alias("steps")
    )


def _history_leaves(
    told: DataFrame, bills: DataFrame, *, effective: date, as_of: date
) -> DataFrame:
    """Per told user (`user_id, wait_until`): the first day the history behind a cut no longer
    counts: a year after the last late bill was settled (or after the effective date, for one
    still open), else six months on; an account without bills waits the six months too."""
    late = F.coalesce(F.col("settled_on") > F.col("due_date"), F.col("due_date") < F.lit(effective))
    last_late = bills.groupBy("user_id").agg(
        F.max(F.when(late, F.coalesce(F.col("settled_on"), F.lit(effective)))).alias("last_late")
    )
    quiet = F.lit(as_of + timedelta(days=QUIET_LOOKBACK_DAYS))
    return (
        told.select("user_id")
        .join(last_late, "user_id", "left")
        .select(
            "user_id",
            F.greatest(
                F.coalesce(F.date_add("last_late", LATE_LOOKBACK_DAYS), quiet), F.lit(effective)
            ).alias("wait_until"),
        )
    )
