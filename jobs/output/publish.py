"""Write aside, then make visible: the run's tables are staged, then moved into place.

A reader following the contract (a `_SUCCESS` in `limits` and `limit_changes`, and a report saying
"published") never sees a partial run: the report and the `_SUCCESS` markers come last, and the
moves are journaled so that a crash half-way is finished by the next run (jobs.output.journal).
"""

import json
from collections.abc import Callable, Mapping
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from jobs.files.layout import SUCCESS, OutputLayout
from jobs.files.storage import Storage
from jobs.output.failpoints import failpoint
from jobs.output.journal import Journal, commit
from transforms.policy import CHAMPION

PUBLISHED_TABLES = ("limits", "limit_changes")  # a run is published when both are marked
WITHDRAWN_TABLES = (*PUBLISHED_TABLES, "notices")  # what a rollback takes back
RUN_TABLES = (*WITHDRAWN_TABLES, "rejects")


class Publisher:
    def __init__(
        self,
        storage: Storage,
        layout: OutputLayout,
        attempt_id: str,
        staging: str | None = None,
    ):
        """`staging`: where the attempt's tables are written aside; by default the output's
        own staging folder (a simulation writes elsewhere and never publishes)."""
        self.storage = storage
        self.layout = layout
        self.attempt_id = attempt_id
        self.staging = staging or layout.staging(attempt_id)

    def staged(self, table: str) -> str:
        return f"{self.staging}/{table}"

    def stage(
        self,
        table: str,
        rows: DataFrame,
        partitions: int | None = 1,
        sorted_by: tuple[str, ...] = (),
    ) -> str:
        """Writes a table's rows aside; nothing a reader looks at changes. `partitions` None
        keeps the rows' own partitioning (for tables too big for a few files); `sorted_by`
        orders the rows within each file (no shuffle)."""
        path = self.staged(table)
        if partitions is not None:
            rows = rows.coalesce(partitions)
        if sorted_by:
            rows = rows.sortWithinPartitions(*sorted_by)
        rows.write.mode("overwrite").parquet(path)
        self.storage.delete(f"{path}/{SUCCESS}")
        return path

    def scratch(self, rows: DataFrame, name: str) -> DataFrame:
        """Writes rows aside for this attempt alone and reads them back: computed once, and
        read from files every executor reaches (they go with the staging folder)."""
        path = f"{self.staging}/_scratch/{name}"
        rows.write.mode("overwrite").parquet(path)
        return rows.sparkSession.read.parquet(path)

    def staged_state(self) -> str:
        return self.staged("_state")

    def stage_state(
        self,
        tables: dict[str, DataFrame | Callable[[str], DataFrame]],
        folded: str,
        sorted_by: Mapping[str, tuple[str, ...]],
    ) -> str:
        """Writes what this run carries to the next aside (jobs.output.carried_state), in
        order, in at
        most as many files per table as a shuffle has partitions (appended rows add none), each
        file ordered by the table's `sorted_by` columns if it has some. A table given as a
        function is made from the staged state's folder (the tables before it are there)."""
        for name, rows in tables.items():
            if callable(rows):
                rows = rows(self.staged_state())
            files = int(rows.sparkSession.conf.get("spark.sql.shuffle.partitions"))
            self.stage(f"_state/{name}", rows, files, sorted_by.get(name, ()))
        self.storage.write_text(f"{self.staged_state()}/folded.json", folded)
        return self.staged_state()

    def publish(self, run_date: date, report: dict, kept: Mapping[str, str]) -> None:
        """Makes the staged run the date's published run, through a journal
        (jobs.output.journal):
        the old report goes first (the date stops being published), the old partitions move to
        trash, the staged ones move in, the new report is written and the `_SUCCESS`
        markers come last, the notices' first: the last of the contract tables' two is the
        moment the run becomes visible. `kept` (path: text), the policy file and the manifest of
        inputs (jobs.output.kept), is written before the report."""
        text = report_json(report)
        journal = Journal("publish", run_date.isoformat(), self.attempt_id)
        journal.write(self.layout.attempt_report(run_date, self.attempt_id), text)
        journal.delete(self.layout.report(run_date))
        for table in RUN_TABLES:
            final = self.layout.partition(table, run_date)
            if self.storage.exists(final):
                journal.move(final, f"{self.layout.trash(self.attempt_id)}/{table}")
            journal.move(self.staged(table), final)
        if self.storage.exists(self.staged_state()):
            final = self.layout.state(run_date)
            if self.storage.exists(final):
                journal.move(final, f"{self.layout.trash(self.attempt_id)}/_state")
            journal.move(self.staged_state(), final)
        kept_root = f"{self.layout.partition('runs', run_date)}/policy"
        if kept and self.storage.exists(kept_root):  # a rerun's policy replaces the old one's
            journal.delete(kept_root)
        for path, kept_text in kept.items():
            journal.write(path, kept_text)
        journal.write(self.layout.report(run_date), text)
        # the notices' marker first: the last marker of the two contract tables is the moment
        for table in ("notices", *PUBLISHED_TABLES):
            journal.touch(f"{self.layout.partition(table, run_date)}/{SUCCESS}")
        journal.delete(self.staging)
        journal.delete(self.layout.trash(self.attempt_id))
        commit(self.storage, self.layout, journal, pause=failpoint)

    def discard(self) -> None:
        self.storage.delete(self.staging)


def report_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


def write_report(
    storage: Storage, layout: OutputLayout, run_date: date, report: dict, *, current: bool
) -> str:
    """Every attempt keeps its report under attempts/; `current` also makes it the date's
    report.json (a blocked rerun must not replace a published run's report)."""
    text = report_json(report)
    storage.write_text(layout.attempt_report(run_date, report["attempt_id"]), text)
    if current:
        storage.write_text(layout.report(run_date), text)
        return layout.report(run_date)
    return layout.attempt_report(run_date, report["attempt_id"])


def read_report(storage: Storage, layout: OutputLayout, run_date: date) -> dict | None:
    text = storage.read_text(layout.report(run_date))
    return json.loads(text) if text else None


def is_published(storage: Storage, layout: OutputLayout, run_date: date) -> bool:
    if not all(
        storage.exists(f"{layout.partition(t, run_date)}/{SUCCESS}") for t in PUBLISHED_TABLES
    ):
        return False
    report = read_report(storage, layout, run_date)
    return bool(report) and report.get("status") == "published"


def published_change_dates(storage: Storage, layout: OutputLayout, before: date) -> list[date]:
    """Run dates before `before` whose limit_changes are published (have their `_SUCCESS`)."""
    return [
        d
        for d in layout.run_dates(storage, "limit_changes")
        if d < before and storage.exists(f"{layout.partition('limit_changes', d)}/{SUCCESS}")
    ]


def published_notice_dates(storage: Storage, layout: OutputLayout, before: date) -> list[date]:
    """Run dates before `before` whose notices are published (a run before notices has none)."""
    return [
        d
        for d in published_change_dates(storage, layout, before)
        if storage.exists(f"{layout.partition('notices', d)}/{SUCCESS}")
    ]


def previous_published_run(storage: Storage, layout: OutputLayout, before: date) -> date | None:
    """The newest published run dated before `before`, or None (a bootstrap)."""
    for day in reversed(layout.run_dates(storage, "limits")):
        if day < before and is_published(storage, layout, day):
            return day
    return None


def read_table(
    spark: SparkSession, layout: OutputLayout, table: str, days: list[date], schema: StructType
) -> DataFrame:
    """The given run dates' partitions of an output table, in the contract's columns."""
    if not days:
        return spark.createDataFrame([], schema)
    return with_cells(
        spark.read.schema(schema)
        .option("basePath", layout.table(table))
        .parquet(*[layout.partition(table, d) for d in days])
        .select(*schema.fieldNames())
    )


def with_cells(rows: DataFrame) -> DataFrame:
    """A run published before cells existed has no `cell`: all its rows were the champion's."""
    if "cell" not in rows.columns:
        return rows
    return rows.withColumn("cell", F.coalesce(F.col("cell"), F.lit(CHAMPION)))
