"""The long fault sweep (`make test-faults`, run by CI after `make test`): a real `rerate run`
killed with SIGKILL before every step of a publish, then at 20 random moments of whole runs, and
a rollback killed before each of its steps. After every kill nothing partial is visible and the
previous published state is unchanged; the next run finishes or cleans up, and the end state is
the undisturbed run's."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e import RERATE, is_published, rerate
from tests.two_nights import (
    BEFORE,
    D,
    assert_nothing_partial,
    assert_same_as_undisturbed,
    fresh_output,
    run_d,
)

pytestmark = pytest.mark.soak
RERUN_PUBLISH_STEPS = 15  # a rerun: 3 tables and the state to trash and in, markers, report
ROLLBACK_STEPS = 8  # reports, 2 tables out, reversal in, marker, state deleted, cleanup
RANDOM_KILLS = 20


def test_a_kill_before_each_publish_step(world, tmp_path):
    out = fresh_output(world, tmp_path)
    for step in range(RERUN_PUBLISH_STEPS):
        killed = run_d(world, out, f"kill@publish:{step}")
        if killed.returncode == 0:  # a first publish has fewer steps than a rerun
            continue
        assert killed.returncode == -9, killed.stderr
        assert_nothing_partial(world, out)
    assert run_d(world, out).returncode == 0
    assert_same_as_undisturbed(world, out)


def test_kills_at_random_moments(world, tmp_path):
    out = fresh_output(world, tmp_path)
    started = time.monotonic()
    assert run_d(world, out).returncode == 0
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


def test_a_kill_before_each_rollback_step(world, tmp_path):
    for step in range(ROLLBACK_STEPS):
        out = tmp_path / f"output-{step}"
        shutil.copytree(world["reference"], out)
        killed = rerate(
            *("rollback", "--date", D, "--reason", "sweep", "--output", str(out)),
            conf=world["conf"],
            env={"RERATE_FAILPOINT": f"kill@rollback:{step}"},
        )
        assert killed.returncode == -9, (step, killed.stderr)
        assert is_published(out, BEFORE)
        assert run_d(world, out).returncode == 0
        assert (out / "reversals" / f"run_date={D}" / "_SUCCESS").exists(), step
        assert_same_as_undisturbed(world, out)
