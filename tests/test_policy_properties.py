"""The contract's policy rules as properties over many generated accounts (hypothesis).

Each example is one Spark job over a batch of accounts (planning the job is most of its cost), so
a few large examples cover hundreds of accounts. Runs are derandomized: CI sees the same accounts
every time; HYPOTHESIS_PROFILE=explore searches longer, at random.
"""

import os
from datetime import datetime, time, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from tests.test_limits import SCHEMA, D
from transforms.diff import classify_changes
from transforms.features import FEATURE_NAMES
from transforms.limits import decide_limits
from transforms.pipeline import rerate_accounts
from transforms.schemas import ACCOUNTS, LIMIT_CHANGES, LIMITS, REPAYMENTS, TRANSACTIONS
from transforms.score import with_score

# Each example is a batch of accounts put through Spark at once (one Spark job per example,
# not per account): large and slow examples are the design, not a smell. A batch must still fit
# Hypothesis's buffer: at 150 accounts most draws overran and one example took 300 s to make;
# at 50, five examples take under a second.
BATCHES = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile(
    "ci",
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=BATCHES,
)
settings.register_profile(
    "explore",
    max_examples=200,
    deadline=None,
    suppress_health_check=BATCHES,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

COLUMNS = [c.split()[0] for c in SCHEMA.split(", ")]
REASONS = ["DELINQUENT", "PAST_DELINQUENCY", "LATE_PAYMENTS", "HIGH_UTILIZATION"]


def cents(low: int, high: int):
    return st.integers(low, high).map(lambda c: Decimal(c).scaleb(-2))


def days_before_d(most: int):
    return st.none() | st.integers(1, most).map(lambda d: D - timedelta(days=d))


@st.composite
def account_states(draw, user_id: int) -> tuple:
    """An account as the limit decision sees it: features, score and the state it brings."""
    prev_status = draw(st.sampled_from([None, "active", "active", "suspended", "closed"]))
    on_grid = st.integers(5, 500).map(lambda k: Decimal(k * 100))
    prev_limit = {None: None, "active": draw(on_grid)}.get(prev_status, Decimal("0.00"))
    initial_limit = draw(cents(10_000, 6_000_000))  # off the grid and out of bounds too
    balance = draw(cents(-50_000, 6_000_000))
    reference = prev_limit if prev_limit else initial_limit
    risk = draw(st.lists(st.sampled_from(REASONS), unique=True, max_size=3))
    row = {
        "user_id": user_id,
        "status": draw(st.sampled_from(["active"] * 6 + ["frozen", "closed"])),
        "initial_limit": initial_limit,
        "score": draw(st.integers(300, 850)),
        "current_dpd": draw(st.sampled_from([0, 0, 0, 3, 15, 30, 31, 90])),
        "serious_delinquencies_365d": draw(st.integers(0, 2)),
        "days_since_last_purchase": draw(st.none() | st.integers(0, 400)),
        "avg_monthly_spend_180d": draw(cents(0, 2_000_000)),
        "tenure_days": draw(st.integers(0, 2000)),
        "credit_purchase_count_90d": draw(st.integers(0, 20)),
        "balance": balance,
        "utilization": float(max(balance, Decimal(0)) / reference),
        "reason_codes": risk + draw(st.lists(st.just("LOW_ACTIVITY"), max_size=1)),
        "risk_reason_codes": risk,
        "prev_limit": prev_limit,
        "prev_status": prev_status,
        "prev_score": None if prev_status is None else draw(st.integers(300, 850)),
        "last_raise_on": draw(days_before_d(400)),
        "last_increase_on": draw(days_before_d(60)),
        "suspended_on": draw(days_before_d(400)),
        "pre_suspension_limit": draw(st.none() | on_grid),
        "suspension_reasons": draw(
            st.none() | st.sampled_from([["DELINQUENT"], ["ACCOUNT_FROZEN"]])
        ),
        "prev_segment": draw(st.sampled_from([None, "dormant"])),
    }
    # a cut announced earlier, due before, on or after D
    told = draw(st.none() | st.integers(-13, 10).map(lambda d: D - timedelta(days=d)))
    row |= {
        "pending_announced_on": told and told - timedelta(days=14),
        "pending_effective_date": told,
        "pending_proposed_limit": told and draw(on_grid),
        "pending_reason_codes": told and ["LATE_PAYMENTS"],
        "pending_next_steps": told and [],
    }
    return tuple(row[c] for c in COLUMNS)


def batches(size: int):
    return st.tuples(*(account_states(user_id) for user_id in range(size)))


@given(batches(50))
def test_every_decision_keeps_the_contracts_limit_rules(spark, policy, accounts):
    rules = policy.limits
    step, low, high = rules.limit_step, rules.min_limit, rules.max_limit
    decided = decide_limits(spark.createDataFrame(accounts, SCHEMA), rules=rules, as_of=D)
    for r in decided.collect():
        limit, held = r["credit_limit"], r["d_held"]
        if r["limit_status"] != "active":
            assert limit == 0, r
            continue
        assert limit % step == 0 and low <= limit <= high, r
        if r["d_step"] == "increase":
            assert held < limit <= rules.floor_to_grid(held * (1 + rules.max_increase_ratio)), r
            assert r["last_raise_on"] is None or (
                (D - r["last_raise_on"]).days >= rules.increase_cooldown_days
            ), r
        if r["d_step"] == "decrease":
            assert limit < held, r
            assert limit >= max(rules.ceil_to_grid(max(r["balance"], Decimal(0))), low), r
            assert not (r["d_dormant"] and r["d_good_standing"]) or r["d_cash_out"], r
            # no cut without notice, and never below what was announced
            assert r["prev_status"] == "active" and r["pending_effective_date"] <= D, r
            assert limit >= r["pending_proposed_limit"], r
        if r["d_step"] in ("announce", "notice_pending"):
            assert limit == held and r["d_cut_limit"] < held, r
        if r["d_step"] == "reinstate":
            pre = r["pre_suspension_limit"] or r["initial_limit"]
            assert limit <= max(low, rules.floor_to_grid(pre * rules.reinstate_ratio)), r
            assert r["current_dpd"] == 0 and r["old_status"] == "suspended", r
        if r["d_dormant"] and r["d_good_standing"] and r["d_step"] != "decrease":
            assert limit >= held or r["d_step"] == "reinstate", r
    decided = decided.withColumns({"policy_version": F.lit("v"), "cell": F.lit("champion")})
    changes = classify_changes(decided, run_date=D).collect()
    for c in changes:
        assert len(c["reason_codes"]) <= 4, c
        if c["change_type"] in ("decrease", "suspend"):
            assert c["reason_codes"], c


# -- the score ---------------------------------------------------------------------------------


@st.composite
def feature_rows(draw) -> dict:
    row = {name: draw(st.none() | st.floats(0, 1)) for name in FEATURE_NAMES}
    row.update(
        current_dpd=draw(st.integers(0, 120)),
        serious_delinquencies_365d=draw(st.integers(0, 3)),
        tenure_days=draw(st.integers(0, 2000)),
        active_months_365d=draw(st.integers(0, 12)),
        days_since_last_purchase=draw(st.none() | st.integers(0, 400)),
        **{f"purchase_count_{w}d": draw(st.integers(0, 50)) for w in (30, 90, 180, 365)},
        avg_order_value_365d=draw(st.none() | st.floats(0, 5000)),
        avg_monthly_spend_180d=draw(st.floats(0, 20000)),
    )
    row["worst_dpd_365d"] = max(row["current_dpd"], draw(st.integers(0, 120)))
    return {name: None if value is None else float(value) for name, value in row.items()}


def with_more_days_past_due(row: dict, extra: int, suspend_dpd: int) -> dict:
    worse = dict(row, current_dpd=row["current_dpd"] + extra)
    worse["worst_dpd_365d"] = max(row["worst_dpd_365d"], worse["current_dpd"])
    if row["current_dpd"] <= suspend_dpd < worse["current_dpd"]:
        worse["serious_delinquencies_365d"] += 1
    return worse


@given(st.lists(st.tuples(feature_rows(), st.integers(1, 90)), min_size=40, max_size=40))
def test_more_days_past_due_never_raises_a_score(spark, policy, pairs):
    rows = []
    for i, (row, extra) in enumerate(pairs):
        rows.append({"pair": i, "worse": False, **row})
        worse = with_more_days_past_due(row, extra, policy.limits.suspend_dpd)
        rows.append({"pair": i, "worse": True, **worse})
    schema = "pair int, worse boolean, " + ", ".join(f"{name} double" for name in FEATURE_NAMES)
    scored = with_score(spark.createDataFrame(rows, schema), scorecard=policy.scorecard)
    scores = {(r["pair"], r["worse"]): r["score"] for r in scored.collect()}
    for i in range(len(pairs)):
        assert scores[(i, True)] <= scores[(i, False)], pairs[i]


# -- from the ledgers: a late payment never raises a score --------------------------------------


@st.composite
def repayment_histories(draw) -> dict:
    """Monthly bills of one account; one of them paid on time in the base history."""
    months = draw(st.integers(2, 8))
    bills = []
    for m in range(months):
        due = D - timedelta(days=30 * m + 5)
        amount = Decimal(draw(st.integers(100, 300_000))).scaleb(-2)
        paid_days_after_due = draw(st.none() | st.integers(-15, 45))
        share = draw(st.sampled_from([Decimal(1), Decimal(1), Decimal("0.5")]))
        bills.append((due, amount, paid_days_after_due, share))
    on_time = draw(st.integers(0, months - 1))
    due, amount, _, _ = bills[on_time]
    bills[on_time] = (due, amount, draw(st.integers(-15, 0)), Decimal(1))
    lateness = draw(st.integers(1, 60))
    return {"bills": bills, "on_time": on_time, "lateness": lateness}


def ledger_rows(user_id: int, history: dict, late: bool) -> list[tuple]:
    rows = []
    for i, (due, amount, paid_after, share) in enumerate(history["bills"]):
        bill_id = f"B{user_id}-{i}"
        billed = datetime.combine(due - timedelta(days=20), time(1))
        rows.append((f"{bill_id}-b", user_id, bill_id, "bill", amount, due, billed))
        if late and i == history["on_time"]:
            paid_after = history["lateness"]
        if paid_after is None:
            continue
        paid_on = due + timedelta(days=paid_after)
        if paid_on > D:  # not recorded yet on the run date
            continue
        paid = (amount * share).quantize(Decimal("0.01"))
        payment_time = datetime.combine(paid_on, time(12))
        rows.append((f"{bill_id}-p", user_id, bill_id, "payment", paid, None, payment_time))
    return rows


@given(st.lists(repayment_histories(), min_size=40, max_size=40))
def test_a_late_payment_never_raises_a_score(spark, policy, histories):
    late_offset = 1000
    accounts, repayments = [], []
    for user_id, history in enumerate(histories):
        for uid, late in ((user_id, False), (user_id + late_offset, True)):
            accounts.append((uid, D - timedelta(days=900), Decimal("5000.00"), "active"))
            repayments += ledger_rows(uid, history, late)
    decided = rerate_accounts(
        spark.createDataFrame(accounts, ACCOUNTS),
        spark.createDataFrame([], TRANSACTIONS),
        spark.createDataFrame(repayments, REPAYMENTS),
        spark.createDataFrame([], LIMITS),
        spark.createDataFrame([], LIMIT_CHANGES),
        policy=policy,
        as_of=D,
    )
    scores = dict(decided.select("user_id", F.col("score")).collect())
    for user_id, history in enumerate(histories):
        assert scores[user_id + late_offset] <= scores[user_id], history
