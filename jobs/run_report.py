"""What an attempt records as it goes, typed: the checks it ran, what it read and decided, how
it ended. Written out as the contract's `report.json` (and each attempt's copy) by `as_json`."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from jobs.outcome import STATUS, ExitCode, what_to_do


@dataclass(kw_only=True)
class Findings:
    """What the input checks and guardrails found: each check, the warnings, the inputs read."""

    checks: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    inputs: dict[str, dict] | None = None

    def record(self, finding) -> bool:
        """Records a check's finding (jobs.checks.gates.Finding); returns whether it passed."""
        self.checks.append(finding.as_check())
        self.warnings.extend(finding.warnings)
        return finding.passed


@dataclass(kw_only=True)
class RunReport(Findings):
    """One attempt of `rerate run`. A field left None is not written."""

    run_date: date
    attempt_id: str
    started_at: datetime
    dry_run: bool
    policy_version: str
    challenger: dict | None = None  # the challenger's version, file, share and salt, if any
    code_version: str
    input: str
    output: str
    status: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    recovered: list[str] | None = None
    bootstrap: bool | None = None  # None until the previous published run is known
    previous_run_date: date | None = None
    carried_state: dict | None = None
    input_files: dict | None = None  # jobs.output.kept.manifest_summary
    phase_seconds: dict[str, float] = field(default_factory=dict)
    spark_jobs: dict[str, dict] = field(default_factory=dict)  # per phase: jobs, stages
    decisions: dict | None = None
    signals: dict | None = None  # the signals feed and each signal's coverage, where scored
    outputs: dict[str, str] | None = None
    largest_cuts: list[dict] | None = None
    accepted_anomaly: dict | None = None
    traceback: str | None = None
    what_to_do: str | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None

    def close(self, code: ExitCode) -> None:
        """Ends the attempt with `code`: its status, advice, and when it finished."""
        finished = datetime.now(UTC)
        self.exit_code = int(code)
        dry = self.dry_run and code == ExitCode.PUBLISHED
        self.status = "dry_run" if dry else STATUS[code]
        if code != ExitCode.PUBLISHED:
            self.what_to_do = what_to_do(code, self.reason)
        self.finished_at = finished
        self.duration_seconds = round((finished - self.started_at).total_seconds(), 1)

    def as_json(self) -> dict[str, Any]:
        """The report as the contract writes it."""
        report: dict[str, Any] = {
            "run_date": self.run_date.isoformat(),
            "status": self.status,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "dry_run": self.dry_run,
            "attempt_id": self.attempt_id,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "policy_version": self.policy_version,
            **({"challenger": self.challenger} if self.challenger else {}),
            "code_version": self.code_version,
            "input": self.input,
            "output": self.output,
            "checks": self.checks,
            "warnings": self.warnings,
        }
        if self.bootstrap is not None:
            report["bootstrap"] = self.bootstrap
            report["previous_run_date"] = (
                self.previous_run_date and self.previous_run_date.isoformat()
            )
        optional = {
            "recovered": self.recovered,
            "inputs": self.inputs,
            "carried_state": self.carried_state,
            "input_files": self.input_files,
            "phase_seconds": self.phase_seconds or None,
            "spark_jobs": self.spark_jobs or None,
            "decisions": self.decisions,
            "signals": self.signals,
            "outputs": self.outputs,
            "largest_cuts": self.largest_cuts,
            "accepted_anomaly": self.accepted_anomaly,
            "traceback": self.traceback,
            "what_to_do": self.what_to_do,
        }
        report.update({key: value for key, value in optional.items() if value is not None})
        if self.finished_at is not None:
            report["finished_at"] = self.finished_at.isoformat(timespec="seconds")
            report["duration_seconds"] = self.duration_seconds
        return report
