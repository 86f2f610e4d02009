"""`rerate run`: the nightly re-rating of one date. Reads, calls the transforms, checks, publishes.

Every attempt leaves a report. The order is the contract's: readiness (exit 3), input quality
(exit 4), the decision, the guardrails (exit 5), then write-aside-and-publish (exit 0). Only one
writer works on an output at a time (jobs.output.lock), and it first finishes whatever a crashed
predecessor left half done (jobs.output.journal).
"""

import getpass
import json
import logging
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata

from pyspark import StorageLevel
from pyspark.sql import SparkSession

from jobs.checks.guardrails import GUARDRAILS, cell_warnings, judge_outputs, largest_cuts
from jobs.checks.inputs import Reading, check_inputs
from jobs.config import Settings
from jobs.files.layout import InputLayout, OutputLayout
from jobs.files.ledgers import SIGNALS
from jobs.files.storage import Storage
from jobs.outcome import ExitCode, Stop, failure_reason, traceback_tail
from jobs.output.carried_state import (
    PENDING_TABLE,
    SORTED_BY,
    CarryPlan,
    State,
    folded_state,
    folded_text,
    forget_old_states,
    index_table,
    plan_carry,
    read_carried,
    read_pending,
)
from jobs.output.failpoints import failpoint
from jobs.output.journal import recover
from jobs.output.kept import (
    build_manifest,
    kept_policy_path,
    manifest_path,
    manifest_summary,
    policies_to_keep,
    read_manifest,
)
from jobs.output.lock import OutputLocked, new_attempt_id, output_lock
from jobs.output.publish import (
    Publisher,
    is_published,
    previous_published_run,
    published_change_dates,
    published_notice_dates,
    read_report,
    read_table,
    write_report,
)
from jobs.reporting.summary import summarize_run
from jobs.run_report import RunReport
from transforms import notices as notice_rules
from transforms.carry import (
    WINDOWS_TABLE,
    Carried,
    carry_forward,
    fold,
    merge,
    resettled,
    within_horizon,
)
from transforms.diff import DECIDED_COLUMNS, classify_changes, to_limits
from transforms.next_steps import next_steps
from transforms.notices import pending_after, pending_from_published, to_notices
from transforms.pipeline import rerate_carried
from transforms.policy import Policy
from transforms.schemas import LIMIT_CHANGES, LIMITS, NOTICES
from transforms.signals import coverage
from transforms.validate import (
    accepted_rows,
    extend_index,
    id_index,
    to_rejects,
)
from transforms.windows import window_sums

log = logging.getLogger(__name__)

__all__ = ["ExitCode", "Night", "RunResult", "new_night", "rerate_night", "run_nightly"]


@dataclass
class RunResult:
    exit_code: ExitCode
    report: dict  # as written: the contract's report.json
    report_path: str


@dataclass(kw_only=True)
class Night:
    """One attempt at a run date: what it was asked, and what it works with."""

    spark: SparkSession
    settings: Settings
    run_date: date
    storage: Storage
    publisher: Publisher
    report: RunReport
    accept_anomaly: str | None
    full_recompute: bool
    kept: dict[str, str] = field(default_factory=dict)  # files published beside the report
    # the signals partitions a published run read, when it is decided again (replay)
    signals_as_read: list[date] | None = None

    @property
    def out(self) -> OutputLayout:
        return self.publisher.layout


def code_version() -> str:
    try:
        return metadata.version("rerate")
    except metadata.PackageNotFoundError:
        return "unknown"


def challenger_in_force(policy: Policy) -> dict | None:
    """What a report says of the challenger: which accounts it takes, and with what."""
    challenger = policy.challenger
    return challenger and {
        "policy_version": challenger.policy.version,
        "file": challenger.file,
        "share": float(challenger.share),
        "salt": challenger.salt,
    }


def run_nightly(
    spark: SparkSession,
    settings: Settings,
    run_date: date,
    *,
    dry_run: bool = False,
    accept_anomaly: str | None = None,
    full_recompute: bool = False,
) -> RunResult:
    night = new_night(
        spark,
        settings,
        run_date,
        dry_run=dry_run,
        accept_anomaly=accept_anomaly,
        full_recompute=full_recompute,
    )
    storage, out, report, attempt_id = (
        night.storage,
        night.out,
        night.report,
        night.report.attempt_id,
    )
    try:
        with output_lock(storage, out, attempt_id, f"run --date {run_date}") as taken_over:
            if taken_over:
                report.warnings.append(f"took over the lock of a process that died: {taken_over}")
            return _attempt(night)
    except OutputLocked as e:
        report.reason = f"another run holds the output: {e}"
    except Exception as e:  # noqa: BLE001 - the lock could not even be taken
        report.reason = f"the output cannot be written: {failure_reason(e)}"
    return _finish(night, ExitCode.FAILURE, current=False)


def new_night(
    spark: SparkSession,
    settings: Settings,
    run_date: date,
    *,
    dry_run: bool,
    accept_anomaly: str | None,
    full_recompute: bool,
    staging_root: str | None = None,
) -> Night:
    """One attempt at D; `staging_root`: where its tables are written aside, in a folder of the
    attempt's own (default: the output's staging, which only a publishing run may use)."""
    started = datetime.now(UTC)
    attempt_id = new_attempt_id(started)
    storage = Storage(spark)
    report = RunReport(
        run_date=run_date,
        attempt_id=attempt_id,
        started_at=started,
        dry_run=dry_run,
        policy_version=settings.policy.version,
        challenger=challenger_in_force(settings.policy),
        code_version=code_version(),
        input=settings.input_path,
        output=settings.output_path,
    )
    return Night(
        spark=spark,
        settings=settings,
        run_date=run_date,
        storage=storage,
        publisher=Publisher(
            storage,
            OutputLayout(settings.output_path),
            attempt_id,
            staging_root and f"{staging_root.rstrip('/')}/{attempt_id}",
        ),
        report=report,
        accept_anomaly=accept_anomaly,
        full_recompute=full_recompute,
    )


def _attempt(night: Night) -> RunResult:
    report, out, storage = night.report, night.out, night.storage
    try:
        recovered = recover(storage, out)
        if recovered:
            report.recovered = recovered
            report.warnings.extend(recovered)
        rerate_night(night)
        failpoint("staged", out.root)
        code = ExitCode.PUBLISHED
    except Stop as stop:
        code, report.reason = stop.code, stop.reason
    except Exception as e:  # noqa: BLE001 - any failure must still leave a report (exit 1)
        code, report.reason = ExitCode.FAILURE, failure_reason(e)
        report.traceback = traceback_tail(e)
        log.error("run %s failed: %s", night.run_date, report.reason)
    if code == ExitCode.PUBLISHED and not report.dry_run:
        report.close(code)
        try:
            written = report.as_json()
            night.publisher.publish(night.run_date, written, night.kept)
            _forget_old_states(storage, out)
            return RunResult(code, written, out.report(night.run_date))
        except Exception as e:  # noqa: BLE001 - the journal finishes the publish on the next run
            report.reason = (
                f"publishing failed: {failure_reason(e)}; the next rerate run on this output "
                "finishes or cleans up what it began"
            )
            report.traceback = traceback_tail(e)
            log.error("run %s: %s", night.run_date, report.reason)
            return _finish(night, ExitCode.FAILURE, current=False)
    try:
        night.publisher.discard()
    except Exception as e:  # noqa: BLE001 - the next run deletes leftover staging
        report.warnings.append(f"could not delete the staging folder: {failure_reason(e)}")
    # A date's report.json stays the published run's, if it has one.
    published = _safely(lambda: is_published(storage, out, night.run_date), True)
    return _finish(night, code, current=not report.dry_run and not published)


def _forget_old_states(storage, out) -> None:
    """Only the newest carried states are kept; the run is published whether or not this works."""
    try:
        for path in forget_old_states(storage, out):
            log.info("deleted the carried state %s (older than the newest kept)", path)
    except Exception as e:  # noqa: BLE001 - a leftover state costs disk, not correctness
        log.warning("could not delete old carried states: %s", failure_reason(e))


def _safely(check, fallback):
    try:
        return check()
    except Exception:  # noqa: BLE001 - only used to choose where a report goes
        return fallback


def _finish(night: Night, code: ExitCode, *, current: bool) -> RunResult:
    """Writes the attempt's report; if the output cannot take it, prints it on stderr."""
    report = night.report
    report.close(code)
    try:
        written = report.as_json()
        path = write_report(night.storage, night.out, night.run_date, written, current=current)
        return RunResult(code, written, path)
    except Exception as e:  # noqa: BLE001 - an unwritable output must not hide the report
        report.warnings.append(f"the report could not be written: {failure_reason(e)}")
        print(json.dumps(report.as_json(), indent=2, default=str), file=sys.stderr)
        return RunResult(
            code, report.as_json(), "(printed on stderr: the output could not be written)"
        )


def rerate_night(night: Night) -> None:
    """Decides the night and stages its tables (publisher.staged); publishes nothing."""
    spark, run_date, report, out = night.spark, night.run_date, night.report, night.out
    storage, policy = night.storage, night.settings.policy
    previous_day = previous_published_run(storage, out, run_date)
    report.bootstrap = previous_day is None
    report.previous_run_date = previous_day
    planned: list[CarryPlan] = []

    def choose_reading(readiness) -> Reading:
        plan = plan_carry(
            spark,
            storage,
            InputLayout(night.settings.input_path),
            out,
            readiness,
            previous_day,
            full_recompute=night.full_recompute,
        )
        report.carried_state = plan.describe(out, run_date)
        planned.append(plan)
        return Reading(plan.read_days, plan.index)

    clock = _Phases(report, spark)
    try:
        inputs = check_inputs(
            spark,
            night.settings,
            storage,
            run_date,
            report,
            choose_reading,
            signals_as_read=night.signals_as_read,
        )
        clock.lap("input_checks")
        checked = inputs.checked
        log.info(
            "run %s: %s; deciding against %s",
            run_date,
            report.carried_state["mode"],
            previous_day or "initial limits (bootstrap)",
        )
        if not report.dry_run:  # what a published run keeps; a dry run publishes nothing
            _keep_policy_and_manifest(night, inputs.readiness, planned[0], previous_day)
            clock.lap("fingerprints")
        state = _stage_carried_state(spark, night.publisher, planned[0], checked, run_date)
        clock.lap("carried_state")
    finally:
        for plan in planned:
            plan.release()
    previous_limits = read_table(
        spark, out, "limits", [previous_day] if previous_day else [], LIMITS
    )
    history = read_table(
        spark, out, "limit_changes", published_change_dates(storage, out, run_date), LIMIT_CHANGES
    )
    if planned[0].incremental:
        pending = read_pending(spark, out, previous_day)
    else:
        notices_before = published_notice_dates(storage, out, run_date)
        pending = pending_from_published(
            read_table(spark, out, "notices", notices_before, NOTICES), previous_limits
        )
    decided = rerate_carried(
        accepted_rows(checked["accounts"]),
        state,
        previous_limits,
        history,
        pending,
        policy=policy,
        as_of=run_date,
    ).select(*DECIDED_COLUMNS, *notice_rules.DECIDED_COLUMNS)
    # Only what the published tables take is kept: every feature, point and step cached
    # too would be written to memory or disk for nobody (`rerate explain` recomputes them).
    decided = decided.persist(StorageLevel.MEMORY_AND_DISK)
    limits = to_limits(decided, run_date=run_date)
    changes = classify_changes(decided, run_date=run_date)
    rejects = None
    for ledger, rows in checked.items():
        part = to_rejects(rows, ledger=ledger, run_date=run_date)
        rejects = part if rejects is None else rejects.unionByName(part)

    publisher = night.publisher
    steps = next_steps(
        decided,
        state,
        accepted_rows(checked["accounts"]),
        policy=policy,
        as_of=run_date,
        materialize=publisher.scratch,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    notices = to_notices(decided, steps, run_date=run_date)

    publisher.stage("limits", limits.orderBy("user_id"), partitions=4)
    publisher.stage("limit_changes", changes.orderBy("user_id"))
    publisher.stage("notices", notices.orderBy("user_id"))
    publisher.stage("rejects", rejects.orderBy("ledger", "row_id"))
    publisher.stage(
        f"_state/{PENDING_TABLE}",
        pending_after(decided, steps, run_date=run_date).orderBy("user_id"),
    )
    clock.lap("decision")
    staged_limits = spark.read.parquet(publisher.staged("limits"))
    staged_changes = spark.read.parquet(publisher.staged("limit_changes"))
    staged_notices = spark.read.parquet(publisher.staged("notices"))
    report.decisions = summarize_run(
        staged_limits,
        staged_changes,
        staged_notices,
        [(b.name, b.min_score) for b in policy.limits.bands],
    )
    report.signals = _signals_coverage(report, state, checked["accounts"], policy, run_date)
    report.outputs = {
        t: out.partition(t, run_date) for t in ("limits", "limit_changes", "notices", "rejects")
    }
    inputs.unpersist()
    decided.unpersist()
    steps.unpersist()
    clock.lap("summary")
    try:
        _guard(
            report,
            previous_limits,
            staged_limits,
            staged_changes,
            staged_notices,
            policy,
            night.accept_anomaly,
        )
    finally:
        clock.lap("guardrails")


def _signals_coverage(report: RunReport, state: Carried, accounts, policy: Policy, run_date):
    """What the report says of the signals: the feed's newest partition and age, and per signal
    scored (by any cell) the share of accounts with a value fresh enough to count."""
    scored = {
        (c.feature, c.max_age_days): c for _, p in policy.cells() for c in p.scorecard.signals()
    }
    if not scored or state.signals is None:
        return None
    feed = report.inputs[SIGNALS]
    return {
        "newest_complete_partition": feed["newest_complete_partition"],
        "feed_age_days": feed["feed_age_days"],
        "by_signal": coverage(
            state.signals, accepted_rows(accounts), tuple(scored.values()), as_of=run_date
        ),
    }


def _keep_policy_and_manifest(night: Night, readiness, plan: CarryPlan, previous_day) -> None:
    """The policy file and the manifest of inputs the run publishes beside its report, for
    `rerate replay`; a normal night hashes only the files it reads."""
    out, storage = night.out, night.storage
    previous = read_manifest(storage, out, previous_day) if plan.incremental else None
    previous_run = previous_day and {
        "run_date": previous_day.isoformat(),
        "attempt_id": (read_report(storage, out, previous_day) or {}).get("attempt_id"),
    }
    manifest = build_manifest(
        night.spark,
        storage,
        InputLayout(night.settings.input_path),
        readiness,
        plan.read_days,
        previous,
        previous_run,
    )
    path = manifest_path(out, night.run_date)
    night.kept[path] = json.dumps(manifest, indent=1) + "\n"
    night.report.input_files = manifest_summary(manifest, path)
    policies = policies_to_keep(night.settings)
    if policies is None:
        night.report.warnings.append(
            "the policy in force was handed in by a program, not read from its file: it is not "
            "kept with the run, and `rerate replay` cannot reproduce this run"
        )
        return
    for name, text in policies:
        night.kept[kept_policy_path(out, night.run_date, name)] = text


class _Phases:
    """Seconds spent in each phase of the run, into the report's `phase_seconds`, and the Spark
    jobs each started with their stages (skipped ones included), into `spark_jobs`: what a
    run's fixed cost is made of. Jobs are counted by id, so a session's earlier runs do not
    count; a job in a caller's job group is not seen (the job sets none)."""

    def __init__(self, report: RunReport, spark: SparkSession):
        self.laps = report.phase_seconds
        self.jobs = report.spark_jobs
        self.tracker = spark.sparkContext.statusTracker()
        self.last = time.monotonic()
        self.last_job = self._newest_job()

    def _newest_job(self) -> int:
        return max(self.tracker.getJobIdsForGroup(), default=-1)

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.laps[phase] = round(now - self.last, 1)
        self.last = now
        newest = self._newest_job()
        started = range(self.last_job + 1, newest + 1)
        infos = [self.tracker.getJobInfo(job) for job in started]
        self.jobs[phase] = {
            "jobs": len(started),
            "stages": len({s for info in infos if info for s in info.stageIds}),
        }
        self.last_job = newest


def _stage_carried_state(spark, publisher, plan: CarryPlan, checked, run_date):
    """Folds the accepted new rows into the previous state (or, in full, the whole ledger into
    nothing) and writes the result aside; returns it as read back from what was written, so the
    state the next night starts from is the one this night decided with. A night that appends
    writes only what its rows add (jobs.output.carried_state); otherwise the whole state."""
    folded_ledgers = plan.read_days.keys()  # the event ledgers, and signals where scored
    added = fold(
        None,
        accepted_rows(checked["transactions"]),
        accepted_rows(checked["repayments"]),
        as_of=run_date,
        signals=accepted_rows(checked[SIGNALS]) if SIGNALS in checked else None,
    )
    if plan.appends(run_date):
        merged = merge(plan.carried, added)
        # the appended tables hold only what this night adds (of the bills: those it settled
        # again); the per-account ones are whole
        tables = Carried(
            within_horizon(added.activity, as_of=run_date),
            merged.totals,
            added.repayments,
            merged.windows,
            resettled(
                plan.named_repayments.unionByName(added.repayments), touched=added.repayments
            ),
            run_date,
            merged.signals,
        ).tables()
        for ledger in folded_ledgers:
            tables[index_table(ledger)] = id_index(checked[ledger], ledger=ledger)
    else:
        whole = added if plan.carried is None else merge(plan.carried, added)
        tables = carry_forward(whole).tables()
        if plan.carried is None:
            # summed from the activity as staged, not by grouping the whole ledger again
            tables[WINDOWS_TABLE] = lambda staged: window_sums(
                spark.read.parquet(f"{staged}/activity"), as_of=run_date
            )
        for ledger in folded_ledgers:
            tables[index_table(ledger)] = (
                extend_index(plan.index[ledger], checked[ledger], ledger=ledger)
                if plan.incremental
                else id_index(checked[ledger], ledger=ledger)
            )
    folded = folded_state(plan, run_date, publisher.attempt_id)
    path = publisher.stage_state(tables, folded_text(folded), SORTED_BY)
    return read_carried(spark, publisher.layout, State(path, folded))


def _guard(
    report: RunReport, previous_limits, limits, changes, notices, policy, accept_anomaly
) -> None:
    """The output guardrails; exit 5 on any that fails, unless a person accepted the anomaly."""
    if report.bootstrap:
        for name in GUARDRAILS:
            report.checks.append(
                {
                    "name": name,
                    "passed": True,
                    "applied": False,
                    "detail": "bootstrap: no earlier published run to compare with",
                }
            )
        return
    report.warnings.extend(cell_warnings((report.decisions or {}).get("cells"), policy.guardrails))
    findings = judge_outputs(previous_limits, limits, changes, notices, policy)
    failed = [f for f in findings if not report.record(f)]
    if not failed:
        return
    problems = [p for f in failed for p in f.problems]
    report.largest_cuts = largest_cuts(changes)
    if accept_anomaly:
        report.accepted_anomaly = {
            "checks": [f.name for f in failed],
            "findings": problems,
            "why": accept_anomaly,
            "accepted_by": f"{getpass.getuser()}@{socket.gethostname()}",
            "accepted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        report.warnings.append(f"published over the guardrails: {accept_anomaly}")
        return
    raise Stop(ExitCode.BLOCKED, "guardrail: " + "; ".join(problems))
