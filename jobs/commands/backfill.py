"""`rerate backfill`: every date of a range in order, each a full nightly run in one Spark session.

A restarted backfill resumes after the last date of the range already published; it stops at the
first date that does not publish, with that date's exit code, so the next night never diffs
against a gap. A range ending before the newest published run is refused: the runs after it were
computed against the history the backfill would change.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import SparkSession

from jobs.commands.run import RunResult, run_nightly
from jobs.config import Settings
from jobs.files.layout import OutputLayout
from jobs.files.storage import Storage
from jobs.outcome import ExitCode, Stop
from jobs.output.publish import is_published


@dataclass
class BackfillResult:
    exit_code: ExitCode
    skipped: list[date] = field(default_factory=list)  # already published when it started
    published: list[date] = field(default_factory=list)
    stopped: RunResult | None = None  # the date that did not publish
    not_run: list[date] = field(default_factory=list)  # the dates after it


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def plan(storage: Storage, out: OutputLayout, start: date, end: date, rerun: bool) -> list[date]:
    """The dates to run: the whole range with `rerun`, else those after its last published date."""
    if end < start:
        raise Stop(ExitCode.USAGE, f"--end {end} is before --start {start}")
    published = [d for d in out.run_dates(storage, "limits") if is_published(storage, out, d)]
    later = [d for d in published if d > end]
    days = days_between(start, end)
    if not rerun:
        done = [d for d in published if start <= d <= end]
        days = [d for d in days if not done or d > done[-1]]
    if days and later:
        raise Stop(
            ExitCode.USAGE,
            f"runs after the range are published ({later[0]} .. {later[-1]}); they were "
            f"computed against the history this backfill would change: end the backfill at "
            f"{later[-1]} or later",
        )
    return days


def progress_line(done: int, total: int, day: date, result: RunResult, durations: list[float]):
    left = total - done
    line = (
        f"[{done}/{total}] {day}: {result.report['status']} in {durations[-1]:.1f} s; "
        f"{_dates(left)} left"
    )
    if left and result.exit_code == ExitCode.PUBLISHED:
        rest = sum(durations) / len(durations) * left
        finish = datetime.now(UTC) + timedelta(seconds=rest)
        line += f", about {_minutes(rest)} to go (done near {finish:%H:%M} UTC)"
    return line


def _dates(n: int) -> str:
    return f"{n} date" if n == 1 else f"{n} dates"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def backfill(
    spark: SparkSession,
    settings: Settings,
    start: date,
    end: date,
    *,
    rerun: bool = False,
    echo: Callable[[str], None] = print,
) -> BackfillResult:
    storage = Storage(spark)
    out = OutputLayout(settings.output_path)
    days = plan(storage, out, start, end, rerun)
    result = BackfillResult(ExitCode.PUBLISHED)
    result.skipped = [d for d in days_between(start, end) if d not in days]
    if result.skipped:
        echo(
            f"backfill {start} .. {end}: {_dates(len(result.skipped))} already published "
            f"(through {result.skipped[-1]}), resuming at {days[0] if days else 'nothing'}"
        )
    if not days:
        echo(f"backfill {start} .. {end}: every date is published; nothing to do")
        return result
    echo(f"backfill {days[0]} .. {days[-1]}: {_dates(len(days))} to run")
    durations: list[float] = []
    for i, day in enumerate(days, start=1):
        began = time.monotonic()
        outcome = run_nightly(spark, settings, day)
        spark.catalog.clearCache()
        durations.append(time.monotonic() - began)
        echo(progress_line(i, len(days), day, outcome, durations))
        if outcome.exit_code != ExitCode.PUBLISHED:
            result.exit_code, result.stopped, result.not_run = outcome.exit_code, outcome, days[i:]
            return result
        result.published.append(day)
    echo(f"backfill done: {_dates(len(days))} published in {_minutes(sum(durations))}")
    return result


def stop_message(outcome: RunResult, left: list[date]) -> str:
    report = outcome.report
    lines = [
        f"backfill stopped at {report['run_date']}: {report['status']} "
        f"(exit {int(outcome.exit_code)}): "
        f"{report['reason']}",
        f"  report: {outcome.report_path}",
        f"  what to do: {report['what_to_do']}",
    ]
    if left:
        lines.append(
            f"  not run: {left[0]} .. {left[-1]} ({_dates(len(left))}); the same command resumes"
        )
    return "\n".join(lines)
