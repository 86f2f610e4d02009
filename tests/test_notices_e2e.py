"""The promise of a notice, end to end on real nights: a user who does the first step a notice
names before its date is spared, one who does nothing is cut as announced; a suspended user who
pays what the notice names is reinstated on the date it gives. And a normal night with pending
notices equals a full recompute of it."""

import shutil
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e import generate, policy_variant, read_table, run_date, small_profile, table_rows
from tests.two_nights import same

D = date(2026, 5, 31)
NOTICE_DAYS = 14
E = D + timedelta(days=NOTICE_DAYS)  # the effective date of D's announced cuts
W = D + timedelta(days=30)  # when D's suspensions may be reinstated
# The subject is what notices promise, not the guardrails: a night after two quiet weeks moves
# more than one normal night, and a fortnight of empty days is far off the usual volume.
LOOSE = policy_variant(
    max_adverse_share=1.0,
    max_increase_share=1.0,
    max_total_limit_change=1.0,
    volume_max_ratio=1e6,
)


def _open_bills(inputs, user_id: int) -> pd.DataFrame:
    """The user's unsettled bills on D, oldest due first, with what is owed on each."""
    days = [p for p in sorted((inputs / "repayments").glob("dt=*")) if p.name <= f"dt={D}"]
    rows = pd.concat(pd.read_parquet(p) for p in days)
    rows = rows[rows.user_id == user_id]
    bills = rows[rows.entry_type == "bill"].set_index("bill_id")
    paid = rows[rows.entry_type == "payment"].groupby("bill_id").amount.sum()
    bills["owed"] = bills.amount.sub(paid, fill_value=Decimal(0)).reindex(bills.index)
    return bills[bills.owed > 0].sort_values(["due_date"]).reset_index()


def _payments(inputs, user_id: int, step: str, balance: Decimal) -> list[dict]:
    """The payment rows that do one step, booked as the platform books a payment: to the named
    bill, or to the unsettled bills oldest due first."""
    code, *args = step.split(":")
    if code == "PAY_BILL":
        return [{"user_id": user_id, "bill_id": args[0], "amount": Decimal(args[1])}]
    assert code == "PAY_DOWN_TO", step
    left = balance - Decimal(args[0])
    rows = []
    for bill in _open_bills(inputs, user_id).itertuples():
        if left <= 0:
            break
        part = min(left, bill.owed)
        rows.append({"user_id": user_id, "bill_id": bill.bill_id, "amount": part})
        left -= part
    assert left <= 0, f"{step}: more than the open bills of user {user_id}"
    return rows


def _write_days(inputs, first: date, last: date, payments: list[dict]) -> None:
    """Complete partitions for every day from `first` to `last`: each payment on its `day`
    (`first` if it names none), no other activity."""
    schemas = {
        ledger: pq.read_schema(next((inputs / ledger / f"dt={D}").glob("*.parquet")))
        for ledger in ("transactions", "repayments")
    }
    day = first
    while day <= last:
        for ledger, schema in schemas.items():
            folder = inputs / ledger / f"dt={day}"
            folder.mkdir(parents=True, exist_ok=True)
            rows = pd.DataFrame(columns=schema.names)
            todays = [(n, p) for n, p in enumerate(payments) if p.get("day", first) == day]
            if ledger == "repayments" and todays:
                at = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=12)
                rows = pd.DataFrame(
                    [
                        {
                            "entry_id": f"STEP-{n}",
                            "entry_type": "payment",
                            "due_date": None,
                            "event_time": at,
                            **{k: v for k, v in p.items() if k != "day"},
                        }
                        for n, p in todays
                    ]
                )[schema.names]
            table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
            pq.write_table(table, folder / "part-0.parquet")
            (folder / "_SUCCESS").touch()
        day += timedelta(days=1)


@pytest.fixture(scope="module")
def noticed(spark, tmp_path_factory):
    """A bootstrap on D with its notices; half the announced cuts that have a step to take are
    acted on the next day, and so is every suspension that names what to pay; then the
    effective date E runs."""
    root = tmp_path_factory.mktemp("notices")
    conf = small_profile(root)
    inputs, out = root / "input", root / "output"
    generate(inputs, conf, users=1500, days=150, end=D.isoformat(), seed=11)
    assert run_date(D.isoformat(), inputs, out, conf, "--quiet", policy=LOOSE).returncode == 0
    told = read_table(out, "notices", D.isoformat()).sort_values("user_id")
    balance = read_table(out, "limits", D.isoformat()).set_index("user_id").balance

    cuts = told[told.kind == "pending_decrease"]
    can_act = cuts[cuts.next_steps.map(lambda s: not s[0].startswith("WAIT_UNTIL"))]
    actors = set(can_act.user_id.iloc[::2])
    suspended = told[told.kind == "suspended"]
    payers = suspended[suspended.next_steps.map(lambda s: s[-1] == f"WAIT_UNTIL:{W}")]
    payments = []
    for notice in can_act[can_act.user_id.isin(actors)].itertuples():
        payments += _payments(inputs, notice.user_id, notice.next_steps[0], balance[notice.user_id])
    for notice in payers.itertuples():
        for step in notice.next_steps[:-1]:
            payments += _payments(inputs, notice.user_id, step, balance[notice.user_id])
        # ... and lets nothing else fall past due: the bills due before W paid on their date
        for bill in _open_bills(inputs, notice.user_id).itertuples():
            if D < bill.due_date < W:
                payments.append(
                    {
                        "user_id": notice.user_id,
                        "bill_id": bill.bill_id,
                        "amount": bill.owed,
                        "day": bill.due_date,
                    }
                )
    _write_days(inputs, D + timedelta(days=1), W, payments)

    before_e = root / "before-e"
    shutil.copytree(out, before_e)
    night = run_date(E.isoformat(), inputs, out, conf, "--quiet", policy=LOOSE)
    assert night.returncode == 0, night.stderr
    return {
        "root": root,
        "conf": conf,
        "input": inputs,
        "output": out,
        "before_e": before_e,
        "cuts": cuts,
        "actors": actors,
        "payers": payers,
        "suspended": suspended,
    }


def test_the_bootstrap_announces_cuts_and_some_have_a_step_that_averts_them(noticed):
    cuts = noticed["cuts"]
    assert len(cuts) >= 10, "the ledger should announce enough cuts to test the promise"
    assert len(noticed["actors"]) >= 3
    assert (cuts.effective_date == E).all()
    assert len(noticed["payers"]) >= 1, "some suspension should name what to pay"


def test_steps_name_only_the_users_own_bills_and_never_more_than_is_owed(noticed):
    inputs = noticed["input"]
    told = pd.concat([noticed["cuts"], noticed["suspended"]])
    balance = read_table(noticed["output"], "limits", D.isoformat()).set_index("user_id").balance
    bills = pd.concat(pd.read_parquet(p) for p in sorted((inputs / "repayments").glob("dt=*")))
    owner = bills[bills.entry_type == "bill"].set_index("bill_id").user_id
    for notice in told.itertuples():
        assert 1 <= len(notice.next_steps) <= 3, notice
        owed = _open_bills(inputs, notice.user_id).set_index("bill_id").owed
        for step in notice.next_steps:
            code, *args = step.split(":")
            if code == "PAY_BILL":
                bill, amount = args
                assert owner[bill] == notice.user_id, step
                assert Decimal(amount) == owed[bill] > 0, step  # to the cent, all still owed
            elif code == "PAY_DOWN_TO":
                assert 0 <= Decimal(args[0]) < balance[notice.user_id], step
            elif code == "WAIT_UNTIL":
                assert date.fromisoformat(args[0]) >= E, step
            else:
                assert step == "CONTACT_SUPPORT" and notice.kind == "suspended", step


def test_users_who_do_their_first_step_are_spared_the_others_are_cut_as_announced(noticed):
    out = noticed["output"]
    on_e = read_table(out, "notices", E.isoformat()).set_index("user_id")
    changes = read_table(out, "limit_changes", E.isoformat()).set_index("user_id")
    limits = read_table(out, "limits", E.isoformat()).set_index("user_id")
    for notice in noticed["cuts"].itertuples():
        user = notice.user_id
        kind = on_e.kind.get(user)
        if user in noticed["actors"]:
            assert kind == "decrease_withdrawn", (user, notice.next_steps, kind)
            assert limits.credit_limit[user] == notice.current_limit
            assert user not in changes.index
            continue
        assert kind in ("decreased", "suspended"), (user, notice.next_steps, kind)
        change = changes.loc[user]
        if kind == "decreased":
            assert change.change_type == "decrease"
            assert change.old_limit == notice.current_limit
            # never cut further than told, nor below the balance rounded up to the grid
            assert notice.proposed_limit <= change.new_limit < notice.current_limit
            rounded_up = (limits.balance[user] / 100).to_integral_value(ROUND_CEILING) * 100
            floor = max(Decimal(500), rounded_up)
            assert change.new_limit >= floor
        else:  # more than 30 days past due by now: a suspension, at once
            assert change.change_type == "suspend" and "DELINQUENT" in change.reason_codes


def test_a_suspended_user_who_pays_what_the_notice_names_is_reinstated_on_its_date(noticed):
    inputs, out, conf = noticed["input"], noticed["output"], noticed["conf"]
    night = run_date(W.isoformat(), inputs, out, conf, "--quiet", policy=LOOSE)
    assert night.returncode == 0, night.stderr
    on_w = read_table(out, "notices", W.isoformat()).set_index("user_id")
    limits = read_table(out, "limits", W.isoformat()).set_index("user_id")
    for notice in noticed["payers"].itertuples():
        assert notice.next_steps[-1] == f"WAIT_UNTIL:{W}"
        assert on_w.kind.get(notice.user_id) == "reinstated", notice
        assert limits.status[notice.user_id] == "active"
    unpaid = noticed["suspended"][~noticed["suspended"].user_id.isin(noticed["payers"].user_id)]
    for notice in unpaid.itertuples():
        assert limits.status[notice.user_id] == "suspended", notice


def test_a_night_with_pending_notices_equals_its_full_recompute(noticed, tmp_path):
    full = tmp_path / "full"
    shutil.copytree(noticed["before_e"], full)
    night = run_date(
        E.isoformat(),
        noticed["input"],
        full,
        noticed["conf"],
        "--quiet",
        "--full-recompute",
        policy=LOOSE,
    )
    assert night.returncode == 0, night.stderr
    for table in ("limits", "limit_changes", "notices", "rejects"):
        partition = f"{table}/run_date={E}"
        assert same(table_rows(noticed["output"] / partition), table_rows(full / partition)), table
    pending = f"_state/run_date={E}/pending_notices"
    carried = table_rows(noticed["output"] / pending)
    assert same(carried, table_rows(full / pending))
    # every cut announced on D was applied or withdrawn by E: what is pending is E's own
    announced = read_table(full, "notices", E.isoformat()).query("kind == 'pending_decrease'")
    assert sorted(carried.user_id) == sorted(announced.user_id)
