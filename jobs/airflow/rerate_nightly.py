"""Airflow 3 DAGs for the nightly re-rating (point the scheduler's dags folder at jobs/airflow/).

Two DAGs, one per way of running the job:
- `rerate_nightly` calls the installed `rerate` command (the embedded Spark of its profile);
- `rerate_nightly_cluster` submits the packaged job (`make package`) with `spark-submit`.

Each run re-rates the day its data interval starts on: the run that starts at 02:00 UTC on
D+1 passes `--date D`. It first waits for both ledgers' `_SUCCESS` for D, then runs the job and
maps its exit code (the contract's) onto Airflow's retry rules:
  0 done; 1 (unexpected failure) and 3 (input not ready) are retried later;
  2 (usage), 4 (bad input) and 5 (blocked by a guardrail) fail at once, without retry, and alert:
  a person must act, and retrying would only repeat the same answer.
Runs are strictly ordered: one at a time, and a night does not start before the previous
night's run succeeded (each night diffs against the one before).

Settings come from the environment of the scheduler and workers:
  RERATE_BIN           the rerate command              (default: rerate, from PATH)
  RERATE_CONF          the profile                     (default: the package's conf/local.toml)
  RERATE_INPUT         the ledger root, for the sensor (required for the sensor to find files)
  RERATE_SPARK_SUBMIT  spark-submit                    (default: spark-submit, from PATH)
  RERATE_DIST          the folder `make package` made  (default: dist)
  RERATE_SPARK_MASTER  the cluster's master URL        (default: yarn)
"""

import logging
import os
import subprocess
from datetime import datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

log = logging.getLogger(__name__)

SCHEDULE = "0 2 * * *"  # 02:00 UTC: the ledgers of the day before are usually complete
RETRY_LATER = {1: "unexpected failure", 3: "input not ready"}
NEEDS_A_PERSON = {2: "usage or configuration error", 4: "input failed its checks", 5: "blocked"}
LEDGERS = ("transactions", "repayments")


def rerate_command(run_date: str) -> list[str]:
    command = [os.environ.get("RERATE_BIN", "rerate")]
    if os.environ.get("RERATE_CONF"):
        command += ["--conf", os.environ["RERATE_CONF"]]
    return command + ["run", "--date", run_date]


def spark_submit_command(run_date: str) -> list[str]:
    dist = os.environ.get("RERATE_DIST", "dist")
    command = [
        os.environ.get("RERATE_SPARK_SUBMIT", "spark-submit"),
        "--master",
        os.environ.get("RERATE_SPARK_MASTER", "yarn"),
        "--py-files",
        f"{dist}/rerate.zip",
        f"{dist}/rerate_submit.py",
    ]
    if os.environ.get("RERATE_CONF"):
        command += ["--conf", os.environ["RERATE_CONF"]]
    return command + ["run", "--date", run_date]


def run_and_judge(command: list[str]) -> str:
    """Runs the job; raises so that Airflow retries (1, 3) or fails at once (2, 4, 5)."""
    log.info("running: %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    log.info("stdout:\n%s", done.stdout)
    if done.stderr:
        log.info("stderr:\n%s", done.stderr)
    code = done.returncode
    if code == 0:
        return done.stdout.splitlines()[0] if done.stdout else "published"
    last = (done.stderr.strip().splitlines() or [""])[0]
    if code in NEEDS_A_PERSON:
        raise AirflowFailException(f"rerate exit {code} ({NEEDS_A_PERSON[code]}): {last}")
    meaning = RETRY_LATER.get(code, "unknown exit code")
    raise AirflowException(f"rerate exit {code} ({meaning}), will retry: {last}")


def alert(context) -> None:
    """Called when a night fails for good. Wire it to the team's pager or chat here."""
    ti = context["task_instance"]
    log.error(
        "ALERT rerate %s for %s failed: %s", ti.task_id, context["ds"], context.get("exception")
    )


def ledgers_ready(ds: str) -> bool:
    root = os.environ.get("RERATE_INPUT", "")
    return all(
        os.path.exists(os.path.join(root, ledger, f"dt={ds}", "_SUCCESS")) for ledger in LEDGERS
    )


def nightly_dag(dag_id: str, build_command, description: str) -> DAG:
    default_args = {
        "owner": "credit-risk",
        "depends_on_past": True,
        "wait_for_downstream": True,
        "retries": 3,
        "retry_delay": timedelta(minutes=20),
        "retry_exponential_backoff": True,
        "on_failure_callback": alert,
    }
    with DAG(
        dag_id=dag_id,
        description=description,
        schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
        start_date=datetime(2026, 1, 1),
        catchup=False,  # gaps are filled with `rerate backfill`, which resumes and stops safely
        max_active_runs=1,
        default_args=default_args,
        tags=["credit-risk", "rerate"],
    ) as dag:

        @task.sensor(
            task_id="wait_for_ledgers",
            poke_interval=300,
            timeout=6 * 3600,
            mode="reschedule",
        )
        def wait_for_ledgers(ds=None) -> bool:
            return ledgers_ready(ds)

        @task(task_id="rerate_run")
        def rerate_run(ds=None) -> str:
            return run_and_judge(build_command(ds))

        wait_for_ledgers() >> rerate_run()
    return dag


rerate_nightly = nightly_dag(
    "rerate_nightly", rerate_command, "Nightly credit re-rating with the installed rerate command"
)
rerate_nightly_cluster = nightly_dag(
    "rerate_nightly_cluster",
    spark_submit_command,
    "Nightly credit re-rating submitted to a Spark cluster",
)
