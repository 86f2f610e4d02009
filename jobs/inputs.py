"""The input gates of a run, in the contract's order: readiness (exit 3), schema (exit 4), the
rows (rejects, exit 4 above the share) and each ledger's volume (exit 4). `rerate run` and
`rerate validate` share them, so both say the same about the same input."""

import logging
from dataclasses import dataclass
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from jobs import gates
from jobs.config import Settings
from jobs.layout import InputLayout
from jobs.ledgers import (
    EVENT_LEDGERS,
    Readiness,
    check_readiness,
    fingerprint,
    read_ledger,
    schema_drift,
)
from jobs.outcome import ExitCode, Stop
from jobs.storage import Storage
from transforms.validate import with_account_checks, with_repayment_checks, with_transaction_checks

log = logging.getLogger(__name__)

CHECKS = {
    "transactions": with_transaction_checks,
    "repayments": with_repayment_checks,
    "accounts": with_account_checks,
}


@dataclass
class CheckedInputs:
    readiness: Readiness
    checked: dict[str, DataFrame]  # every row read, with its reject_reason (null when accepted)

    def unpersist(self) -> None:
        for rows in self.checked.values():
            rows.unpersist()


def record(report: dict, finding: gates.Finding) -> bool:
    report["checks"].append(finding.as_check())
    report["warnings"].extend(finding.warnings)
    return finding.passed


def check_inputs(
    spark: SparkSession, settings: Settings, storage: Storage, run_date: date, report: dict
) -> CheckedInputs:
    """Runs every input gate, recording each in the report; raises Stop at the first that
    fails. The checked rows come back persisted: the caller unpersists them."""
    inputs = InputLayout(settings.input_path)
    rules = settings.policy.guardrails
    readiness = check_readiness(storage, inputs, run_date)
    report["inputs"] = {
        ledger: {
            **fingerprint(storage, inputs, ledger, readiness.complete_days.get(ledger, [])),
            "skipped_incomplete_partitions": readiness.skipped_incomplete.get(ledger, []),
        }
        for ledger in EVENT_LEDGERS
    }
    snapshot = [readiness.accounts_day] if readiness.accounts_day else []
    report["inputs"]["accounts"] = {
        "snapshot": readiness.accounts_day and readiness.accounts_day.isoformat(),
        **fingerprint(storage, inputs, "accounts", snapshot),
    }
    for ledger, skipped in readiness.skipped_incomplete.items():
        if skipped:
            report["warnings"].append(
                f"{ledger}: partitions without _SUCCESS were not read: {skipped}"
            )
    ready = gates.Finding("input_ready", not readiness.problems, problems=readiness.problems)
    if not record(report, ready):
        raise Stop(ExitCode.NOT_READY, "input not ready: " + "; ".join(readiness.problems))

    drift = [
        problem
        for ledger, day in [(ledger, run_date) for ledger in EVENT_LEDGERS]
        + [("accounts", readiness.accounts_day)]
        for problem in schema_drift(spark, storage, inputs, ledger, day)
    ]
    if not record(report, gates.Finding("schema", not drift, problems=drift)):
        raise Stop(ExitCode.BAD_INPUT, "schema drift: " + "; ".join(drift))

    log.info(
        "%s: reading %s partitions up to %s, accounts snapshot %s",
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
        read_ledger(spark, inputs, "accounts", snapshot)
        .transform(CHECKS["accounts"])
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    result = CheckedInputs(readiness, checked)
    try:
        shares, figures = gates.reject_share(
            checked, run_date, rules.max_reject_share, judged=EVENT_LEDGERS
        )
        for ledger, values in figures.items():
            report["inputs"][ledger].update(values)
        if not record(report, shares):
            raise Stop(ExitCode.BAD_INPUT, "too many bad rows: " + "; ".join(shares.problems))
        volume = gates.volume(
            checked,
            run_date,
            rules,
            {ledger: readiness.complete_days[ledger] for ledger in EVENT_LEDGERS},
        )
        if not record(report, volume):
            raise Stop(ExitCode.BAD_INPUT, "volume far off: " + "; ".join(volume.problems))
    except BaseException:
        result.unpersist()
        raise
    return result
