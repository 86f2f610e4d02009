"""The pure parts of the gates: which days a volume is compared with, the PSI, and each output
guardrail judged on tables built for it."""

from datetime import date
from decimal import Decimal

import pytest

from jobs.checks.gates import comparable_days
from jobs.checks.guardrails import cell_warnings, judge_outputs, psi


def test_volume_compares_with_the_same_weekday_and_the_same_day_of_month():
    days = comparable_days(date(2026, 3, 31), weeks=4, months=3)
    assert days["same_weekday"] == [
        date(2026, 3, 24),
        date(2026, 3, 17),
        date(2026, 3, 10),
        date(2026, 3, 3),
    ]
    # A shorter month compares with its last day: past every billing day too.
    assert days["same_day_of_month"] == [date(2026, 2, 28), date(2026, 1, 31), date(2025, 12, 31)]


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift():
    before = {0: 100, 1: 300, 2: 600}
    assert psi(before, {0: 10, 1: 30, 2: 60}) == pytest.approx(0.0)
    small = psi(before, {0: 120, 1: 300, 2: 580})
    large = psi(before, {0: 600, 1: 300, 2: 100})
    assert 0 < small < 0.1 < 0.25 < large
    # A bin that empties counts (its share is floored, not dropped).
    assert psi(before, {1: 300, 2: 700}) > psi(before, {0: 50, 1: 300, 2: 650})


# Each output guardrail on tables built for it: 100 accounts active in the previous run.
def _previous(spark, active=100, limit="1000.00"):
    rows = [(u, "active", Decimal(limit), 600) for u in range(active)]
    return spark.createDataFrame(
        rows, "user_id long, status string, credit_limit decimal(18,2), score int"
    )


def _changes(spark, kinds: list[str]):
    return spark.createDataFrame(
        [(u, k) for u, k in enumerate(kinds)], "user_id long, change_type string"
    )


def _notices(spark, kinds: list[str]):
    return spark.createDataFrame(
        [(1000 + u, k) for u, k in enumerate(kinds)], "user_id long, kind string"
    )


def _judge(spark, policy, changes=(), notices=(), limits=None):
    previous = _previous(spark)
    found = judge_outputs(
        previous,
        previous if limits is None else limits,
        _changes(spark, list(changes)),
        _notices(spark, list(notices)),
        policy,
    )
    return {f.name: f for f in found}


def test_announced_cuts_count_as_adverse_with_cuts_and_suspensions(spark, policy):
    five = _judge(spark, policy, changes=["decrease", "suspend"], notices=["pending_decrease"] * 3)
    assert five["adverse_share"].passed and five["adverse_share"].figures["cuts_announced"] == 3
    six = _judge(spark, policy, changes=["suspend"], notices=["pending_decrease"] * 5)
    assert not six["adverse_share"].passed
    assert (
        "6 of 100 active accounts would be cut, suspended or told of a cut"
        in (six["adverse_share"].problems[0])
    )
    spared = _judge(spark, policy, notices=["decrease_withdrawn"] * 30 + ["re_engage"] * 30)
    assert spared["adverse_share"].passed


def test_raising_more_than_the_share_blocks_a_favourable_glitch(spark, policy):
    assert _judge(spark, policy, changes=["increase"] * 5)["increase_share"].passed
    many = _judge(spark, policy, changes=["increase"] * 6 + ["reinstate"] * 10)
    assert not many["increase_share"].passed
    assert many["increase_share"].figures["raised_accounts"] == 6


def test_the_total_limit_moving_more_than_its_share_blocks_either_way(spark, policy):
    up = _judge(spark, policy, limits=_previous(spark, limit="1101.00"))
    assert not up["total_limit_change"].passed
    down = _judge(spark, policy, limits=_previous(spark, limit="899.00"))
    assert not down["total_limit_change"].passed
    near = _judge(spark, policy, limits=_previous(spark, limit="1099.00"))
    assert near["total_limit_change"].passed


def test_score_drift_warns_and_never_blocks(spark, policy):
    moved = _previous(spark).selectExpr("user_id", "status", "credit_limit", "score + 200 AS score")
    psi = _judge(spark, policy, limits=moved)["score_psi"]
    assert psi.figures["value"] > policy.guardrails.max_score_psi
    assert psi.passed and psi.warnings and "never blocks" in psi.warnings[0]


def test_a_cell_hurting_much_of_its_accounts_is_warned_of_though_the_book_passes(policy):
    cells = {
        "champion": {"policy_version": "a", "adverse_per_1000": 20.0, "increases_per_1000": 9.0},
        "challenger": {"policy_version": "b", "adverse_per_1000": 80.0, "increases_per_1000": 0},
    }
    (warning,) = cell_warnings(cells, policy.guardrails)
    assert warning.startswith("the challenger cell (b) alone: 8.0 % of its accounts cut")
    assert "over the 5% the book is held to" in warning
    assert cell_warnings(None, policy.guardrails) == []
