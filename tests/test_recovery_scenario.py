"""One account followed through eleven months of re-rating runs, each diffing against the one
before: a good payer misses a bill and is told of a cut, then suspended before the cut applies;
pays; is reinstated at no more than half its pre-suspension limit, then climbs back step by step
while it stays clean.

The runs call the same chain as `rerate run` (transforms.pipeline, then transforms.diff) on the
ledgers as recorded by each run date, carrying the published state from run to run.
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest

from transforms.diff import classify_changes, to_limits
from transforms.notices import pending_from_published, to_notices
from transforms.pipeline import rerate_accounts
from transforms.schemas import (
    ACCOUNTS,
    LIMIT_CHANGES,
    LIMITS,
    NOTICES,
    REPAYMENTS,
    TRANSACTIONS,
)

USER = 1
FIRST_RUN = date(2026, 3, 1)
LAST_RUN = date(2027, 1, 31)
CADENCE = timedelta(days=28)  # every fourth week: each step of the story lands on its own run
MISSED_DUE_DATES = (date(2026, 3, 20), date(2026, 4, 20))
PAID_AT_LAST = date(2026, 5, 5)
NO_CREDIT_MONTHS = ((2026, 4), (2026, 5))  # the line is suspended: the user pays by card


def months(start: date, end: date):
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour))


def ledgers() -> tuple[list, list]:
    """Monthly credit purchases billed on the 1st, due the 20th, paid on the 18th; a card
    purchase every month; the March and April bills paid only on 5 May."""
    transactions, repayments = [], []
    for year, month in months(date(2024, 6, 1), LAST_RUN):
        first = date(year, month, 1)
        n = len(transactions)
        transactions.append(
            (
                f"c{n}",
                USER,
                at(first.replace(day=10)),
                "purchase",
                Decimal("300.00"),
                "debit_card",
                1,
            )
        )
        if (year, month) not in NO_CREDIT_MONTHS:
            transactions.append(
                (
                    f"t{n}",
                    USER,
                    at(first.replace(day=3)),
                    "purchase",
                    Decimal("1500.00"),
                    "credit",
                    1,
                )
            )
        bill_for = (first - timedelta(days=1)).replace(day=1)
        if first < date(2024, 7, 1) or (bill_for.year, bill_for.month) in NO_CREDIT_MONTHS:
            continue
        due = first.replace(day=20)
        bill_id = f"BL{year}{month:02d}"
        repayments.append(
            (f"{bill_id}b", USER, bill_id, "bill", Decimal("1500.00"), due, at(first, 1))
        )
        paid_on = PAID_AT_LAST if due in MISSED_DUE_DATES else first.replace(day=18)
        repayments.append(
            (f"{bill_id}p", USER, bill_id, "payment", Decimal("1500.00"), None, at(paid_on))
        )
    return transactions, repayments


def recorded_by(rows: list, run_date: date, time_at: int) -> list:
    return [r for r in rows if r[time_at].date() <= run_date]


def run_chain(spark, policy) -> tuple[list, list, list]:
    """Every run from FIRST_RUN to LAST_RUN; returns the published limits, changes and notices
    (their next steps are not this story's subject: tests/test_notices_e2e.py)."""
    transactions, repayments = ledgers()
    accounts = spark.createDataFrame(
        [(USER, date(2024, 6, 1), Decimal("3000.00"), "active")], ACCOUNTS
    )
    published_limits, published_changes, published_notices = [], [], []
    previous = []
    no_steps = spark.createDataFrame([], "user_id long, next_steps array<string>")
    run_date = FIRST_RUN
    while run_date <= LAST_RUN:
        decided = rerate_accounts(
            accounts,
            spark.createDataFrame(recorded_by(transactions, run_date, 2), TRANSACTIONS),
            spark.createDataFrame(recorded_by(repayments, run_date, 6), REPAYMENTS),
            spark.createDataFrame(previous, LIMITS),
            spark.createDataFrame(published_changes, LIMIT_CHANGES),
            pending_from_published(
                spark.createDataFrame(published_notices, NOTICES),
                spark.createDataFrame(previous, LIMITS),
            ),
            policy=policy,
            as_of=run_date,
        ).cache()
        published_notices += to_notices(decided, no_steps, run_date=run_date).collect()
        previous = to_limits(decided, run_date=run_date).collect()
        published_limits += previous
        published_changes += classify_changes(decided, run_date=run_date).collect()
        decided.unpersist()
        run_date += CADENCE
    return published_limits, published_changes, published_notices


@pytest.mark.soak  # twelve runs of the whole decision, ~70 s: the long suite (make test-faults)
def test_delinquency_suspension_cure_reinstatement_and_a_step_by_step_climb(spark, policy):
    rules = policy.limits
    limits, changes, notices = run_chain(spark, policy)
    trail = [(c["run_date"], c["change_type"], c["old_limit"], c["new_limit"]) for c in changes]
    told = [(n["run_date"], n["kind"], n["proposed_limit"]) for n in notices]
    first_miss = MISSED_DUE_DATES[0]
    announced = [n for n in notices if n["kind"] == "pending_decrease"]
    assert announced and first_miss < announced[0]["run_date"] < PAID_AT_LAST, told
    assert "DELINQUENT" in announced[0]["reason_codes"], told
    # the suspension came before the cut's date: it ends the notice, and no cut applies
    assert not [c for c in changes if c["change_type"] == "decrease"], trail

    suspend = next(c for c in changes if c["change_type"] == "suspend")
    assert (suspend["run_date"], "suspended") in [(n["run_date"], n["kind"]) for n in notices]
    assert suspend["reason_codes"][0] == "DELINQUENT", trail
    assert suspend["run_date"] - first_miss > timedelta(days=rules.suspend_dpd), trail
    pre_suspension = suspend["old_limit"]

    reinstate = next(c for c in changes if c["change_type"] == "reinstate")
    assert reinstate["run_date"] >= max(PAID_AT_LAST, suspend["run_date"] + timedelta(days=30))
    assert reinstate["run_date"] - suspend["run_date"] <= CADENCE * 2, trail
    assert reinstate["new_limit"] <= rules.floor_to_grid(pre_suspension * rules.reinstate_ratio)
    assert reinstate["reason_codes"] == ["DELINQUENCY_CURED"]

    climbs = [c for c in changes if c["run_date"] > reinstate["run_date"]]
    assert climbs and all(c["change_type"] == "increase" for c in climbs), trail
    before = reinstate
    for climb in climbs:
        assert "RECOVERY_PLAN" in climb["reason_codes"], trail
        assert climb["old_limit"] == before["new_limit"], trail
        assert climb["new_limit"] <= before["new_limit"] * (1 + rules.max_increase_ratio), trail
        gap = (climb["run_date"] - before["run_date"]).days
        assert gap >= rules.increase_cooldown_days, trail
        before = climb
    # back up to the pre-suspension limit, as far as the band of its score supports: the late
    # bills stay in the year's look-back, so here band D's 3,000 of the 4,500 it had
    last = max(limits, key=lambda r: r["run_date"])
    band = next(b for b in rules.bands if last["score"] >= b.min_score)
    assert climbs[-1]["new_limit"] == min(pre_suspension, band.max_limit), trail
    assert (last["status"], last["credit_limit"]) == ("active", climbs[-1]["new_limit"]), trail
    assert all(r["credit_limit"] == 0 for r in limits if r["status"] == "suspended")
