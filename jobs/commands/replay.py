"""`rerate replay --date D`: recompute a published run from what it recorded (its policy file,
its manifest of inputs, the published run it diffed against) and compare the tables row by row
with what was published.

The inputs are checked against the manifest first: a file gone, added or changed since is exit
3 naming it, since a recompute over other inputs proves nothing. The recompute is the full
recompute of `rerate run`, staged under `<output>/_replay/` (no lock: a nightly run may go on
meanwhile) and deleted: replay publishes nothing. Once the inputs are verified, whatever the
recompute decides differently, a guardrail or an input check included, is exit 6.
"""

import json
from dataclasses import dataclass, field, replace
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.commands.run import new_night, rerate_night
from jobs.config import Settings
from jobs.files.layout import OutputLayout
from jobs.files.storage import Storage
from jobs.outcome import ExitCode, Stop
from jobs.output.kept import is_current, recorded_run, signals_as_read, verify_inputs
from jobs.output.publish import read_table
from transforms.schemas import LIMIT_CHANGES, LIMITS, NOTICES

COMPARED = {"limits": LIMITS, "limit_changes": LIMIT_CHANGES, "notices": NOTICES}
SHOWN_ROWS = 5
REPLAYED = "replay: the published run's guardrails are not judged again"


@dataclass
class Replay:
    run_date: date
    policy_version: str
    input_files: int
    rows: dict[str, int] = field(default_factory=dict)  # published rows per table
    differing: dict[str, int] = field(default_factory=dict)  # rows on one side only
    first_differences: list[dict] = field(default_factory=list)
    stopped: str | None = None  # the recompute itself ended otherwise than the run did

    @property
    def identical(self) -> bool:
        return self.stopped is None and not any(self.differing.values())

    def as_json(self) -> dict:
        return {
            "run_date": self.run_date.isoformat(),
            "result": "identical" if self.identical else "differs",
            "policy_version": self.policy_version,
            "input_files_verified": self.input_files,
            "stopped": self.stopped,
            "rows": self.rows,
            "differing_rows": self.differing,
            "first_differences": self.first_differences,
        }


def replay(
    spark: SparkSession, settings: Settings, run_date: date, input_root: str | None = None
) -> Replay:
    storage, out = Storage(spark), OutputLayout(settings.output_path)
    recorded = recorded_run(storage, out, run_date, input_root)
    verified = verify_inputs(spark, storage, recorded)
    night = new_night(
        spark,
        replace(settings, input_path=recorded.input_root, policy=recorded.policy),
        run_date,
        dry_run=True,
        accept_anomaly=REPLAYED,
        full_recompute=True,
        staging_root=f"{out.root.rstrip('/')}/_replay",
    )
    night.signals_as_read = signals_as_read(recorded.manifest)
    result = Replay(run_date, recorded.policy.version, verified)
    try:
        try:
            rerate_night(night)
        except Stop as stop:
            result.stopped = f"the recompute stopped with exit {int(stop.code)}: {stop.reason}"
            return result
        for table, schema in COMPARED.items():
            published = read_table(spark, out, table, [run_date], schema)
            again = spark.read.parquet(night.publisher.staged(table)).select(*schema.names)
            _compare(result, table, published, again)
    finally:
        night.publisher.discard()
    if not is_current(storage, out, run_date, recorded.attempt_id):
        raise Stop(ExitCode.NOT_READY, f"{run_date} was published again or withdrawn meanwhile")
    return result


def _compare(result: Replay, table: str, published: DataFrame, again: DataFrame) -> None:
    """Rows on one side only, both ways; the first few differing accounts side by side."""
    result.rows[table] = published.count()
    only_published = published.exceptAll(again).cache()
    only_again = again.exceptAll(published).cache()
    result.differing[table] = only_published.count() + only_again.count()
    if result.differing[table]:
        users = [
            r.user_id
            for r in only_published.select("user_id")
            .unionByName(only_again.select("user_id"))
            .distinct()
            .orderBy("user_id")
            .limit(SHOWN_ROWS)
            .collect()
        ]
        for user in users:
            result.first_differences.append(
                {
                    "table": table,
                    "user_id": user,
                    "published": _rows(only_published, user),
                    "recomputed": _rows(only_again, user),
                }
            )
    only_published.unpersist()
    only_again.unpersist()


def _rows(rows: DataFrame, user: int) -> list[dict]:
    return [
        json.loads(json.dumps(r.asDict(recursive=True), default=str))
        for r in rows.filter(F.col("user_id") == user).collect()
    ]


def replay_text(result: Replay) -> str:
    head = (
        f"rerate replay {result.run_date}: "
        f"{'identical' if result.identical else 'DIFFERS'} (policy {result.policy_version}; "
        f"{result.input_files:,} input files verified against the run's manifest)"
    )
    lines = [head]
    if result.stopped:
        lines.append(f"  {result.stopped}")
    for table, n in result.rows.items():
        lines.append(f"  {table}: {n:,} rows published, {result.differing[table]:,} differing")
    for d in result.first_differences:
        lines.append(f"\n  {d['table']}, user {d['user_id']}:")
        for side in ("published", "recomputed"):
            for row in d[side] or [None]:
                shown = "(no row)" if row is None else json.dumps(row, default=str)
                lines.append(f"    {side:<10}  {shown}")
    return "\n".join(lines)
