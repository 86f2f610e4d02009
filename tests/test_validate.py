"""Each bad-row rule refuses its row with its reason; the first copy of an id wins."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.checks import rows as row_checks
from jobs.checks.rows import check_rows
from transforms import validate
from transforms.schemas import ACCOUNTS, REPAYMENTS, TRANSACTIONS
from transforms.validate import (
    KEY_HASH,
    REJECT_REASON,
    id_index,
    to_rejects,
)

D = date(2026, 3, 10)
T0 = datetime(2026, 3, 10, 9, 0)
SOURCE = "dt date, source_file string, source_row long"


def ledger(spark, schema, rows):
    ddl = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in schema.fields)
    return spark.createDataFrame(rows, f"{ddl}, {SOURCE}")


def reasons(checked, id_column):
    return {r[0]: r[1] for r in checked.select(id_column, REJECT_REASON).collect()}


def test_each_transaction_rule_gives_its_reason(spark):
    a = Decimal("10.00")
    rows = [
        ("ok", 1, T0, "purchase", a, "credit", 3, D, "f1", 0),
        ("ok_debit", 1, T0, "refund", a, "debit_card", None, D, "f1", 1),
        (None, 1, T0, "purchase", a, "wallet", None, D, "f1", 2),
        ("no_user", None, T0, "purchase", a, "wallet", None, D, "f1", 3),
        ("no_time", 1, None, "purchase", a, "wallet", None, D, "f1", 4),
        ("future", 1, datetime(2026, 3, 11, 0, 0), "purchase", a, "wallet", None, D, "f1", 5),
        ("type", 1, T0, "chargeback", a, "wallet", None, D, "f1", 6),
        ("no_amount", 1, T0, "purchase", None, "wallet", None, D, "f1", 7),
        ("zero", 1, T0, "purchase", Decimal("0.00"), "wallet", None, D, "f1", 8),
        ("method", 1, T0, "purchase", a, "cash", None, D, "f1", 9),
        ("no_plan", 1, T0, "purchase", a, "credit", None, D, "f1", 10),
        ("plan_on_wallet", 1, T0, "purchase", a, "wallet", 3, D, "f1", 11),
        ("ok", 1, T0, "purchase", a, "credit", 1, D, "f1", 12),
    ]
    checked = check_rows(ledger(spark, TRANSACTIONS, rows), ledger="transactions")
    got = reasons(checked, "source_row")
    assert got == dict(
        enumerate(
            [
                None,
                None,
                "NULL_TXN_ID",
                "NULL_USER_ID",
                "NULL_EVENT_TIME",
                "EVENT_AFTER_PARTITION",
                "UNKNOWN_TXN_TYPE",
                "NULL_AMOUNT",
                "NON_POSITIVE_AMOUNT",
                "UNKNOWN_PAYMENT_METHOD",
                "INVALID_INSTALLMENTS",
                "UNEXPECTED_INSTALLMENTS",
                "DUPLICATE_ID",
            ]
        )
    )


@pytest.fixture(params=["broadcast", "colliding", "sort"])
def copied_ids(request, monkeypatch):
    """Each way the first row of an id seen twice (or a bill's first bill row) is found: the few
    such keys broadcast to the rows; the same when every key's hash collides, so that each is
    looked at by its own value; and (past the broadcast limit, a replayed ledger) every row
    sorted by key."""
    if request.param == "colliding":
        monkeypatch.setattr(
            validate, "_key_hash", lambda key: F.lit(0).cast("long").alias(KEY_HASH)
        )
    if request.param == "sort":
        monkeypatch.setattr(row_checks, "MAX_BROADCAST_KEYS", 0)
    return request.param


def test_the_copy_recorded_first_is_kept(spark, copied_ids):
    a = Decimal("5.00")
    rows = [
        ("t1", 1, T0, "purchase", a, "wallet", None, date(2026, 3, 12), "a.parquet", 0),
        ("t1", 1, T0, "purchase", a, "wallet", None, date(2026, 3, 11), "z.parquet", 7),
        ("t1", 1, T0, "purchase", a, "wallet", None, date(2026, 3, 11), "z.parquet", 3),
        ("t1", 1, T0, "purchase", a, "wallet", None, date(2026, 3, 11), "b.parquet", 9),
        ("t2", 1, T0, "purchase", a, "wallet", None, date(2026, 3, 12), "a.parquet", 1),
    ]
    checked = check_rows(ledger(spark, TRANSACTIONS, rows), ledger="transactions")
    kept = checked.filter(F.col(REJECT_REASON).isNull()).select(
        "txn_id", "source_file", "source_row"
    )
    first_rows = [("t1", "b.parquet", 9), ("t2", "a.parquet", 1)]
    assert sorted(tuple(r) for r in kept.collect()) == first_rows
    # The id index, which later nights check their ids against, holds the same first rows: of a
    # transaction, its id and day (a later night's rows are all recorded on later days).
    index = id_index(checked, ledger="transactions")
    assert index.columns == ["txn_id", "dt"]
    assert sorted(tuple(r) for r in index.collect()) == [
        ("t1", date(2026, 3, 11)),
        ("t2", date(2026, 3, 12)),
    ]


def test_each_repayment_rule_gives_its_reason(spark, copied_ids):
    a = Decimal("100.00")
    due = date(2026, 3, 30)
    rows = [
        ("b1", 1, "BL1", "bill", a, due, T0, D, "f", 0),
        ("p1", 1, "BL1", "payment", a, None, T0, D, "f", 1),
        (" ", 1, "BL1", "payment", a, None, T0, D, "f", 2),
        ("nouser", None, "BL1", "payment", a, None, T0, D, "f", 3),
        ("nobill", 1, None, "payment", a, None, T0, D, "f", 4),
        ("notime", 1, "BL1", "payment", a, None, None, D, "f", 5),
        ("future", 1, "BL1", "payment", a, None, datetime(2026, 3, 12), D, "f", 6),
        ("kind", 1, "BL1", "fee", a, None, T0, D, "f", 7),
        ("noamt", 1, "BL1", "payment", None, None, T0, D, "f", 8),
        ("neg", 1, "BL1", "payment", Decimal("-1.00"), None, T0, D, "f", 9),
        ("b_nodue", 1, "BL2", "bill", a, None, T0, D, "f", 10),
        ("p_due", 1, "BL1", "payment", a, due, T0, D, "f", 11),
        ("p1", 1, "BL1", "payment", a, None, T0, D, "f", 12),
        ("b1again", 1, "BL1", "bill", a, due, T0, D, "f", 13),
        ("other", 2, "BL1", "payment", a, None, T0, D, "f", 14),
        ("b3", 1, "BL3", "bill", a, due, T0, D, "f", 15),
        ("other3", 3, "BL3", "payment", a, None, T0, D, "f", 16),
        # A bill row without a user owns no bill: the next bill row's user does.
        ("b4", None, "BL4", "bill", a, due, T0, D, "f", 17),
        ("b4again", 4, "BL4", "bill", a, due, T0, D, "f", 18),
        ("other4", 5, "BL4", "payment", a, None, T0, D, "f", 19),
    ]
    got = reasons(check_rows(ledger(spark, REPAYMENTS, rows), ledger="repayments"), "source_row")
    assert got == {
        0: None,
        1: None,
        2: "NULL_ENTRY_ID",
        3: "NULL_USER_ID",
        4: "NULL_BILL_ID",
        5: "NULL_EVENT_TIME",
        6: "EVENT_AFTER_PARTITION",
        7: "UNKNOWN_ENTRY_TYPE",
        8: "NULL_AMOUNT",
        9: "NON_POSITIVE_AMOUNT",
        10: "BILL_WITHOUT_DUE_DATE",
        11: "PAYMENT_WITH_DUE_DATE",
        12: "DUPLICATE_ID",
        13: "DUPLICATE_BILL",
        14: "BILL_USER_MISMATCH",
        15: None,
        16: "BILL_USER_MISMATCH",
        17: "NULL_USER_ID",
        18: "DUPLICATE_BILL",
        19: "BILL_USER_MISMATCH",
    }


def test_each_account_rule_gives_its_reason(spark, copied_ids):
    opened = date(2025, 1, 1)
    limit = Decimal("1000.00")
    rows = [
        (1, opened, limit, "active", D, "f", 0),
        (None, opened, limit, "active", D, "f", 1),
        (2, None, limit, "active", D, "f", 2),
        (3, date(2026, 4, 1), limit, "active", D, "f", 3),
        (4, opened, None, "active", D, "f", 4),
        (5, opened, Decimal("0.00"), "active", D, "f", 5),
        (6, opened, limit, "paused", D, "f", 6),
        (1, opened, limit, "frozen", D, "f", 7),
    ]
    got = reasons(check_rows(ledger(spark, ACCOUNTS, rows), ledger="accounts"), "source_row")
    assert got == {
        0: None,
        1: "NULL_USER_ID",
        2: "NULL_OPENED_ON",
        3: "OPENED_AFTER_SNAPSHOT",
        4: "NULL_INITIAL_LIMIT",
        5: "NON_POSITIVE_INITIAL_LIMIT",
        6: "UNKNOWN_STATUS",
        7: "DUPLICATE_ID",
    }


def test_rejects_list_the_days_refused_rows_with_their_whole_record(spark):
    a = Decimal("10.00")
    rows = [
        ("old_bad", 1, T0, "purchase", Decimal("-1.00"), "wallet", None, date(2026, 3, 9), "f", 0),
        ("new_bad", 7, T0, "purchase", a, "cash", None, D, "f", 0),
        ("good", 1, T0, "purchase", a, "wallet", None, D, "f", 1),
    ]
    checked = check_rows(ledger(spark, TRANSACTIONS, rows), ledger="transactions")
    rejects = to_rejects(checked, ledger="transactions", run_date=D)
    expected = spark.createDataFrame(
        [(D, "transactions", "new_bad", "UNKNOWN_PAYMENT_METHOD")],
        "run_date date, ledger string, row_id string, reason string",
    )
    assertDataFrameEqual(rejects.drop("record"), expected)
    record = rejects.first()["record"]
    assert (
        '"payment_method":"cash"' in record
        and '"user_id":7' in record
        and '"amount":10.00' in record
    )
