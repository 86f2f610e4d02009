"""Carried state: folding the ledger night by night (late rows, payments before their bill, old
bills dropped) gives the features folding it whole gives; checking a night's rows against the id
index gives the verdicts checking them with the whole ledger gives."""

from datetime import date, datetime, timedelta
from decimal import Decimal

from pyspark.sql import functions as F

from jobs.checks.rows import check_rows
from transforms.carry import (
    REPAYMENT_COLUMNS,
    Carried,
    carry_forward,
    drops_bills,
    fold,
    latest_bills,
    resettled,
)
from transforms.features import aggregate_repayment_behaviour
from transforms.validate import (
    checked_after,
    extend_index,
    id_index,
)
from transforms.windows import purchase_features

TXN = (
    "txn_id string, user_id long, event_time timestamp, txn_type string, amount decimal(18,2), "
    "payment_method string, installments int, dt date, source_file string, source_row long"
)
REPAY = (
    "entry_id string, user_id long, bill_id string, entry_type string, amount decimal(18,2), "
    "due_date date, event_time timestamp, dt date, source_file string, source_row long"
)
NIGHTS = [
    date(2025, 3, 1),
    date(2025, 9, 1),
    date(2026, 4, 1),
    date(2026, 6, 29),
    date(2026, 6, 30),
]


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


def txn(i, user, event_day, kind, amount, method, installments, recorded):
    return (
        f"t{i}",
        user,
        at(event_day),
        kind,
        Decimal(amount),
        method,
        installments,
        recorded,
        "f",
        i,
    )


def repay(i, user, bill, kind, amount, due, event_day, recorded):
    return (f"e{i}", user, bill, kind, Decimal(amount), due, at(event_day), recorded, "f", i)


def ledgers(spark):
    n0, n1, n2, n3, n4 = NIGHTS
    transactions = [
        txn(1, 1, n0, "purchase", "100.00", "credit", 1, n0),
        txn(2, 1, n1, "purchase", "250.00", "credit", 6, n1),
        txn(3, 1, n1 - timedelta(days=3), "purchase", "80.00", "wallet", None, n2),  # late
        txn(4, 1, n2, "refund", "50.00", "credit", 1, n2),
        txn(5, 2, n3, "purchase", "900.00", "credit", 3, n3),
        txn(6, 2, n3 - timedelta(days=40), "purchase", "30.00", "debit_card", None, n4),  # late
        txn(7, 3, n4, "purchase", "10.00", "other", None, n4),
        txn(8, 2, n4 - timedelta(days=100), "refund", "20.00", "credit", 1, n4),  # late
        # near the year's edge on the last night: it must still be carried then
        txn(9, 3, n4 - timedelta(days=350), "purchase", "40.00", "credit", 1, n1),
    ]
    repayments = [
        # settled in 2025: due and settled over a year before the last night, so dropped
        repay(1, 1, "B1", "bill", "100.00", n0 + timedelta(days=20), n0, n0),
        repay(2, 1, "B1", "payment", "100.00", None, n0 + timedelta(days=10), n1),
        # a late payment for B1 after it was dropped: ignored either way
        repay(3, 1, "B1", "payment", "5.00", None, n0 + timedelta(days=15), n3),
        # due in the year, paid late in two parts across nights
        repay(4, 1, "B2", "bill", "250.00", n2 + timedelta(days=10), n2, n2),
        repay(5, 1, "B2", "payment", "100.00", None, n2 + timedelta(days=30), n3),
        repay(6, 1, "B2", "payment", "150.00", None, n3, n4),
        # a payment recorded before its bill arrives
        repay(7, 2, "B3", "payment", "300.00", None, n3, n3),
        repay(8, 2, "B3", "bill", "900.00", n3 + timedelta(days=20), n3 - timedelta(days=1), n4),
        # never paid, due long ago: never dropped
        repay(9, 3, "B4", "bill", "60.00", n0 + timedelta(days=25), n0, n0),
        # paid 5 days late; then a payment made on time arrives a night later: it settled the bill
        repay(10, 3, "B5", "bill", "100.00", n2 + timedelta(days=20), n2, n2),
        repay(11, 3, "B5", "payment", "100.00", None, n2 + timedelta(days=25), n3),
        repay(12, 3, "B5", "payment", "100.00", None, n2 + timedelta(days=15), n4),
    ]
    return spark.createDataFrame(transactions, TXN), spark.createDataFrame(repayments, REPAY)


def features(carried, as_of):
    return {
        "purchases": purchase_features(carried.windows, as_of=as_of),
        "repayment": aggregate_repayment_behaviour(carried.bills, as_of=as_of, suspend_dpd=30),
        "totals": carried.totals,
    }


def rows(frame):
    return sorted(frame.collect(), key=lambda r: r["user_id"])


def by_bill(frame):
    return sorted(frame.collect(), key=lambda r: r["bill_id"])


def test_folding_night_by_night_equals_folding_the_whole_ledger(spark):
    transactions, repayments = ledgers(spark)
    carried = None
    on_time = {}
    bill_segments = []  # as a run keeps them: whole on the 1st, then what each night re-settled
    for night in NIGHTS:
        recorded = F.col("dt") == F.lit(night)
        new_repayments = repayments.filter(recorded)
        appends = carried is not None and not drops_bills(night)
        merged = fold(carried, transactions.filter(recorded), new_repayments, as_of=night)
        touched = new_repayments.select(*REPAYMENT_COLUMNS)
        night_bills = resettled(merged.repayments, touched=touched).localCheckpoint()
        # written and read back, as a run does
        carried = Carried(
            **{name: t.localCheckpoint() for name, t in carry_forward(merged).tables().items()},
            as_of=night,
        )
        bill_segments = [*bill_segments, night_bills] if appends else [carried.bills]
        assert by_bill(latest_bills(bill_segments)) == by_bill(carried.bills), night
        whole = fold(
            None,
            transactions.filter(F.col("dt") <= night),
            repayments.filter(F.col("dt") <= night),
            as_of=night,
        )
        nightly, full = features(carried, night), features(whole, night)
        for name in nightly:
            assert rows(nightly[name]) == rows(full[name]), (night, name)
        user3 = next(r for r in rows(nightly["repayment"]) if r["user_id"] == 3)
        on_time[night] = user3["on_time_rate_365d"]

    last = features(carried, NIGHTS[-1])
    user1 = rows(last["purchases"])[0]
    assert (user1["purchase_count_365d"], user1["purchase_count_180d"]) == (2, 0)  # with the late
    assert user1["refund_amount_180d"] == Decimal("50.00")
    user2 = rows(last["purchases"])[1]
    assert user2["purchase_count_90d"] == 2  # the late purchase counts in its own day's window
    totals = {r["user_id"]: r for r in rows(last["totals"])}
    assert totals[1]["payments_total"] == Decimal("355.00")  # B1's late 5.00 is still money paid
    assert totals[2]["credit_refunds_total"] == Decimal("20.00")
    # B5, carried as settled late, is settled again when its on-time payment arrives
    assert (on_time[NIGHTS[3]], on_time[NIGHTS[4]]) == (0.0, 1.0)


def bills_in(carried) -> set:
    """The bills carried: settled, and by their repayment rows (the two must agree)."""
    settled = {r["bill_id"] for r in carried.bills.collect()}
    rows = {r["bill_id"] for r in carried.repayments.select("bill_id").distinct().collect()}
    assert settled == rows
    return settled


def test_carry_forward_drops_what_no_later_night_can_use(spark):
    transactions, repayments = ledgers(spark)
    everything = fold(None, transactions, repayments, as_of=NIGHTS[-1])
    assert bills_in(carry_forward(everything)) == {"B1", "B2", "B3", "B4", "B5"}
    last = date(2026, 7, 1)  # bills are dropped on the 1st of a month
    carried = carry_forward(fold(None, transactions, repayments, as_of=last))
    assert bills_in(carried) == {"B2", "B3", "B4", "B5"}  # B1: due and settled over a year ago
    oldest_day = carried.activity.agg(F.min("day")).first()[0]
    assert oldest_day > last - timedelta(days=365)
    assert carried.activity.count() < everything.activity.count()


TXN_ROWS = [
    ("t1", 1, "purchase", "a", 0, date(2026, 6, 1)),
    ("t2", 1, "purchase", "a", 1, date(2026, 6, 1)),
    ("t1", 2, "purchase", "a", 0, date(2026, 6, 2)),  # replays t1: refused
    ("t3", 2, "purchase", "b", 0, date(2026, 6, 2)),
    ("t3", 2, "purchase", "a", 0, date(2026, 6, 2)),  # same day, earlier file: this one is kept
    (" ", 3, "purchase", "a", 1, date(2026, 6, 2)),  # blank id: no duplicate of anything
]
REPAY_ROWS = [
    ("e1", 1, "B1", "bill", date(2026, 6, 20), "a", 0, date(2026, 6, 1)),
    ("e2", 1, "B1", "payment", None, "a", 1, date(2026, 6, 1)),
    ("e3", 2, "B2", "payment", None, "a", 2, date(2026, 6, 1)),  # before its bill
    ("e2", 1, "B1", "payment", None, "a", 0, date(2026, 6, 2)),  # replay: DUPLICATE_ID
    ("e4", 9, "B1", "payment", None, "a", 1, date(2026, 6, 2)),  # B1 is user 1's
    ("e5", 1, "B1", "bill", date(2026, 7, 20), "a", 2, date(2026, 6, 2)),  # DUPLICATE_BILL
    ("e6", 2, "B2", "bill", date(2026, 7, 1), "a", 3, date(2026, 6, 2)),  # e3's bill arrives
    ("e7", 5, "B5", "payment", None, "a", 4, date(2026, 6, 2)),
    ("e8", 6, "B5", "bill", date(2026, 7, 1), "a", 5, date(2026, 6, 2)),  # mismatch, same night
]


def _txns(spark):
    return spark.createDataFrame(
        [
            (i, u, datetime(2026, 6, 1, 9), k, Decimal("10.00"), "wallet", None, dt, f, n)
            for i, u, k, f, n, dt in TXN_ROWS
        ],
        TXN,
    )


def _repayments(spark):
    return spark.createDataFrame(
        [
            (i, u, b, k, Decimal("10.00"), due, datetime(2026, 6, 1, 9), dt, f, n)
            for i, u, b, k, due, f, n, dt in REPAY_ROWS
        ],
        REPAY,
    )


def verdicts(frame):
    return sorted(
        (r["dt"], r["source_file"], r["source_row"], r["reject_reason"] or "")
        for r in frame.collect()
    )


def test_checking_against_the_index_equals_checking_with_the_whole_ledger(spark):
    new_night = F.col("dt") == F.lit(date(2026, 6, 2))
    for ledger, whole in (("transactions", _txns(spark)), ("repayments", _repayments(spark))):
        earlier, new = whole.filter(~new_night), whole.filter(new_night)
        expected = check_rows(whole, ledger=ledger).filter(new_night)
        index = id_index(check_rows(earlier, ledger=ledger), ledger=ledger)
        got = checked_after(index, new, ledger=ledger)
        assert verdicts(got) == verdicts(expected), ledger
        extended = extend_index(index, got, ledger=ledger)
        assert sorted(map(str, extended.collect())) == sorted(
            map(str, id_index(check_rows(whole, ledger=ledger), ledger=ledger).collect())
        )

    whole_index = id_index(check_rows(_txns(spark), ledger="transactions"), ledger="transactions")
    june = date(2026, 6, 1), date(2026, 6, 2)
    assert sorted((r["txn_id"], r["dt"]) for r in whole_index.collect()) == [
        ("t1", june[0]),
        ("t2", june[0]),
        ("t3", june[1]),
    ]

    reasons = {
        r[3]
        for r in verdicts(
            checked_after(
                id_index(
                    check_rows(_repayments(spark).filter(~new_night), ledger="repayments"),
                    ledger="repayments",
                ),
                _repayments(spark).filter(new_night),
                ledger="repayments",
            )
        )
    }
    assert {"DUPLICATE_ID", "DUPLICATE_BILL", "BILL_USER_MISMATCH", ""} <= reasons
