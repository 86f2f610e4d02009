"""The signals ledger on the shared book, under a policy that scores a bureau score and a utility's
on-time rate (conf/draft-bureau.toml): nights that fold only their own partitions equal a full
recompute, `explain` shows a signal's value, age and points, a stale feed warns and a required
one blocks, bad rows are refused into `rejects`, and the replay reproduces the run; a policy
without signals never reads the ledger."""

import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.config import load_policy
from tests.e2e import explain, read_table, report, rerate, run_date
from tests.two_nights import BEFORE, TABLES, D, fresh_output

CONF = Path(__file__).resolve().parent.parent / "conf"
EARLIER = (date.fromisoformat(BEFORE) - timedelta(days=1)).isoformat()
NIGHTS = (EARLIER, BEFORE, D)


def bureau_profile(folder: Path, conf: Path, **changes: str) -> Path:
    """A profile whose policy is the shipped draft with `changes` (old text -> new text)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (CONF / "draft-bureau.toml").read_text()
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    policy = folder / "bureau.toml"
    policy.write_text(text)
    profile = folder / "profile.toml"
    profile.write_text(f'extends = "{conf}"\n[paths]\npolicy = "{policy}"\n')
    return profile


def run_nights(inputs: Path, out: Path, conf: Path, *days: str, extra=()):
    for day in days:
        done = run_date(day, inputs, out, conf, "--quiet", *extra)
        assert done.returncode == 0, done.stderr


REPLAYED = 3  # observations of EARLIER's partition sent again in D's


@pytest.fixture(scope="module")
def book(world, tmp_path_factory):
    """Three nights under the bureau policy: a bootstrap, then two that fold their own
    partitions into the state the one before carried; D's partition also replays a few
    observations EARLIER's recorded (the policy lets up to half of a day's rows be refused)."""
    root = tmp_path_factory.mktemp("signals")
    inputs = input_copy(world, root)
    replayed = pq.read_table(inputs / "signals" / f"dt={EARLIER}").slice(0, REPLAYED)
    assert replayed.num_rows == REPLAYED
    pq.write_table(replayed, inputs / "signals" / f"dt={D}" / "replayed.parquet")
    conf = bureau_profile(
        root / "policy", world["conf"], **{"max_reject_share = 0.01": "max_reject_share = 0.5"}
    )
    nightly = root / "nightly"
    run_nights(inputs, nightly, conf, *NIGHTS)
    return {**world, "input": inputs, "conf": conf, "output": nightly, "root": root}


def test_nights_folding_their_own_partitions_equal_a_full_recompute(book, tmp_path):
    for day in NIGHTS[1:]:
        assert report(book["output"], day)["carried_state"]["mode"] == "incremental"
        assert report(book["output"], day)["inputs"]["signals"]["rows_read"] < 100
    state = book["output"] / "_state" / f"run_date={D}"
    assert (state / "signals").is_dir() and (state / "index_signals").is_dir()
    refused = read_table(book["output"], "rejects", D)
    assert list(refused[refused.ledger == "signals"].reason) == ["DUPLICATE_OBSERVATION"] * REPLAYED
    full = before_d(book, tmp_path)
    run_nights(book["input"], full, book["conf"], D, extra=("--full-recompute",))
    assert report(full, D)["carried_state"]["mode"] == "full_recompute"
    assert report(full, D)["inputs"]["signals"]["rows_read"] > 1000
    for table in TABLES:
        mine = read_table(book["output"], table, D)
        whole = read_table(full, table, D)
        key = list(mine.columns[:3])
        pd.testing.assert_frame_equal(
            mine.sort_values(key).reset_index(drop=True),
            whole.sort_values(key).reset_index(drop=True),
        )


def test_the_signals_change_scores_and_the_report_gives_each_signals_coverage(book):
    scored = read_table(book["output"], "limits", D).set_index("user_id")
    champion = read_table(book["reference"], "limits", D).set_index("user_id")
    assert (scored.policy_version == "2026.12-3").all()
    moved = (scored.score != champion.score.reindex(scored.index)).mean()
    assert moved > 0.5  # most accounts have a bureau score or a utility record
    reasons = {code for codes in scored.reason_codes for code in codes}
    assert {"BUREAU_SCORE", "NO_BUREAU_SCORE"} <= reasons
    found = report(book["output"], D)["signals"]
    assert found["feed_age_days"] == 0
    by_signal = {s["signal"]: s for s in found["by_signal"]}
    assert 0.55 < by_signal["bureau.score"]["coverage"] < 0.8
    assert 0.1 < by_signal["utility.on_time_rate"]["coverage"] < 0.4
    shown = rerate("report", "--date", D, "--output", str(book["output"]), conf=book["conf"])
    assert "SIGNALS (the feed: newest partition" in shown.stdout
    assert "bureau.score" in shown.stdout


def signals_of(inputs: Path, on: str) -> pd.DataFrame:
    rows = pd.read_parquet(inputs / "signals")
    return rows[rows.dt.astype(str) <= on]


def test_explain_shows_a_thin_file_accounts_signal_value_age_and_points(book):
    policy = load_policy(Path(book["conf"]).parent / "bureau.toml")
    (bureau, _) = policy.scorecard.signals()
    accounts = pd.read_parquet(book["input"] / "accounts" / f"dt={D}")
    young = set(
        accounts[
            pd.to_datetime(accounts.opened_on) > pd.Timestamp(D) - pd.Timedelta(days=120)
        ].user_id
    )
    seen = signals_of(book["input"], D)
    seen = seen[(seen.source == "bureau") & seen.user_id.isin(young)]
    newest = seen.sort_values("observed_on").groupby("user_id").tail(1).iloc[0]
    user_id, value = int(newest.user_id), newest.value
    age = (date.fromisoformat(D) - newest.observed_on).days
    assert age <= bureau.max_age_days
    points = next(
        policy.scorecard.points(b.log_odds)
        for b in bureau.bins
        if b.below is None or value < b.below
    )
    shown = explain(D, user_id, book["input"], book["output"], book["conf"])
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if x.strip().startswith("signal:bureau.score"))
    assert f"{value:.4g}" in line and str(newest.observed_on) in line
    assert f" {age} " in line and f"{points:+d}" in line
    assert "WARNING" not in shown.stdout  # the recomputed score is the published one


def test_the_run_keeps_what_it_read_of_the_signals_and_replays_identical(book, tmp_path):
    out = tmp_path / "output"
    shutil.copytree(book["output"], out)
    manifest = (out / "runs" / f"run_date={D}" / "inputs.json").read_text()
    assert f"signals/dt={D}/" in manifest
    same = rerate("replay", "--date", D, "--output", str(out), conf=book["conf"])
    assert same.returncode == 0, same.stdout + same.stderr
    assert "identical" in same.stdout


def input_copy(world, folder: Path) -> Path:
    inputs = folder / "input"
    shutil.copytree(world["input"], inputs)
    return inputs


def before_d(book, folder: Path) -> Path:
    """The bureau book's output with D not run yet."""
    out = folder / "output"
    shutil.copytree(book["output"], out)
    done = rerate(
        "rollback", "--date", D, "--reason", "test", "--output", str(out), conf=book["conf"]
    )
    assert done.returncode == 0, done.stderr
    return out


def test_a_stale_feed_warns_and_the_night_runs_a_required_one_blocks(book, tmp_path):
    inputs = input_copy(book, tmp_path)
    shutil.rmtree(inputs / "signals" / f"dt={D}")
    out = before_d(book, tmp_path)
    done = run_date(D, inputs, out, book["conf"], "--quiet")
    assert done.returncode == 0, done.stderr
    found = report(out, D)
    assert found["inputs"]["signals"]["feed_age_days"] == 1
    assert any("signals: the feed is stale (1 days old)" in w for w in found["warnings"])

    required = bureau_profile(
        tmp_path / "required",
        book["conf"],
        **{
            '[[scorecard.characteristic]]\nfeature = "signal:bureau.score"': (
                "[signals.bureau]\nrequired = true\n\n"
                '[[scorecard.characteristic]]\nfeature = "signal:bureau.score"'
            )
        },
    )
    blocked = run_date(D, inputs, before_d(book, tmp_path / "again"), required)
    assert blocked.returncode == 3, blocked.stderr
    assert f"signals/dt={D} is missing" in blocked.stderr
    assert "requires the source(s) ['bureau']" in blocked.stderr

    # the feed catches up: the night is still reproduced and explained as it was decided
    shutil.copytree(book["input"] / "signals" / f"dt={D}", inputs / "signals" / f"dt={D}")
    again = rerate("replay", "--date", D, "--output", str(out), conf=book["conf"])
    assert again.returncode == 0 and "identical" in again.stdout, again.stdout + again.stderr
    user_id = str(read_table(out, "limits", D).user_id.iloc[0])
    args = ("explain", "--date", D, "--user", user_id, "--input", str(inputs), "--output")
    shown = rerate(*args, str(out), conf=book["conf"])
    assert shown.returncode == 0 and "WARNING" not in shown.stdout, shown.stdout


def test_bad_signal_rows_are_refused_into_rejects_with_their_account(book, tmp_path):
    inputs = input_copy(book, tmp_path)
    (inputs / "signals" / f"dt={D}" / "replayed.parquet").unlink()
    bad = pa.table(
        {
            "user_id": pa.array([7, 8, 9], pa.int64()),
            "source": ["Bureau", "bureau", "bureau"],
            "name": ["score", "score", "score"],
            "value": pa.array([700.0, float("nan"), 650.0], pa.float64()),
            "observed_on": [date.fromisoformat(D)] * 2
            + [date.fromisoformat(D) + timedelta(days=2)],
        }
    )
    pq.write_table(bad, inputs / "signals" / f"dt={D}" / "bad.parquet")
    out = before_d(book, tmp_path)
    done = run_date(D, inputs, out, book["conf"], "--quiet")
    assert done.returncode == 0, done.stderr
    rejects = read_table(out, "rejects", D)
    mine = rejects[rejects.ledger == "signals"].sort_values("row_id")
    assert list(mine.row_id) == ["7", "8", "9"]
    assert list(mine.reason) == ["NOT_LOWER_CASE", "NON_FINITE_VALUE", "OBSERVED_AFTER_PARTITION"]
    assert report(out, D)["inputs"]["signals"]["rejected_on_run_date"] == 3


def test_a_policy_without_signals_never_reads_the_ledger(world, tmp_path):
    inputs = input_copy(world, tmp_path)
    (inputs / "signals" / f"dt={D}" / "broken.parquet").write_bytes(b"not parquet")
    out = fresh_output(world, tmp_path)
    done = run_date(D, inputs, out, world["conf"], "--quiet")
    assert done.returncode == 0, done.stderr
    assert "signals" not in report(out, D)["inputs"]
    shutil.rmtree(inputs / "signals")
    again = fresh_output(world, tmp_path / "again")
    done = run_date(D, inputs, again, world["conf"], "--quiet")
    assert done.returncode == 0, done.stderr
    for table in TABLES:
        pd.testing.assert_frame_equal(
            read_table(again, table, D), read_table(world["reference"], table, D)
        )
