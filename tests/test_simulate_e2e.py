"""`rerate simulate`: a draft policy decides a published run again, beside the champion. The
champion's own file reproduces the published run; a stricter raise cap changes only raises."""

import json
from pathlib import Path

import pandas as pd

from tests.e2e import read_table, rerate
from tests.two_nights import BEFORE, D

CHAMPION = Path(__file__).resolve().parent.parent / "conf" / "policy.toml"


def simulate(world, day: str, draft: Path, into: Path, *extra: str):
    """Simulates on the reference output (read, never written: DIR is elsewhere)."""
    args = ("simulate", "--date", day, "--policy", str(draft), "--into", str(into))
    return rerate(*args, "--output", str(world["reference"]), *extra, conf=world["conf"])


def draft_policy(folder: Path, version: str, old: str, new: str) -> Path:
    text = CHAMPION.read_text()
    assert old in text
    path = folder / f"{version}.toml"
    path.write_text(
        text.replace(old, new).replace('version = "2026.12-1"', f'version = "{version}"')
    )
    return path


def rows(output: Path, table: str, day: str) -> pd.DataFrame:
    found = read_table(output, table, day).drop(columns=["policy_version"])
    return found.sort_values(["user_id", *found.columns[1:2]]).reset_index(drop=True)


def test_the_champions_own_policy_reproduces_the_published_run(world, tmp_path):
    # D is a normal night: decided again from the carried state of the night before
    into = tmp_path / "same"
    same = simulate(world, D, CHAMPION, into, "--format", "json")
    assert same.returncode == 0, same.stderr
    comparison = json.loads(same.stdout)
    assert comparison["accounts_differing"] == 0
    for figure in ("changes", "pending_decreases", "total_limit", "by_band"):
        assert comparison["champion"][figure] == comparison["draft"][figure], figure
    assert json.loads((into / "comparison.json").read_text()) == comparison
    for table in ("limits", "limit_changes", "notices"):
        pd.testing.assert_frame_equal(rows(into, table, D), rows(world["reference"], table, D))
    assert not [p for p in world["reference"].iterdir() if p.name in ("_replay", "_work")]
    assert not (into / "_work").exists()


def test_a_stricter_raise_cap_changes_only_the_raises(world, tmp_path):
    draft = draft_policy(
        tmp_path, "cap-20", 'max_increase_ratio = "0.50"', 'max_increase_ratio = "0.20"'
    )
    shown = simulate(world, BEFORE, draft, tmp_path / "cap")
    assert shown.returncode == 0, shown.stderr
    assert "draft cap-20 beside champion 2026.12-1" in shown.stdout.splitlines()[0]
    for section in ("total granted limit", "BAND MIGRATION", "LARGEST DIFFERENCES"):
        assert section in shown.stdout
    comparison = json.loads((tmp_path / "cap" / "comparison.json").read_text())
    champion, draft_side = comparison["champion"], comparison["draft"]
    assert comparison["accounts_differing"] > 0
    assert float(draft_side["total_limit"]) < float(champion["total_limit"])
    for kind in ("decrease", "suspend", "reinstate"):
        assert draft_side["changes"][kind] == champion["changes"][kind]
    assert draft_side["pending_decreases"] == champion["pending_decreases"]
    raised = read_table(world["reference"], "limit_changes", BEFORE)
    raised = set(raised[raised.change_type == "increase"].user_id)
    for d in comparison["largest_differences"]:
        assert d["user_id"] in raised
        assert float(d["draft"]["limit"]) < float(d["champion"]["limit"])
        assert d["draft"]["status"] == d["champion"]["status"] == "active"
    assert len(comparison["largest_differences"]) == min(20, comparison["accounts_differing"])


def test_a_draft_is_refused_where_it_would_do_harm_or_cannot_load(world, tmp_path):
    inside = simulate(world, D, CHAMPION, world["reference"] / "mine")
    assert inside.returncode == 2 and "is inside the output root" in inside.stderr
    assert not (world["reference"] / "mine").exists()
    typo = draft_policy(tmp_path, "typo", "max_increase_ratio =", "max_increse_ratio =")
    refused = simulate(world, D, typo, tmp_path / "typo-out")
    assert refused.returncode == 2 and "max_increse_ratio" in refused.stderr
    unpublished = simulate(world, "2026-06-01", CHAMPION, tmp_path / "later")
    assert unpublished.returncode == 3 and "no published run" in unpublished.stderr
