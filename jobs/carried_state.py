"""Where a published run keeps what it carries to the next (transforms.carry), and whether the
next run may start from it.

`<output>/_state/run_date=D/` holds the carried tables, the id indexes the duplicate rules need
(transforms.validate.id_index) and `folded.json`: which input partitions went in, each with a
digest of its files. The next run reads only the partitions not folded yet, provided that is
exact; otherwise it folds the whole ledger again (a full recompute) and its report says why:
- asked for (`--full-recompute`), or no earlier published run, or it left no usable state;
- a folded partition changed or vanished since (a re-delivered day);
- a partition completed after a later one was folded (its rows were recorded earlier, so the
  duplicate rule could now keep them over rows already taken);
- a bill's first statement arrives for payments carried in from another user (checked with the
  whole ledger those payments would now be refused).
"""

import json
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.layout import InputLayout, OutputLayout
from jobs.ledgers import EVENT_LEDGERS, Readiness, partition_digest
from jobs.storage import Storage
from transforms.carry import Carried

FORMAT = 1
CARRIED_TABLES = ("activity", "totals", "repayments")
KEEP_STATES = 3  # the newest run dates whose state stays; older ones are deleted at publish


def index_table(ledger: str) -> str:
    return f"index_{ledger}"


@dataclass
class CarryPlan:
    """How a run reads its ledgers: everything (full) or the partitions not folded yet."""

    incremental: bool
    why: str
    read_days: dict[str, list[date]]
    digests: dict[str, dict[str, str]]  # every complete partition the run folds in, by ledger
    previous: date | None = None
    carried: Carried | None = None
    index: dict[str, DataFrame] = field(default_factory=dict)

    def describe(self, out: OutputLayout) -> dict:
        return {
            "mode": "incremental" if self.incremental else "full_recompute",
            "why": self.why,
            "from_state": out.state(self.previous) if self.incremental else None,
            "partitions_read": {ledger: _days(days) for ledger, days in self.read_days.items()},
        }


def _days(days: list[date]) -> dict:
    listed = {"days": [d.isoformat() for d in days]} if len(days) <= 31 else {}
    return {
        "partitions": len(days),
        "first_day": days[0].isoformat() if days else None,
        "last_day": days[-1].isoformat() if days else None,
        **listed,
    }


def plan_carry(
    spark: SparkSession,
    storage: Storage,
    inputs: InputLayout,
    out: OutputLayout,
    readiness: Readiness,
    previous_day: date | None,
    *,
    full_recompute: bool,
) -> CarryPlan:
    complete = {ledger: readiness.complete_days[ledger] for ledger in EVENT_LEDGERS}
    digests = {
        ledger: {d.isoformat(): partition_digest(readiness.files[ledger][d]) for d in days}
        for ledger, days in complete.items()
    }

    def full(why: str) -> CarryPlan:
        return CarryPlan(False, why, complete, digests, previous_day)

    if full_recompute:
        return full("asked for (--full-recompute)")
    if previous_day is None:
        return full("no earlier published run to carry state from")
    try:
        folded = _read_folded(storage, out, previous_day)
    except Exception as e:  # noqa: BLE001 - an unreadable state is recomputed, never trusted
        return full(f"the state of {previous_day} cannot be read: {str(e).splitlines()[0]}")
    if folded is None:
        return full(f"the run of {previous_day} left no carried state at {out.state(previous_day)}")
    if folded.get("format") != FORMAT:
        return full(f"the state of {previous_day} has format {folded.get('format')}, not {FORMAT}")
    new_days = {}
    for ledger, days in complete.items():
        before = folded["partitions"].get(ledger, {})
        changed = sorted(d for d, digest in before.items() if digests[ledger].get(d) != digest)
        if changed:
            return full(
                f"{ledger} partitions changed or vanished since they were folded: {changed}"
            )
        new_days[ledger] = [d for d in days if d.isoformat() not in before]
        newest_folded = max(before, default="")
        late = [d.isoformat() for d in new_days[ledger] if d.isoformat() < newest_folded]
        if late:
            return full(f"{ledger} partitions completed after later ones were folded: {late}")
    carried = read_carried(spark, out.state(previous_day))
    disowned = _payments_of_another_users_bill(spark, inputs, new_days["repayments"], carried)
    if disowned:
        return full(
            f"{disowned} carried payments' bills arrived for another user "
            "(the whole ledger now refuses them)"
        )
    return CarryPlan(
        True,
        f"folds the partitions recorded since the run of {previous_day} into its state",
        new_days,
        digests,
        previous_day,
        carried,
        {
            ledger: spark.read.parquet(f"{out.state(previous_day)}/{index_table(ledger)}")
            for ledger in EVENT_LEDGERS
        },
    )


def _read_folded(storage: Storage, out: OutputLayout, day: date) -> dict | None:
    text = storage.read_text(f"{out.state(day)}/folded.json")
    if text is None or not all(
        storage.exists(f"{out.state(day)}/{t}")
        for t in (*CARRIED_TABLES, *(index_table(ledger) for ledger in EVENT_LEDGERS))
    ):
        return None
    return json.loads(text)


def read_carried(spark: SparkSession, path: str) -> Carried:
    return Carried(*(spark.read.parquet(f"{path}/{t}") for t in CARRIED_TABLES))


def _payments_of_another_users_bill(
    spark: SparkSession, inputs: InputLayout, days: list[date], carried: Carried
) -> int:
    """Carried payments without a carried bill whose bill id a new `bill` row names for another
    user (counted on the raw new rows: erring towards a full recompute, never away from it)."""
    if not days:
        return 0
    carried_bills = carried.repayments.filter(F.col("entry_type") == "bill").select("bill_id")
    waiting = (
        carried.repayments.filter(F.col("entry_type") == "payment")
        .join(carried_bills, "bill_id", "left_anti")
        .select("bill_id", F.col("user_id").alias("payer"))
    )
    new_bills = (
        spark.read.option("basePath", inputs.ledger_root("repayments"))
        .parquet(*[inputs.partition("repayments", d) for d in days])
        .filter(F.col("entry_type") == "bill")
        .select("bill_id", "user_id")
    )
    return (
        waiting.join(new_bills, "bill_id")
        .filter(~F.col("payer").eqNullSafe(F.col("user_id")))
        .count()
    )


def folded_text(plan: CarryPlan, run_date: date) -> str:
    return json.dumps(
        {"format": FORMAT, "run_date": run_date.isoformat(), "partitions": plan.digests},
        indent=1,
        sort_keys=True,
    )


def forget_old_states(storage: Storage, out: OutputLayout, keep: int = KEEP_STATES) -> list[str]:
    """Deletes the carried state of all but the newest `keep` run dates; returns what went."""
    dates = out.run_dates(storage, "_state")
    gone = []
    for day in dates[: max(0, len(dates) - keep)]:
        storage.delete(out.state(day))
        gone.append(out.state(day))
    return gone
