"""Run by the Airflow environment's Python (not the suite's): loads jobs/airflow with Airflow's
own DagBag and prints what the tests check as one JSON line starting with RESULT (Airflow logs
to stdout too).

  inspect_dags.py                      the DAGs' schedule, tasks and retry settings
  inspect_dags.py judge DAG CODE...    runs DAG's `rerate_run` callable once per exit CODE, with
                                       $RERATE_BIN / $RERATE_SPARK_SUBMIT a stand-in that exits
                                       with $STUB_EXIT, and says how Airflow would treat each
  inspect_dags.py sense DAG DATE       runs DAG's sensor callable for DATE against $RERATE_INPUT
"""

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.serialization.serialized_objects import coerce_to_core_timetable

DAGS = Path(__file__).resolve().parents[2] / "jobs" / "airflow"


def describe(bag: DagBag) -> dict:
    dags = {}
    for dag_id, dag in bag.dags.items():
        # The scheduler's own view of the timetable: which day does the 02:00 run cover?
        interval = coerce_to_core_timetable(dag.timetable).infer_manual_data_interval(
            run_after=datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
        )
        dags[dag_id] = {
            "timetable": type(dag.timetable).__name__,
            "cron": dag.timetable.expression,
            "timezone": str(dag.timetable.timezone),
            "run_at_2026_11_02_0200_covers": [interval.start.isoformat(), interval.end.isoformat()],
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
            "tasks": {
                t.task_id: {
                    "upstream": sorted(t.upstream_task_ids),
                    "retries": t.retries,
                    "retry_delay_s": t.retry_delay.total_seconds(),
                    "depends_on_past": t.depends_on_past,
                    "wait_for_downstream": t.wait_for_downstream,
                    "mode": getattr(t, "mode", None),
                    "alerts": bool(t.on_failure_callback),
                }
                for t in dag.tasks
            },
        }
    return {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": dags}


def judge(bag: DagBag, dag_id: str, codes: list[str]) -> dict:
    task = bag.dags[dag_id].get_task("rerate_run")
    outcomes = {}
    for code in codes:
        os.environ["STUB_EXIT"] = code
        try:
            outcome = {"result": task.python_callable(ds="2026-11-01"), "raised": None}
        except AirflowFailException as e:
            outcome = {"raised": "fail_without_retry", "message": str(e)}
        except AirflowException as e:
            outcome = {"raised": "retry", "message": str(e)}
        outcomes[code] = outcome
    return outcomes


def sense(bag: DagBag, dag_id: str, run_date: str) -> dict:
    sensor = bag.dags[dag_id].get_task("wait_for_ledgers")
    return {"ready": sensor.python_callable(ds=run_date)}


if __name__ == "__main__":
    dagbag = DagBag(dag_folder=str(DAGS), safe_mode=False)
    command, *args = sys.argv[1:] or ["describe"]
    if command == "judge":
        found = judge(dagbag, args[0], args[1:])
    elif command == "sense":
        found = sense(dagbag, *args)
    else:
        found = describe(dagbag)
    print("RESULT " + json.dumps(found))
