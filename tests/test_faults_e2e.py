"""Faults on `rerate` runs (a real process where one is killed) and real files: killed at steps
of the publish and of a rollback, an exception between write and publish, a full disk, an
unwritable output, a lock held by a live process. After each, the previous published state is
unchanged, nothing partial is visible, and a rerun gives what an undisturbed run gives.
(`make test-faults` runs the kills, the full disk and the long sweep: a crash before every step
and 10 random kills.)
"""

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e import is_published, report, rerate_process, table_rows
from tests.two_nights import (
    BEFORE,
    D,
    assert_nothing_partial,
    assert_same_as_undisturbed,
    fresh_output,
    run_d,
)


@pytest.mark.soak  # a process killed: the long suite, beside the kill before every step
def test_a_publish_killed_half_way_is_finished_by_the_next_run(world, tmp_path):
    out = fresh_output(world, tmp_path)
    killed = run_d(world, out, "kill@publish:5", process=True)
    assert killed.returncode == -9
    assert not is_published(out, D)
    assert_nothing_partial(world, out)
    assert run_d(world, out).returncode == 0
    assert_same_as_undisturbed(world, out)


def test_an_exception_between_writing_and_publishing_leaves_the_published_run(world, tmp_path):
    out = tmp_path / "output"
    shutil.copytree(world["reference"], out)
    failed = run_d(world, out, "raise@staged")
    assert failed.returncode == 1, failed.stderr
    assert "InjectedFault" in failed.stderr and "Traceback" not in failed.stderr
    assert is_published(out, D)
    assert_nothing_partial(world, out)
    attempts = sorted((out / "runs" / f"run_date={D}" / "attempts").glob("*.json"))
    (failure,) = [r for a in attempts if (r := json.loads(a.read_text()))["status"] == "failed"]
    # where it failed, in a few frames an operator reads, not the JVM's thousand lines
    frames = failure["traceback"].splitlines()
    assert 'File "' in failure["traceback"] and "InjectedFault" in frames[-1]
    assert len(frames) <= 2 * 8 + 1
    assert failure["what_to_do"].startswith("an unexpected failure: the attempt's report")
    # An undisturbed rerun gives the undisturbed result and leaves nothing behind.
    assert run_d(world, out).returncode == 0
    assert_same_as_undisturbed(world, out)


@pytest.mark.soak  # a process killed: the long suite, beside the kill before every step
def test_a_rollback_killed_half_way_is_finished_by_the_next_run(world, tmp_path):
    out = tmp_path / "output"
    shutil.copytree(world["reference"], out)
    killed = rerate_process(
        *("rollback", "--date", D, "--reason", "test", "--output", str(out)),
        conf=world["conf"],
        env={"RERATE_FAILPOINT": "kill@rollback:3"},
    )
    assert killed.returncode == -9
    assert not is_published(out, D) and is_published(out, BEFORE)
    # The next run on the output finishes the rollback, then runs D again against D-1.
    assert run_d(world, out).returncode == 0
    assert (out / "reversals" / f"run_date={D}" / "_SUCCESS").exists()
    assert table_rows(out / "withdrawn" / "limits" / f"run_date={D}") is not None
    assert_same_as_undisturbed(world, out)


def test_a_live_writers_lock_refuses_the_run_and_a_dead_writers_is_taken_over(world, tmp_path):
    out = fresh_output(world, tmp_path)
    holder = subprocess.Popen(["sleep", "300"])  # a live process on this host holds the output
    lock = {"host": socket.gethostname(), "pid": holder.pid, "attempt_id": "theirs"}
    try:
        (out / "_lock").write_text(json.dumps({**lock, "command": f"run --date {D}"}))
        refused = run_d(world, out)
        assert refused.returncode == 1, refused.stderr
        assert "another run holds the output" in refused.stderr
        assert f"'pid': {holder.pid}" in refused.stderr
        assert "what to do: another rerate is writing this output" in refused.stderr
        assert "died on this host is taken over" in refused.stderr  # as the README says
        assert json.loads((out / "_lock").read_text())["attempt_id"] == "theirs"  # left alone
        assert not is_published(out, D)
    finally:
        holder.kill()
        holder.wait()
    taken = run_d(world, out)  # the holder is gone now: its lock is stale
    assert taken.returncode == 0, taken.stderr
    assert any("took over the lock" in w for w in report(out, D)["warnings"])
    assert_same_as_undisturbed(world, out)


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.decode().strip()}")


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    _mount_tmpfs(mount, "8m")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.soak  # two runs on a tmpfs filled to the brim: the long suite
def test_a_full_disk_fails_the_run_and_leaves_the_published_state(world, small_disk):
    out = small_disk / "output"
    shutil.copytree(world["base"], out)
    filler = small_disk / "filler"
    stats = os.statvfs(small_disk)
    filler.write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - 16 * 1024))  # 16 KB stay free
    full = run_d(world, out)
    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr
    assert "what to do: the disk that holds the output is full: free space" in full.stderr
    assert not is_published(out, D)
    assert_nothing_partial(world, out)
    filler.unlink()
    assert run_d(world, out).returncode == 0
    assert_same_as_undisturbed(world, out)


def test_an_unwritable_output_fails_with_its_report_on_stderr(world, small_disk):
    out = small_disk / "output"
    shutil.copytree(world["base"], out)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    refused = run_d(world, out)
    assert refused.returncode == 1
    assert "the output cannot be written" in refused.stderr
    assert '"status": "failed"' in refused.stderr  # the report, since it could not be saved
    assert "Traceback" not in refused.stderr
    printed, _ = json.JSONDecoder().raw_decode(refused.stderr[refused.stderr.index("{") :])
    advice = printed["what_to_do"]
    assert advice.startswith("the output cannot be written (read-only or permission denied)")
    assert "a retry is safe" not in refused.stderr and "traceback" not in advice
    assert_nothing_partial(world, out)
