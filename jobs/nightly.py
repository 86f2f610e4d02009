"""`rerate run`: the nightly re-rating of one date. Reads, calls the transforms, checks, publishes.

Every attempt leaves a report. The order is the contract's: readiness (exit 3), input quality
(exit 4), the decision, the guardrails (exit 5), then write-aside-and-publish (exit 0).
"""

import logging
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import IntEnum
from importlib import metadata

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.config import Settings
from jobs.layout import InputLayout, OutputLayout
from jobs.ledgers import EVENT_LEDGERS, check_readiness, read_ledger, schema_drift
from jobs.publish import (
    Publisher,
    is_published,
    previous_published_run,
    published_change_dates,
    write_report,
)
from jobs.storage import Storage
from jobs.summary import summarize_run
from transforms.diff import classify_changes, to_limits
from transforms.pipeline import rerate_accounts
from transforms.schemas import LIMIT_CHANGES, LIMITS
from transforms.validate import (
    REJECT_REASON,
    accepted_rows,
    to_rejects,
    with_account_checks,
    with_repayment_checks,
    with_transaction_checks,
)

log = logging.getLogger(__name__)

CHECKS = {
    "transactions": with_transaction_checks,
    "repayments": with_repayment_checks,
    "accounts": with_account_checks,
}


class ExitCode(IntEnum):
    PUBLISHED = 0
    FAILURE = 1
    USAGE = 2
    NOT_READY = 3
    BAD_INPUT = 4
    BLOCKED = 5


STATUS = {
    ExitCode.PUBLISHED: "published",
    ExitCode.FAILURE: "failed",
    ExitCode.NOT_READY: "not_ready",
    ExitCode.BAD_INPUT: "bad_input",
    ExitCode.BLOCKED: "blocked",
}


@dataclass
class RunResult:
    exit_code: ExitCode
    report: dict
    report_path: str


class _Stop(Exception):
    """Ends an attempt early with an exit code and a reason the report states."""

    def __init__(self, code: ExitCode, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def code_version() -> str:
    try:
        return metadata.version("rerate")
    except metadata.PackageNotFoundError:
        return "unknown"


def run_nightly(
    spark: SparkSession,
    settings: Settings,
    run_date: date,
    *,
    dry_run: bool = False,
    accept_anomaly: str | None = None,
) -> RunResult:
    started = datetime.now(UTC)
    attempt_id = started.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    storage = Storage(spark)
    out = OutputLayout(settings.output_path)
    report: dict = {
        "run_date": run_date.isoformat(),
        "status": None,
        "exit_code": None,
        "reason": None,
        "dry_run": dry_run,
        "attempt_id": attempt_id,
        "started_at": started.isoformat(timespec="seconds"),
        "policy_version": settings.policy.version,
        "code_version": code_version(),
        "input": settings.input_path,
        "output": settings.output_path,
        "checks": [],
        "warnings": [],
    }
    publisher = Publisher(storage, out, attempt_id)
    try:
        _rerate(spark, settings, run_date, report, storage, publisher, dry_run, accept_anomaly)
        code = ExitCode.PUBLISHED
    except _Stop as stop:
        code, report["reason"] = stop.code, stop.reason
    except Exception as e:  # noqa: BLE001 - any failure must still leave a report (exit 1)
        code, report["reason"] = ExitCode.FAILURE, f"{type(e).__name__}: {str(e).splitlines()[0]}"
        report["traceback"] = traceback.format_exc()
        log.error("run %s failed: %s", run_date, report["reason"])
    finished = datetime.now(UTC)
    report["exit_code"] = int(code)
    report["status"] = "dry_run" if dry_run and code == ExitCode.PUBLISHED else STATUS[code]
    report["finished_at"] = finished.isoformat(timespec="seconds")
    report["duration_seconds"] = round((finished - started).total_seconds(), 1)
    if code == ExitCode.PUBLISHED and not dry_run:
        publisher.publish(run_date, report)
        return RunResult(code, report, out.report(run_date))
    publisher.discard()
    # A date's report.json stays the published run's, if it has one.
    current = not dry_run and not is_published(storage, out, run_date)
    return RunResult(code, report, write_report(storage, out, run_date, report, current=current))


def _check(report: dict, name: str, passed: bool, **figures) -> bool:
    report["checks"].append({"name": name, "passed": passed, **figures})
    return passed


def _rerate(spark, settings, run_date, report, storage, publisher, dry_run, accept_anomaly) -> None:
    inputs = InputLayout(settings.input_path)
    out = OutputLayout(settings.output_path)
    policy = settings.policy

    readiness = check_readiness(storage, inputs, run_date)
    report["inputs"] = {
        ledger: {
            "partitions_read": len(readiness.complete_days.get(ledger, [])),
            "skipped_incomplete_partitions": readiness.skipped_incomplete.get(ledger, []),
        }
        for ledger in EVENT_LEDGERS
    }
    report["inputs"]["accounts"] = {
        "snapshot": readiness.accounts_day and readiness.accounts_day.isoformat()
    }
    for ledger, skipped in readiness.skipped_incomplete.items():
        if skipped:
            report["warnings"].append(
                f"{ledger}: partitions without _SUCCESS were not read: {skipped}"
            )
    if not _check(report, "input_ready", not readiness.problems, problems=readiness.problems):
        raise _Stop(ExitCode.NOT_READY, "input not ready: " + "; ".join(readiness.problems))

    drift = [p for ledger in EVENT_LEDGERS for p in schema_drift(spark, inputs, ledger, run_date)]
    drift += schema_drift(spark, inputs, "accounts", readiness.accounts_day)
    if not _check(report, "schema", not drift, problems=drift):
        raise _Stop(ExitCode.BAD_INPUT, "schema drift: " + "; ".join(drift))

    log.info(
        "run %s: reading %s partitions up to %s, accounts snapshot %s",
        run_date,
        {k: len(v) for k, v in readiness.complete_days.items()},
        run_date,
        readiness.accounts_day,
    )
    checked = {
        ledger: read_ledger(spark, inputs, ledger, readiness.complete_days[ledger])
        .transform(CHECKS[ledger])
        .persist(StorageLevel.MEMORY_AND_DISK)
        for ledger in EVENT_LEDGERS
    }
    checked["accounts"] = (
        read_ledger(spark, inputs, "accounts", [readiness.accounts_day])
        .transform(CHECKS["accounts"])
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    _check_reject_shares(report, checked, run_date, policy.guardrails.max_reject_share)

    previous_day = previous_published_run(storage, out, run_date)
    report["bootstrap"] = previous_day is None
    report["previous_run_date"] = previous_day and previous_day.isoformat()
    previous_limits = _read_table(
        spark, out, "limits", [previous_day] if previous_day else [], LIMITS
    )
    history = _read_table(
        spark, out, "limit_changes", published_change_dates(storage, out, run_date), LIMIT_CHANGES
    )

    decided = rerate_accounts(
        accepted_rows(checked["accounts"]),
        accepted_rows(checked["transactions"]),
        accepted_rows(checked["repayments"]),
        previous_limits,
        history,
        policy=policy,
        as_of=run_date,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    limits = to_limits(decided, run_date=run_date, policy_version=policy.version)
    changes = classify_changes(decided, run_date=run_date, policy_version=policy.version)
    rejects = None
    for ledger, rows in checked.items():
        part = to_rejects(rows, ledger=ledger, run_date=run_date)
        rejects = part if rejects is None else rejects.unionByName(part)

    log.info("run %s: deciding against %s", run_date, previous_day or "initial limits (bootstrap)")
    publisher.stage("limits", limits.orderBy("user_id"), partitions=4)
    publisher.stage("limit_changes", changes.orderBy("user_id"))
    publisher.stage("rejects", rejects.orderBy("ledger", "row_id"))
    staged_limits = spark.read.parquet(publisher.staged("limits"))
    staged_changes = spark.read.parquet(publisher.staged("limit_changes"))
    report["decisions"] = summarize_run(
        staged_limits, staged_changes, [(b.name, b.min_score) for b in policy.limits.bands]
    )
    report["outputs"] = {
        t: out.partition(t, run_date) for t in ("limits", "limit_changes", "rejects")
    }
    for rows in (*checked.values(), decided):
        rows.unpersist()

    _check_adverse_share(
        report, previous_limits, staged_changes, policy.guardrails.max_adverse_share, accept_anomaly
    )


def _check_reject_shares(
    report: dict, checked: dict[str, DataFrame], run_date: date, max_share: float
) -> None:
    """Exit 4 when more than `max_share` of a ledger's rows recorded on the run date are bad."""
    too_many = []
    for ledger, rows in checked.items():
        today = rows.filter(F.col("dt") == F.lit(run_date))
        by_reason = {
            r[0]: int(r[1])
            for r in today.filter(F.col(REJECT_REASON).isNotNull())
            .groupBy(REJECT_REASON)
            .count()
            .collect()
        }
        total = today.count()
        rejected = sum(by_reason.values())
        share = rejected / total if total else 0.0
        report["inputs"].setdefault(ledger, {}).update(
            {
                "rows_read": rows.count(),
                "rows_recorded_on_run_date": total,
                "rejected_on_run_date": rejected,
                "rejects_by_reason": dict(sorted(by_reason.items())),
                "reject_share": round(share, 6),
            }
        )
        if ledger in EVENT_LEDGERS and share > max_share:
            too_many.append(
                f"{ledger}: {rejected} of {total} rows recorded on {run_date} refused "
                f"({share:.2%} > {max_share:.2%}): {by_reason}"
            )
    if not _check(report, "reject_share", not too_many, threshold=max_share, problems=too_many):
        raise _Stop(ExitCode.BAD_INPUT, "too many bad rows: " + "; ".join(too_many))


def _check_adverse_share(
    report: dict,
    previous_limits: DataFrame,
    changes: DataFrame,
    max_share: float,
    accept_anomaly: str | None,
) -> None:
    """Exit 5 when more than `max_share` of the previously active accounts would be cut."""
    if report["bootstrap"]:
        _check(
            report,
            "adverse_share",
            True,
            applied=False,
            detail="bootstrap: no earlier published run to compare with",
        )
        return
    active_before = previous_limits.filter(F.col("status") == "active").count()
    adverse = changes.filter(F.col("change_type").isin("decrease", "suspend")).count()
    share = adverse / active_before if active_before else 0.0
    passed = share <= max_share
    _check(
        report,
        "adverse_share",
        passed,
        value=round(share, 6),
        threshold=max_share,
        adverse_accounts=adverse,
        active_before=active_before,
    )
    if passed:
        return
    reason = (
        f"{adverse} of {active_before} active accounts would be cut or suspended "
        f"({share:.2%} > {max_share:.2%})"
    )
    if accept_anomaly:
        report["accepted_anomaly"] = {
            "check": "adverse_share",
            "finding": reason,
            "why": accept_anomaly,
        }
        report["warnings"].append(f"published over the adverse-share guardrail: {accept_anomaly}")
        return
    raise _Stop(ExitCode.BLOCKED, "guardrail: " + reason)


def _read_table(
    spark: SparkSession, out: OutputLayout, table: str, days: list[date], schema
) -> DataFrame:
    if not days:
        return spark.createDataFrame([], schema)
    return (
        spark.read.schema(schema)
        .option("basePath", out.table(table))
        .parquet(*[out.partition(table, d) for d in days])
        .select(*schema.fieldNames())
    )
