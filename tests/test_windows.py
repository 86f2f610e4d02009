"""Rolling the purchase windows forward a night at a time (taking out the days that left each
window, adding late rows where they fall) gives what summing the daily activity again gives."""

from datetime import date, timedelta
from decimal import Decimal

from pyspark.sql import functions as F

from transforms.carry import ACTIVITY_SUMS
from transforms.windows import purchase_features, roll_windows, window_sums

ACTIVITY = "user_id long, day date, " + ", ".join(
    f"{c} {'long' if c.endswith('_count') else 'decimal(18,2)'}" for c in ACTIVITY_SUMS
)
START = date(2025, 10, 16)  # mid-month: the year's window then touches 13 calendar months


def _day(user: int, day: date, arrives: date, purchases: int, amount: str) -> tuple:
    money = Decimal(amount)
    refund = Decimal("0.00") if purchases else money
    return (
        user,
        day,
        purchases,
        money if purchases else Decimal("0.00"),
        purchases,
        money if purchases else Decimal("0.00"),
        money if purchases > 1 else Decimal("0.00"),
        refund,
        refund,
        arrives,
    )


def _ledger(spark):
    nights = [START + timedelta(days=365 + i) for i in (0, 1, 2, 35, 127)]
    # user 1 buys in 13 consecutive months (on the 20th of the first, the 16th of the others),
    # each recorded the day it happened
    rows = [_day(1, date(2025, 10, 20), date(2025, 10, 20), 1, "10.00")]
    for m in range(1, 13):
        day = date(2025 + (9 + m) // 12, (9 + m) % 12 + 1, 16)
        rows.append(_day(1, day, day, 1, "10.00"))
    # user 2: rows on the days that leave the windows on the first nights, and late rows
    first = nights[0]
    for w in (30, 90, 180, 365):
        for back in (w, w - 1, w - 2):
            day = first - timedelta(days=back - 1)
            rows.append(_day(2, day, day, 2, f"{w}.00"))
    rows += [
        _day(2, first - timedelta(days=29), nights[2], 1, "7.00"),  # late, leaves 30d that night
        _day(2, first - timedelta(days=40), nights[1], 1, "8.00"),  # late, already out of 30d
        _day(2, first - timedelta(days=400), nights[1], 1, "9.00"),  # late, out of every window
        _day(2, first - timedelta(days=100), nights[3], 0, "5.00"),  # a late refund
        _day(3, nights[3], nights[3], 1, "3.00"),  # a new account on a later night
        # a late purchase in a month whose purchase had left the year: the month counts again
        _day(1, date(2026, 2, 25), nights[-1], 1, "4.00"),
    ]
    return spark.createDataFrame(rows, ACTIVITY + ", arrives date"), nights


def _by_user(frame):
    return {r["user_id"]: r.asDict() for r in frame.collect()}


def test_rolled_windows_equal_the_windows_summed_again(spark):
    ledger, nights = _ledger(spark)
    activity = ledger.drop("arrives")

    def arrived(night):
        return activity.filter(ledger["arrives"] <= F.lit(night))

    since = START + timedelta(days=364)
    known = arrived(since)
    windows = window_sums(known, as_of=since).localCheckpoint()
    for night in nights:
        added = activity.filter(
            (ledger["arrives"] > F.lit(since)) & (ledger["arrives"] <= F.lit(night))
        )
        windows = roll_windows(
            windows,
            known.filter(F.col("day") > F.lit(since - timedelta(days=365))),
            added,
            since=since,
            as_of=night,
        ).localCheckpoint()
        known, since = arrived(night), night
        rolled = _by_user(purchase_features(windows, as_of=night))
        summed = _by_user(purchase_features(window_sums(known, as_of=night), as_of=night))
        assert rolled == summed, night

    first = purchase_features(window_sums(arrived(nights[0]), as_of=nights[0]), as_of=nights[0])
    first = _by_user(first)
    assert first[1]["active_months_365d"] == 13
    assert first[2]["purchase_count_30d"] == 2 * 3  # the three days at the edge of 30 are in
    last = rolled  # 2027-02-20: the year starts on 2026-02-21
    assert last[1]["active_months_365d"] == 9  # March to October, and February again
    assert last[3]["purchase_count_365d"] == 1
