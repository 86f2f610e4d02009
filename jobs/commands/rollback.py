"""`rerate rollback --date D --reason TEXT`: withdraws the newest published run, D.

D's `limits`, `limit_changes` and `notices` move to `withdrawn/` (kept for audit), a reversal
diff is published at `reversals/run_date=D/` for downstream systems to restore the previous
limits, D's report says `rolled_back`, and the state D carried forward
(jobs.output.carried_state) is deleted.
The run before D is current again. All of it goes through a
journal (jobs.output.journal), so a crash half-way is finished by the next `rerate` on the output.
"""

import getpass
import socket
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark.sql import SparkSession

from jobs.config import Settings
from jobs.files.layout import SUCCESS, OutputLayout
from jobs.files.storage import Storage
from jobs.outcome import ExitCode, Stop
from jobs.output.failpoints import failpoint
from jobs.output.journal import Journal, commit, recover
from jobs.output.lock import new_attempt_id, output_lock
from jobs.output.publish import (
    WITHDRAWN_TABLES,
    is_published,
    previous_published_run,
    read_report,
    read_table,
    report_json,
)
from transforms.diff import reversal_of
from transforms.schemas import LIMIT_CHANGES


@dataclass
class RollbackResult:
    run_date: date
    reversal_rows: int
    reversal_path: str
    current_run: date | None
    recovered: list[str]


def newest_published_run(storage: Storage, out: OutputLayout) -> date | None:
    for day in reversed(out.run_dates(storage, "limits")):
        if is_published(storage, out, day):
            return day
    return None


def rollback(spark: SparkSession, settings: Settings, run_date: date, reason: str):
    storage = Storage(spark)
    out = OutputLayout(settings.output_path)
    started = datetime.now(UTC)
    attempt_id = new_attempt_id(started)
    with output_lock(storage, out, attempt_id, f"rollback --date {run_date}"):
        recovered = recover(storage, out)
        newest = newest_published_run(storage, out)
        if newest is None:
            raise Stop(ExitCode.USAGE, f"{settings.output_path} has no published run to roll back")
        if newest != run_date:
            raise Stop(
                ExitCode.USAGE,
                f"only the newest published run can be rolled back: that is {newest}, not "
                f"{run_date}",
            )
        changes = read_table(spark, out, "limit_changes", [run_date], LIMIT_CHANGES)
        staged = f"{out.staging(attempt_id)}/reversals"
        reversal_of(changes).orderBy("user_id").coalesce(1).write.mode("overwrite").parquet(staged)
        storage.delete(f"{staged}/{SUCCESS}")
        rows = spark.read.parquet(staged).count()
        restored = previous_published_run(storage, out, run_date)

        report = read_report(storage, out, run_date) or {"run_date": run_date.isoformat()}
        report["status"] = "rolled_back"
        report["rollback"] = {
            "reason": reason,
            "by": f"{getpass.getuser()}@{socket.gethostname()}",
            "at": started.isoformat(timespec="seconds"),
            "attempt_id": attempt_id,
            "reversal_rows": rows,
            "reversal": out.partition("reversals", run_date),
            "withdrawn": {
                t: out.withdrawn(t, run_date)
                for t in WITHDRAWN_TABLES
                if storage.exists(out.partition(t, run_date))
            },
            "current_run_after": restored and restored.isoformat(),
        }
        text = report_json(report)

        journal = Journal("rollback", run_date.isoformat(), attempt_id)
        journal.write(out.attempt_report(run_date, attempt_id), text)
        journal.write(out.report(run_date), text)  # from here D is not published
        for table in WITHDRAWN_TABLES:
            if not storage.exists(out.partition(table, run_date)):
                continue  # a run from before notices has none
            if storage.exists(out.withdrawn(table, run_date)):  # withdrawn before, rerun since
                journal.move(
                    out.withdrawn(table, run_date),
                    out.withdrawn_history(attempt_id, table, run_date),
                )
            journal.move(out.partition(table, run_date), out.withdrawn(table, run_date))
        if storage.exists(out.partition("reversals", run_date)):
            journal.move(
                out.partition("reversals", run_date),
                out.withdrawn_history(attempt_id, "reversals", run_date),
            )
        journal.move(staged, out.partition("reversals", run_date))
        journal.touch(f"{out.partition('reversals', run_date)}/{SUCCESS}")
        # The next run starts from the restored run's state; D's would only mislead.
        journal.delete(out.state(run_date))
        journal.delete(out.staging(attempt_id))
        commit(storage, out, journal, pause=failpoint)
    return RollbackResult(run_date, rows, out.partition("reversals", run_date), restored, recovered)
