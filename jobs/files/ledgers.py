"""Reading the input ledgers: readiness of the run date's partitions, schema, and the rows.

Each ledger row comes back with its source: `dt` (the partition it was recorded in),
`source_file` and `source_row` (its position), which the duplicate rule needs.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.files.layout import SUCCESS, InputLayout
from jobs.files.storage import Entry, Storage
from jobs.outcome import failure_reason
from transforms.schemas import LEDGER_SCHEMAS

EVENT_LEDGERS = ("transactions", "repayments")
SIGNALS = "signals"  # optional: read only when the policy scores a signal


@dataclass
class Readiness:
    """What the run date's inputs look like; `problems` empty means ready."""

    complete_days: dict[str, list[date]] = field(default_factory=dict)
    files: dict[str, dict[date, list[Entry]]] = field(default_factory=dict)  # of complete days
    skipped_incomplete: dict[str, list[str]] = field(default_factory=dict)
    accounts_day: date | None = None
    problems: list[str] = field(default_factory=list)
    # of the signals ledger (read when the policy scores a signal): why D's partition cannot be
    # read, if it cannot (a stale feed: a warning, or exit 3 for a required source)
    signals_stale: str | None = None

    def folded_ledgers(self) -> tuple[str, ...]:
        """The ledgers whose complete partitions a run folds into its state."""
        return tuple(ledger for ledger in (*EVENT_LEDGERS, SIGNALS) if ledger in self.files)


def check_readiness(
    storage: Storage,
    layout: InputLayout,
    run_date: date,
    *,
    signals: bool = False,
    signals_as_read: list[date] | None = None,
) -> Readiness:
    """Exit 3 territory: D's ledger partitions and every accounts partition up to D complete.
    With `signals`, the signals ledger's complete partitions too; a missing one is not a problem
    here (the caller decides: the source may be required). `signals_as_read`: the signals
    partitions a published run read (its manifest), to see them as it saw them: a feed that was
    stale that night may have caught up since."""
    ready = Readiness()
    for ledger in (*EVENT_LEDGERS, SIGNALS) if signals else EVENT_LEDGERS:
        days = [d for d in layout.partition_days(storage, ledger) if d <= run_date]
        listed = {d: storage.list(layout.partition(ledger, d)) for d in days}
        complete = [d for d in days if any(e.name == SUCCESS for e in listed[d])]
        if ledger == SIGNALS and signals_as_read is not None:
            complete = [d for d in complete if d in set(signals_as_read)]
        ready.complete_days[ledger] = complete
        ready.files[ledger] = {d: [e for e in listed[d] if not e.is_dir] for d in complete}
        ready.skipped_incomplete[ledger] = [d.isoformat() for d in days if d not in complete]
        if ledger == SIGNALS:
            if run_date not in complete:
                newest = f"dt={complete[-1]}" if complete else "none"
                why = "is missing" if run_date not in days else f"has no {SUCCESS} yet"
                ready.signals_stale = (
                    f"{layout.partition(ledger, run_date)} {why} (newest complete: {newest})"
                )
        elif run_date not in days:
            ready.problems.append(f"{layout.partition(ledger, run_date)} is missing")
        elif run_date not in complete:
            ready.problems.append(f"{layout.partition(ledger, run_date)} has no {SUCCESS} yet")
    account_days = [d for d in layout.partition_days(storage, "accounts") if d <= run_date]
    incomplete = [
        d for d in account_days if not storage.exists(layout.success_marker("accounts", d))
    ]
    for day in incomplete:
        ready.problems.append(f"{layout.partition('accounts', day)} has no {SUCCESS} yet")
    if not account_days:
        ready.problems.append(
            f"no accounts partition dated {run_date} or before under "
            f"{layout.ledger_root('accounts')}"
        )
    elif not incomplete:
        ready.accounts_day = account_days[-1]
    return ready


def _type_name(data_type: T.DataType) -> str:
    return data_type.simpleString()


def parquet_files(entries: list[Entry]) -> list[Entry]:
    """The data files of a partition as Spark reads them: hidden names (`_x`, `.x`) are not."""
    return [
        e
        for e in entries
        if not e.is_dir and e.name.endswith(".parquet") and not e.name.startswith(("_", "."))
    ]


@dataclass
class Footers:
    """The schema of each Parquet file of a partition (by file name), and the files whose
    footer cannot be read, each named with its cause."""

    schemas: dict[str, T.StructType] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


def read_footers(
    spark: SparkSession, storage: Storage, layout: InputLayout, ledger: str, day: date
) -> Footers:
    """Every Parquet file of the partition is opened: one truncated or foreign file among good
    ones is found here, named, with its cause (not a Parquet file, a bad magic number)."""
    found = Footers()
    for entry in parquet_files(storage.list(layout.partition(ledger, day))):
        try:
            found.schemas[entry.name] = spark.read.parquet(entry.path).schema
        except Exception as e:  # noqa: BLE001 - the file's own fault, named in the report
            found.unreadable.append(f"{entry.path} ({entry.size:,} bytes): {failure_reason(e)}")
    return found


def schema_drift(ledger: str, schemas: dict[str, T.StructType]) -> list[str]:
    """How each file's schema differs from the contract: missing, extra or retyped columns.
    Every file is looked at: one odd file among good ones is still drift.

    A timestamp without time zone is accepted as UTC; anything else must match exactly.
    """
    return [
        f"{problem} (in {name})"
        for name, found in schemas.items()
        for problem in _column_drift(ledger, found)
    ]


def _column_drift(ledger: str, found: T.StructType) -> list[str]:
    expected = LEDGER_SCHEMAS[ledger]
    found_types = {f.name: f.dataType for f in found.fields if f.name != "dt"}
    problems = []
    for f in expected.fields:
        actual = found_types.get(f.name)
        if actual is None:
            problems.append(f"{ledger}.{f.name}: missing (expected {_type_name(f.dataType)})")
        elif actual != f.dataType and not (
            isinstance(f.dataType, T.TimestampType) and isinstance(actual, T.TimestampNTZType)
        ):
            hint = ""
            if isinstance(f.dataType, T.TimestampType) and isinstance(actual, T.LongType):
                hint = " (nanosecond timestamps are not supported: write microseconds)"
            problems.append(
                f"{ledger}.{f.name}: expected {_type_name(f.dataType)}, found "
                f"{_type_name(actual)}{hint}"
            )
    for name in found_types:
        if name not in expected.fieldNames():
            problems.append(f"{ledger}.{name}: unknown extra column")
    return problems


def read_ledger(
    spark: SparkSession, layout: InputLayout, ledger: str, days: list[date]
) -> DataFrame:
    """The rows of the given complete partitions, in the contract's types, with their source."""
    schema = LEDGER_SCHEMAS[ledger]
    if not days:
        return spark.createDataFrame([], schema).select(
            "*",
            F.lit(None).cast("date").alias("dt"),
            F.lit(None).cast("string").alias("source_file"),
            F.lit(None).cast("long").alias("source_row"),
        )
    paths = [layout.partition(ledger, d) for d in days]
    # `dt` named in the schema: partitions without a data file (an empty day, only `_SUCCESS`)
    # still give the column, where discovery from no file gives none
    with_day = T.StructType([*schema.fields, T.StructField("dt", T.DateType())])
    return (
        spark.read.schema(with_day)
        .option("basePath", layout.ledger_root(ledger))
        .parquet(*paths)
        .select(
            *schema.fieldNames(),
            F.col("dt").cast("date").alias("dt"),
            F.col("_metadata.file_name").alias("source_file"),
            F.col("_metadata.row_index").alias("source_row"),
        )
    )


def partition_digest(files: list[Entry]) -> str:
    """A SHA-256 over the name, size and modification time of every file of one partition:
    what changes when the partition is written again."""
    digest = hashlib.sha256()
    for e in files:
        digest.update(f"{e.name}:{e.size}:{e.modified_ms}\n".encode())
    return digest.hexdigest()


def fingerprint(ledger: str, files_by_day: dict[date, list[Entry]]) -> dict:
    """What a run read, so that it can be audited later: the partitions, their files and sizes,
    and one SHA-256 over every file's path, size and modification time."""
    digest = hashlib.sha256()
    files = total = 0
    newest: list[dict] = []
    days = sorted(files_by_day)
    for day in days:
        parquet = parquet_files(files_by_day[day])
        for e in parquet:
            digest.update(f"{ledger}/dt={day}/{e.name}:{e.size}:{e.modified_ms}\n".encode())
        files += len(parquet)
        total += sum(e.size for e in parquet)
        if day == days[-1]:
            newest = [{"file": e.name, "bytes": e.size} for e in parquet]
    return {
        "partitions": len(days),
        "first_day": days[0].isoformat() if days else None,
        "last_day": days[-1].isoformat() if days else None,
        "files": files,
        "bytes": total,
        "sha256": digest.hexdigest(),
        "last_partition_files": newest,
    }
