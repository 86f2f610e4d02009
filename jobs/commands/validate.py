"""`rerate validate --date D`: the run's input gates alone, read-only; the exit code is the one
`rerate run` would get from its input (0, 3 or 4)."""

from datetime import date

from pyspark.sql import SparkSession

from jobs.checks.inputs import check_inputs
from jobs.config import Settings
from jobs.files.storage import Storage
from jobs.outcome import ExitCode, Stop


def validate_inputs(spark: SparkSession, settings: Settings, run_date: date) -> tuple[int, dict]:
    findings: dict = {
        "run_date": run_date.isoformat(),
        "input": settings.input_path,
        "checks": [],
        "warnings": [],
        "reason": None,
    }
    code = ExitCode.PUBLISHED
    try:
        check_inputs(spark, settings, Storage(spark), run_date, findings).unpersist()
    except Stop as stop:
        code, findings["reason"] = stop.code, stop.reason
    findings["exit_code"] = int(code)
    return code, findings
