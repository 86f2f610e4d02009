"""`rerate backfill` on the two-nights ledger: the same outputs as running the dates one by one,
a restart that resumes after the last published date, a stop at the first date that is not
ready, and a refusal to rewrite history under later published runs."""

import shutil

from tests.e2e import is_published, rerate
from tests.two_nights import BEFORE, D, assert_same_as_undisturbed, fresh_output

AFTER = "2026-06-01"  # the generated ledger ends on D: this date is never ready


def backfill(world, out, *args: str):
    command = ("backfill", *args, "--input", str(world["input"]), "--output", str(out))
    return rerate(*command, conf=world["conf"])


def test_a_backfill_gives_what_running_the_dates_one_by_one_gives(world, tmp_path):
    out = tmp_path / "output"
    done = backfill(world, out, "--start", BEFORE, "--end", D)
    assert done.returncode == 0, done.stderr
    assert f"[1/2] {BEFORE}: published" in done.stdout and "1 date left" in done.stdout
    assert f"[2/2] {D}: published" in done.stdout and "backfill done: 2 dates" in done.stdout
    assert_same_as_undisturbed(world, out)


def test_a_restart_resumes_after_the_last_published_date_and_stops_where_input_is_not_ready(
    world, tmp_path
):
    out = fresh_output(world, tmp_path)  # as if a backfill was stopped after BEFORE
    stopped = backfill(world, out, "--start", BEFORE, "--end", AFTER)
    assert stopped.returncode == 3, stopped.stderr
    assert f"1 date already published (through {BEFORE}), resuming at {D}" in stopped.stdout
    assert f"[1/2] {D}: published" in stopped.stdout
    assert f"backfill stopped at {AFTER}: not_ready (exit 3)" in stopped.stderr
    assert "what to do: wait for the upstream loader" in stopped.stderr
    assert not is_published(out, AFTER)
    assert_same_as_undisturbed(world, out)


def test_a_range_under_a_later_published_run_is_refused(world, tmp_path):
    out = tmp_path / "output"
    shutil.copytree(world["reference"], out)
    refused = backfill(world, out, "--start", BEFORE, "--end", BEFORE, "--rerun")
    assert refused.returncode == 2, refused.stderr
    assert f"runs after the range are published ({D} .. {D})" in refused.stderr
    assert_same_as_undisturbed(world, out)
