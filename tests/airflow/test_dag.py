"""The Airflow DAGs in jobs/airflow, loaded by real Apache Airflow (pinned, in its own venv made
by `make test-airflow`): no import errors, the schedule, ordering and retry settings the README
documents, the exit-code rules, and the ledger sensor."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e import ROOT

pytestmark = pytest.mark.airflow

AIRFLOW_BIN = Path(os.environ.get("RERATE_AIRFLOW_VENV", ROOT / ".venv" / "airflow")) / "bin"
DAGS = ROOT / "jobs" / "airflow"
INSPECT = Path(__file__).with_name("inspect_dags.py")
DAG_IDS = ("rerate_nightly", "rerate_nightly_cluster")


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    if not (AIRFLOW_BIN / "airflow").exists():
        pytest.fail(f"no Airflow at {AIRFLOW_BIN}: run `make test-airflow`, which installs it")
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    migrated = subprocess.run(
        [AIRFLOW_BIN / "airflow", "db", "migrate"], env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    return env


def airflow(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AIRFLOW_BIN / "airflow", *args], env=env, capture_output=True, text=True)


def inspect(env, *args: str) -> dict:
    done = subprocess.run(
        [AIRFLOW_BIN / "python", INSPECT, *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert result, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(result[-1].removeprefix("RESULT "))


def test_airflows_loader_finds_both_dags_and_no_import_errors(airflow_env):
    errors = airflow(airflow_env, "dags", "list-import-errors", "--local")
    assert errors.returncode == 0, errors.stdout + errors.stderr
    assert "No data found" in errors.stdout
    listed = airflow(airflow_env, "dags", "list", "--local", "-o", "json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    dags = json.loads(listed.stdout.strip().splitlines()[-1])
    assert sorted(d["dag_id"] for d in dags) == list(DAG_IDS)


def test_a_broken_dag_file_is_reported_by_the_same_check(airflow_env, tmp_path):
    broken = tmp_path / "dags"
    broken.mkdir()
    text = (DAGS / "rerate_nightly.py").read_text()
    wrong = text.replace("from airflow.sdk import ", "from airflow.sdk import no_such_task, ")
    assert wrong != text
    (broken / "rerate_nightly.py").write_text(wrong)
    env = {**airflow_env, "AIRFLOW__CORE__DAGS_FOLDER": str(broken)}
    errors = airflow(env, "dags", "list-import-errors", "--local")
    assert errors.returncode != 0
    assert "no_such_task" in errors.stdout + errors.stderr


def test_schedule_ordering_and_retries_are_as_documented(airflow_env):
    found = inspect(airflow_env)
    assert found["import_errors"] == {}
    assert sorted(found["dags"]) == list(DAG_IDS)
    for dag in found["dags"].values():
        assert (dag["cron"], dag["timezone"]) == ("0 2 * * *", "UTC")
        # the run that starts at 02:00 on Nov 2 re-rates Nov 1 (its data interval's start, `ds`)
        assert dag["run_at_2026_11_02_0200_covers"][0].startswith("2026-11-01T")
        assert (dag["max_active_runs"], dag["catchup"]) == (1, False)
        sensor, run = dag["tasks"]["wait_for_ledgers"], dag["tasks"]["rerate_run"]
        assert run["upstream"] == ["wait_for_ledgers"] and sensor["upstream"] == []
        assert sensor["mode"] == "reschedule"  # a waiting sensor does not hold a worker slot
        for task in (sensor, run):
            assert task["depends_on_past"] and task["wait_for_downstream"]
            assert (task["retries"], task["retry_delay_s"]) == (3, 1200.0)
            assert task["alerts"]


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_exit_codes_retry_or_fail_at_once_as_the_contract_means_them(airflow_env, tmp_path, dag_id):
    called = tmp_path / "called-with"
    stub = tmp_path / "rerate-stub"
    stub.write_text(
        f'#!/bin/sh\necho "$@" > {called}\necho "published 2026-11-01"\n'
        'echo "rerate: the reason" >&2\nexit "$STUB_EXIT"\n'
    )
    stub.chmod(0o755)
    env = {**airflow_env, "RERATE_BIN": str(stub), "RERATE_SPARK_SUBMIT": str(stub)}
    env["RERATE_DIST"] = "/opt/rerate/dist"
    outcomes = inspect(env, "judge", dag_id, "0", "1", "2", "3", "4", "5")
    assert outcomes["0"] == {"result": "published 2026-11-01", "raised": None}
    for code in ("1", "3"):
        assert outcomes[code]["raised"] == "retry", outcomes[code]
    for code in ("2", "4", "5"):
        assert outcomes[code]["raised"] == "fail_without_retry", outcomes[code]
        assert f"rerate exit {code}" in outcomes[code]["message"]
        assert "rerate: the reason" in outcomes[code]["message"]
    args = called.read_text().split()
    assert args[-3:] == ["run", "--date", "2026-11-01"]
    if dag_id == "rerate_nightly_cluster":
        assert args[:4] == ["--master", "yarn", "--py-files", "/opt/rerate/dist/rerate.zip"]
        assert args[4] == "/opt/rerate/dist/rerate_submit.py"


def test_the_sensor_waits_for_both_ledgers_success_markers(airflow_env, tmp_path):
    env = {**airflow_env, "RERATE_INPUT": str(tmp_path)}
    for ledger in ("transactions", "repayments"):
        (tmp_path / ledger / "dt=2026-11-01").mkdir(parents=True)
    (tmp_path / "transactions" / "dt=2026-11-01" / "_SUCCESS").touch()
    assert inspect(env, "sense", "rerate_nightly", "2026-11-01") == {"ready": False}
    (tmp_path / "repayments" / "dt=2026-11-01" / "_SUCCESS").touch()
    assert inspect(env, "sense", "rerate_nightly", "2026-11-01") == {"ready": True}
    assert inspect(env, "sense", "rerate_nightly", "2026-11-02") == {"ready": False}
