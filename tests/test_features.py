"""Features from tiny ledgers: bill settlement and days past due, repayment behaviour, balances,
purchase windows and the payment mix."""

from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import Row

from transforms.carry import fold
from transforms.features import (
    aggregate_repayment_behaviour,
    build_features,
    days_past_due,
    settle_bills,
)
from transforms.windows import purchase_features

D = date(2026, 6, 30)
REPAY = (
    "entry_id string, user_id long, bill_id string, entry_type string, amount decimal(18,2), "
    "due_date date, event_time timestamp"
)
TXN = (
    "txn_id string, user_id long, event_time timestamp, txn_type string, amount decimal(18,2), "
    "payment_method string, installments int"
)


def money(x: str) -> Decimal:
    return Decimal(x)


def repayments(spark, rows):
    return spark.createDataFrame(rows, REPAY)


def test_a_bill_settles_on_the_day_its_payments_reach_its_amount(spark):
    rows = [
        ("b1", 1, "BL1", "bill", money("100.00"), date(2026, 5, 20), datetime(2026, 5, 1)),
        ("p1", 1, "BL1", "payment", money("60.00"), None, datetime(2026, 5, 18, 10)),
        ("p2", 1, "BL1", "payment", money("40.00"), None, datetime(2026, 6, 2, 10)),
        ("b2", 1, "BL2", "bill", money("50.00"), date(2026, 6, 20), datetime(2026, 6, 1)),
        ("p3", 1, "BL2", "payment", money("20.00"), None, datetime(2026, 6, 19)),
        ("b3", 1, "BL3", "bill", money("80.00"), date(2026, 7, 20), datetime(2026, 6, 29)),
        # a payment whose bill has not arrived yet settles nothing
        ("p9", 2, "BL9", "payment", money("30.00"), None, datetime(2026, 6, 20)),
    ]
    settled = days_past_due(settle_bills(repayments(spark, rows)), as_of=D)
    bills = {r["bill_id"]: r for r in settled.collect()}
    assert sorted(bills) == ["BL1", "BL2", "BL3"]
    assert (bills["BL1"]["user_id"], bills["BL1"]["bill_amount"]) == (1, money("100.00"))
    assert bills["BL1"]["due_date"] == date(2026, 5, 20)
    assert bills["BL1"]["paid_amount"] == money("100.00")
    assert (bills["BL3"]["paid_amount"], bills["BL3"]["paid_by_due"]) == (0, 0)
    assert bills["BL1"]["settled_on"] == date(2026, 6, 2)
    assert bills["BL1"]["max_dpd"] == 13 and bills["BL1"]["dpd_now"] == 0
    assert bills["BL1"]["paid_by_due"] == money("60.00")
    assert bills["BL2"]["settled_on"] is None
    assert bills["BL2"]["dpd_now"] == 10 and bills["BL2"]["max_dpd"] == 10
    assert bills["BL3"]["dpd_now"] == 0 and bills["BL3"]["max_dpd"] == 0


def test_repayment_behaviour_counts_serious_delinquency_and_on_time_share(spark):
    rows = [
        # paid on time
        ("b1", 1, "BL1", "bill", money("100.00"), date(2026, 4, 20), datetime(2026, 4, 1)),
        ("p1", 1, "BL1", "payment", money("100.00"), None, datetime(2026, 4, 19)),
        # paid 40 days late: a serious delinquency in the year
        ("b2", 1, "BL2", "bill", money("100.00"), date(2026, 2, 1), datetime(2026, 1, 10)),
        ("p2", 1, "BL2", "payment", money("100.00"), None, datetime(2026, 3, 13)),
        # unpaid, 5 days past due, half paid
        ("b3", 1, "BL3", "bill", money("200.00"), date(2026, 6, 25), datetime(2026, 6, 5)),
        ("p3", 1, "BL3", "payment", money("100.00"), None, datetime(2026, 6, 20)),
    ]
    bills = settle_bills(repayments(spark, rows))
    row = aggregate_repayment_behaviour(bills, as_of=D, suspend_dpd=30).first()
    assert row["current_dpd"] == 5
    assert row["worst_dpd_365d"] == 40
    assert row["serious_delinquencies_365d"] == 1
    assert abs(row["on_time_rate_365d"] - 1 / 3) < 1e-9
    # bills due in 180 days: BL1 (100 of 100 paid), BL2 (100 of 100), BL3 (100 of 200)
    assert abs(row["payment_ratio_180d"] - 300 / 400) < 1e-9


def test_purchase_windows_payment_mix_and_refunds(spark):
    rows = [
        ("t1", 1, datetime(2026, 6, 29, 12), "purchase", money("100.00"), "credit", 6),
        ("t2", 1, datetime(2026, 5, 15, 12), "purchase", money("300.00"), "credit", 1),
        ("t3", 1, datetime(2026, 2, 1, 12), "purchase", money("600.00"), "wallet", None),
        ("t4", 1, datetime(2025, 3, 1, 12), "purchase", money("50.00"), "debit_card", None),
        ("t5", 1, datetime(2026, 6, 1, 12), "refund", money("100.00"), "credit", 1),
    ]
    carried = fold(None, spark.createDataFrame(rows, TXN), repayments(spark, []), as_of=D)
    row = purchase_features(carried.windows, as_of=D).first()
    totals = carried.totals.first()
    assert [row[f"purchase_count_{w}d"] for w in (30, 90, 180, 365)] == [1, 2, 3, 3]
    assert row["purchase_amount_180d"] == money("1000.00")
    assert row["active_months_365d"] == 3
    assert totals["last_purchase_on"] == date(2026, 6, 29)
    assert row["credit_purchase_amount_180d"] == money("400.00")
    assert row["installment_amount_180d"] == money("100.00")
    assert row["refund_amount_180d"] == money("100.00")
    assert totals["credit_purchases_total"] == money("400.00")
    assert totals["credit_refunds_total"] == money("100.00")


def test_balance_utilization_and_tenure_for_an_account(spark):
    txn = spark.createDataFrame(
        [
            ("t1", 1, datetime(2026, 6, 1), "purchase", money("900.00"), "credit", 1),
            ("t2", 1, datetime(2026, 6, 2), "purchase", money("70.00"), "wallet", None),
            ("t3", 1, datetime(2026, 6, 3), "refund", money("100.00"), "credit", 1),
        ],
        TXN,
    )
    repay = repayments(
        spark,
        [
            ("p1", 1, "BL0", "payment", money("200.00"), None, datetime(2026, 6, 10)),
        ],
    )
    accounts = spark.createDataFrame(
        [
            Row(
                user_id=1,
                opened_on=date(2025, 6, 30),
                initial_limit=money("2000.00"),
                status="active",
            ),
            Row(
                user_id=2,
                opened_on=date(2026, 6, 1),
                initial_limit=money("1000.00"),
                status="active",
            ),
        ]
    )
    previous = spark.createDataFrame(
        [(1, money("1000.00"))], "user_id long, prev_limit decimal(18,2)"
    )
    carried = fold(None, txn, repay, as_of=D)
    features = build_features(
        accounts,
        purchase_features(carried.windows, as_of=D),
        aggregate_repayment_behaviour(carried.bills, as_of=D, suspend_dpd=30),
        carried.totals,
        previous,
        as_of=D,
    )
    rows = {r["user_id"]: r for r in features.collect()}
    assert rows[1]["balance"] == money("600.00")
    assert abs(rows[1]["utilization"] - 0.6) < 1e-9  # against the previous limit, not the initial
    assert rows[1]["tenure_days"] == 365
    assert rows[1]["days_since_last_purchase"] == 28  # the purchase of 6/2; a refund is no purchase
    assert abs(rows[1]["credit_share_180d"] - 900 / 970) < 1e-9
    # a new account with no ledger rows: zero counts, no recency, measured on its initial limit
    assert rows[2]["balance"] == money("0.00") and rows[2]["utilization"] == 0.0
    assert rows[2]["purchase_count_365d"] == 0 and rows[2]["days_since_last_purchase"] is None
    assert rows[2]["current_dpd"] == 0 and rows[2]["on_time_rate_365d"] is None
