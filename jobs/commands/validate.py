"""`rerate validate --date D`: the run's input gates alone, read-only; the exit code is the one
`rerate run` would get from its input (0, 3 or 4)."""

from datetime import date

from pyspark.sql import SparkSession

from jobs.checks.inputs import check_inputs
from jobs.config import Settings
from jobs.files.storage import Storage
from jobs.outcome import ExitCode, Stop
from jobs.run_report import Findings


def validate_inputs(spark: SparkSession, settings: Settings, run_date: date) -> tuple[int, dict]:
    """The exit code `rerate run` would get from its input, and what the checks found."""
    findings = Findings()
    code, reason = ExitCode.PUBLISHED, None
    try:
        check_inputs(spark, settings, Storage(spark), run_date, findings).unpersist()
    except Stop as stop:
        code, reason = stop.code, stop.reason
    shown = {
        "run_date": run_date.isoformat(),
        "input": settings.input_path,
        "checks": findings.checks,
        "warnings": findings.warnings,
        "reason": reason,
    }
    if findings.inputs is not None:
        shown["inputs"] = findings.inputs
    return code, {**shown, "exit_code": int(code)}
