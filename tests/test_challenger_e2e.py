"""Champion and challenger on the shared ledger: two nights with a challenger deciding half the
book under different rules. Every contract rule holds in each cell with that cell's settings,
the same accounts stay in the cell, the guardrails judge the whole book, the report sets the
cells side by side, and the run replays from the files it kept."""

import json
import shutil
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from jobs.config import load_policy
from tests.e2e import explain, read_table, report, rerate, run_date
from tests.two_nights import BEFORE, D
from transforms.cells import cell_of

CONF = Path(__file__).resolve().parent.parent / "conf"
SALT = "test-cells"
# The challenger: a 500-yuan grid, a 25 % raise cap, suspension past 20 days, a 7-day notice.
CHALLENGER_CHANGES = {
    'version = "2026.12-1"': 'version = "challenger-1"',
    'limit_step = "100.00"': 'limit_step = "500.00"',
    'max_increase_ratio = "0.50"': 'max_increase_ratio = "0.25"',
    "suspend_dpd = 30": "suspend_dpd = 20",
    "decrease_notice_days = 14": "decrease_notice_days = 7",
}


def write_policies(folder: Path, share: str = "0.5") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    challenger = (CONF / "policy.toml").read_text()
    for old, new in CHALLENGER_CHANGES.items():
        assert old in challenger
        challenger = challenger.replace(old, new)
    (folder / "challenger.toml").write_text(challenger)
    champion = folder / "policy.toml"
    champion.write_text(
        (CONF / "policy.toml").read_text()
        + f'\n[challenger]\npolicy = "challenger.toml"\nshare = {share}\nsalt = "{SALT}"\n'
    )
    return champion


def profile_with(conf: Path, policy: Path, folder: Path) -> Path:
    path = folder / "with-challenger.toml"
    path.write_text(f'extends = "{conf}"\n[paths]\npolicy = "{policy}"\n')
    return path


@pytest.fixture(scope="module")
def book(world, tmp_path_factory):
    """D-1 (a bootstrap) and D published with the challenger in force."""
    root = tmp_path_factory.mktemp("challenger")
    policy_file = write_policies(root / "policies")
    conf = profile_with(world["conf"], policy_file, root)
    out = root / "output"
    for day in (BEFORE, D):
        done = run_date(day, world["input"], out, conf, "--quiet")
        assert done.returncode == 0, done.stderr
    policy = load_policy(policy_file)
    return {**world, "conf": conf, "output": out, "policy": policy}


def days_past_due(inputs: Path, on: str) -> pd.Series:
    """Each account's most days past due on `on`, from the repayments recorded by then."""
    rows = pd.read_parquet(inputs / "repayments")
    rows = rows[rows.dt.astype(str) <= on]
    bills = rows[rows.entry_type == "bill"].set_index("bill_id")
    paid = rows[rows.entry_type == "payment"].groupby("bill_id").amount.sum()
    owed = bills.amount - paid.reindex(bills.index).fillna(Decimal(0))
    open_bills = bills[owed > 0]
    dpd = (pd.Timestamp(on) - pd.to_datetime(open_bills.due_date)).dt.days.clip(lower=0)
    return dpd.groupby(open_bills.user_id).max()


def test_the_cells_are_the_contracts_and_stay_from_night_to_night(book):
    challenger = book["policy"].challenger
    versions = {"champion": "2026.12-1", "challenger": "challenger-1"}
    for table in ("limits", "limit_changes", "notices"):
        rows = pd.concat([read_table(book["output"], table, day) for day in (BEFORE, D)])
        assert set(rows.cell) == {"champion", "challenger"}, table
        assert (rows.cell == rows.user_id.map(lambda u: cell_of(u, challenger))).all(), table
        assert (rows.policy_version == rows.cell.map(versions)).all(), table
    before = read_table(book["output"], "limits", BEFORE).set_index("user_id").cell
    now = read_table(book["output"], "limits", D).set_index("user_id").cell
    assert (before == now.reindex(before.index)).all()
    assert 0.4 < (now == "challenger").mean() < 0.6


def snapshot(inputs: Path, day: str) -> pd.DataFrame:
    """The account master a run of `day` reads: the newest partition dated by then."""
    newest = max(p.name for p in (inputs / "accounts").glob("dt=*") if p.name[3:] <= day)
    return pd.read_parquet(inputs / "accounts" / newest).set_index("user_id")


def test_every_contract_rule_holds_in_each_cell_with_its_own_settings(book):
    seen = Counter()  # what each rule was checked on, so that none passes on nothing
    for day in (BEFORE, D):
        _check_rules_by_cell(book, day, seen)
    for cell in ("champion", "challenger"):
        for what in ("raised", "announced", "suspended", "delinquent"):
            assert seen[cell, what] > 0, (cell, what)
    assert seen["champion", "frozen"] + seen["challenger", "frozen"] > 0  # ~4 in the book
    # the caps differ: the champion raised someone by more than the challenger may
    assert seen["champion", "raised over 25 %"] > 0
    # the challenger suspends active accounts 21-30 days past due, which the champion keeps
    assert seen["challenger", "21-30 days past due, suspended"] > 0


def _check_rules_by_cell(book, day: str, seen: Counter) -> None:
    out, inputs = book["output"], book["input"]
    limits = read_table(out, "limits", day).set_index("user_id")
    changes = read_table(out, "limit_changes", day).set_index("user_id")
    notices = read_table(out, "notices", day).set_index("user_id")
    accounts = snapshot(inputs, day)
    dpd = days_past_due(inputs, day).reindex(limits.index).fillna(0)
    open_accounts = accounts.index[accounts.status != "closed"]
    for cell, policy in book["policy"].cells():
        rules = policy.limits
        mine = limits[limits.cell == cell]
        active = mine[mine.status == "active"]
        assert (active.credit_limit % rules.limit_step == 0).all(), cell
        assert active.credit_limit.between(rules.min_limit, rules.max_limit).all(), cell
        assert (mine[mine.status != "active"].credit_limit == 0).all(), cell
        frozen = accounts.index[accounts.status == "frozen"].intersection(mine.index)
        assert (mine.loc[frozen].status == "suspended").all(), cell
        delinquent = mine.index[dpd[mine.index] > rules.suspend_dpd].intersection(open_accounts)
        assert (mine.loc[delinquent].status == "suspended").all(), cell
        seen[cell, "frozen"] += len(frozen)
        seen[cell, "delinquent"] += len(delinquent)

        moved = changes[changes.cell == cell]
        raised = moved[moved.change_type == "increase"]
        assert (raised.new_limit <= raised.old_limit * (1 + rules.max_increase_ratio)).all()
        assert (raised.new_limit % rules.limit_step == 0).all()
        seen[cell, "raised"] += len(raised)
        seen[cell, "raised over 25 %"] += int(
            (raised.new_limit > raised.old_limit * Decimal("1.25")).sum()
        )
        cut = moved[moved.change_type == "decrease"]
        for user_id, c in cut.iterrows():
            floor = rules.ceil_to_grid(max(limits.loc[user_id, "balance"], Decimal(0)))
            assert c.new_limit >= max(floor, rules.min_limit), (cell, user_id)
        adverse = moved[moved.change_type.isin(["decrease", "suspend"])]
        assert adverse.reason_codes.map(len).between(1, 4).all(), cell
        seen[cell, "suspended"] += int((moved.change_type == "suspend").sum())

        told = notices[notices.cell == cell]
        announced = told[told.kind == "pending_decrease"]
        notice_ends = date.fromisoformat(day) + timedelta(days=rules.decrease_notice_days)
        assert (announced.effective_date == notice_ends).all(), cell
        assert announced.reason_codes.map(len).between(1, 4).all(), cell
        assert told.next_steps.map(len).le(3).all(), cell
        seen[cell, "announced"] += len(announced)

    active_accounts = accounts.index[accounts.status == "active"]
    between = limits.index[(dpd > 20) & (dpd <= 30)].intersection(active_accounts)
    for row in limits.loc[between].itertuples():
        seen[row.cell, f"21-30 days past due, {row.status}"] += 1


def test_the_guardrails_judge_the_whole_book_and_the_report_shows_each_cell(book):
    out = book["output"]
    run = report(out, D)
    assert run["challenger"] == {
        "policy_version": "challenger-1",
        "file": "challenger.toml",
        "share": 0.5,
        "salt": SALT,
    }
    previous = read_table(out, "limits", BEFORE)
    changes = read_table(out, "limit_changes", D)
    notices = read_table(out, "notices", D)
    adverse = next(c for c in run["checks"] if c["name"] == "adverse_share")
    assert adverse["active_before"] == int((previous.status == "active").sum())
    assert adverse["adverse_accounts"] == int(
        changes.change_type.isin(["decrease", "suspend"]).sum()
        + (notices.kind == "pending_decrease").sum()
    )
    cells = run["decisions"]["cells"]
    assert list(cells) == ["champion", "challenger"]
    for cell, figures in cells.items():
        assert figures["changes"] == {
            kind: int(((changes.cell == cell) & (changes.change_type == kind)).sum())
            for kind in ("increase", "decrease", "suspend", "reinstate")
        }
    assert sum(c["accounts"] for c in cells.values()) == run["decisions"]["accounts"]

    shown = rerate("report", "--date", D, "--output", str(out), conf=book["conf"])
    assert shown.returncode == 0, shown.stderr
    assert "champion (2026.12-1)" in shown.stdout and "challenger (challenger-1)" in shown.stdout
    page = (out / "runs" / f"run_date={D}" / "report.html").read_text()
    assert "Champion and challenger" in page and "challenger (challenger-1)" in page
    as_json = rerate(
        "report", "--date", D, "--format", "json", "--output", str(out), conf=book["conf"]
    )
    assert json.loads(as_json.stdout)["cells"] == cells


def test_explain_decides_a_challenger_account_by_its_cells_policy(book):
    limits = read_table(book["output"], "limits", D)
    user_id = int(limits[limits.cell == "challenger"].user_id.iloc[0])
    shown = explain(D, user_id, book["input"], book["output"], book["conf"])
    assert shown.returncode == 0, shown.stderr
    assert "(policy challenger-1, challenger cell)" in shown.stdout
    assert "raise cap (+25%)" in shown.stdout and "WARNING" not in shown.stdout


def test_policy_show_shows_the_challenger_and_its_rules(book):
    shown = rerate("policy", "show", conf=book["conf"])
    assert shown.returncode == 0, shown.stderr
    assert (
        "CHALLENGER: 50% of accounts (salt 'test-cells') are decided by challenger.toml, "
        "policy challenger-1" in shown.stdout
    )
    assert shown.stdout.count("GUARDRAILS") == 1  # the champion's judge the whole book


def test_the_run_keeps_both_policy_files_and_replays_identical(book, tmp_path):
    out = tmp_path / "output"
    shutil.copytree(book["output"], out)
    kept = out / "runs" / f"run_date={D}" / "policy"
    assert "[challenger]" in (kept / "policy.toml").read_text()
    assert 'version = "challenger-1"' in (kept / "challenger" / "challenger.toml").read_text()
    same = rerate("replay", "--date", D, "--output", str(out), conf=book["conf"])
    assert same.returncode == 0, same.stdout + same.stderr
    assert "identical" in same.stdout


def test_a_challenger_that_fails_validation_stops_the_run_at_load(book, tmp_path):
    policy_file = write_policies(tmp_path / "policies")
    broken = (tmp_path / "policies" / "challenger.toml").read_text()
    (tmp_path / "policies" / "challenger.toml").write_text(
        broken.replace("cash_out_days = 30", "cash_out_dayz = 30")
    )
    conf = profile_with(book["conf"], policy_file, tmp_path)
    out = tmp_path / "output"
    done = run_date(D, book["input"], out, conf)
    assert done.returncode == 2
    assert "challenger.policy" in done.stderr and "limits.cash_out_dayz" in done.stderr
    assert not out.exists()
