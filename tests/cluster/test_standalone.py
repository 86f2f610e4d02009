"""The packaged job (`make package`) submitted with spark-submit to a real Spark standalone
cluster on 127.0.0.1 (a master and two one-core workers) gives the embedded run's outputs row for
row; and still does when one worker, with its executor, is killed while the run is in progress.
Run by `make test-cluster`, which builds the package first."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cluster.standalone import SPARK_HOME, Standalone, free_port
from tests.e2e import ROOT, generate, is_published, run_date, small_profile, table_rows

pytestmark = pytest.mark.cluster

BEFORE, D = "2026-06-29", "2026-06-30"
TABLES = ("limits", "limit_changes", "rejects")
DIST = ROOT / "dist"


@pytest.fixture(scope="module")
def book(spark, tmp_path_factory) -> dict:
    """3,000 accounts over 120 days; `base` has BEFORE published, `embedded` BEFORE and D (run
    in this process on the suite's local[2] session)."""
    root = tmp_path_factory.mktemp("cluster-book")
    conf = small_profile(root)
    inputs, base, embedded = root / "input", root / "base", root / "embedded"
    generate(inputs, conf, users=3000, days=120, end=D)
    assert run_date(BEFORE, inputs, base, conf, "--quiet").returncode == 0
    shutil.copytree(base, embedded)
    started = time.monotonic()
    done = run_date(D, inputs, embedded, conf, "--quiet")
    assert done.returncode == 0, done.stderr
    seconds = time.monotonic() - started
    print(f"\ncluster-timing embedded local[2] run of {D}: {seconds:.1f} s")
    return {"root": root, "input": inputs, "base": base, "embedded": embedded}


@pytest.fixture(scope="module")
def env() -> dict:
    python = sys.executable
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",  # the host name resolves oddly on some machines
        "PYSPARK_PYTHON": python,
        "PYSPARK_DRIVER_PYTHON": python,
    }


@pytest.fixture
def cluster(tmp_path, env):
    standalone = Standalone(tmp_path / "cluster", env)
    standalone.folder.mkdir()
    try:
        standalone.start(workers=2)
        yield standalone
    finally:
        standalone.stop()


def cluster_profile(folder: Path, ui_port: int) -> Path:
    """The master is left to spark-submit, as in conf/cluster.toml; the driver's UI is on, so
    the test can see jobs and executors through its REST API."""
    path = folder / "cluster.toml"
    path.write_text(
        f'extends = "{ROOT / "conf" / "base.toml"}"\n'
        '[spark]\nmaster = ""\n'
        '[spark.settings]\n"spark.sql.shuffle.partitions" = "4"\n'
        f'"spark.ui.enabled" = "true"\n"spark.ui.port" = "{ui_port}"\n'
    )
    return path


def driver_api(ui_port: int, path: str):
    """The running application's REST API (`/api/v1/applications/<id>/<path>`); None if down."""
    base = f"http://127.0.0.1:{ui_port}/api/v1/applications"
    try:
        with urllib.request.urlopen(base, timeout=5) as r:
            app = json.load(r)[0]["id"]
        with urllib.request.urlopen(f"{base}/{app}/{path}", timeout=5) as r:
            return json.load(r)
    except (OSError, IndexError, ValueError):
        return None


def wait_until(condition, what: str, timeout: float, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-3000:]}")


def submit(
    cluster: Standalone, book: dict, out: Path, log: Path, ui_port: int | None = None
) -> subprocess.Popen:
    for needed in ("rerate.zip", "rerate_submit.py"):
        if not (DIST / needed).exists():
            pytest.fail(f"{DIST / needed} is missing: `make test-cluster` packages it first")
    command = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master", cluster.url,
        "--conf", "spark.executor.memory=1g",
        "--conf", "spark.task.maxFailures=4",
        "--py-files", str(DIST / "rerate.zip"),
        str(DIST / "rerate_submit.py"),
        "--conf", str(cluster_profile(out.parent, ui_port or free_port())),
        "run", "--date", D, "--input", str(book["input"]), "--output", str(out), "--quiet",
    ]  # fmt: skip
    return subprocess.Popen(
        command, env=cluster.env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def finish(run: subprocess.Popen, log: Path, timeout: int = 600) -> None:
    try:
        code = run.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, 9)
        raise
    assert code == 0, log.read_text()[-4000:]


def assert_same_as_embedded(book: dict, out: Path) -> None:
    assert is_published(out, D)
    part = f"run_date={D}"
    for table in TABLES:
        found = table_rows(out / table / part)
        expected = table_rows(book["embedded"] / table / part)
        assert (found is None) == (expected is None), table
        if expected is not None:
            assert found.equals(expected), table
    assert len(table_rows(out / "limits" / f"run_date={D}")) >= 3000


def test_the_packaged_job_on_a_standalone_cluster_gives_the_embedded_outputs(
    book, cluster, tmp_path
):
    out, log = tmp_path / "output", tmp_path / "submit.log"
    shutil.copytree(book["base"], out)
    started = time.monotonic()
    finish(submit(cluster, book, out, log), log)
    seconds = time.monotonic() - started
    print(f"\ncluster-timing spark-submit to 2 one-core workers: {seconds:.1f} s")
    assert_same_as_embedded(book, out)
    apps = cluster.state().get("completedapps", [])
    assert [a["name"] for a in apps] == ["rerate"], apps  # it really ran on this cluster


def test_a_worker_killed_mid_run_does_not_change_the_outputs(book, cluster, tmp_path):
    out, log, ui = tmp_path / "output", tmp_path / "submit.log", free_port()
    shutil.copytree(book["base"], out)
    started = time.monotonic()
    run = submit(cluster, book, out, log, ui_port=ui)

    def both_executors_busy_and_a_job_running():
        executors = [e for e in driver_api(ui, "executors") or [] if e["id"] != "driver"]
        running = driver_api(ui, "jobs?status=running") or []
        done = driver_api(ui, "jobs?status=succeeded") or []
        worked = len(executors) == 2 and all(e["totalTasks"] > 0 for e in executors)
        return worked and running and len(done) >= 3 and (running, executors)

    running, _ = wait_until(both_executors_busy_and_a_job_running, "the run's jobs", 240, log)
    assert run.poll() is None
    killed_at = time.monotonic() - started
    cluster.kill("worker-2")  # the worker and its executor: a host lost in the middle of a job

    def an_executor_lost():
        executors = driver_api(ui, "allexecutors") or []
        return [e for e in executors if e["id"] != "driver" and not e["isActive"]]

    lost = wait_until(an_executor_lost, "the driver to lose an executor", 120, log)
    assert lost[0]["totalTasks"] > 0 and run.poll() is None
    finish(run, log)
    total = time.monotonic() - started
    print(
        f"\ncluster-timing worker killed at {killed_at:.1f} s during job {running[0]['jobId']} "
        f"(its executor had run {lost[0]['totalTasks']} tasks); run done at {total:.1f} s"
    )
    assert_same_as_embedded(book, out)
