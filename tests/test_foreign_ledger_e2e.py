"""Ledgers written by another program (pyarrow, following only the contract) re-rate the same."""

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from tests.e2e import read_table, report, rerate, small_profile

D = dt.date(2026, 3, 31)
UTC = dt.UTC
TXN = pa.schema(
    [
        ("txn_id", pa.string()),
        ("user_id", pa.int64()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("txn_type", pa.string()),
        ("amount", pa.decimal128(18, 2)),
        ("payment_method", pa.string()),
        ("installments", pa.int32()),
    ]
)
REPAY = pa.schema(
    [
        ("entry_id", pa.string()),
        ("user_id", pa.int64()),
        ("bill_id", pa.string()),
        ("entry_type", pa.string()),
        ("amount", pa.decimal128(18, 2)),
        ("due_date", pa.date32()),
        ("event_time", pa.timestamp("us", tz="UTC")),
    ]
)
ACCOUNTS = pa.schema(
    [
        ("user_id", pa.int64()),
        ("opened_on", pa.date32()),
        ("initial_limit", pa.decimal128(18, 2)),
        ("status", pa.string()),
    ]
)


def write(root, ledger, day, schema, rows, name="part-0.parquet"):
    folder = root / ledger / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / name)
    (folder / "_SUCCESS").touch()


def at(day, hour=12):
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_a_pyarrow_ledger_is_rerated_and_its_bad_row_quarantined(spark, tmp_path):
    inputs, output = tmp_path / "input", tmp_path / "output"
    opened = dt.date(2024, 1, 1)
    write(
        inputs,
        "accounts",
        D,
        ACCOUNTS,
        [
            {
                "user_id": 1,
                "opened_on": opened,
                "initial_limit": Decimal("3000.00"),
                "status": "active",
            },
            {
                "user_id": 2,
                "opened_on": opened,
                "initial_limit": Decimal("3000.00"),
                "status": "active",
            },
            {
                "user_id": 3,
                "opened_on": opened,
                "initial_limit": Decimal("2000.00"),
                "status": "frozen",
            },
        ],
    )
    feb = dt.date(2026, 2, 1)
    # user 1 pays its February bill on time; user 2 never pays its bill, due 2026-02-21 (38 days)
    write(
        inputs,
        "transactions",
        feb,
        TXN,
        [
            {
                "txn_id": "a",
                "user_id": 1,
                "event_time": at(feb),
                "txn_type": "purchase",
                "amount": Decimal("400.00"),
                "payment_method": "credit",
                "installments": 1,
            },
            {
                "txn_id": "b",
                "user_id": 2,
                "event_time": at(feb),
                "txn_type": "purchase",
                "amount": Decimal("900.00"),
                "payment_method": "credit",
                "installments": 1,
            },
        ],
    )
    write(
        inputs,
        "repayments",
        feb,
        REPAY,
        [
            {
                "entry_id": "b1",
                "user_id": 1,
                "bill_id": "B1",
                "entry_type": "bill",
                "amount": Decimal("400.00"),
                "due_date": dt.date(2026, 2, 21),
                "event_time": at(feb, 1),
            },
            {
                "entry_id": "b2",
                "user_id": 2,
                "bill_id": "B2",
                "entry_type": "bill",
                "amount": Decimal("900.00"),
                "due_date": dt.date(2026, 2, 21),
                "event_time": at(feb, 1),
            },
        ],
    )
    write(
        inputs,
        "repayments",
        dt.date(2026, 2, 20),
        REPAY,
        [
            {
                "entry_id": "p1",
                "user_id": 1,
                "bill_id": "B1",
                "entry_type": "payment",
                "amount": Decimal("400.00"),
                "due_date": None,
                "event_time": at(dt.date(2026, 2, 20)),
            },
        ],
    )
    # the run date: two files in one partition, one of them with a bad row
    write(
        inputs,
        "transactions",
        D,
        TXN,
        [
            {
                "txn_id": "c",
                "user_id": 1,
                "event_time": at(D),
                "txn_type": "purchase",
                "amount": Decimal("80.00"),
                "payment_method": "wallet",
                "installments": None,
            },
        ],
        name="part-0.parquet",
    )
    write(
        inputs,
        "transactions",
        D,
        TXN,
        [
            {
                "txn_id": "d",
                "user_id": 1,
                "event_time": at(D),
                "txn_type": "purchase",
                "amount": Decimal("-5.00"),
                "payment_method": "wallet",
                "installments": None,
            },
        ],
        name="part-1.parquet",
    )
    write(inputs, "repayments", D, REPAY, [])

    done = rerate(
        "run",
        "--date",
        D.isoformat(),
        "--input",
        str(inputs),
        "--output",
        str(output),
        conf=small_profile(tmp_path),
    )
    # one bad row in two that day is over the 1 % quality gate: exit 4, nothing published
    assert done.returncode == 4, done.stderr
    assert "NON_POSITIVE_AMOUNT" in done.stderr
    assert report(output, D.isoformat())["status"] == "bad_input"
    assert not (output / "limits").exists()

    (inputs / "transactions" / f"dt={D}" / "part-1.parquet").unlink()
    done = rerate(
        "run",
        "--date",
        D.isoformat(),
        "--input",
        str(inputs),
        "--output",
        str(output),
        conf=small_profile(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    limits = read_table(output, "limits", D.isoformat()).set_index("user_id")
    assert limits.loc[1, "status"] == "active" and limits.loc[1, "balance"] == Decimal("0.00")
    assert limits.loc[2, "status"] == "suspended" and limits.loc[2, "balance"] == Decimal("900.00")
    assert limits.loc[2, "reason_codes"][0] == "DELINQUENT"
    assert (
        limits.loc[3, "status"] == "suspended"
        and limits.loc[3, "reason_codes"][0] == "ACCOUNT_FROZEN"
    )
    changes = read_table(output, "limit_changes", D.isoformat()).set_index("user_id")
    assert changes.loc[2, "change_type"] == "suspend" and changes.loc[2, "old_limit"] == Decimal(
        "3000.00"
    )
    assert list(changes.loc[2, "reason_codes"])[0] == "DELINQUENT"
    assert list(changes.loc[3, "reason_codes"]) == ["ACCOUNT_FROZEN"]
