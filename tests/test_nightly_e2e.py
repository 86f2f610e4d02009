"""The `rerate` command on a small generated ledger: outputs, policy rules, exit codes."""

import json
import re
import shutil
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from jobs.reporting.views import report_text
from tests.e2e import read_table, report, rerate, rerate_process
from tests.two_nights import BEFORE as DAY_BEFORE
from tests.two_nights import D as END
from tests.two_nights import assert_same_as_undisturbed, fresh_output, run_d

STEP, MIN_LIMIT, MAX_LIMIT = Decimal("100"), Decimal("500"), Decimal("50000")


@pytest.fixture(scope="module")
def book(world, tmp_path_factory):
    """The shared ledger and its two published nights (a bootstrap, then a normal night), in a
    copy these tests may change."""
    output = tmp_path_factory.mktemp("book") / "output"
    shutil.copytree(world["reference"], output)
    return {**world, "output": output}


def test_a_published_run_has_its_tables_markers_and_report(book):
    out = book["output"]
    for table in ("limits", "limit_changes"):
        assert (out / table / f"run_date={END}" / "_SUCCESS").exists()
    assert list((out / "rejects" / f"run_date={END}").glob("*.parquet"))
    r = report(out, END)
    assert (r["status"], r["exit_code"], r["bootstrap"], r["previous_run_date"]) == (
        "published",
        0,
        False,
        DAY_BEFORE,
    )
    assert report(out, DAY_BEFORE)["bootstrap"] is True
    assert "accounts re-rated" in book["stdout"] and "limit_changes" in book["stdout"]


def test_the_report_counts_each_phases_spark_jobs(book):
    """What a run's fixed cost is made of: the Spark jobs and stages each phase started."""
    r = report(book["output"], END)
    assert list(r["spark_jobs"]) == list(r["phase_seconds"])
    jobs = {phase: counted["jobs"] for phase, counted in r["spark_jobs"].items()}
    # every phase but the manifest's hashing reads or writes data with Spark
    assert all(jobs[p] > 0 for p in ("input_checks", "carried_state", "decision", "summary"))
    # a normal night's fixed cost on this book is about 200 jobs (README: Performance): a change
    # that adds many more shows here, not only in `make bench`
    assert sum(jobs.values()) < 260


def test_limits_hold_every_contract_rule(book):
    limits = read_table(book["output"], "limits", END)
    accounts = pd.read_parquet(book["input"] / "accounts" / f"dt={END}")
    assert sorted(limits.user_id) == sorted(accounts.user_id)  # every known account, once
    assert (limits.run_date == date.fromisoformat(END)).all()
    active = limits[limits.status == "active"]
    assert all(lim % STEP == 0 and MIN_LIMIT <= lim <= MAX_LIMIT for lim in active.credit_limit)
    assert (limits[limits.status != "active"].credit_limit == Decimal("0.00")).all()
    frozen = set(accounts[accounts.status == "frozen"].user_id)
    assert frozen and (limits[limits.user_id.isin(frozen)].status == "suspended").all()
    closed = set(accounts[accounts.status == "closed"].user_id)
    assert (limits[limits.user_id.isin(closed)].status == "closed").all()
    assert limits.reason_codes.map(len).max() <= 4
    assert set(limits.segment.dropna()) <= {"dormant"}
    assert limits.policy_version.nunique() == 1


def test_the_installed_command_publishes_as_a_scheduler_runs_it(world, tmp_path):
    """The one run of the suite through the console script in a new process, as cron runs it."""
    out = fresh_output(world, tmp_path)
    done = run_d(world, out, process=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"rerate run {END}: published (exit 0)")
    assert_same_as_undisturbed(world, out)
    misused = rerate_process("run", "--date", "31/05/2026")
    assert misused.returncode == 2 and "Usage: rerate run" in misused.stderr
    assert "Traceback" not in misused.stderr


def test_changes_are_the_diff_against_the_night_before(book):
    out = book["output"]
    before = read_table(out, "limits", DAY_BEFORE).set_index("user_id")
    after = read_table(out, "limits", END).set_index("user_id")
    changes = read_table(out, "limit_changes", END).set_index("user_id")
    both = before.join(after, lsuffix="_old", rsuffix="_new", how="inner")
    moved = both[
        ((both.credit_limit_old != both.credit_limit_new) | (both.status_old != both.status_new))
        & (both.status_old != "closed")
        & (both.status_new != "closed")
    ]
    assert sorted(moved.index) == sorted(changes.index)
    for user_id, c in changes.iterrows():
        assert c.old_limit == before.loc[user_id, "credit_limit"]
        assert c.new_limit == after.loc[user_id, "credit_limit"]
        assert c.old_score == before.loc[user_id, "score"]
        if c.change_type in ("decrease", "suspend"):
            assert 1 <= len(c.reason_codes) <= 4
        if c.change_type == "increase":
            assert c.new_limit <= c.old_limit * Decimal("1.5")
        if c.change_type == "decrease":
            balance = after.loc[user_id, "balance"]
            assert c.new_limit >= max(
                MIN_LIMIT, (balance / STEP).to_integral_value(rounding="ROUND_CEILING") * STEP
            )


def test_the_bootstrap_compares_with_initial_limits(book):
    changes = read_table(book["output"], "limit_changes", DAY_BEFORE)
    accounts = pd.read_parquet(book["input"] / "accounts").drop_duplicates("user_id", keep="last")
    initial = accounts.set_index("user_id").initial_limit
    assert len(changes) > 0
    assert changes.old_score.isna().all() and (changes.old_status == "active").all()
    assert all(c.old_limit == initial[c.user_id] for c in changes.itertuples())


def _newest_spark_job(spark) -> int:
    return max(spark.sparkContext.statusTracker().getJobIdsForGroup(), default=-1)


def test_dry_run_publishes_nothing(book, tmp_path, spark):
    out = tmp_path / "out"
    before = _newest_spark_job(spark)
    done = rerate(
        "run",
        "--date",
        END,
        "--dry-run",
        "--input",
        str(book["input"]),
        "--output",
        str(out),
        conf=book["conf"],
    )
    assert done.returncode == 0, done.stderr
    assert not (out / "limits").exists() and not (out / "limit_changes").exists()
    attempts = list((out / "runs" / f"run_date={END}" / "attempts").glob("*.json"))
    assert [json.loads(a.read_text())["status"] for a in attempts] == ["dry_run"]
    # its report counts the Spark jobs this run started, not the session's earlier ones (a
    # backfill runs many dates in one session); the last may still be on its way to the tracker
    counted = sum(p["jobs"] for p in json.loads(attempts[0].read_text())["spark_jobs"].values())
    assert 0 <= _newest_spark_job(spark) - before - counted <= 1


def test_exit_3_when_the_days_partition_is_missing_or_incomplete(book, tmp_path):
    out = tmp_path / "out"
    missing = rerate(
        "run",
        "--date",
        "2026-06-01",
        "--input",
        str(book["input"]),
        "--output",
        str(out),
        conf=book["conf"],
    )
    assert missing.returncode == 3
    assert "transactions/dt=2026-06-01 is missing" in missing.stderr
    assert report(out, "2026-06-01")["status"] == "not_ready"
    assert not (out / "limits").exists()

    inputs = tmp_path / "input"
    shutil.copytree(book["input"], inputs)
    (inputs / "repayments" / f"dt={END}" / "_SUCCESS").unlink()
    incomplete = rerate(
        "run", "--date", END, "--input", str(inputs), "--output", str(out), conf=book["conf"]
    )
    assert incomplete.returncode == 3
    assert f"repayments/dt={END} has no _SUCCESS" in incomplete.stderr


def test_exit_2_for_a_bad_setting_or_argument(book, tmp_path):
    profile = tmp_path / "bad.toml"
    profile.write_text(f'extends = "{book["conf"]}"\n[spark]\nmastr = "local[1]"\n')
    bad_conf = rerate("run", "--date", END, conf=profile)
    assert bad_conf.returncode == 2 and "spark.mastr: unknown setting" in bad_conf.stderr
    bad_date = rerate("run", "--date", "31/05/2026", conf=book["conf"])
    assert bad_date.returncode == 2 and "is not a date" in bad_date.stderr
    assert "Traceback" not in bad_conf.stderr + bad_date.stderr


def test_exit_1_when_the_output_cannot_be_written(book, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    failed = rerate(
        "run",
        "--date",
        END,
        "--input",
        str(book["input"]),
        "--output",
        str(blocker),
        conf=book["conf"],
    )
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr


def test_policy_show_prints_the_scaling_every_characteristic_and_band(book):
    from jobs.config import load_settings

    shown = rerate("policy", "show", conf=book["conf"])
    assert shown.returncode == 0, shown.stderr
    policy = load_settings(book["conf"]).policy
    assert "points to double the odds (PDO)" in shown.stdout
    assert f"{policy.scorecard.base_score} at odds {policy.scorecard.base_odds:g}:1" in shown.stdout
    for c in policy.scorecard.characteristics:
        assert c.label in shown.stdout
    for band in policy.limits.bands:
        assert f"\n  {band.name} " in shown.stdout


def test_explain_shows_each_step_and_agrees_with_the_published_run(book):
    args = ("--input", str(book["input"]), "--output", str(book["output"]))
    changes = read_table(book["output"], "limit_changes", DAY_BEFORE)
    cut = changes[changes.change_type == "suspend"].iloc[0]
    told = rerate(
        "explain", "--date", DAY_BEFORE, "--user", str(cut.user_id), *args, conf=book["conf"]
    )
    assert told.returncode == 0, told.stderr
    text = told.stdout
    assert f"change on {DAY_BEFORE}: suspend" in text
    assert "LIMIT DECISION" in text
    assert "suspend: " in text and "WARNING" not in text
    assert f"score {cut.new_score}" in text
    for reason in cut.reason_codes:
        assert reason in text
    notice = read_table(book["output"], "notices", DAY_BEFORE).set_index("user_id").loc[cut.user_id]
    assert f"told on {DAY_BEFORE}: suspended" in text
    assert len(notice.next_steps) >= 1
    for step in notice.next_steps:
        assert step in text


def test_explain_shows_an_announced_cut_its_steps_and_that_it_is_pending_the_next_night(book):
    args = ("--input", str(book["input"]), "--output", str(book["output"]))
    notices = read_table(book["output"], "notices", DAY_BEFORE)
    announced = notices[notices.kind == "pending_decrease"].iloc[0]
    user = str(announced.user_id)
    told = rerate("explain", "--date", DAY_BEFORE, "--user", user, *args, conf=book["conf"])
    assert told.returncode == 0, told.stderr
    assert "DECISION" in told.stdout and "announce: active" in told.stdout
    assert (
        f"pending_decrease; limit now {announced.current_limit}, to be "
        f"{announced.proposed_limit} from {announced.effective_date}"
    ) in told.stdout
    assert len(announced.next_steps) >= 1
    for step in announced.next_steps:
        assert step in told.stdout
    next_night = rerate("explain", "--date", END, "--user", user, *args, conf=book["conf"])
    assert next_night.returncode == 0, next_night.stderr
    assert f"a cut announced on {DAY_BEFORE} to {announced.proposed_limit}" in next_night.stdout

    unknown = rerate("explain", "--date", END, "--user", "999999999", *args, conf=book["conf"])
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1] == (
        f"rerate explain: account 999999999 is not in the run of {END}"
    )


def test_report_figures_agree_with_the_tables_and_the_page_is_written(book):
    args = ("--output", str(book["output"]))
    shown = rerate("report", "--date", END, "--format", "json", *args, conf=book["conf"])
    assert shown.returncode == 0, shown.stderr
    figures = json.loads(shown.stdout)
    changes = read_table(book["output"], "limit_changes", END)
    limits = read_table(book["output"], "limits", END)
    by_type = changes["change_type"].value_counts().to_dict()
    assert {k: v for k, v in figures["changes"].items() if v} == by_type
    assert sum(figures["score_histogram"]["now"].values()) == (limits["status"] != "closed").sum()
    active = limits[limits["status"] == "active"]
    assert sum(b["accounts"] for b in figures["limit_distribution"]) == len(active)
    before = read_table(book["output"], "limits", DAY_BEFORE)
    was_active = (before["status"] == "active").sum()
    assert sum(b["previous_accounts"] for b in figures["limit_distribution"]) == was_active
    migration = figures["band_migration"]["matrix"]
    assert sum(sum(row.values()) for row in migration.values()) == len(limits)
    suspended_now = sum(row["suspended"] for row in migration.values())
    assert suspended_now == (limits["status"] == "suspended").sum()
    page = book["output"] / "runs" / f"run_date={END}" / "report.html"
    assert figures["page"].endswith("report.html") and page.exists()
    html = page.read_text()
    assert html.count("<svg") == 2 and "Band migration" in html and "<script" not in html
    bars = len(figures["limit_distribution"]) + len(
        set(figures["score_histogram"]["now"]) | set(figures["score_histogram"]["previous"])
    )
    assert html.count("(this run):") == html.count("(previous run):") == bars
    text = report_text(figures)
    for heading in ("CHANGES", "SCORES", "ACTIVE LIMITS", "BAND MIGRATION"):
        assert heading in text
    assert figures["status"] == "published" and figures["accepted_anomaly"] is None
    assert "Status: <strong>published</strong>" in html and "PUBLISHED OVER" not in html


def test_report_counts_bands_as_the_migration_does_and_shows_reasons_and_the_low_bins(book):
    shown = rerate("report", "--date", END, "--output", str(book["output"]), conf=book["conf"])
    figures = json.loads(
        rerate(
            *("report", "--date", END, "--format", "json", "--output", str(book["output"])),
            conf=book["conf"],
        ).stdout
    )
    by_band = figures["score"]["by_band"]
    migration = figures["band_migration"]["matrix"]
    for band, accounts in by_band.items():
        assert accounts == sum(row[band] for row in migration.values()), band
    assert sum(by_band.values()) == figures["by_status"]["active"]
    assert "active accounts by band: " in shown.stdout
    # the bootstrap is the night with cuts, so the night whose changes have reasons to show
    rerate("report", "--date", DAY_BEFORE, "--output", str(book["output"]), conf=book["conf"])
    page = (book["output"] / "runs" / f"run_date={DAY_BEFORE}" / "report.html").read_text()
    reasons = read_table(book["output"], "limit_changes", DAY_BEFORE).explode("reason_codes")
    top = reasons.reason_codes.value_counts().index[0]
    changes_table = page.split("<h2>Changes</h2>", 1)[1].split("</table>", 1)[0]
    assert "top reasons" in changes_table and top in changes_table
    notices_table = page.split("<h2>Notices</h2>", 1)[1].split("</table>", 1)[0]
    told = read_table(book["output"], "notices", DAY_BEFORE).dropna(subset=["next_steps"])
    first = told.assign(step=told.next_steps.map(lambda steps: steps[0].split(":")[0]))
    for (_, step), n in first.groupby(["kind", "step"]).size().items():
        assert f"{step} {n:,}" in notices_table
    chart = page.split("<h2>Score distribution</h2>", 1)[1].split("<h2>", 1)[0]
    # every score bin that holds an account has a bar one can see, however few it holds
    heights = re.findall(r'height="(\d+)"><title>[^<]* \(this run\): ([\d,]+)</title>', chart)
    assert heights and min(int(h) for h, n in heights if n != "0") >= 5
