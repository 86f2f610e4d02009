"""The README's example analyst queries, run as written (path aside) against a generated run's
output, each checked against the same question answered with pandas."""

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.e2e import ROOT

SAMPLE_OUTPUT = "data/sample/output"
MARKED = re.compile(r"<!-- analyst-query: (\w+) (\w+) -->\n```\w*\n(.*?)```", re.S)


def readme_queries() -> dict[str, tuple[str, str]]:
    found = MARKED.findall((ROOT / "README.md").read_text())
    return {name: (engine, code) for engine, name, code in found}


@pytest.fixture(scope="module")
def output(world) -> Path:
    return world["reference"]


def query(name: str, output: Path) -> str:
    return readme_queries()[name][1].replace(SAMPLE_OUTPUT, str(output))


def all_changes(output: Path) -> pd.DataFrame:
    files = sorted(output.glob("limit_changes/*/*.parquet"))
    changes = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    changes["run_date"] = pd.to_datetime(changes["run_date"])
    return changes


def test_the_readme_has_every_query_this_file_runs():
    assert {name: engine for name, (engine, _) in readme_queries().items()} == {
        "pending_cuts": "duckdb",
        "suspension_reasons": "pandas",
        "band_moves": "spark",
    }


def test_the_pending_cuts_with_duckdb(output):
    found = duckdb.sql(query("pending_cuts", output)).df()
    files = sorted(output.glob("notices/*/*.parquet"))
    notices = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    events = notices[
        notices.kind.isin(["pending_decrease", "decreased", "decrease_withdrawn", "suspended"])
    ]
    newest = events.sort_values("run_date").groupby("user_id").tail(1)
    pending = newest[newest.kind == "pending_decrease"]
    assert len(pending), "the test ledger should have pending cuts, or this checks nothing"
    assert sorted(found["user_id"]) == sorted(pending.user_id)
    expected = pending.set_index("user_id")
    for row in found.itertuples():
        assert row.first_step == expected.next_steps[row.user_id][0]
        assert row.proposed_limit == float(expected.proposed_limit[row.user_id])


def test_the_reasons_behind_the_weeks_suspensions_with_pandas(output):
    scope: dict = {}
    exec(query("suspension_reasons", output), scope)  # noqa: S102 - the README's own code
    changes = all_changes(output)
    recent = changes["run_date"] > changes["run_date"].max() - pd.Timedelta(days=7)
    suspended = changes[recent & (changes["change_type"] == "suspend")]
    assert len(suspended) > 0, "the generated run should suspend someone"
    expected = suspended.explode("reason_codes")["reason_codes"].value_counts()
    assert scope["reasons"].sort_index().to_dict() == expected.sort_index().to_dict()
    hold_or_late = {"DELINQUENT", "ACCOUNT_FROZEN"}
    assert all(hold_or_late & set(codes) for codes in scope["week"]["reason_codes"])


def test_band_moves_between_the_last_two_runs_with_spark_sql(spark, output, policy):
    moves = spark.sql(query("band_moves", output)).toPandas()
    files = sorted(output.glob("limits/*/*.parquet"))
    limits = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    last_two = sorted(limits["run_date"].unique())[-2:]
    before = limits[limits["run_date"] == last_two[0]].set_index("user_id")
    now = limits[limits["run_date"] == last_two[1]].set_index("user_id")
    assert moves["accounts"].sum() == len(now.index.intersection(before.index))
    edges = [(b.name, b.min_score) for b in policy.limits.bands]
    # the README hard-codes the policy's band edges: they must still be the policy's
    assert edges == [("A", 680), ("B", 640), ("C", 600), ("D", 540), ("E", 0)]
    stayed_suspended = (
        (before["status"] == "suspended") & (now.reindex(before.index)["status"] == "suspended")
    ).sum()
    assert stayed_suspended > 0, "the test ledger should keep someone suspended"
    row = moves[(moves["band_before"] == "suspended") & (moves["band_now"] == "suspended")]
    assert int(row["accounts"].sum()) == stayed_suspended
