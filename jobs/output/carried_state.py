"""Where a published run keeps what it carries to the next (transforms.carry), and whether the
next run may start from it.

`<output>/_state/run_date=D/` holds the carried tables, the id indexes the duplicate rules need
(transforms.validate.id_index) and `folded.json`: which input partitions went in, each with a
digest of its files, and the segments the state is made of.

A night does not rewrite what it carries: the activity, repayments and id indexes only grow, so
a night writes what its new rows add (a segment, in its own folder) and names the earlier
segments it builds on. The settled bills are kept the same way: a night writes the bills it
settled again, and the newest row of a bill wins when read (transforms.carry.latest_bills). Only
the per-account tables (totals, windows) are written whole. On the 1st of a month (when bills
that can no longer count are dropped), after MAX_SEGMENTS nights and in a full recompute, the
state is written whole again (one segment). A state whose segments were replaced or deleted
since is not used.

The tables (Parquet; internal, not part of the contract), one row per:
- `activity`: account and event day of the last 365 days (purchase, credit purchase, instalment
  and refund counts and amounts), each file in day order;
- `totals`: account (all-time credit purchases, credit refunds and payments: the balance; the
  last purchase day);
- `repayments`: repayment row that can still count (every row of a bill unsettled, or due or
  settled in the last 365 days, and payments whose bill has not arrived);
- `bills`: bill that can still count, settled from its rows (amount, due date, paid, paid by
  the due date, settled on); days past due are worked out from it on the run date;
- `windows`: account, the purchase features' window sums as of the state's date and the last
  purchase day of each calendar month in 13 slots (a month's number mod 13);
- `index_transactions`, `index_repayments`: the first row of every id ever recorded (of a
  transaction its day; of a repayment its type, bill, user, and day, file and row): what the
  duplicate and bill-owner rules need (transforms.validate.INDEX_SOURCE);
- `signals`, `index_signals` (only when the policy scores a signal): account, source and name
  with its newest observation (value, day observed), written whole; and the key (account,
  source, name, day observed) of every observation accepted, the duplicate rule's index;
- `pending_notices`: account whose announced cut is neither applied nor withdrawn
  (transforms.notices.PENDING), written whole after the decision; a full recompute derives it
  from the published notices instead.
`folded.json` names the format, the run date and attempt, the segments (oldest first, its own
last) and every input partition folded in with a SHA-256 of its files' names, sizes and
modification times. Only FORMAT is read: a state of any other format is not trusted, and the
night recomputes in full and says why.

The full recompute is the same fold starting from nothing, so the two cannot drift apart by
construction: tests/test_carry.py folds night by night against the whole ledger,
tests/test_incremental_e2e.py and tests/test_state_segments_e2e.py compare real nights with
full recomputes of them.

The next run reads only the partitions not folded yet, provided that is exact; otherwise it folds
the whole ledger again (a full recompute) and its report says why:
- asked for (`--full-recompute`), or no earlier published run, or it left no usable state
  (missing, unreadable, or built on a segment that is gone or was replaced by a rerun);
- a folded partition changed or vanished since (a re-delivered day);
- a partition completed after a later one was folded (its rows were recorded earlier, so the
  duplicate rule could now keep them over rows already taken);
- a bill's first statement arrives for payments carried in from another user (checked with the
  whole ledger those payments would now be refused).
"""

import json
from dataclasses import dataclass, field
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from jobs.files.layout import InputLayout, OutputLayout
from jobs.files.ledgers import EVENT_LEDGERS, SIGNALS, Readiness, partition_digest
from jobs.files.storage import Storage
from transforms.carry import (
    BILLS_TABLE,
    CARRIED_TABLES,
    SIGNALS_TABLE,
    WINDOWS_TABLE,
    Carried,
    drops_bills,
    latest_bills,
    payments_of_another_users_bill,
    rows_of_bills_named,
    within_horizon,
)
from transforms.notices import PENDING

# The one format read and written: segments, the rolled windows, the settled bills as segments,
# the pending notices, the transactions index without file and row (transforms.validate).
# Earlier formats never left development; a state of another format is recomputed in full.
FORMAT = 7
PENDING_TABLE = "pending_notices"  # written after the decision (transforms.notices)
KEEP_STATES = 3  # the newest run dates whose state stays (with the states they build on)
MAX_SEGMENTS = 31  # a night that would make more writes its state whole
# Each file of a state's activity is written in day order: a night takes out of the windows the
# days that left them (transforms.windows.roll_windows), and Parquet's page statistics then let
# it read those days' pages instead of the whole year.
SORTED_BY = {"activity": ("day",)}


def index_table(ledger: str) -> str:
    return f"index_{ledger}"


# the tables read from every segment of a state (the rest from its own folder)
APPENDED_TABLES = (
    "activity",
    "repayments",
    BILLS_TABLE,
    *(index_table(ledger) for ledger in (*EVENT_LEDGERS, SIGNALS)),
)


@dataclass(frozen=True)
class Segment:
    """What the run of `run_date` (attempt `attempt_id`) added to its state's appended tables."""

    run_date: date
    attempt_id: str

    def as_json(self) -> dict:
        return {"run_date": self.run_date.isoformat(), "attempt_id": self.attempt_id}


@dataclass
class State:
    """A carried state as written: its folder and `folded.json`."""

    path: str
    folded: dict

    @property
    def run_date(self) -> date:
        return date.fromisoformat(self.folded["run_date"])

    @property
    def segments(self) -> list[Segment]:
        return [
            Segment(date.fromisoformat(s["run_date"]), s["attempt_id"])
            for s in self.folded["segments"]
        ]

    def segment_paths(self, out: OutputLayout, table: str) -> list[str]:
        return [
            f"{self.path if s.run_date == self.run_date else out.state(s.run_date)}/{table}"
            for s in self.segments
        ]


@dataclass(kw_only=True)
class CarryPlan:
    """How a run reads its ledgers: everything (full) or the partitions not folded yet."""

    incremental: bool
    why: str
    read_days: dict[str, list[date]]
    digests: dict[str, dict[str, str]]  # every complete partition the run folds in, by ledger
    previous: date | None = None
    carried: Carried | None = None
    index: dict[str, DataFrame] = field(default_factory=dict)
    builds_on: list[Segment] = field(default_factory=list)  # the previous state's segments
    # The carried repayment rows of every bill the new partitions' rows name, persisted: the
    # check for another user's bill and the re-settling both take them, and the carried
    # repayments (every row of a year's bills) are read once instead of twice.
    named_repayments: DataFrame | None = None

    def release(self) -> None:
        if self.named_repayments is not None:
            self.named_repayments.unpersist()

    def appends(self, run_date: date) -> bool:
        """Whether the run writes only what it adds (else its state whole, one segment)."""
        return self.incremental and not drops_bills(run_date) and len(self.builds_on) < MAX_SEGMENTS

    def describe(self, out: OutputLayout, run_date: date) -> dict:
        appends = self.appends(run_date)
        return {
            "mode": "incremental" if self.incremental else "full_recompute",
            "why": self.why,
            "from_state": out.state(self.previous) if self.incremental else None,
            "partitions_read": {ledger: _days(days) for ledger, days in self.read_days.items()},
            "state_written": "appended" if appends else "whole",
            "state_segments": len(self.builds_on) + 1 if appends else 1,
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
    complete = {ledger: readiness.complete_days[ledger] for ledger in readiness.folded_ledgers()}
    digests = {
        ledger: {d.isoformat(): partition_digest(readiness.files[ledger][d]) for d in days}
        for ledger, days in complete.items()
    }

    def full(why: str) -> CarryPlan:
        return CarryPlan(
            incremental=False, why=why, read_days=complete, digests=digests, previous=previous_day
        )

    if full_recompute:
        return full("asked for (--full-recompute)")
    if previous_day is None:
        return full("no earlier published run to carry state from")
    try:
        state = _read_state(storage, out.state(previous_day))
        gone = state and _segments_gone(storage, out, state)
    except Exception as e:  # noqa: BLE001 - an unreadable state is recomputed, never trusted
        return full(f"the state of {previous_day} cannot be read: {str(e).splitlines()[0]}")
    if state is None:
        return full(f"the run of {previous_day} left no carried state at {out.state(previous_day)}")
    if state.folded.get("format") != FORMAT:
        return full(
            f"the state of {previous_day} has format {state.folded.get('format')}, not {FORMAT}"
        )
    if gone:
        return full(
            f"the state of {previous_day} builds on segments that are gone or were replaced "
            f"by a rerun since: {gone}"
        )
    if SIGNALS in complete and not carries_signals(state):
        return full(
            f"the policy scores signals and the state of {previous_day} carries none "
            "(the run before it scored none)"
        )
    new_days = {}
    for ledger, days in complete.items():
        before = state.folded["partitions"].get(ledger, {})
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
    carried = read_carried(spark, out, state)
    new_rows = _new_repayment_rows(spark, inputs, new_days["repayments"])
    named = rows_of_bills_named(carried.repayments, by=new_rows).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    disowned = payments_of_another_users_bill(named, new_rows).count()
    if disowned:
        named.unpersist()
        return full(
            f"{disowned} carried payments' bills arrived for another user "
            "(the whole ledger now refuses them)"
        )
    return CarryPlan(
        incremental=True,
        why=f"folds the partitions recorded since the run of {previous_day} into its state",
        read_days=new_days,
        digests=digests,
        previous=previous_day,
        carried=carried,
        index={
            ledger: spark.read.parquet(*state.segment_paths(out, index_table(ledger)))
            for ledger in complete
        },
        builds_on=state.segments,
        named_repayments=named,
    )


def _read_state(storage: Storage, path: str) -> State | None:
    """The state in `path`, or None if it has no `folded.json` or misses one of its tables."""
    text = storage.read_text(f"{path}/folded.json")
    if text is None:
        return None
    state = State(path, json.loads(text))
    tables = [*CARRIED_TABLES, *(index_table(ledger) for ledger in EVENT_LEDGERS)]
    tables += [WINDOWS_TABLE, BILLS_TABLE, PENDING_TABLE]
    if carries_signals(state):
        tables += [SIGNALS_TABLE, index_table(SIGNALS)]
    if not all(storage.exists(f"{path}/{t}") for t in tables):
        return None
    return state


def carries_signals(state: State) -> bool:
    """Whether the run that wrote `state` folded the signals ledger into it."""
    return SIGNALS in state.folded.get("partitions", {})


def _segments_gone(storage: Storage, out: OutputLayout, state: State) -> list[str]:
    """The run dates of the segments `state` builds on that are missing, or were replaced by a
    later attempt at their date (a rerun, or a rollback and a new run)."""
    gone = []
    for segment in state.segments:
        if segment.run_date == state.run_date:
            continue
        found = _read_state(storage, out.state(segment.run_date))
        if found is None or found.folded.get("attempt_id") != segment.attempt_id:
            gone.append(segment.run_date.isoformat())
    return gone


def read_pending(spark: SparkSession, out: OutputLayout, day: date) -> DataFrame:
    """The pending notices the run of `day` carried forward."""
    return spark.read.schema(PENDING).parquet(f"{out.state(day)}/{PENDING_TABLE}")


def read_carried(spark: SparkSession, out: OutputLayout, state: State) -> Carried:
    def appended(table: str) -> DataFrame:
        return spark.read.parquet(*state.segment_paths(out, table))

    return Carried(
        within_horizon(appended("activity"), as_of=state.run_date),
        spark.read.parquet(f"{state.path}/totals"),
        appended("repayments"),
        spark.read.parquet(f"{state.path}/{WINDOWS_TABLE}"),
        latest_bills([spark.read.parquet(p) for p in state.segment_paths(out, BILLS_TABLE)]),
        state.run_date,
        spark.read.parquet(f"{state.path}/{SIGNALS_TABLE}") if carries_signals(state) else None,
    )


def _new_repayment_rows(spark: SparkSession, inputs: InputLayout, days: list[date]) -> DataFrame:
    """The bill, user and type of the new partitions' repayment rows, as recorded (unchecked)."""
    columns = "bill_id string, user_id long, entry_type string"
    if not days:
        return spark.createDataFrame([], columns)
    return (
        spark.read.option("basePath", inputs.ledger_root("repayments"))
        .parquet(*[inputs.partition("repayments", d) for d in days])
        .select("bill_id", "user_id", "entry_type")
    )


def folded_state(plan: CarryPlan, run_date: date, attempt_id: str) -> dict:
    """The `folded.json` of the state a run writes: the partitions in it, and its segments."""
    own = Segment(run_date, attempt_id)
    segments = [*plan.builds_on, own] if plan.appends(run_date) else [own]
    return {
        "format": FORMAT,
        "run_date": run_date.isoformat(),
        "attempt_id": attempt_id,
        "partitions": plan.digests,
        "segments": [s.as_json() for s in segments],
    }


def folded_text(folded: dict) -> str:
    return json.dumps(folded, indent=1, sort_keys=True)


def forget_old_states(storage: Storage, out: OutputLayout, keep: int = KEEP_STATES) -> list[str]:
    """Deletes the carried state of all but the newest `keep` run dates and the states their
    segments are in; returns what went. A kept state that cannot be read keeps nothing alive:
    no night would build on it (it recomputes in full)."""
    dates = out.run_dates(storage, "_state")
    kept = dates[max(0, len(dates) - keep) :]
    needed = set(kept)
    for day in kept:
        state = _read_state(storage, out.state(day))
        if state is not None:
            needed.update(s.run_date for s in state.segments)
    gone = []
    for day in dates:
        if day not in needed:
            # folded.json first: a state whose deletion is cut short is no state, not half of one
            storage.delete(f"{out.state(day)}/folded.json")
            storage.delete(out.state(day))
            gone.append(out.state(day))
    return gone
