"""Output guardrails, judged on the staged run against the previous published run. They judge
what users would feel (exit 5): the share of active accounts cut, suspended or told of a coming
cut, the share raised, and how far the total granted limit moved. How far the score distribution
moved (PSI) is reported and warns past its threshold but never blocks: scores move for reasons
the job itself causes (a night after a wave of raises has lower utilization everywhere). None
applies to a bootstrap: there is nothing to compare.
"""

import math

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.checks.gates import Finding
from transforms.policy import Guardrails, Policy

PSI_BIN_WIDTH = 20
PSI_FLOOR = 1e-4  # an empty bin's share, so that ln(a/e) stays finite
TOP_ACCOUNTS = 20


GUARDRAILS = ("adverse_share", "increase_share", "total_limit_change", "score_psi")


def judge_outputs(
    previous_limits: DataFrame,
    limits: DataFrame,
    changes: DataFrame,
    notices: DataFrame,
    policy: Policy,
) -> list[Finding]:
    guard = policy.guardrails
    active_before = previous_limits.filter(F.col("status") == "active").count()
    return [
        adverse_share(active_before, changes, notices, guard.max_adverse_share),
        increase_share(active_before, changes, guard.max_increase_share),
        total_limit_change(previous_limits, limits, guard.max_total_limit_change),
        score_stability(previous_limits, limits, policy),
    ]


def _share_finding(name: str, count: int, active_before: int, max_share: float, what: str, **more):
    share = count / active_before if active_before else 0.0
    passed = share <= max_share
    problems = (
        []
        if passed
        else [
            f"{count} of {active_before} active accounts would be {what} "
            f"({share:.2%} > {max_share:.2%})"
        ]
    )
    return Finding(
        name,
        passed,
        problems=problems,
        figures={
            "value": round(share, 6),
            "threshold": max_share,
            **more,
            "active_before": active_before,
        },
    )


def adverse_share(
    active_before: int, changes: DataFrame, notices: DataFrame, max_share: float
) -> Finding:
    """Cuts, suspensions and newly announced cuts: each is an account told it is losing credit."""
    cut = changes.filter(F.col("change_type").isin("decrease", "suspend")).count()
    announced = notices.filter(F.col("kind") == "pending_decrease").count()
    return _share_finding(
        "adverse_share",
        cut + announced,
        active_before,
        max_share,
        "cut, suspended or told of a cut",
        adverse_accounts=cut + announced,
        cut_or_suspended=cut,
        cuts_announced=announced,
    )


def increase_share(active_before: int, changes: DataFrame, max_share: float) -> Finding:
    """Raises: a favourable glitch (a replayed feed that drops bills) raises many at once."""
    raised = changes.filter(F.col("change_type") == "increase").count()
    return _share_finding(
        "increase_share", raised, active_before, max_share, "raised", raised_accounts=raised
    )


def score_bins(rows: DataFrame, low: int, high: int) -> dict[int, int]:
    """Counts of scored (not closed) accounts per 20-point score bin."""
    bin_of = F.floor((F.least(F.greatest("score", F.lit(low)), F.lit(high)) - low) / PSI_BIN_WIDTH)
    counted = rows.filter(F.col("status") != "closed").groupBy(bin_of.alias("bin")).count()
    return {int(r["bin"]): int(r["count"]) for r in counted.collect()}


def psi(expected: dict[int, int], actual: dict[int, int]) -> float:
    """Population stability index: sum over bins of (a - e) * ln(a / e), shares floored."""
    e_total, a_total = sum(expected.values()), sum(actual.values())
    if not e_total or not a_total:
        return 0.0
    value = 0.0
    for b in set(expected) | set(actual):
        e = max(expected.get(b, 0) / e_total, PSI_FLOOR)
        a = max(actual.get(b, 0) / a_total, PSI_FLOOR)
        value += (a - e) * math.log(a / e)
    return value


def score_stability(previous_limits: DataFrame, limits: DataFrame, policy: Policy) -> Finding:
    card = policy.scorecard
    before = score_bins(previous_limits, card.min_score, card.max_score)
    after = score_bins(limits, card.min_score, card.max_score)
    value = psi(before, after)
    threshold = policy.guardrails.max_score_psi
    warnings = (
        []
        if value <= threshold
        else [
            f"the score distribution moved: PSI {value:.3f} > {threshold:g} against the "
            "previous published run (a warning: score drift alone never blocks a run)"
        ]
    )
    return Finding(
        "score_psi",
        True,
        warnings=warnings,
        figures={
            "value": round(value, 4),
            "threshold": threshold,
            "blocks": False,
            "bin_width": PSI_BIN_WIDTH,
        },
    )


def _total_active_limit(rows: DataFrame) -> float:
    total = rows.filter(F.col("status") == "active").agg(F.sum("credit_limit")).first()[0]
    return float(total or 0)


def total_limit_change(previous_limits: DataFrame, limits: DataFrame, max_change: float) -> Finding:
    before, after = _total_active_limit(previous_limits), _total_active_limit(limits)
    change = (after - before) / before if before else 0.0
    passed = abs(change) <= max_change
    problems = (
        []
        if passed
        else [
            f"the total granted limit would move {change:+.2%} ({before:,.2f} -> {after:,.2f} "
            f"yuan; allowed +/-{max_change:.0%})"
        ]
    )
    return Finding(
        "total_limit_change",
        passed,
        problems=problems,
        figures={
            "value": round(change, 6),
            "threshold": max_change,
            "total_before": round(before, 2),
            "total_after": round(after, 2),
        },
    )


def largest_cuts(changes: DataFrame, n: int = TOP_ACCOUNTS) -> list[dict]:
    """The accounts a run would hurt most: suspensions and decreases by the limit they lose."""
    adverse = changes.filter(F.col("change_type").isin("decrease", "suspend"))
    rows = (
        adverse.withColumn("lost", F.col("old_limit") - F.col("new_limit"))
        .orderBy(F.desc("lost"), "user_id")
        .limit(n)
        .collect()
    )
    return [
        {
            "user_id": int(r["user_id"]),
            "change_type": r["change_type"],
            "old_limit": str(r["old_limit"]),
            "new_limit": str(r["new_limit"]),
            "old_score": r["old_score"],
            "new_score": r["new_score"],
            "reason_codes": list(r["reason_codes"] or []),
        }
        for r in rows
    ]


def cell_warnings(cells: dict | None, guard: Guardrails) -> list[str]:
    """A cell whose own share of accounts cut or raised is past the book's threshold. The
    guardrails judge the whole book, so a small challenger could hurt much of its cell and
    still pass: this says so, without blocking (summary.cell_figures gives the rates)."""
    warnings = []
    for name, figures in (cells or {}).items():
        for what, per_1000, threshold in (
            (
                "cut, suspended or told of a cut",
                figures["adverse_per_1000"],
                guard.max_adverse_share,
            ),
            ("raised", figures["increases_per_1000"], guard.max_increase_share),
        ):
            if per_1000 / 1000 > threshold:
                warnings.append(
                    f"the {name} cell ({figures['policy_version']}) alone: {per_1000 / 10:.1f} % "
                    f"of its accounts {what}, over the {threshold:.0%} the book is held to (the "
                    "guardrails judge the whole book; this does not block)"
                )
    return warnings
