"""Figures of a run, computed on the output tables (aggregates only: nothing per account is
collected): counts by change type, top reasons, score and limit distributions."""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.schemas import CHANGE_TYPES, LIMIT_STATUSES, NOTICE_KINDS

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _counts(rows: DataFrame, column: str) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in rows.groupBy(column).count().orderBy(column).collect()}


def _top_reasons(rows: DataFrame, limit: int = 8) -> list[dict]:
    exploded = rows.select(F.explode("reason_codes").alias("reason")).groupBy("reason").count()
    return [
        {"reason": r["reason"], "accounts": int(r["count"])}
        for r in exploded.orderBy(F.desc("count"), "reason").limit(limit).collect()
    ]


def _first_steps(notices: DataFrame) -> dict[str, dict[str, int]]:
    """Per notice kind, how many are told each kind of first step (PAY_BILL, WAIT_UNTIL...)."""
    code = F.split(F.element_at("next_steps", 1), ":").getItem(0)
    rows = (
        notices.filter(F.size("next_steps") > 0)
        .groupBy("kind", code.alias("code"))
        .count()
        .orderBy("kind", F.desc("count"), "code")
        .collect()
    )
    steps: dict[str, dict[str, int]] = {}
    for r in rows:
        steps.setdefault(r["kind"], {})[r["code"]] = int(r["count"])
    return steps


def summarize_run(
    limits: DataFrame,
    changes: DataFrame,
    notices: DataFrame,
    score_bands: list[tuple[str, int]],
) -> dict:
    """The decision figures of one run, as plain JSON-ready values."""
    by_status = {s: 0 for s in LIMIT_STATUSES} | _counts(limits, "status")
    by_change = {c: 0 for c in CHANGE_TYPES} | _counts(changes, "change_type")
    scored = limits.filter(F.col("status") != "closed")
    quantiles = scored.approxQuantile("score", list(QUANTILES), 0.001) if scored.head(1) else []
    active = limits.filter(F.col("status") == "active")
    limit_row = active.agg(
        F.count("*").alias("n"),
        F.sum("credit_limit").alias("total"),
        F.avg("credit_limit").alias("mean"),
    ).first()
    band = F.lit(score_bands[-1][0])
    for name, low in reversed(score_bands[:-1]):
        band = F.when(F.col("score") >= low, F.lit(name)).otherwise(band)
    return {
        "accounts": int(sum(by_status.values())),
        "by_status": by_status,
        "dormant": int(limits.filter(F.col("segment") == "dormant").count()),
        "changes": by_change,
        "notices": {k: 0 for k in NOTICE_KINDS} | _counts(notices, "kind"),
        "notice_first_steps": _first_steps(notices),
        "change_reasons": {
            c: _top_reasons(changes.filter(F.col("change_type") == c), 4) for c in CHANGE_TYPES
        },
        "top_account_reasons": _top_reasons(scored),
        "score": {
            "quantiles": {
                f"p{int(q * 100)}": int(v) for q, v in zip(QUANTILES, quantiles, strict=False)
            },
            # active accounts only, as the band migration counts them (suspended apart)
            "by_band": _counts(active.withColumn("band", band), "band"),
        },
        "active_limits": {
            "accounts": int(limit_row["n"]),
            "total": str(limit_row["total"] or 0),
            "mean": round(float(limit_row["mean"] or 0), 2),
        },
    }
