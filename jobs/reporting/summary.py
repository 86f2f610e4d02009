"""Figures of a run, computed on the output tables (aggregates only: nothing per account is
collected): counts by change type, top reasons, score and limit distributions."""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.policy import CHAMPION
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


def _counts_by_cell(rows: DataFrame, column: str, keys: tuple[str, ...]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for r in rows.groupBy("cell", column).count().collect():
        found.setdefault(r["cell"], {k: 0 for k in keys})[r[column]] = int(r["count"])
    return found


def cell_figures(limits: DataFrame, changes: DataFrame, notices: DataFrame) -> dict | None:
    """Each cell's figures side by side (champion first), rates per 1,000 of the cell's accounts
    so that cells of any size compare; None when every account was decided by one policy."""

    def when_status(*statuses: str, value: Column | None = None) -> Column:
        return F.when(F.col("status").isin(*statuses), F.lit(1) if value is None else value)

    rows = (
        limits.groupBy("cell")
        .agg(
            F.first("policy_version").alias("policy_version"),
            F.count("*").alias("accounts"),
            *(F.count(when_status(s)).alias(s) for s in LIMIT_STATUSES),
            F.count(F.when(F.col("segment") == "dormant", 1)).alias("dormant"),
            F.sum(when_status("active", value=F.col("credit_limit"))).alias("total_limit"),
            F.avg(when_status("active", "suspended", value=F.col("score"))).alias("mean_score"),
        )
        .orderBy(F.col("cell") != CHAMPION, "cell")
        .collect()
    )
    if len(rows) < 2:
        return None
    changed = _counts_by_cell(changes, "change_type", CHANGE_TYPES)
    told = _counts_by_cell(notices, "kind", NOTICE_KINDS)
    cells = {}
    for r in rows:
        by_change = changed.get(r["cell"], {c: 0 for c in CHANGE_TYPES})
        by_notice = told.get(r["cell"], {k: 0 for k in NOTICE_KINDS})
        per_1000 = 1000 / r["accounts"]
        adverse = by_change["decrease"] + by_change["suspend"] + by_notice["pending_decrease"]
        cells[r["cell"]] = {
            "policy_version": r["policy_version"],
            "accounts": int(r["accounts"]),
            "by_status": {s: int(r[s]) for s in LIMIT_STATUSES},
            "dormant": int(r["dormant"]),
            "changes": by_change,
            "notices": by_notice,
            "adverse_per_1000": round(adverse * per_1000, 2),
            "increases_per_1000": round(by_change["increase"] * per_1000, 2),
            "active_limits": {
                "total": str(r["total_limit"] or "0.00"),
                "mean": round(float(r["total_limit"] or 0) / max(int(r["active"]), 1), 2),
            },
            "mean_score": round(float(r["mean_score"] or 0), 1),
        }
    return cells


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
        **({"cells": cells} if (cells := cell_figures(limits, changes, notices)) else {}),
    }
