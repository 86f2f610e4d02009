"""Nights that append to the carried state instead of rewriting it: a chain of them, across the
1st of a month (where the state is written whole again), decides what full recomputes decide
night by night; the states a kept state builds on are not deleted; and a state built on a
segment that was replaced since is not used."""

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from jobs.commands.run import run_nightly
from jobs.config import load_settings
from jobs.files.layout import InputLayout, OutputLayout
from jobs.files.ledgers import check_readiness
from jobs.files.storage import Storage
from jobs.output.carried_state import (
    CARRIED_TABLES,
    FORMAT,
    PENDING_TABLE,
    _new_repayment_rows,
    _read_state,
    forget_old_states,
    plan_carry,
)
from tests.e2e import report, table_rows
from tests.two_nights import BEFORE, TABLES, D
from transforms.carry import (
    BILLS_TABLE,
    WINDOWS_TABLE,
    payments_of_another_users_bill,
    rows_of_bills_named,
)

NIGHTS = ("2026-04-29", "2026-04-30", "2026-05-01", "2026-05-02")


@pytest.fixture(scope="module")
def chain(world, spark, tmp_path_factory):
    """The nights on the shared ledger, in this test's Spark session, each appending to the
    carried state; and, for each after the first, the same night as a full recompute on a copy
    of the output as it stood before the night."""
    root = tmp_path_factory.mktemp("segments")
    appended = root / "appended"

    def run(out, night: str, **flags):
        settings = load_settings(
            world["conf"], input_path=str(world["input"]), output_path=str(out)
        )
        ran = run_nightly(spark, settings, date.fromisoformat(night), **flags)
        assert ran.exit_code == 0, ran.report["reason"]

    for night in NIGHTS:
        if night != NIGHTS[0]:
            shutil.copytree(appended, root / f"full-{night}")
            run(root / f"full-{night}", night, full_recompute=True)
        run(appended, night)
    return {"appended": appended, "full": {n: root / f"full-{n}" for n in NIGHTS[1:]}}


@pytest.mark.soak  # seven runs, 2 min 40 s: make test-faults
def test_appending_nights_decide_what_full_recomputes_decide(chain):
    for night, full in chain["full"].items():
        assert report(full, night)["carried_state"]["mode"] == "full_recompute"
        for table in TABLES:
            part = f"run_date={night}"
            mine, recomputed = (
                table_rows(chain["appended"] / table / part),
                table_rows(full / table / part),
            )
            assert (mine is None and recomputed is None) or mine.equals(recomputed), (night, table)


@pytest.mark.soak  # seven runs, 2 min 40 s: make test-faults
def test_the_state_is_appended_to_and_written_whole_on_the_first_of_the_month(chain):
    carried = [report(chain["appended"], n)["carried_state"] for n in NIGHTS]
    assert [c["mode"] for c in carried] == ["full_recompute"] + ["incremental"] * 3
    assert [(c["state_written"], c["state_segments"]) for c in carried] == [
        ("whole", 1),  # the bootstrap
        ("appended", 2),
        ("whole", 1),  # the 1st: bills that can no longer count are dropped
        ("appended", 2),
    ]


def _states(out: Path) -> list[str]:
    return sorted(p.name.removeprefix("run_date=") for p in (out / "_state").glob("run_date=*"))


def _state(out: Path, night: str, builds_on: tuple[str, ...]) -> None:
    folder = out / "_state" / f"run_date={night}"
    indexes = ("index_transactions", "index_repayments")
    tables = (*CARRIED_TABLES, WINDOWS_TABLE, BILLS_TABLE, PENDING_TABLE, *indexes)
    for table in tables:
        (folder / table).mkdir(parents=True)
    segments = [{"run_date": d, "attempt_id": d} for d in (*builds_on, night)]
    (folder / "folded.json").write_text(
        json.dumps({"format": FORMAT, "run_date": night, "attempt_id": night, "segments": segments})
    )


def test_old_states_go_unless_a_kept_state_builds_on_them(spark, tmp_path):
    _state(tmp_path, "2026-03-31", ())
    _state(tmp_path, "2026-04-01", ())  # written whole
    for n, night in enumerate(["2026-04-02", "2026-04-03", "2026-04-04", "2026-04-05"]):
        _state(tmp_path, night, tuple(f"2026-04-0{d}" for d in range(1, n + 2)))
    gone = forget_old_states(Storage(spark), OutputLayout(str(tmp_path)), keep=3)
    assert [Path(g).name for g in gone] == ["run_date=2026-03-31"]
    assert _states(tmp_path) == [
        "2026-04-01",
        "2026-04-02",
        "2026-04-03",
        "2026-04-04",
        "2026-04-05",
    ]


class _StorageCutAtFolders(Storage):
    """Deletes files, and stops (as a killed process would) at the first folder."""

    def delete(self, path: str) -> None:
        if not path.endswith(".json"):
            raise InterruptedError(path)
        super().delete(path)


def test_a_state_cut_short_while_deleted_is_no_state(spark, tmp_path):
    _state(tmp_path, "2026-03-31", ())
    for night in ("2026-04-01", "2026-04-02", "2026-04-03"):
        _state(tmp_path, night, ())
    with pytest.raises(InterruptedError):
        forget_old_states(_StorageCutAtFolders(spark), OutputLayout(str(tmp_path)), keep=3)
    cut = tmp_path / "_state" / "run_date=2026-03-31"
    assert (cut / "activity").exists() and not (cut / "folded.json").exists()
    assert _read_state(Storage(spark), str(cut)) is None  # read as "left no carried state"


def test_a_state_built_on_a_replaced_segment_is_not_used(world, spark, tmp_path):
    out = tmp_path / "output"
    shutil.copytree(world["reference"], out)  # D's state builds on the bootstrap's (D-1)
    replaced = out / "_state" / f"run_date={BEFORE}" / "folded.json"
    folded = json.loads(replaced.read_text())
    folded["attempt_id"] = "a-later-rerun"
    replaced.write_text(json.dumps(folded))
    (replaced.parent / ".folded.json.crc").unlink()
    inputs = InputLayout(str(world["input"]))
    storage = Storage(spark)
    day = date.fromisoformat(D)
    plan = plan_carry(
        spark,
        storage,
        inputs,
        OutputLayout(str(out)),
        check_readiness(storage, inputs, day),
        day,
        full_recompute=False,
    )
    assert not plan.incremental
    assert f"builds on segments that are gone or were replaced by a rerun since: ['{BEFORE}']" in (
        plan.why
    )


def test_carried_payments_whose_bill_arrives_for_another_user_are_counted(spark, tmp_path):
    night = date(2026, 5, 31)
    inputs = InputLayout(str(tmp_path / "input"))
    partition = Path(inputs.partition("repayments", night))
    partition.mkdir(parents=True)
    pd.DataFrame(  # the night's first statements of three bills
        {"bill_id": ["B1", "B2", "B3"], "user_id": [2, 3, 4], "entry_type": "bill"}
    ).to_parquet(partition / "part-0.parquet")
    carried_rows = spark.createDataFrame(
        [
            ("B1", 1, "payment"),  # paid by user 1 before its bill came, for user 2: counted
            ("B2", 3, "bill"),  # B2's bill is already carried: the new row is a duplicate
            ("B2", 5, "payment"),
            ("B3", 4, "payment"),  # paid before its bill, by the bill's own user
        ],
        "bill_id string, user_id long, entry_type string",
    )
    new_rows = _new_repayment_rows(spark, inputs, [night])
    named = rows_of_bills_named(carried_rows, by=new_rows)
    assert payments_of_another_users_bill(named, new_rows).count() == 1
