"""The benchmark's meter: the wall time and peak memory it reports are the measured process's."""

import sys

from tests.bench.measure import measure

HOLD_300_MB = "import time; block = bytearray(300 * 1024 * 1024); time.sleep(1.0)"


def test_peak_memory_and_exit_code_are_the_child_process_tree():
    held = measure([sys.executable, "-c", HOLD_300_MB])
    assert held.exit_code == 0
    assert 300 <= held.driver_peak_mb < 400 and 300 <= held.job_peak_mb < 400
    assert held.seconds >= 1.0
    idle = measure([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert idle.exit_code == 3 and idle.driver_peak_mb < 100


# Allocated, touched and freed in well under the 0.1 s between two samples, then idle.
BRIEF_300_MB = "import time; block = bytearray(300 * 1024 * 1024); del block; time.sleep(1.0)"


def test_a_peak_between_two_samples_still_counts():
    brief = measure([sys.executable, "-c", BRIEF_300_MB])
    assert brief.exit_code == 0
    assert brief.driver_peak_mb >= 300
    assert 0 < brief.meter_cpu_seconds < brief.seconds


def test_a_grandchild_counts_toward_the_whole_job():
    spawn = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {HOLD_300_MB!r}])"
    tree = measure([sys.executable, "-c", spawn])
    assert tree.driver_peak_mb < 100 and tree.job_peak_mb >= 300


FORK_SHARING_300_MB = (
    "import os, time; block = bytearray(300 * 1024 * 1024); pid = os.fork(); time.sleep(1.0); "
    "os._exit(0) if pid == 0 else os.waitpid(pid, 0)"
)


def test_memory_a_forked_child_shares_is_counted_once():
    forked = measure([sys.executable, "-c", FORK_SHARING_300_MB])
    assert forked.exit_code == 0
    assert 300 <= forked.job_peak_mb < 450  # the sum of RSS would be over 600
