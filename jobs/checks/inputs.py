"""The input gates of a run, in the contract's order: readiness (exit 3), schema (exit 4), the
rows (rejects, exit 4 above the share) and each ledger's volume (exit 4). `rerate run` and
`rerate validate` share them, so both say the same about the same input."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from jobs.checks import gates
from jobs.checks.rows import check_rows
from jobs.config import Settings
from jobs.files.layout import InputLayout
from jobs.files.ledgers import (
    EVENT_LEDGERS,
    SIGNALS,
    Readiness,
    check_readiness,
    fingerprint,
    read_footers,
    read_ledger,
    schema_drift,
)
from jobs.files.storage import Storage
from jobs.outcome import ExitCode, Stop
from jobs.run_report import Findings
from transforms.validate import checked_after

log = logging.getLogger(__name__)


@dataclass
class Reading:
    """The complete partitions a run reads and checks. Where an event ledger has an `index` (the
    first row of every id recorded before those partitions, transforms.validate.id_index), the
    rows are checked against it instead of against the partitions it stands for."""

    days: dict[str, list[date]]
    index: dict[str, DataFrame] = field(default_factory=dict)


@dataclass
class CheckedInputs:
    readiness: Readiness
    checked: dict[str, DataFrame]  # every row read, with its reject_reason (null when accepted)

    def unpersist(self) -> None:
        for rows in self.checked.values():
            rows.unpersist()


def check_inputs(
    spark: SparkSession,
    settings: Settings,
    storage: Storage,
    run_date: date,
    report: Findings,
    choose_reading: Callable[[Readiness], Reading] | None = None,
    signals_as_read: list[date] | None = None,
) -> CheckedInputs:
    """Runs every input gate, recording each in the report; raises Stop at the first that
    fails. Once the input is ready and its schema right, `choose_reading` says which partitions
    to read (default: every complete one). `signals_as_read`: the signals partitions a published
    run read, when it is decided again (replay). The checked rows come back persisted: the
    caller unpersists them."""
    inputs = InputLayout(settings.input_path)
    rules = settings.policy.guardrails
    _check_root(storage, settings.input_path, report)
    sources = settings.policy.signal_sources()
    readiness = check_readiness(
        storage, inputs, run_date, signals=bool(sources), signals_as_read=signals_as_read
    )
    folded = readiness.folded_ledgers()
    report.inputs = {
        ledger: {
            **fingerprint(ledger, readiness.files.get(ledger, {})),
            "skipped_incomplete_partitions": readiness.skipped_incomplete.get(ledger, []),
        }
        for ledger in folded
    }
    if sources:
        _signals_freshness(settings, readiness, run_date, report)
    snapshot = [readiness.accounts_day] if readiness.accounts_day else []
    report.inputs["accounts"] = {
        "snapshot": readiness.accounts_day and readiness.accounts_day.isoformat(),
        **fingerprint(
            "accounts", {d: storage.list(inputs.partition("accounts", d)) for d in snapshot}
        ),
    }
    for ledger, skipped in readiness.skipped_incomplete.items():
        if skipped:
            report.warnings.append(
                f"{ledger}: partitions without _SUCCESS were not read: {skipped}"
            )
    ready = gates.Finding("input_ready", not readiness.problems, problems=readiness.problems)
    if not report.record(ready):
        raise Stop(ExitCode.NOT_READY, "input not ready: " + "; ".join(readiness.problems))

    read_now = [(ledger, run_date) for ledger in EVENT_LEDGERS]
    if sources and readiness.signals_stale is None:
        read_now.append((SIGNALS, run_date))
    read_now.append(("accounts", readiness.accounts_day))
    footers = {
        (ledger, day): read_footers(spark, storage, inputs, ledger, day) for ledger, day in read_now
    }
    unreadable = [problem for f in footers.values() for problem in f.unreadable]
    if not report.record(gates.Finding("parquet_files", not unreadable, problems=unreadable)):
        raise Stop(ExitCode.BAD_INPUT, "unreadable Parquet file: " + "; ".join(unreadable))
    drift = [
        problem
        for (ledger, _), found in footers.items()
        for problem in schema_drift(ledger, found.schemas)
    ]
    if not report.record(gates.Finding("schema", not drift, problems=drift)):
        raise Stop(ExitCode.BAD_INPUT, "schema drift: " + "; ".join(drift))

    reading = choose_reading(readiness) if choose_reading else Reading(readiness.complete_days)
    log.info(
        "%s: reading %s partitions up to %s, accounts snapshot %s",
        run_date,
        {k: len(v) for k, v in reading.days.items()},
        run_date,
        readiness.accounts_day,
    )
    if sources:
        _check_signal_files(spark, storage, inputs, run_date, reading, report)
    checked = {
        ledger: _checked(spark, inputs, ledger, reading).persist(StorageLevel.MEMORY_AND_DISK)
        for ledger in folded
    }
    checked["accounts"] = check_rows(
        read_ledger(spark, inputs, "accounts", snapshot), ledger="accounts"
    ).persist(StorageLevel.MEMORY_AND_DISK)
    result = CheckedInputs(readiness, checked)
    try:
        shares, figures = gates.reject_share(
            checked, run_date, rules.max_reject_share, judged=folded
        )
        for ledger, values in figures.items():
            report.inputs[ledger].update(values)
        if not report.record(shares):
            raise Stop(ExitCode.BAD_INPUT, "too many bad rows: " + "; ".join(shares.problems))
        volume = gates.volume(
            _volume_rows(spark, inputs, checked, reading, readiness, run_date, rules),
            run_date,
            rules,
            {ledger: readiness.complete_days[ledger] for ledger in EVENT_LEDGERS},
        )
        if not report.record(volume):
            raise Stop(ExitCode.BAD_INPUT, "volume far off: " + "; ".join(volume.problems))
    except BaseException:
        result.unpersist()
        raise
    return result


def _signals_freshness(settings: Settings, readiness: Readiness, run_date: date, report) -> None:
    """A signals partition of D that cannot be read: exit 3 where a cell's policy requires a
    source (it would score every account of that source as missing), else a warning; the run
    scores the newest observations within each signal's age limit."""
    complete = readiness.complete_days.get(SIGNALS, [])
    newest = complete[-1] if complete else None
    report.inputs[SIGNALS]["newest_complete_partition"] = newest and newest.isoformat()
    report.inputs[SIGNALS]["feed_age_days"] = newest and (run_date - newest).days
    stale = readiness.signals_stale
    if stale is None:
        return
    required = settings.policy.sources_required()
    if required:
        readiness.problems.append(f"{stale}; the policy requires the source(s) {list(required)}")
        return
    age = f"{(run_date - newest).days} days old" if newest else "no partition yet"
    report.warnings.append(
        f"signals: the feed is stale ({age}): {stale}; scored on the newest observations "
        "within each signal's max_age_days, older ones are missing"
    )


def _check_signal_files(spark, storage, inputs, run_date, reading: Reading, report) -> None:
    """The signals partitions read besides D's (a stale feed that caught up; a full recompute's
    year) are checked as D's is: an unreadable or drifted file is exit 4, never a failure."""
    problems = []
    for day in reading.days.get(SIGNALS, []):
        if day != run_date:
            found = read_footers(spark, storage, inputs, SIGNALS, day)
            problems += found.unreadable + schema_drift(SIGNALS, found.schemas)
    if not report.record(gates.Finding("signals_files", not problems, problems=problems)):
        raise Stop(
            ExitCode.BAD_INPUT, "signals partitions read besides D's: " + "; ".join(problems)
        )


def _check_root(storage: Storage, root: str, report: Findings) -> None:
    """A root that is not there is a mistyped path (exit 2), not a loader that is late (exit 3):
    a scheduler would retry the late loader, forever."""
    if storage.is_dir(root):
        return
    what = "is not a folder" if storage.exists(root) else "does not exist"
    problem = f"the input root {root} {what} (--input, or input_path in the profile)"
    report.record(gates.Finding("input_root", False, problems=[problem]))
    raise Stop(ExitCode.USAGE, problem)


def _checked(spark: SparkSession, inputs: InputLayout, ledger: str, reading: Reading) -> DataFrame:
    rows = read_ledger(spark, inputs, ledger, reading.days[ledger])
    if ledger in reading.index:
        return checked_after(reading.index[ledger], rows, ledger=ledger)
    return check_rows(rows, ledger=ledger)


def _volume_rows(spark, inputs, checked, reading, readiness, run_date, rules) -> dict:
    """Each event ledger's rows on the days the volume gate compares: the checked ones, and,
    where the run reads only new partitions, the compared days' partitions besides."""
    compared = {
        d
        for days in gates.comparable_days(
            run_date, rules.volume_weeks, rules.volume_months
        ).values()
        for d in days
    }
    rows = {}
    for ledger in EVENT_LEDGERS:
        extra = sorted(
            d
            for d in readiness.complete_days[ledger]
            if d in compared and d not in reading.days[ledger]
        )
        rows[ledger] = checked[ledger].select("dt", "amount")
        if extra:
            rows[ledger] = rows[ledger].unionByName(
                read_ledger(spark, inputs, ledger, extra).select("dt", "amount")
            )
    return rows
