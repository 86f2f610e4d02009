"""The normal night (D-1's carried state + D's partitions) against a full recompute of D from
the raw ledgers, on the shared ledger with late rows, replays and bad rows added to D; and the
cases where a night must not trust the carried state."""

import json
import os
import shutil
from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.files.layout import InputLayout, OutputLayout
from jobs.files.ledgers import check_readiness
from jobs.files.storage import Storage
from jobs.output.carried_state import FORMAT, _read_state, plan_carry, read_carried
from jobs.output.publish import Publisher
from tests.e2e import policy_variant, report, run_date, table_rows
from tests.two_nights import BEFORE, TABLES, D
from transforms.carry import BILLS_TABLE

LATE_DAYS = (3, 45, 200)  # how long before D the late purchases happened


def _append(partition, rows: pd.DataFrame) -> None:
    """Adds a file of rows to a partition, in the types its other files have."""
    schema = pq.read_schema(next(partition.glob("*.parquet")))
    pq.write_table(
        pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False),
        partition / "part-zz-added.parquet",
    )


def _add_transactions(inputs) -> list[str]:
    earlier = pd.read_parquet(inputs / "transactions" / f"dt={BEFORE}")
    today = inputs / "transactions" / f"dt={D}"
    users = sorted(earlier.user_id.unique())[:3]
    end = pd.Timestamp(D, tz="UTC") + pd.Timedelta(hours=9)
    late = pd.DataFrame(
        {
            "txn_id": [f"LATE-{n}" for n in LATE_DAYS],
            "user_id": users,
            "event_time": [end - timedelta(days=n) for n in LATE_DAYS],
            "txn_type": "purchase",
            "amount": [Decimal("1500.00"), Decimal("800.00"), Decimal("90.00")],
            "payment_method": "credit",
            "installments": 3,
        }
    )
    replayed = earlier.head(2)  # a replayed feed: DUPLICATE_ID against yesterday's rows
    bad = late.head(1).assign(txn_id="BAD-1", amount=Decimal("-5.00"))
    _append(today, pd.concat([late, replayed, bad], ignore_index=True))
    return list(late.txn_id)


def _add_repayments(inputs) -> None:
    ledger = pd.concat(
        pd.read_parquet(p)
        for p in sorted((inputs / "repayments").glob("dt=*"))
        if p.name < f"dt={D}"
    )
    bills = ledger[ledger.entry_type == "bill"]
    paid = ledger[ledger.entry_type == "payment"].groupby("bill_id").amount.sum()
    owed = bills.set_index("bill_id").amount.sub(paid, fill_value=0)
    # part paid before D: settling it again needs the carried payment as well as D's
    part_paid = owed[(owed > 0) & (paid.reindex(owed.index, fill_value=0) > 0)]
    assert len(part_paid), "the generated ledger has no open, part-paid bill"
    open_bill = bills[bills.bill_id == part_paid.index[0]].iloc[0]
    other = bills[bills.user_id != open_bill.user_id].iloc[0]
    at = pd.Timestamp(D, tz="UTC") - pd.Timedelta(days=2)
    rows = pd.DataFrame(
        [
            # a late payment settling that bill
            dict(
                open_bill,
                entry_id="LATE-PAY",
                entry_type="payment",
                due_date=None,
                amount=owed[open_bill.bill_id],
                event_time=at,
            ),
            # another user paying that bill: BILL_USER_MISMATCH
            dict(
                open_bill,
                entry_id="WRONG-USER",
                entry_type="payment",
                due_date=None,
                user_id=other.user_id,
                event_time=at,
            ),
            # a second statement for an existing bill: DUPLICATE_BILL
            dict(other, entry_id="SECOND-BILL"),
        ]
    )
    replayed = ledger[ledger.entry_type == "payment"].tail(1)  # DUPLICATE_ID
    _append(inputs / "repayments" / f"dt={D}", pd.concat([rows, replayed], ignore_index=True))


@pytest.fixture(scope="module")
def nights(world, tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    policy = policy_variant(max_reject_share=0.5)  # the added bad rows: > 1 % of a small day
    inputs = root / "input"
    shutil.copytree(world["input"], inputs)
    late_ids = _add_transactions(inputs)
    _add_repayments(inputs)
    outputs = {"incremental": root / "incremental", "full": root / "full"}
    for out in outputs.values():
        shutil.copytree(world["base"], out)
    for out, extra in ((outputs["incremental"], ()), (outputs["full"], ("--full-recompute",))):
        ran = run_date(D, inputs, out, world["conf"], "--quiet", *extra, policy=policy)
        assert ran.returncode == 0, ran.stderr
    return {**outputs, "input": inputs, "late_ids": late_ids, "reference": world["reference"]}


def test_the_normal_night_reads_only_d_and_equals_the_full_recompute(nights):
    carried = report(nights["incremental"], D)["carried_state"]
    assert carried["mode"] == "incremental"
    assert carried["from_state"].endswith(f"_state/run_date={BEFORE}")
    assert {ledger: r["days"] for ledger, r in carried["partitions_read"].items()} == {
        "transactions": [D],
        "repayments": [D],
    }
    full = report(nights["full"], D)["carried_state"]
    assert (
        full["mode"] == "full_recompute"
        and full["partitions_read"]["transactions"]["partitions"] > 100
    )
    for table in TABLES:
        part = f"run_date={D}"
        pd.testing.assert_frame_equal(
            table_rows(nights["incremental"] / table / part),
            table_rows(nights["full"] / table / part),
        )
    assert report(nights["incremental"], D)["decisions"] == report(nights["full"], D)["decisions"]


def test_rows_checked_against_the_carried_index_are_refused_as_with_the_whole_ledger(nights):
    rejects = table_rows(nights["incremental"] / "rejects" / f"run_date={D}")
    by_ledger = rejects.groupby("ledger").reason.agg(set).to_dict()
    assert by_ledger["transactions"] == {"DUPLICATE_ID", "NON_POSITIVE_AMOUNT"}
    assert by_ledger["repayments"] == {"DUPLICATE_ID", "BILL_USER_MISMATCH", "DUPLICATE_BILL"}
    assert not set(nights["late_ids"]) & set(rejects.row_id)


def test_late_rows_count_in_the_incremental_night(nights):
    mine = table_rows(nights["incremental"] / "limits" / f"run_date={D}").set_index("user_id")
    undisturbed = table_rows(nights["reference"] / "limits" / f"run_date={D}").set_index("user_id")
    changed = mine.balance.ne(undisturbed.balance)
    assert changed.sum() >= 3  # the three late credit purchases, and the settled bill


@pytest.fixture
def carry_case(world, spark, tmp_path):
    """A copy of the input and of D-1's output, and the plan a run of D would make."""
    inputs, out = tmp_path / "input", tmp_path / "output"
    shutil.copytree(world["input"], inputs)
    shutil.copytree(world["base"], out)
    storage = Storage(spark)

    def plan():
        readiness = check_readiness(storage, InputLayout(str(inputs)), pd.Timestamp(D).date())
        return plan_carry(
            spark,
            storage,
            InputLayout(str(inputs)),
            OutputLayout(str(out)),
            readiness,
            pd.Timestamp(BEFORE).date(),
            full_recompute=False,
        )

    return inputs, out, plan


def test_an_untouched_input_is_read_incrementally(carry_case):
    _, _, plan = carry_case
    assert plan().incremental


def test_a_redelivered_partition_makes_the_night_a_full_recompute(carry_case):
    inputs, _, plan = carry_case
    redelivered = next((inputs / "repayments" / "dt=2026-05-10").glob("*.parquet"))
    os.utime(redelivered, (0, 0))
    chosen = plan()
    assert not chosen.incremental
    assert "repayments partitions changed or vanished since they were folded: ['2026-05-10']" in (
        chosen.why
    )


def test_a_partition_completed_after_later_ones_makes_the_night_a_full_recompute(carry_case):
    _, out, plan = carry_case
    folded = out / "_state" / f"run_date={BEFORE}" / "folded.json"
    state = json.loads(folded.read_text())
    del state["partitions"]["transactions"]["2026-05-20"]  # as if it had no _SUCCESS then
    folded.write_text(json.dumps(state))
    (folded.parent / ".folded.json.crc").unlink()
    chosen = plan()
    assert not chosen.incremental
    assert "completed after later ones were folded: ['2026-05-20']" in chosen.why


def test_a_missing_or_unreadable_state_makes_the_night_a_full_recompute(carry_case):
    _, out, plan = carry_case
    folded = out / "_state" / f"run_date={BEFORE}" / "folded.json"
    folded.write_text("{}")  # its checksum no longer matches
    chosen = plan()
    assert not chosen.incremental and "cannot be read" in chosen.why
    shutil.rmtree(out / "_state")
    chosen = plan()
    assert not chosen.incremental and "left no carried state" in chosen.why


def test_a_state_of_another_format_makes_the_night_a_full_recompute(carry_case):
    _, out, plan = carry_case
    folded_json = out / "_state" / f"run_date={BEFORE}" / "folded.json"
    folded = json.loads(folded_json.read_text())
    assert folded["format"] == FORMAT
    folded_json.write_text(json.dumps({**folded, "format": FORMAT - 1}))
    (folded_json.parent / ".folded.json.crc").unlink()
    chosen = plan()
    assert not chosen.incremental
    assert f"has format {FORMAT - 1}, not {FORMAT}" in chosen.why


def test_a_state_written_whole_keeps_each_activity_file_in_day_order(nights):
    """A night reads from the activity only the days that left a window; Parquet's page
    statistics let it skip the rest only if each file is in day order."""
    files = sorted((nights["full"] / "_state" / f"run_date={D}" / "activity").glob("*.parquet"))
    assert files
    for file in files:
        assert pd.read_parquet(file).day.is_monotonic_increasing, file.name


def test_state_rows_are_sorted_after_they_are_merged_into_files(spark, tmp_path):
    """Sorting before the merge would leave a file of several sorted runs, not one."""
    publisher = Publisher(Storage(spark), OutputLayout(str(tmp_path)), "attempt")
    days = spark.createDataFrame([(d,) for d in range(40, 0, -1)], "day int").repartition(4)
    staged = publisher.stage("_state/activity", days, partitions=1, sorted_by=("day",))
    assert pd.read_parquet(staged).day.tolist() == list(range(1, 41))


def test_the_normal_night_keeps_only_the_bills_it_settled_again(nights, spark):
    carried = report(nights["incremental"], D)["carried_state"]
    assert (carried["state_written"], carried["state_segments"]) == ("appended", 2)
    state = nights["incremental"] / "_state"
    kept = pd.read_parquet(state / f"run_date={D}" / BILLS_TABLE)
    before = pd.read_parquet(state / f"run_date={BEFORE}" / BILLS_TABLE)
    named = pd.read_parquet(nights["input"] / "repayments" / f"dt={D}").bill_id
    assert 0 < len(kept) < len(before) and set(kept.bill_id) <= set(named)

    out = OutputLayout(str(nights["incremental"]))
    state = _read_state(Storage(spark), out.state(pd.Timestamp(D).date()))
    bills = read_carried(spark, out, state).bills
    full = pd.read_parquet(nights["full"] / "_state" / f"run_date={D}" / BILLS_TABLE)
    pd.testing.assert_frame_equal(
        bills.toPandas().sort_values("bill_id").reset_index(drop=True),
        full[bills.columns].sort_values("bill_id").reset_index(drop=True),
    )
