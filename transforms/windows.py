"""Per-account purchase sums over the look-back windows, carried from run to run and rolled
forward: a run adds its new rows that fall inside each window and takes out the days that left
it since the state's date, instead of adding up a year of daily activity again.

The windows as of a date A hold, per account, every WINDOW_SUMS column (the rows whose day is one
of the `days` days ending on A) and, for `active_months_365d`, the last purchase day of each
calendar month in MONTH_SLOTS columns. A year's window touches at most 13 consecutive months, so
a month kept in slot (its number mod 13) never shares it with another month of the same window;
a later month replaces an earlier one, which by then is outside every window. Accepted rows are
never dated after their run (later partitions are not read; later events are refused).

Every column is a sum or a maximum, so the order rows arrive in (late rows included) cannot
change them, and rolling them is one aggregation of fixed-width columns.
"""

from collections.abc import Callable
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.features import LONGEST_WINDOW, WINDOWS, within
from transforms.money import money_sum
from transforms.schemas import AMOUNT

# (column, the daily activity it adds up, the window's days)
WINDOW_SUMS = (
    *((f"purchase_count_{w}d", "purchase_count", w) for w in WINDOWS),
    *((f"purchase_amount_{w}d", "purchase_amount", w) for w in WINDOWS),
    ("credit_purchase_amount_180d", "credit_purchase_amount", 180),
    ("installment_amount_180d", "installment_amount", 180),
    ("refund_amount_180d", "refund_amount", 180),
    ("credit_purchase_count_90d", "credit_purchase_count", 90),
)
MONTH_SLOTS = tuple(f"last_purchase_month_slot_{k}" for k in range(13))


def _type(source: str) -> str:
    return "long" if source.endswith("_count") else AMOUNT


def _slot(day: Column) -> Column:
    return (F.year(day) * 12 + F.month(day)) % len(MONTH_SLOTS)


def _rows(
    activity: DataFrame, counts_in: Callable[[int], Column], sign: int, last_purchase: Column
) -> DataFrame:
    """Per daily activity row: what it adds (sign 1) or takes out (-1) of each window sum, and
    the purchase day it brings to its month's slot (`last_purchase`, may be null)."""
    return activity.select(
        "user_id",
        *(
            F.when(counts_in(days), F.col(source) if sign > 0 else -F.col(source))
            .otherwise(F.lit(0))
            .cast(_type(source))
            .alias(name)
            for name, source, days in WINDOW_SUMS
        ),
        *(
            F.when(_slot(last_purchase) == k, last_purchase).cast("date").alias(slot)
            for k, slot in enumerate(MONTH_SLOTS)
        ),
    )


def _sum(name: str, source: str) -> Column:
    return F.sum(name) if _type(source) == "long" else money_sum(F.col(name))


def _per_account(rows: DataFrame) -> DataFrame:
    return rows.groupBy("user_id").agg(
        *(_sum(name, source).alias(name) for name, source, _ in WINDOW_SUMS),
        *(F.max(slot).alias(slot) for slot in MONTH_SLOTS),
    )


def _adds(activity: DataFrame, *, as_of: date) -> DataFrame:
    day = F.col("day")
    bought = (F.col("purchase_count") > 0) & within(LONGEST_WINDOW, as_of, day)
    return _rows(activity, lambda days: within(days, as_of, day), 1, F.when(bought, day))


def window_sums(activity: DataFrame, *, as_of: date) -> DataFrame:
    """The windows as of `as_of` of the daily activity (transforms.carry.daily_activity)."""
    return _per_account(_adds(activity, as_of=as_of))


def roll_windows(
    windows: DataFrame, activity: DataFrame, added: DataFrame, *, since: date, as_of: date
) -> DataFrame:
    """`windows` as of `since`, summed from the daily `activity`, rolled to `as_of` with the
    `added` daily activity (rows not in `activity`) folded in."""
    day = F.col("day")

    def leaves(days: int) -> Column:
        return (day > F.lit(since - timedelta(days=days))) & (
            day <= F.lit(as_of - timedelta(days=days))
        )

    left_a_window = F.lit(False)
    for days in WINDOWS:
        left_a_window = left_a_window | leaves(days)
    left = _rows(activity.filter(left_a_window), leaves, -1, F.lit(None))
    return _per_account(windows.unionByName(_adds(added, as_of=as_of)).unionByName(left))


def purchase_features(windows: DataFrame, *, as_of: date) -> DataFrame:
    """Per account: the WINDOW_SUMS and `active_months_365d` (months with a purchase inside the
    year), from windows as of `as_of`."""
    active = sum(
        F.coalesce(within(LONGEST_WINDOW, as_of, F.col(slot)).cast("int"), F.lit(0))
        for slot in MONTH_SLOTS
    )
    return windows.select(
        "user_id",
        *(name for name, _, _ in WINDOW_SUMS),
        active.alias("active_months_365d"),
    )
