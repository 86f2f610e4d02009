"""Input gates on the checked ledgers (exit 4): the share of bad rows recorded on the run date,
and each ledger's volume against its usual level.

A gate returns a `Finding`: the figures it looked at, whether it passed, and whether it could be
applied at all. A check that could not look (too little history) says so; it never passes
silently.
"""

import calendar
import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.policy import Guardrails
from transforms.validate import REJECT_REASON


@dataclass
class Finding:
    name: str
    passed: bool
    applied: bool = True
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    def as_check(self) -> dict:
        return {
            "name": self.name,
            "passed": self.passed,
            "applied": self.applied,
            **self.figures,
            "problems": self.problems,
            "warnings": self.warnings,
        }


def reject_share(
    checked: dict[str, DataFrame], run_date: date, max_share: float, judged: tuple[str, ...]
) -> tuple[Finding, dict[str, dict]]:
    """Bad rows among each ledger's rows recorded on the run date; above `max_share` in a judged
    ledger fails. Returns the finding and per-ledger figures for the report's inputs."""
    figures, problems = {}, []
    for ledger, rows in checked.items():
        # one pass per ledger: (recorded on D?, reject reason) -> rows
        counts = (
            rows.groupBy((F.col("dt") == F.lit(run_date)).alias("today"), REJECT_REASON)
            .count()
            .collect()
        )
        by_reason = {r[REJECT_REASON]: int(r["count"]) for r in counts if r["today"] and r[1]}
        total = sum(int(r["count"]) for r in counts if r["today"])
        rejected = sum(by_reason.values())
        share = rejected / total if total else 0.0
        figures[ledger] = {
            "rows_read": sum(int(r["count"]) for r in counts),
            "rows_recorded_on_run_date": total,
            "rejected_on_run_date": rejected,
            "rejects_by_reason": dict(sorted(by_reason.items())),
            "reject_share": round(share, 6),
        }
        if ledger in judged and share > max_share:
            problems.append(
                f"{ledger}: {rejected} of {total} rows recorded on {run_date} refused "
                f"({share:.2%} > {max_share:.2%}): {by_reason}"
            )
    finding = Finding("reject_share", not problems, problems=problems)
    worst = max((figures[ledger]["reject_share"] for ledger in judged), default=0.0)
    finding.figures = {"value": worst, "threshold": max_share}
    return finding, figures


def comparable_days(run_date: date, weeks: int, months: int) -> dict[str, list[date]]:
    """The days a ledger's volume on `run_date` is compared with: the same weekday in the last
    `weeks` weeks, and the same day of the month in the last `months` months (the month's last
    day where it is shorter: the 31st compares with the 30th, both past every billing day)."""
    weekly = [run_date - timedelta(days=7 * k) for k in range(1, weeks + 1)]
    monthly = []
    for k in range(1, months + 1):
        year, month = divmod(run_date.year * 12 + run_date.month - 1 - k, 12)
        last_day = calendar.monthrange(year, month + 1)[1]
        monthly.append(date(year, month + 1, min(run_date.day, last_day)))
    return {"same_weekday": weekly, "same_day_of_month": monthly}


def volume(
    checked: dict[str, DataFrame],
    run_date: date,
    rules: Guardrails,
    complete_days: dict[str, list[date]],
) -> Finding:
    """Each event ledger's rows and amount recorded on D against its usual level, taken both as
    the median of the same weekday and of the same day of the month. Off by more than the ratio
    from every usual level that could be judged is a failure."""
    references = comparable_days(run_date, rules.volume_weeks, rules.volume_months)
    wanted = sorted({run_date, *(d for days in references.values() for d in days)})
    problems, not_applied, per_ledger = [], [], {}
    for ledger, days_read in complete_days.items():
        daily = {
            r["dt"]: (int(r["rows"]), float(r["amount"] or 0))
            for r in checked[ledger]
            .filter(F.col("dt").isin(wanted))
            .groupBy("dt")
            .agg(
                F.count("*").alias("rows"),
                F.sum(F.when(F.col("amount") > 0, F.col("amount"))).alias("amount"),
            )
            .collect()
        }
        present = set(days_read)
        rows_today, amount_today = daily.get(run_date, (0, 0.0))
        judged = {}
        for name, days in references.items():
            history = [daily.get(d, (0, 0.0)) for d in days if d in present]
            if len(history) < 2:
                judged[name] = {"applied": False, "why": f"{len(history)} comparable days"}
                continue
            usual_rows = statistics.median(h[0] for h in history)
            usual_amount = statistics.median(h[1] for h in history)
            if max(usual_rows, rows_today) < rules.volume_min_rows:
                judged[name] = {
                    "applied": False,
                    "why": f"{rows_today} rows against a usual {usual_rows:g}: both below "
                    f"{rules.volume_min_rows}, too few to judge",
                    "small_both": True,
                }
                continue
            row_ratio = rows_today / usual_rows if usual_rows else float("inf")
            amount_ratio = amount_today / usual_amount if usual_amount else float("inf")
            judged[name] = {
                "applied": True,
                "usual_rows": usual_rows,
                "usual_amount": round(usual_amount, 2),
                "rows_ratio": round(row_ratio, 3),
                "amount_ratio": round(amount_ratio, 3),
                "within": all(
                    1 / rules.volume_max_ratio <= r <= rules.volume_max_ratio
                    for r in (row_ratio, amount_ratio)
                ),
            }
        per_ledger[ledger] = {
            "rows": rows_today,
            "amount": round(amount_today, 2),
            "compared_with": judged,
        }
        applied = [j for j in judged.values() if j["applied"]]
        quiet_as_usual = any(j.get("small_both") for j in judged.values())
        if not applied:
            not_applied.append(
                f"{ledger}: volume not judged ("
                + "; ".join(f"{k}: {v['why']}" for k, v in judged.items())
                + ")"
            )
        elif not quiet_as_usual and not any(j["within"] for j in applied):
            usual = ", ".join(
                f"{j['usual_rows']:g} rows / {j['usual_amount']:,.2f} by {name}"
                for name, j in judged.items()
                if j["applied"]
            )
            problems.append(
                f"{ledger}: {rows_today} rows / {amount_today:,.2f} yuan recorded on {run_date}, "
                f"usual {usual} (allowed ratio 1/{rules.volume_max_ratio:g} to "
                f"{rules.volume_max_ratio:g})"
            )
    return Finding(
        "volume",
        passed=not problems,
        applied=len(not_applied) < len(complete_days),
        problems=problems,
        warnings=not_applied,
        figures={"max_ratio": rules.volume_max_ratio, "ledgers": per_ledger},
    )
