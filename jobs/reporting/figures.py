"""`rerate report --date D`: what a published run decided, for analysts and operators.

Counts by change type with their top reasons, the score and limit distributions, and how accounts
moved between score bands since the previous published run. Every figure is an aggregate
computed by Spark on the published tables; nothing per account comes to the driver.
"""

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.config import Settings
from jobs.files.layout import SUCCESS, OutputLayout
from jobs.files.storage import Storage
from jobs.outcome import ExitCode, Stop
from jobs.output.publish import is_published, previous_published_run, read_report, read_table
from jobs.reporting.summary import summarize_run
from transforms.limits import band_of
from transforms.policy import LimitRules
from transforms.schemas import LIMIT_CHANGES, LIMITS, NOTICES

SCORE_BIN = 20
LIMIT_EDGES = (500, 1000, 3000, 10000, 20000, 50000)  # active limits: [500, 1000), ... [.., 50000]
NOT_SCORED = ("suspended", "closed")  # where migration puts accounts without an active limit


def _score_bins(limits: DataFrame, low: int) -> dict[str, int]:
    scored = limits.filter(F.col("status") != "closed")
    start = F.floor((F.col("score") - low) / SCORE_BIN) * SCORE_BIN + low
    rows = scored.groupBy(start.cast("int").alias("bin")).count().orderBy("bin").collect()
    return {f"{r['bin']}-{r['bin'] + SCORE_BIN - 1}": int(r["count"]) for r in rows}


def _bucket_labels() -> list[tuple[str, int]]:
    """(label, exclusive upper edge) per bucket of active limits; the last includes its edge."""
    pairs = list(zip(LIMIT_EDGES, LIMIT_EDGES[1:], strict=False))
    labels = [(f"{low:,}-{high - 1:,}", high) for low, high in pairs[:-1]]
    low, high = pairs[-1]
    return [*labels, (f"{low:,}-{high:,}", high + 1)]


def _active_by_bucket(limits: DataFrame) -> dict:
    labels = _bucket_labels()
    bucket = F.lit(labels[-1][0])
    for label, high in reversed(labels[:-1]):
        bucket = F.when(F.col("credit_limit") < high, F.lit(label)).otherwise(bucket)
    rows = (
        limits.filter(F.col("status") == "active")
        .groupBy(bucket.alias("bucket"))
        .agg(F.count("*").alias("accounts"), F.sum("credit_limit").alias("total"))
        .collect()
    )
    return {r["bucket"]: r for r in rows}


def _limit_buckets(limits: DataFrame, previous: DataFrame | None) -> list[dict]:
    """Active accounts and their granted total per limit bucket, now and in the previous run."""
    found = _active_by_bucket(limits)
    before = _active_by_bucket(previous) if previous is not None else {}
    return [
        {
            "limit": label,
            "accounts": int(found[label]["accounts"]) if label in found else 0,
            "total": str(found[label]["total"]) if label in found else "0.00",
            "previous_accounts": int(before[label]["accounts"]) if label in before else 0,
        }
        for label, _ in _bucket_labels()
    ]


def place_of(rules: LimitRules) -> Column:
    """A limits row's place: its score band under `rules`, or its status when it has no
    active limit."""
    return F.when(F.col("status").isin(*NOT_SCORED), F.col("status")).otherwise(
        band_of(F.col("score"), rules)
    )


def _where(limits: DataFrame, settings: Settings) -> DataFrame:
    return limits.select("user_id", place_of(settings.policy.limits).alias("place"))


def _migration(current: DataFrame, previous: DataFrame, settings: Settings) -> dict:
    """Accounts by (place in the previous run, place now); `new` for accounts not in it."""
    now = _where(current, settings).withColumnRenamed("place", "now")
    before = _where(previous, settings).withColumnRenamed("place", "before")
    rows = (
        now.join(before, "user_id", "left")
        .select(F.coalesce("before", F.lit("new")).alias("before"), "now")
        .groupBy("before", "now")
        .count()
        .collect()
    )
    places = [b.name for b in settings.policy.limits.bands] + list(NOT_SCORED)
    matrix = {b: {n: 0 for n in places} for b in ["new", *places]}
    for r in rows:
        matrix[r["before"]][r["now"]] = int(r["count"])
    return {"places": places, "matrix": {b: row for b, row in matrix.items() if any(row.values())}}


def run_figures(spark: SparkSession, settings: Settings, run_date: date) -> dict:
    storage = Storage(spark)
    out = OutputLayout(settings.output_path)
    if not is_published(storage, out, run_date):
        status = (read_report(storage, out, run_date) or {}).get("status", "no run")
        raise Stop(ExitCode.USAGE, f"{run_date} has no published run ({status})")
    run = read_report(storage, out, run_date)
    previous_day = previous_published_run(storage, out, run_date)
    limits = read_table(spark, out, "limits", [run_date], LIMITS).cache()
    changes = read_table(spark, out, "limit_changes", [run_date], LIMIT_CHANGES)
    noticed = storage.exists(f"{out.partition('notices', run_date)}/{SUCCESS}")
    notices = read_table(spark, out, "notices", [run_date] if noticed else [], NOTICES)
    previous = read_table(spark, out, "limits", [previous_day] if previous_day else [], LIMITS)
    policy = settings.policy
    low = policy.scorecard.min_score
    figures = {
        "run_date": run_date.isoformat(),
        "previous_run_date": previous_day and previous_day.isoformat(),
        "status": run.get("status"),
        "accepted_anomaly": run.get("accepted_anomaly"),
        "policy_version": run.get("policy_version"),
        "published_at": run.get("finished_at"),
        **summarize_run(
            limits, changes, notices, [(b.name, b.min_score) for b in policy.limits.bands]
        ),
        "score_histogram": {
            "bin_width": SCORE_BIN,
            "now": _score_bins(limits, low),
            "previous": _score_bins(previous, low) if previous_day else {},
        },
        "limit_distribution": _limit_buckets(limits, previous if previous_day else None),
        "band_migration": _migration(limits, previous, settings) if previous_day else None,
        "signals": run.get("signals"),
        "report": out.report(run_date),
    }
    limits.unpersist()
    return figures
