"""Write aside, then make visible: the run's tables are staged, then moved into place at once.

A reader following the contract (a `_SUCCESS` in `limits` and `limit_changes`, and a report saying
"published") never sees a partial run: the `_SUCCESS` markers and the report come last.
"""

import json
from datetime import date

from pyspark.sql import DataFrame

from jobs.layout import SUCCESS, OutputLayout
from jobs.storage import Storage

PUBLISHED_TABLES = ("limits", "limit_changes")
RUN_TABLES = (*PUBLISHED_TABLES, "rejects")


class Publisher:
    def __init__(self, storage: Storage, layout: OutputLayout, attempt_id: str):
        self.storage = storage
        self.layout = layout
        self.attempt_id = attempt_id

    def staged(self, table: str) -> str:
        return f"{self.layout.staging(self.attempt_id)}/{table}"

    def stage(self, table: str, rows: DataFrame, partitions: int = 1) -> str:
        """Writes a table's rows aside; nothing a reader looks at changes."""
        path = self.staged(table)
        rows.coalesce(partitions).write.mode("overwrite").parquet(path)
        self.storage.delete(f"{path}/{SUCCESS}")
        return path

    def publish(self, run_date: date, report: dict) -> None:
        """Moves the staged tables into place (replacing a rerun date's whole), then the markers,
        then the report."""
        for table in RUN_TABLES:
            final = self.layout.partition(table, run_date)
            if self.storage.exists(final):
                self.storage.rename(final, f"{self.layout.trash(self.attempt_id)}/{table}")
            self.storage.rename(self.staged(table), final)
        for table in PUBLISHED_TABLES:
            self.storage.touch(f"{self.layout.partition(table, run_date)}/{SUCCESS}")
        write_report(self.storage, self.layout, run_date, report, current=True)
        self.discard()
        self.storage.delete(self.layout.trash(self.attempt_id))

    def discard(self) -> None:
        self.storage.delete(self.layout.staging(self.attempt_id))


def write_report(
    storage: Storage, layout: OutputLayout, run_date: date, report: dict, *, current: bool
) -> str:
    """Every attempt keeps its report under attempts/; `current` also makes it the date's
    report.json (a blocked rerun must not replace a published run's report)."""
    text = json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"
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


def previous_published_run(storage: Storage, layout: OutputLayout, before: date) -> date | None:
    """The newest published run dated before `before`, or None (a bootstrap)."""
    for day in reversed(layout.run_dates(storage, "limits")):
        if day < before and is_published(storage, layout, day):
            return day
    return None
