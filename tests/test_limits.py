"""The limit decision, rule by rule, on accounts built by hand (policy defaults from conf/)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from transforms.diff import classify_changes
from transforms.limits import decide_limits
from transforms.notices import with_notice_kind

D = date(2026, 6, 30)
SCHEMA = (
    "user_id long, status string, initial_limit decimal(18,2), score int, current_dpd int, "
    "serious_delinquencies_365d int, days_since_last_purchase int, avg_monthly_spend_180d "
    "decimal(18,2), tenure_days int, credit_purchase_count_90d long, balance decimal(18,2), "
    "utilization double, "
    "reason_codes array<string>, risk_reason_codes array<string>, prev_limit decimal(18,2), "
    "prev_status string, prev_score int, last_raise_on date, last_increase_on date, "
    "suspended_on date, "
    "pre_suspension_limit decimal(18,2), suspension_reasons array<string>, prev_segment string, "
    "pending_announced_on date, pending_effective_date date, pending_proposed_limit "
    "decimal(18,2), pending_reason_codes array<string>, pending_next_steps array<string>"
)
GOOD = dict(
    status="active",
    initial_limit=Decimal("5000.00"),
    score=700,
    current_dpd=0,
    serious_delinquencies_365d=0,
    days_since_last_purchase=3,
    avg_monthly_spend_180d=Decimal("3000.00"),
    tenure_days=800,
    credit_purchase_count_90d=5,
    balance=Decimal("1000.00"),
    utilization=0.2,
    reason_codes=[],
    risk_reason_codes=[],
    prev_limit=Decimal("5000.00"),
    prev_status="active",
    prev_score=700,
    last_raise_on=None,
    last_increase_on=None,
    suspended_on=None,
    pre_suspension_limit=None,
    suspension_reasons=None,
    prev_segment=None,
    pending_announced_on=None,
    pending_effective_date=None,
    pending_proposed_limit=None,
    pending_reason_codes=None,
    pending_next_steps=None,
)
# A cut announced two weeks ago, due today: the decision may apply a wished cut.
DUE = dict(
    pending_announced_on=D - timedelta(days=14),
    pending_effective_date=D,
    pending_proposed_limit=Decimal("500.00"),
    pending_reason_codes=["LATE_PAYMENTS"],
    pending_next_steps=[],
)


def decide(spark, policy, **overrides):
    row = {"user_id": 1, **GOOD, **overrides}
    columns = [c.split()[0] for c in SCHEMA.split(", ")]
    df = spark.createDataFrame([tuple(row[c] for c in columns)], SCHEMA)
    return decide_limits(df, rules=policy.limits, as_of=D).transform(with_notice_kind).first()


def test_a_clean_active_user_is_raised_by_at_most_half(spark, policy):
    r = decide(spark, policy)
    assert r["d_step"] == "increase"
    assert r["credit_limit"] == Decimal("7500.00")  # 5000 x 1.5, though spend supports 12000
    assert r["change_reasons"] == ["GOOD_STANDING"]


def test_a_raise_waits_for_the_cooldown(spark, policy):
    r = decide(spark, policy, last_raise_on=D - timedelta(days=89))
    assert r["d_step"] == "hold" and r["credit_limit"] == Decimal("5000.00")
    assert decide(spark, policy, last_raise_on=D - timedelta(days=90))["d_step"] == "increase"


@pytest.mark.parametrize(
    "why",
    [
        dict(tenure_days=100),
        dict(current_dpd=3),
        dict(serious_delinquencies_365d=1),
        dict(days_since_last_purchase=200),
        dict(credit_purchase_count_90d=0),
        dict(avg_monthly_spend_180d=Decimal("1300.00")),  # 4 x 1300 = 5200: under the 10 % margin
    ],
)
def test_no_raise_for_new_dirty_dormant_idle_or_marginal_accounts(spark, policy, why):
    assert decide(spark, policy, **why)["d_step"] == "hold"


def test_more_than_30_days_past_due_suspends_with_delinquent_first(spark, policy):
    r = decide(
        spark,
        policy,
        current_dpd=31,
        score=420,
        reason_codes=["DELINQUENT", "LOW_ACTIVITY"],
        risk_reason_codes=["DELINQUENT", "LATE_PAYMENTS"],
    )
    assert (r["d_step"], r["limit_status"], r["credit_limit"]) == (
        "suspend",
        "suspended",
        Decimal("0.00"),
    )
    assert r["change_reasons"] == ["DELINQUENT", "LATE_PAYMENTS"]
    assert decide(spark, policy, current_dpd=30, score=420)["limit_status"] == "active"


def test_a_frozen_account_is_suspended_whatever_its_score(spark, policy):
    r = decide(spark, policy, status="frozen", score=720)
    assert r["limit_status"] == "suspended" and r["change_reasons"] == ["ACCOUNT_FROZEN"]
    assert r["account_reasons"][0] == "ACCOUNT_FROZEN"


def test_reinstated_after_30_clean_days_at_half_the_limit_before(spark, policy):
    suspended = dict(
        prev_status="suspended",
        prev_limit=Decimal("0.00"),
        pre_suspension_limit=Decimal("4300.00"),
        suspension_reasons=["DELINQUENT"],
        score=660,
    )
    early = decide(spark, policy, suspended_on=D - timedelta(days=29), **suspended)
    assert early["d_step"] == "stay_suspended" and early["credit_limit"] == Decimal("0.00")
    r = decide(spark, policy, suspended_on=D - timedelta(days=30), **suspended)
    assert (r["d_step"], r["credit_limit"]) == (
        "reinstate",
        Decimal("2100.00"),
    )  # 2150 down to grid
    assert r["change_reasons"] == ["DELINQUENCY_CURED"]
    still_late = decide(
        spark, policy, suspended_on=D - timedelta(days=60), current_dpd=2, **suspended
    )
    assert still_late["d_step"] == "stay_suspended"


def test_reinstatement_is_at_least_the_minimum_limit(spark, policy):
    r = decide(
        spark,
        policy,
        prev_status="suspended",
        prev_limit=Decimal("0.00"),
        pre_suspension_limit=Decimal("600.00"),
        suspended_on=D - timedelta(days=40),
        suspension_reasons=["ACCOUNT_FROZEN"],
    )
    assert r["credit_limit"] == Decimal("500.00") and r["change_reasons"] == ["HOLD_RELEASED"]


def test_a_cut_follows_the_band_but_never_below_the_rounded_up_balance(spark, policy):
    risky = dict(
        score=560, risk_reason_codes=["LATE_PAYMENTS"], prev_limit=Decimal("8000.00"), **DUE
    )
    r = decide(spark, policy, **risky)
    assert (r["d_step"], r["credit_limit"]) == ("decrease", Decimal("3000.00"))  # band D's limit
    assert r["change_reasons"] == ["LATE_PAYMENTS"]
    floored = decide(spark, policy, balance=Decimal("4321.50"), **risky)
    assert floored["credit_limit"] == Decimal("4400.00")


def test_a_cut_needs_a_margin_inside_the_lower_band(spark, policy):
    # band C starts at 600; 590 + 15 margin = 605 still counts as C (limit 10000): no cut from 8000
    r = decide(
        spark, policy, score=590, risk_reason_codes=["LATE_PAYMENTS"], prev_limit=Decimal("8000.00")
    )
    assert r["d_step"] == "hold"


def test_no_cut_without_a_risk_reason_or_for_a_dormant_account_in_good_standing(spark, policy):
    low = dict(score=500, prev_limit=Decimal("8000.00"))
    assert decide(spark, policy, risk_reason_codes=[], **low)["d_step"] == "hold"
    dormant = decide(
        spark, policy, days_since_last_purchase=400, risk_reason_codes=["HIGH_UTILIZATION"], **low
    )
    assert dormant["d_step"] == "hold" and dormant["segment"] == "dormant"


def test_closed_accounts_carry_no_limit_and_make_no_change(spark, policy):
    r = decide(spark, policy, status="closed")
    assert (r["limit_status"], r["credit_limit"], r["segment"]) == ("closed", Decimal("0.00"), None)


def test_first_run_compares_with_the_initial_limit_as_active(spark, policy):
    df = spark.createDataFrame(
        [
            (
                1,
                *[
                    {**GOOD, "prev_limit": None, "prev_status": None, "prev_score": None}[
                        c.split()[0]
                    ]
                    for c in SCHEMA.split(", ")[1:]
                ],
            )
        ],
        SCHEMA,
    )
    decided = decide_limits(df, rules=policy.limits, as_of=D)
    decided = decided.withColumns({"policy_version": F.lit("v"), "cell": F.lit("champion")})
    change = classify_changes(decided, run_date=D).first()
    assert (change["old_limit"], change["old_status"], change["old_score"]) == (
        Decimal("5000.00"),
        "active",
        None,
    )
    assert (change["change_type"], change["new_limit"]) == ("increase", Decimal("7500.00"))


RECOVERING = dict(
    prev_status="active",
    prev_limit=Decimal("2100.00"),  # reinstated at half of 4300
    pre_suspension_limit=Decimal("4300.00"),
    suspended_on=D - timedelta(days=200),
    last_raise_on=D - timedelta(days=120),  # the reinstatement
    serious_delinquencies_365d=1,  # the delinquency is still in the year
    score=650,
)


def test_a_reinstated_account_climbs_back_in_capped_steps_while_clean(spark, policy):
    r = decide(spark, policy, **RECOVERING)
    assert (r["d_step"], r["credit_limit"]) == ("increase", Decimal("3100.00"))  # 2100 x 1.5
    assert r["change_reasons"] == ["GOOD_STANDING", "RECOVERY_PLAN"]
    last_step = decide(spark, policy, **{**RECOVERING, "prev_limit": Decimal("3100.00")})
    assert last_step["credit_limit"] == Decimal("4300.00")  # capped at the pre-suspension limit
    done = decide(spark, policy, **{**RECOVERING, "prev_limit": Decimal("4300.00")})
    assert done["d_step"] == "hold"  # the year-old delinquency still blocks ordinary raises


def test_the_recovery_waits_for_the_cooldown_and_stops_when_anything_is_late(spark, policy):
    soon = decide(spark, policy, **{**RECOVERING, "last_raise_on": D - timedelta(days=60)})
    assert soon["d_step"] == "hold"
    late = decide(spark, policy, **{**RECOVERING, "current_dpd": 5})
    assert late["d_step"] == "hold"


def test_a_line_used_up_right_after_an_increase_is_cut_to_the_balance(spark, policy):
    cash_out = dict(
        prev_limit=Decimal("7500.00"),
        last_raise_on=D - timedelta(days=10),
        last_increase_on=D - timedelta(days=10),
        balance=Decimal("7012.30"),
        utilization=0.935,
        risk_reason_codes=["HIGH_UTILIZATION"],
    )
    r = decide(spark, policy, **cash_out, **DUE)
    assert (r["d_step"], r["credit_limit"]) == ("decrease", Decimal("7100.00"))
    assert r["change_reasons"] == ["UTILIZATION_SPIKE", "HIGH_UTILIZATION"]
    a_month_on = {
        "last_raise_on": D - timedelta(days=31),
        "last_increase_on": D - timedelta(days=31),
    }
    assert decide(spark, policy, **{**cash_out, **a_month_on})["d_step"] == "hold"
    modest = decide(spark, policy, **{**cash_out, "utilization": 0.85})
    assert modest["d_step"] == "hold"


RISKY = dict(score=560, risk_reason_codes=["LATE_PAYMENTS"], prev_limit=Decimal("8000.00"))


def test_a_wished_cut_is_announced_first_and_the_limit_holds(spark, policy):
    r = decide(spark, policy, **RISKY)
    assert (r["d_step"], r["credit_limit"], r["limit_status"]) == (
        "announce",
        Decimal("8000.00"),
        "active",
    )
    assert (r["notice_kind"], r["d_cut_limit"]) == ("pending_decrease", Decimal("3000.00"))
    assert r["cut_reasons"] == ["LATE_PAYMENTS"] and r["change_reasons"] == []


def test_an_announced_cut_waits_for_its_date_and_never_goes_below_what_was_told(spark, policy):
    waiting = {**DUE, "pending_effective_date": D + timedelta(days=1)}
    r = decide(spark, policy, **RISKY, **waiting)
    assert (r["d_step"], r["credit_limit"], r["notice_kind"]) == (
        "notice_pending",
        Decimal("8000.00"),
        None,
    )
    told_less = {**DUE, "pending_proposed_limit": Decimal("5000.00")}
    r = decide(spark, policy, **RISKY, **told_less)
    assert (r["d_step"], r["credit_limit"], r["notice_kind"]) == (
        "decrease",
        Decimal("5000.00"),
        "decreased",
    )


def test_an_announced_cut_the_decision_no_longer_wants_is_withdrawn(spark, policy):
    recovered = {**RISKY, "score": 700, "risk_reason_codes": [], "last_raise_on": D - timedelta(10)}
    r = decide(spark, policy, **recovered, **DUE)
    assert (r["d_step"], r["credit_limit"], r["notice_kind"]) == (
        "hold",
        Decimal("8000.00"),
        "decrease_withdrawn",
    )
    suspended = decide(spark, policy, **RISKY, **{**DUE, "current_dpd": 40})
    assert (suspended["d_step"], suspended["notice_kind"]) == ("suspend", "suspended")


def test_an_account_turning_dormant_in_good_standing_is_invited_back_once(spark, policy):
    quiet = dict(days_since_last_purchase=200, score=640)
    r = decide(spark, policy, **quiet)
    assert (r["segment"], r["d_step"], r["notice_kind"]) == ("dormant", "hold", "re_engage")
    again = decide(spark, policy, prev_segment="dormant", **quiet)
    assert again["notice_kind"] is None
