"""The least any full-history job must do, in Spark and in DuckDB: read the whole year of both
ledgers, compute one aggregate per account, write one Parquet row per account.

    python -m tests.bench.floors spark|duckdb INPUT_ROOT OUTPUT_FOLDER
"""

import sys
from pathlib import Path

LEDGERS = ("transactions", "repayments")


def spark_floor(input_root: str, output: str) -> None:
    from pyspark.sql import functions as F

    from jobs.config import load_settings
    from jobs.session import start_spark

    spark = start_spark(load_settings(None))  # the job's own local profile and Spark settings
    rows = None
    for ledger in LEDGERS:
        part = spark.read.parquet(f"{input_root}/{ledger}").select("user_id", "amount")
        rows = part if rows is None else rows.unionByName(part)
    per_account = rows.groupBy("user_id").agg(
        F.count("*").alias("entries"), F.sum("amount").alias("amount")
    )
    per_account.write.mode("overwrite").parquet(output)
    spark.stop()


def duckdb_floor(input_root: str, output: str) -> None:
    import duckdb

    scans = " UNION ALL ".join(
        f"SELECT user_id, amount FROM read_parquet('{input_root}/{ledger}/*/*.parquet', "
        "hive_partitioning = false)"
        for ledger in LEDGERS
    )
    Path(output).mkdir(parents=True, exist_ok=True)
    duckdb.sql(
        f"COPY (SELECT user_id, count(*) AS entries, sum(amount) AS amount FROM ({scans}) "
        f"GROUP BY user_id) TO '{output}/part-0.parquet' (FORMAT parquet)"
    )


if __name__ == "__main__":
    engine, input_root, output = sys.argv[1:4]
    {"spark": spark_floor, "duckdb": duckdb_floor}[engine](input_root, output)
