"""The ledgers folded into what the features need of them, carried from one run to the next.

Of the whole history a night's features use only:
- `activity`: per account and event day, the purchase and refund sums the look-back windows add
  up (the windows end on the run date, so days older than the longest window can go);
- `totals`: per account, the all-time sums the balance is made of, and the last purchase day;
- `repayments`: the repayment rows of every bill that can still count (unsettled, or due or
  settled within the longest window), and payments whose bill has not arrived yet;
- `bills`: those bills settled (transforms.features.settle_bills); a night re-settles only the
  bills its rows name, from all their carried rows (a late payment can settle a bill earlier),
  and may keep what it re-settled as a segment of its own (`latest_bills` reads them);
- `windows`: per account, the purchase sums of the look-back windows as of the state's date
  (transforms.windows), rolled forward from the previous state's instead of summed again;
- `signals` (only when the policy scores one): per account, source and name, the newest
  observation (transforms.signals).

Folding a night's new rows into the previous run's carried state gives what folding the whole
ledger into nothing gives: the full recompute is that fold from nothing. Everything here is a sum,
a maximum or a union, so the order rows arrive in (late rows included) cannot change the result;
rolling the windows takes out exactly the days that left them since, and a bill's settlement
depends on its own rows only.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.features import LONGEST_WINDOW, SETTLED_BILL_COLUMNS, settle_bills
from transforms.money import money_sum
from transforms.schemas import AMOUNT
from transforms.signals import merge_newest, newest_observations
from transforms.windows import roll_windows, window_sums

ACTIVITY_SUMS = (
    "purchase_count",
    "purchase_amount",
    "credit_purchase_count",
    "credit_purchase_amount",
    "installment_amount",
    "refund_amount",
    "credit_refund_amount",
)
TOTAL_SUMS = ("credit_purchases_total", "credit_refunds_total", "payments_total")
BILLS_DROPPED_ON_DAY = 1
CARRIED_TABLES = ("activity", "totals", "repayments")
WINDOWS_TABLE = "windows"
SIGNALS_TABLE = "signals"
BILLS_TABLE = "bills"  # as segments: a night writes the bills it settled again
REPAYMENT_COLUMNS = (
    "entry_id",
    "user_id",
    "bill_id",
    "entry_type",
    "amount",
    "due_date",
    "event_time",
)


@dataclass
class Carried:
    activity: DataFrame  # user_id, day, *ACTIVITY_SUMS
    totals: DataFrame  # user_id, *TOTAL_SUMS, last_purchase_on
    repayments: DataFrame  # REPAYMENT_COLUMNS of the bills that can still count
    windows: DataFrame  # user_id, transforms.windows' sums and months as of `as_of`
    bills: DataFrame  # SETTLED_BILL_COLUMNS of the carried repayments' bills
    as_of: date  # the run the state was folded for
    # transforms.signals.NEWEST_COLUMNS; None when the policy scores no signal
    signals: DataFrame | None = None

    def tables(self) -> dict[str, DataFrame]:
        frames = (self.activity, self.totals, self.repayments, self.windows, self.bills)
        tables = dict(zip((*CARRIED_TABLES, WINDOWS_TABLE, BILLS_TABLE), frames, strict=True))
        if self.signals is not None:
            tables[SIGNALS_TABLE] = self.signals
        return tables


def _money(condition: Column) -> Column:
    return money_sum(F.when(condition, F.col("amount")).otherwise(F.lit(0).cast(AMOUNT)))


def _kinds() -> tuple[Column, Column, Column]:
    """Whether a transaction is a purchase, a refund, on credit."""
    return (
        F.col("txn_type") == "purchase",
        F.col("txn_type") == "refund",
        F.col("payment_method") == "credit",
    )


def daily_activity(transactions: DataFrame) -> DataFrame:
    """Per account and event day: purchases and refunds, by payment method and instalments."""
    purchase, refund, credit = _kinds()
    return transactions.groupBy("user_id", F.to_date("event_time").alias("day")).agg(
        F.count(F.when(purchase, True)).alias("purchase_count"),
        _money(purchase).alias("purchase_amount"),
        F.count(F.when(purchase & credit, True)).alias("credit_purchase_count"),
        _money(purchase & credit).alias("credit_purchase_amount"),
        _money(purchase & credit & (F.col("installments") > 1)).alias("installment_amount"),
        _money(refund).alias("refund_amount"),
        _money(refund & credit).alias("credit_refund_amount"),
    )


def _totals(transactions: DataFrame, repayments: DataFrame) -> DataFrame:
    # Summed from the rows, not from their daily activity: a full recompute would otherwise
    # group the whole ledger by account and day twice (for the activity it writes, and here).
    purchase, refund, credit = _kinds()
    spent = transactions.groupBy("user_id").agg(
        _money(purchase & credit).alias("credit_purchases_total"),
        _money(refund & credit).alias("credit_refunds_total"),
        F.max(F.when(purchase, F.to_date("event_time"))).alias("last_purchase_on"),
    )
    paid = (
        repayments.filter(F.col("entry_type") == "payment")
        .groupBy("user_id")
        .agg(money_sum(F.col("amount")).alias("payments_total"))
    )
    zero = F.lit(0).cast(AMOUNT)
    return spent.join(paid, "user_id", "full_outer").select(
        "user_id",
        *(F.coalesce(c, zero).alias(c) for c in TOTAL_SUMS),
        "last_purchase_on",
    )


def fold(
    carried: Carried | None,
    transactions: DataFrame,
    repayments: DataFrame,
    *,
    as_of: date,
    signals: DataFrame | None = None,
) -> Carried:
    """Adds accepted ledger rows (and accepted `signals` rows, where the policy scores any) to
    the carried state (None: nothing carried yet) for the run of `as_of`. The windows of rows
    folded into nothing are summed from their activity (lazily: a night that merges never
    computes them; jobs.commands.run sums a full recompute's from the activity as staged, so
    the ledger is not grouped twice)."""
    activity = daily_activity(transactions)
    new_repayments = repayments.select(*REPAYMENT_COLUMNS)
    added = Carried(
        activity,
        _totals(transactions, new_repayments),
        new_repayments,
        window_sums(activity, as_of=as_of),
        settle_bills(new_repayments),
        as_of,
        None if signals is None else newest_observations(signals),
    )
    return added if carried is None else merge(carried, added)


def merge(carried: Carried, added: Carried) -> Carried:
    """The carried state with `added` (new rows folded into nothing, for a later run) folded
    in."""
    # Every use of the activity is a sum, a maximum or a distinct count of days, so a day may
    # have several rows: the new rows are appended, not merged (no shuffle of the whole year).
    totals = (
        carried.totals.unionByName(added.totals)
        .groupBy("user_id")
        .agg(
            *(money_sum(F.col(c)).alias(c) for c in TOTAL_SUMS),
            F.max("last_purchase_on").alias("last_purchase_on"),
        )
    )
    windows = roll_windows(
        carried.windows,
        carried.activity,
        added.activity,
        since=carried.as_of,
        as_of=added.as_of,
    )
    repayments = carried.repayments.unionByName(added.repayments)
    return Carried(
        carried.activity.unionByName(added.activity),
        totals,
        repayments,
        windows,
        resettle(carried.bills, repayments, touched=added.repayments),
        added.as_of,
        _merged_signals(carried.signals, added.signals),
    )


def _merged_signals(carried: DataFrame | None, added: DataFrame | None) -> DataFrame | None:
    if added is None:
        return None  # the policy scores no signal: none carried further
    if carried is None:
        raise ValueError("signals folded into a state that carries none (a full recompute does)")
    return merge_newest(carried, added)


def _named(touched: DataFrame) -> DataFrame:
    # A night's bills are few: broadcast, so neither carried bills nor repayments are shuffled.
    return F.broadcast(touched.select("bill_id").distinct())


def rows_of_bills_named(repayments: DataFrame, *, by: DataFrame) -> DataFrame:
    """The `repayments` rows of the bills the rows `by` name (filtered where they lie)."""
    return repayments.join(_named(by), "bill_id", "left_semi")


def resettled(repayments: DataFrame, *, touched: DataFrame) -> DataFrame:
    """Every bill the `touched` rows name, settled again from all its `repayments` (or from
    rows_of_bills_named them: a bill depends on its own rows only): what a night changes of the
    settled bills (the segment an appending night writes)."""
    return settle_bills(rows_of_bills_named(repayments, by=touched))


def resettle(bills: DataFrame, repayments: DataFrame, *, touched: DataFrame) -> DataFrame:
    """The settled `bills` with every bill the `touched` rows name settled again."""
    return bills.join(_named(touched), "bill_id", "left_anti").unionByName(
        resettled(repayments, touched=touched)
    )


def latest_bills(segments: list[DataFrame]) -> DataFrame:
    """The settled bills kept as segments, oldest first: the first whole, each later one the
    bills a night settled again. A bill's row in the newest segment that has it wins."""
    whole, *later = segments
    if not later:
        return whole
    recent = later[0].withColumn("segment", F.lit(1))
    for n, segment in enumerate(later[1:], start=2):
        recent = recent.unionByName(segment.withColumn("segment", F.lit(n)))
    newest = (
        recent.withColumn(
            "rank", F.row_number().over(Window.partitionBy("bill_id").orderBy(F.desc("segment")))
        )
        .filter(F.col("rank") == 1)
        .select(*SETTLED_BILL_COLUMNS)
    )
    # No broadcast hint: early in a month the re-settled bills are few and adaptive execution
    # broadcasts them by their measured size; late in a month of a large book it need not.
    return (
        whole.select(*SETTLED_BILL_COLUMNS)
        .join(newest.select("bill_id"), "bill_id", "left_anti")
        .unionByName(newest)
    )


def drops_bills(as_of: date) -> bool:
    """Whether carrying forward after `as_of` drops the bills that can no longer count."""
    return as_of.day == BILLS_DROPPED_ON_DAY


def within_horizon(activity: DataFrame, *, as_of: date) -> DataFrame:
    """The activity a run after `as_of` can still use: the days inside the longest window."""
    return activity.filter(F.col("day") > F.lit(as_of - timedelta(days=LONGEST_WINDOW)))


def carry_forward(carried: Carried) -> Carried:
    """What a run after the state's date still needs: the activity inside the longest window,
    and the bills (and their repayments) that are not settled, or were due or settled inside it.
    A settled bill stays settled and late payments can only settle it earlier, so a bill dropped
    here could never count again. Dropping their repayments costs a pass over them, so bills are
    dropped once a month (on the 1st); keeping them longer changes nothing but the state's
    size."""
    as_of = carried.as_of
    horizon = as_of - timedelta(days=LONGEST_WINDOW)
    activity = within_horizon(carried.activity, as_of=as_of)
    if not drops_bills(as_of):
        return Carried(
            activity,
            carried.totals,
            carried.repayments,
            carried.windows,
            carried.bills,
            as_of,
            carried.signals,
        )
    done = F.coalesce(
        (F.col("settled_on") <= F.lit(horizon)) & (F.col("due_date") <= F.lit(horizon)),
        F.lit(False),
    )
    return Carried(
        activity,
        carried.totals,
        carried.repayments.join(
            carried.bills.filter(done).select("bill_id"), "bill_id", "left_anti"
        ).select(*REPAYMENT_COLUMNS),
        carried.windows,
        carried.bills.filter(~done).select(*SETTLED_BILL_COLUMNS),
        as_of,
        carried.signals,
    )


def payments_of_another_users_bill(named: DataFrame, new_rows: DataFrame) -> DataFrame:
    """The carried payments without a carried bill whose bill id a new `bill` row names for another
    user (counted on the raw new rows: erring towards a full recompute, never away from it).
    `named`: the carried rows of the bills the new rows name."""
    new_bills = new_rows.filter(F.col("entry_type") == "bill").select("bill_id", "user_id")
    # Whether a bill has a carried bill row is found among its own rows (one read of them).
    waiting = (
        named.withColumn(
            "_carried_bill",
            F.max(F.col("entry_type") == "bill").over(Window.partitionBy("bill_id")),
        )
        .filter((F.col("entry_type") == "payment") & ~F.col("_carried_bill"))
        .select("bill_id", F.col("user_id").alias("payer"))
    )
    return waiting.join(new_bills, "bill_id").filter(~F.col("payer").eqNullSafe(F.col("user_id")))
