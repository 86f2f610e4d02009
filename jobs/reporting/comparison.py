"""What a draft policy would have done beside the champion's published run of the same date:
`comparison.json` of `rerate simulate`, and the same as tables for a terminal."""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.reporting.console import table
from jobs.reporting.figures import place_of
from transforms.policy import Policy
from transforms.schemas import CHANGE_TYPES

LARGEST = 20


def _side(limits: DataFrame, changes: DataFrame, notices: DataFrame, policy: Policy) -> dict:
    by_change = {r[0]: int(r[1]) for r in changes.groupBy("change_type").count().collect()}
    active = limits.filter(F.col("status") == "active")
    total = active.agg(F.sum("credit_limit")).first()[0]
    bands = active.withColumn("band", place_of(policy.limits)).groupBy("band").count().collect()
    by_band = {b.name: 0 for b in policy.limits.bands} | {r[0]: int(r[1]) for r in bands}
    return {
        "policy_version": policy.version,
        "changes": {c: by_change.get(c, 0) for c in CHANGE_TYPES},
        "pending_decreases": notices.filter(F.col("kind") == "pending_decrease").count(),
        "total_limit": f"{total or 0:.2f}",
        "by_band": by_band,
    }


def compare_runs(
    champion: tuple[DataFrame, DataFrame, DataFrame],
    draft: tuple[DataFrame, DataFrame, DataFrame],
    champion_policy: Policy,
    draft_policy: Policy,
    run_date: str,
) -> dict:
    """Each side's figures; the accounts whose limit or status differ, how they move between
    bands (champion's band to draft's), and the largest differences with both sides' reasons.
    Each side is (limits, limit_changes, notices) of one run date."""
    columns = ("credit_limit", "status", "reason_codes")

    def decided(limits: DataFrame, policy: Policy, side: str) -> DataFrame:
        return limits.select(
            "user_id",
            place_of(policy.limits).alias(f"{side}_place"),
            *(F.col(c).alias(f"{side}_{c}") for c in columns),
        )

    both = decided(champion[0], champion_policy, "champion").join(
        decided(draft[0], draft_policy, "draft"), "user_id", "full_outer"
    )
    differing = both.filter(
        ~F.col("champion_credit_limit").eqNullSafe(F.col("draft_credit_limit"))
        | ~F.col("champion_status").eqNullSafe(F.col("draft_status"))
    ).cache()
    migration: dict[str, dict[str, int]] = {}
    for r in both.groupBy("champion_place", "draft_place").count().collect():
        migration.setdefault(str(r[0]), {})[str(r[1])] = int(r[2])
    gap = F.abs(
        F.coalesce("draft_credit_limit", F.lit(0)) - F.coalesce("champion_credit_limit", F.lit(0))
    )
    largest = [
        {
            "user_id": int(r.user_id),
            **{
                side: {
                    "limit": str(r[f"{side}_credit_limit"]),
                    "status": r[f"{side}_status"],
                    "reason_codes": list(r[f"{side}_reason_codes"] or []),
                }
                for side in ("champion", "draft")
            },
        }
        for r in differing.orderBy(gap.desc(), "user_id").limit(LARGEST).collect()
    ]
    result = {
        "run_date": run_date,
        "champion": _side(*champion, champion_policy),
        "draft": _side(*draft, draft_policy),
        "accounts_differing": differing.count(),
        "migration": migration,
        "largest_differences": largest,
    }
    differing.unpersist()
    return result


def comparison_text(c: dict) -> str:
    champion, draft = c["champion"], c["draft"]
    head = (
        f"rerate simulate {c['run_date']}: draft {draft['policy_version']} beside champion "
        f"{champion['policy_version']}: {c['accounts_differing']:,} accounts decided differently"
    )
    figures = [
        (f"changes: {k}", f"{champion['changes'][k]:,}", f"{draft['changes'][k]:,}")
        for k in CHANGE_TYPES
    ]
    figures.append(
        (
            "pending decreases (announced)",
            f"{champion['pending_decreases']:,}",
            f"{draft['pending_decreases']:,}",
        )
    )
    figures.append(
        (
            "total granted limit",
            f"{float(champion['total_limit']):,.2f}",
            f"{float(draft['total_limit']):,.2f}",
        )
    )
    for band in sorted(set(champion["by_band"]) | set(draft["by_band"])):
        figures.append(
            (
                f"active in band {band}",
                f"{champion['by_band'].get(band, 0):,}",
                f"{draft['by_band'].get(band, 0):,}",
            )
        )
    places = sorted({p for row in c["migration"].values() for p in row} | set(c["migration"]))
    matrix = [
        (before, *(f"{c['migration'].get(before, {}).get(now, 0):,}" for now in places))
        for before in places
        if before in c["migration"]
    ]
    largest = [
        (
            str(d["user_id"]),
            f"{d['champion']['status']} {d['champion']['limit']}",
            ", ".join(d["champion"]["reason_codes"]),
            f"{d['draft']['status']} {d['draft']['limit']}",
            ", ".join(d["draft"]["reason_codes"]),
        )
        for d in c["largest_differences"]
    ]
    return "\n".join(
        [
            head,
            "",
            table(figures, ("figure", "champion", "draft"), left=(0,)),
            "",
            "BAND MIGRATION (rows: the champion's decision; columns: the draft's)",
            table(matrix, ("champion \\ draft", *places), left=(0,)),
            "",
            f"LARGEST DIFFERENCES (up to {LARGEST})",
            table(
                largest,
                ("user", "champion", "champion's reasons", "draft", "draft's reasons"),
                left=(0, 1, 2, 3, 4),
            )
            if largest
            else "  none",
        ]
    )
