"""The long fault sweep (`make test-faults`, run by CI after `make test`): a crash before every
step of a publish (a first one and a rerun) and of a rollback, and real SIGKILLs at random
moments of whole runs. After every crash nothing partial is visible and the previous published
state is unchanged; what the next run does first (take over the dead process's lock, finish the
journal, delete what no journal names) brings the output to the undisturbed end state.

The crash before each step is checked on its crash image: one real run copies the output folder
before every step (RERATE_FAILPOINT=image@..., jobs.output.failpoints), which is what a SIGKILL
there leaves on disk, since every step before it is a finished file operation. Each image is put
back where it was taken, as a restarted machine finds it, and finished by the recovery every
writing `rerate` starts with; one image of each sweep is finished by a real next `rerate run`.
(A kill per step cost a whole run per step: 16 runs for the publish, 16 for the rollback.)"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.files.layout import OutputLayout
from jobs.files.storage import Storage
from jobs.output.journal import recover
from jobs.output.lock import output_lock
from tests.e2e import RERATE, is_published, report, rerate_process, table_rows
from tests.two_nights import (
    BEFORE,
    TABLES,
    D,
    assert_no_leftovers,
    assert_nothing_partial,
    assert_same_as_undisturbed,
    fresh_output,
    run_d,
    same,
)

pytestmark = pytest.mark.soak
# Real kills at random moments of a whole run; each costs up to a run. The step sweeps above
# cover every publish and rollback step, so these sample the compute and staging phases.
RANDOM_KILLS = int(os.environ.get("RERATE_SOAK_KILLS", "10"))


def journal_steps(image: Path) -> int:
    """The number of steps of the one journal a crash image holds."""
    (journal,) = (image / "_journal").glob("*.json")
    return len(json.loads(journal.read_text())["steps"])


def restore(image: Path, out: Path) -> None:
    """Puts a crash image back where it was taken: the journal names that folder's paths."""
    shutil.rmtree(out)
    shutil.copytree(image, out, symlinks=True)


def finish_as_the_next_run_does(spark, out: Path) -> dict | None:
    """What `rerate run` and `rerate rollback` do before anything else: take the output's lock
    (a dead process's is taken over) and recover. Returns the lock taken over."""
    storage, layout = Storage(spark), OutputLayout(str(out))
    with output_lock(storage, layout, "soak-recovery", "the soak sweep") as taken_over:
        recover(storage, layout)
    return taken_over


@pytest.mark.parametrize("start", ["base", "reference"], ids=["first-publish", "rerun"])
def test_a_crash_before_each_publish_step(world, tmp_path, spark, start):
    out, images = tmp_path / "output", tmp_path / "images"
    shutil.copytree(world[start], out)
    ran = run_d(world, out, "image@staged,image@publish", images=images, process=True)
    assert ran.returncode == 0, ran.stderr
    assert_same_as_undisturbed(world, out)  # taking the images changed nothing

    steps = journal_steps(images / "publish-0")
    taken = sorted(p.name for p in images.iterdir())
    assert taken == sorted(["staged"] + [f"publish-{n}" for n in range(steps)])
    # each run table moved in, the kept policy and manifest of inputs written, three `_SUCCESS`
    # markers touched (notices, then the contract's two); a rerun also moves the old run's four
    # tables and its state out, and deletes its kept policy
    assert steps == {"base": 15, "reference": 21}[start]
    for name in taken:
        restore(images / name, out)
        assert_nothing_partial(world, out)
        assert finish_as_the_next_run_does(spark, out) is not None, name
        if name == "staged" and start == "base":  # no journal yet: D was never published
            assert not is_published(out, D) and is_published(out, BEFORE)
            assert_no_leftovers(out)
        else:
            assert_same_as_undisturbed(world, out)

    restore(images / f"publish-{steps // 2}", out)
    assert run_d(world, out).returncode == 0
    assert_same_as_undisturbed(world, out)


def test_kills_at_random_moments(world, tmp_path):
    out = fresh_output(world, tmp_path)
    started = time.monotonic()
    # timed as a process, JVM start included: the kills below land in processes like it
    assert run_d(world, out, process=True).returncode == 0
    whole_run = time.monotonic() - started
    seed = int(os.environ.get("RERATE_SOAK_SEED", time.time()))
    print(f"random kills: seed {seed}, a whole run takes {whole_run:.1f} s", file=sys.stderr)
    rng = random.Random(seed)
    command = [str(RERATE), "--conf", str(world["conf"]), "run", "--date", D]
    command += ["--input", str(world["input"]), "--output", str(out), "--quiet"]
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    for attempt in range(RANDOM_KILLS):
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        moment = rng.uniform(0.3, 1.05) * whole_run
        try:
            process.wait(timeout=moment)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        assert process.returncode in (0, -9), (attempt, moment, process.returncode)
        assert_nothing_partial(world, out)
    assert run_d(world, out).returncode == 0
    assert_same_as_undisturbed(world, out)


def assert_same_output(out: Path, finished: Path) -> None:
    """Every table partition and D's report as in the output of the rollback that finished."""
    folders = [f"{t}/run_date={day}" for t in TABLES for day in (BEFORE, D)]
    folders += [f"withdrawn/{t}/run_date={D}" for t in ("limits", "limit_changes", "notices")]
    folders += [f"reversals/run_date={D}"]
    for folder in folders:
        assert same(table_rows(out / folder), table_rows(finished / folder)), folder
        assert (out / folder / "_SUCCESS").exists() == (finished / folder / "_SUCCESS").exists()
    assert report(out, D) == report(finished, D)
    assert not (out / "_state" / f"run_date={D}").exists()


def test_a_crash_before_each_rollback_step(world, tmp_path, spark):
    out, images, finished = tmp_path / "output", tmp_path / "images", tmp_path / "finished"
    shutil.copytree(world["reference"], out)
    rolled = rerate_process(
        *("rollback", "--date", D, "--reason", "sweep", "--output", str(out)),
        conf=world["conf"],
        env={"RERATE_FAILPOINT": "image@rollback", "RERATE_FAILPOINT_IMAGES": str(images)},
    )
    assert rolled.returncode == 0, rolled.stderr
    shutil.copytree(out, finished)
    assert report(finished, D)["status"] == "rolled_back" and is_published(finished, BEFORE)
    assert table_rows(finished / "reversals" / f"run_date={D}") is not None
    for table in ("limits", "limit_changes", "notices"):
        withdrawn = table_rows(finished / "withdrawn" / table / f"run_date={D}")
        assert withdrawn.equals(table_rows(world["reference"] / table / f"run_date={D}"))

    steps = journal_steps(images / "rollback-0")
    assert steps == 9  # three tables withdrawn, and the steps around them
    assert sorted(p.name for p in images.iterdir()) == sorted(f"rollback-{n}" for n in range(steps))
    for n in range(steps):
        restore(images / f"rollback-{n}", out)
        assert_nothing_partial(world, out)
        assert finish_as_the_next_run_does(spark, out) is not None, n
        assert_same_output(out, finished)
        assert_no_leftovers(out)

    restore(images / f"rollback-{steps // 2}", out)
    assert run_d(world, out).returncode == 0  # finishes the rollback, then runs D again
    assert (out / "reversals" / f"run_date={D}" / "_SUCCESS").exists()
    assert_same_as_undisturbed(world, out)
