"""`rerate generate`: writes synthetic ledgers in the contract's input layout."""

import logging
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.files.layout import InputLayout
from jobs.files.storage import Storage
from transforms.schemas import ACCOUNTS, REPAYMENTS, SIGNALS, TRANSACTIONS, names
from transforms.synthetic import (
    bill_entries,
    make_account_snapshots,
    make_bills,
    make_payments,
    make_purchases,
    make_signals,
    make_users,
    snapshot_dates,
    with_recorded_day,
)

log = logging.getLogger(__name__)


def generate(
    spark: SparkSession, *, input_path: str, users: int, days: int, end: date, seed: int
) -> dict[str, int]:
    """Writes transactions, repayments, weekly accounts snapshots and monthly signals (a bureau
    score, a utility's on-time rate); returns rows per ledger."""
    start = end - timedelta(days=days - 1)
    layout = InputLayout(input_path)
    people = make_users(spark.range(users), seed=seed, start=start, end=end).cache()
    transactions = make_purchases(people, seed=seed, end=end).cache()
    bills = make_bills(people, transactions, end=end).cache()
    repayments = bill_entries(bills).unionByName(make_payments(people, bills, seed=seed, end=end))
    snapshots = spark.createDataFrame([(d,) for d in snapshot_dates(start, end)], "dt date")
    counts = {
        "transactions": _write(
            spark,
            with_recorded_day(transactions, seed=seed, id_column="txn_id", end=end),
            names(TRANSACTIONS),
            layout,
            "transactions",
            start,
            end,
        ),
        "repayments": _write(
            spark,
            with_recorded_day(repayments, seed=seed, id_column="entry_id", end=end),
            names(REPAYMENTS),
            layout,
            "repayments",
            start,
            end,
        ),
        "accounts": _write(
            spark,
            make_account_snapshots(people, snapshots),
            names(ACCOUNTS),
            layout,
            "accounts",
            None,
            None,
        ),
        "signals": _write_signals(spark, people, layout, seed=seed, start=start, end=end),
    }
    for cached in (people, transactions, bills):
        cached.unpersist()
    return counts


def generate_signals(
    spark: SparkSession, *, input_path: str, users: int, days: int, end: date, seed: int
) -> int:
    """Writes only the signals ledger `generate` writes for these sizes and seed (to give a book
    generated before the ledger existed the same rows); returns the rows."""
    start = end - timedelta(days=days - 1)
    people = make_users(spark.range(users), seed=seed, start=start, end=end)
    return _write_signals(spark, people, InputLayout(input_path), seed=seed, start=start, end=end)


def _write_signals(spark, people, layout, *, seed: int, start: date, end: date) -> int:
    return _write(
        spark,
        make_signals(people, seed=seed, start=start, end=end),
        names(SIGNALS),
        layout,
        "signals",
        start,
        end,
    )


def _write(
    spark: SparkSession,
    rows: DataFrame,
    columns: list[str],
    layout: InputLayout,
    ledger: str,
    start: date | None,
    end: date | None,
) -> int:
    """One Parquet file per day partition, a `_SUCCESS` in each, and empty days marked too."""
    storage = Storage(spark)
    root = layout.ledger_root(ledger)
    rows = rows.filter(F.col("dt") >= F.lit(start)) if start else rows
    rows.select(*columns, "dt").repartition("dt").write.mode("overwrite").partitionBy("dt").parquet(
        root
    )
    storage.delete(f"{root}/_SUCCESS")
    days = [d for d in layout.partition_days(storage, ledger)]
    if start and end:
        days = sorted(
            set(days) | {start + timedelta(days=i) for i in range((end - start).days + 1)}
        )
    for day in days:
        storage.touch(layout.success_marker(ledger, day))
    written = spark.read.parquet(root).count()
    log.info("generate: %s: %d rows in %d partitions", ledger, written, len(days))
    return written
