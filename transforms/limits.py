"""The limit decision: suspension, reinstatement, raise, cut or hold, under the contract's rules.

Every intermediate of the decision stays in a `d_` column so that `rerate explain` can show each
step; the job keeps only the contract's columns when it writes.
"""

from datetime import date, timedelta
from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.policy import LimitRules
from transforms.schemas import AMOUNT

# Reason codes the decision itself gives (the scorecard's come from the policy file).
GOOD_STANDING = "GOOD_STANDING"
ACCOUNT_FROZEN = "ACCOUNT_FROZEN"
DELINQUENT = "DELINQUENT"
DELINQUENCY_CURED = "DELINQUENCY_CURED"
HOLD_RELEASED = "HOLD_RELEASED"
LIMIT_POLICY_RANGE = "LIMIT_POLICY_RANGE"
RECOVERY_PLAN = "RECOVERY_PLAN"
UTILIZATION_SPIKE = "UTILIZATION_SPIKE"
DECISION_REASONS = (
    GOOD_STANDING,
    RECOVERY_PLAN,
    UTILIZATION_SPIKE,
    ACCOUNT_FROZEN,
    DELINQUENT,
    DELINQUENCY_CURED,
    HOLD_RELEASED,
    LIMIT_POLICY_RANGE,
)

# The values of `d_step`: which rule decided the account. A cut short of suspension is first
# announced (`announce`: the limit is held), waits out its notice (`notice_pending`), then applies
# (`decrease`); see transforms.notices.
STEPS = (
    "closed",
    "suspend",
    "stay_suspended",
    "reinstate",
    "increase",
    "announce",
    "notice_pending",
    "decrease",
    "hold",
)


def _amount(value: Decimal) -> Column:
    return F.lit(value).cast(AMOUNT)


def _floor_grid(amount: Column, rules: LimitRules) -> Column:
    step = _amount(rules.limit_step)
    return (F.floor(amount / step) * step).cast(AMOUNT)


def _ceil_grid(amount: Column, rules: LimitRules) -> Column:
    step = _amount(rules.limit_step)
    return (F.ceil(amount / step) * step).cast(AMOUNT)


def _clamp(amount: Column, rules: LimitRules) -> Column:
    return F.least(_amount(rules.max_limit), F.greatest(_amount(rules.min_limit), amount)).cast(
        AMOUNT
    )


def _band_value(score: Column, rules: LimitRules, value_of) -> Column:
    """The value `value_of(band)` of the band `score` falls in (bands are best first)."""
    expr = F.lit(value_of(rules.bands[-1]))
    for band in reversed(rules.bands[:-1]):
        expr = F.when(score >= band.min_score, F.lit(value_of(band))).otherwise(expr)
    return expr


def band_of(score: Column, rules: LimitRules) -> Column:
    return _band_value(score, rules, lambda b: b.name)


def _band_max_limit(score: Column, rules: LimitRules) -> Column:
    return _band_value(score, rules, lambda b: b.max_limit).cast(AMOUNT)


def decide_limits(scored: DataFrame, *, rules: LimitRules, as_of: date) -> DataFrame:
    """Adds the decision: `credit_limit`, `limit_status`, `segment`, `change_reasons`, `old_limit`,
    `old_status` and the `d_` steps. Needs the scored features joined with the previous state."""
    as_of_lit = F.lit(as_of)
    zero = _amount(Decimal("0.00"))
    first_run = F.col("prev_status").isNull() | (F.col("prev_status") == "closed")
    old_limit = (
        F.when(first_run, F.col("initial_limit")).otherwise(F.col("prev_limit")).cast(AMOUNT)
    )
    old_status = F.when(first_run, F.lit("active")).otherwise(F.col("prev_status"))

    band_max = _band_max_limit(F.col("score"), rules)
    days_since_raise = F.datediff(as_of_lit, F.col("last_raise_on"))
    days_since_increase = F.datediff(as_of_lit, F.col("last_increase_on"))
    days_suspended = F.datediff(as_of_lit, F.col("suspended_on"))
    pre_suspension = F.coalesce(F.col("pre_suspension_limit"), F.col("initial_limit"))
    recovery_target = _floor_grid(F.col("pre_suspension_limit"), rules)
    spend_target = _floor_grid(
        F.col("avg_monthly_spend_180d")
        * _band_value(F.col("score"), rules, lambda b: b.spend_multiple).cast("decimal(10,2)"),
        rules,
    )
    # One projection per level of dependence (each withColumn would re-analyse the whole plan).
    facts = scored.withColumns(
        {
            "old_limit": old_limit,
            "old_status": old_status,
            "d_band": band_of(F.col("score"), rules),
            "d_frozen": F.col("status") == "frozen",
            "d_delinquent": F.col("current_dpd") > rules.suspend_dpd,
            "d_good_standing": (F.col("current_dpd") == 0)
            & (F.col("serious_delinquencies_365d") == 0),
            "d_dormant": F.col("days_since_last_purchase").isNull()
            | (F.col("days_since_last_purchase") >= rules.dormant_days),
            "d_seasoned": F.col("tenure_days") >= rules.new_account_wait_days,
            "d_cooled_down": days_since_raise.isNull()
            | (days_since_raise >= rules.increase_cooldown_days),
            # Reinstatement: nothing past due, suspended long enough, back at a share of the
            # old limit.
            "d_days_suspended": days_suspended,
            "d_can_reinstate": (F.col("current_dpd") == 0)
            & (
                F.coalesce(days_suspended, F.lit(rules.reinstate_after_days))
                >= rules.reinstate_after_days
            ),
            "d_reinstate_limit": F.least(
                band_max,
                F.greatest(
                    _amount(rules.min_limit),
                    _floor_grid(pre_suspension * F.lit(rules.reinstate_ratio), rules),
                ),
            ).cast(AMOUNT),
            # A cut never goes below the balance rounded up to the grid, nor below min_limit.
            "d_cut_floor": F.greatest(
                _ceil_grid(F.greatest(F.col("balance"), zero), rules), _amount(rules.min_limit)
            ),
        }
    )
    # An off-grid or out-of-range old limit (only an initial limit can be) is held on the grid.
    held = facts.withColumn("d_held", _clamp(_floor_grid(F.col("old_limit"), rules), rules))

    # A raise: clean, seasoned, using the line, cooled down; towards what band and spend support.
    # A reinstated account is on the recovery plan instead: back towards its pre-suspension limit
    # in capped steps, one per cool-down, while nothing is past due (a past serious delinquency
    # would otherwise hold it at half for a year).
    # A cut: only on a risk reason, never for a dormant account in good standing, with a margin
    # (the score must sit `decrease_margin_points` inside the lower band).
    # Cash-out: the line used up right after an increase. The unused room goes at once (no margin
    # needed), down to the balance floor.
    raise_cap = _floor_grid(F.col("d_held") * F.lit(Decimal(1) + rules.max_increase_ratio), rules)
    cut_band_limit = _band_max_limit(F.col("score") + rules.decrease_margin_points, rules)
    options = held.withColumns(
        {
            "d_recovering": F.coalesce(
                (F.col("old_status") == "active")
                & (F.col("last_raise_on") >= F.col("suspended_on"))
                & (recovery_target > F.col("d_held")),
                F.lit(False),
            ),
            "d_raise_cap": F.least(raise_cap, _amount(rules.max_limit)).cast(AMOUNT),
            "d_cut_to": F.greatest(cut_band_limit, F.col("d_cut_floor")).cast(AMOUNT),
            "d_cash_out": F.coalesce(
                (F.col("old_status") == "active")
                & (days_since_increase <= rules.cash_out_days)
                & (F.col("utilization") >= F.lit(float(rules.cash_out_utilization)))
                & (F.col("d_cut_floor") < F.col("d_held")),
                F.lit(False),
            ),
        }
    ).withColumn(
        "d_raise_target",
        F.least(
            band_max, F.when(F.col("d_recovering"), recovery_target).otherwise(spend_target)
        ).cast(AMOUNT),
    )
    eligible = F.when(F.col("d_recovering"), F.col("current_dpd") == 0).otherwise(
        F.col("d_good_standing") & F.col("d_seasoned") & (F.col("credit_purchase_count_90d") > 0)
    )
    raise_to = F.least(F.col("d_raise_target"), F.col("d_raise_cap"))
    min_raise = F.col("d_held") * F.lit(Decimal(1) + rules.min_increase_ratio)
    wishes = options.withColumns(
        {
            "d_raise_to": raise_to,
            "d_wants_raise": eligible
            & ~F.col("d_dormant")
            & F.col("d_cooled_down")
            & (raise_to >= min_raise)
            & (raise_to > F.col("d_held")),
            "d_wants_cut": (F.size("risk_reason_codes") > 0)
            & ~(F.col("d_dormant") & F.col("d_good_standing"))
            & (F.col("d_cut_to") < F.col("d_held")),
        }
    )

    was_suspended = F.col("old_status") == "suspended"
    wish = (
        F.when(F.col("status") == "closed", "closed")
        .when(F.col("d_frozen") | F.col("d_delinquent"), "suspend")
        .when(was_suspended & F.col("d_can_reinstate"), "reinstate")
        .when(was_suspended, "stay_suspended")
        .when(F.col("d_cash_out"), "decrease")
        .when(F.col("d_wants_raise"), "increase")
        .when(F.col("d_wants_cut"), "decrease")
        .otherwise("hold")
    )
    # No cut without notice: a wished cut is announced, waits `decrease_notice_days`, and then
    # applies, never deeper than announced. Only an account active in the previous run carries a
    # notice (a closed account that reopens starts afresh).
    pending = F.col("pending_effective_date").isNotNull() & (F.col("prev_status") == "active")
    step = (
        F.when(F.col("d_wish") != "decrease", F.col("d_wish"))
        .when(~pending, "announce")
        .when(as_of_lit < F.col("pending_effective_date"), "notice_pending")
        .when(F.col("d_apply_to") < F.col("d_held"), "decrease")
        .otherwise("hold")
    )
    cut_limit = F.when(F.col("d_cash_out"), F.col("d_cut_floor")).otherwise(F.col("d_cut_to"))
    new_limit = (
        F.when(F.col("d_step").isin("closed", "suspend", "stay_suspended"), zero)
        .when(F.col("d_step") == "reinstate", F.col("d_reinstate_limit"))
        .when(F.col("d_step") == "increase", F.col("d_raise_to"))
        .when(F.col("d_step") == "decrease", F.col("d_apply_to"))
        .otherwise(F.col("d_held"))
    )
    limit_status = (
        F.when(F.col("d_step") == "closed", "closed")
        .when(F.col("d_step").isin("suspend", "stay_suspended"), "suspended")
        .otherwise("active")
    )
    return (
        wishes.withColumns(
            {
                "d_wish": wish,
                "d_has_notice": pending,
                # the first date a cut announced by this run may apply
                "d_notice_until": F.lit(as_of + timedelta(days=rules.decrease_notice_days)),
                "d_cut_limit": cut_limit.cast(AMOUNT),
                "d_apply_to": F.greatest(
                    cut_limit, F.coalesce(F.col("pending_proposed_limit"), cut_limit)
                ).cast(AMOUNT),
            }
        )
        .withColumn("d_step", step)
        .withColumns(
            {
                "credit_limit": new_limit.cast(AMOUNT),
                "limit_status": limit_status,
                "segment": F.when(
                    F.col("d_dormant") & (F.col("d_step") != "closed"), F.lit("dormant")
                ),
                "account_reasons": _account_reasons(),
                "change_reasons": _change_reasons(),
                "cut_reasons": _cut_reasons(),
            }
        )
    )


def _account_reasons() -> Column:
    """limits.reason_codes: why the score is not higher, with a manual hold named first."""
    frozen = F.when(F.col("d_frozen"), F.array(F.lit(ACCOUNT_FROZEN))).otherwise(F.array())
    return F.slice(F.array_distinct(F.concat(frozen, F.col("reason_codes"))), 1, 4)


def _change_reasons() -> Column:
    """Why the limit or status changed: never empty for a cut or a suspension."""
    empty = F.array().cast("array<string>")
    # A hold names only itself; a delinquency also names the risk behind it.
    suspend = F.concat(
        F.when(F.col("d_frozen"), F.array(F.lit(ACCOUNT_FROZEN))).otherwise(empty),
        F.when(
            F.col("d_delinquent"), F.concat(F.array(F.lit(DELINQUENT)), F.col("risk_reason_codes"))
        ).otherwise(empty),
    )
    released = F.array_contains(F.coalesce(F.col("suspension_reasons"), empty), ACCOUNT_FROZEN)
    off_grid = F.when(F.col("d_held") < F.col("old_limit"), F.array(F.lit(LIMIT_POLICY_RANGE)))
    reasons = (
        F.when(F.col("d_step") == "suspend", suspend)
        .when(
            F.col("d_step") == "reinstate",
            F.when(released, F.array(F.lit(HOLD_RELEASED))).otherwise(
                F.array(F.lit(DELINQUENCY_CURED))
            ),
        )
        .when(
            F.col("d_step") == "increase",
            F.when(
                F.col("d_recovering"), F.array(F.lit(GOOD_STANDING), F.lit(RECOVERY_PLAN))
            ).otherwise(F.array(F.lit(GOOD_STANDING))),
        )
        .when(F.col("d_step") == "decrease", _cut_reasons())
        .otherwise(F.coalesce(off_grid, empty))
    )
    return F.slice(F.array_distinct(reasons), 1, 4)


def _cut_reasons() -> Column:
    """Why a cut is wished (announced or applied): never empty when one is."""
    empty = F.array().cast("array<string>")
    spike = F.when(F.col("d_cash_out"), F.array(F.lit(UTILIZATION_SPIKE))).otherwise(empty)
    wished = F.slice(F.array_distinct(F.concat(spike, F.col("risk_reason_codes"))), 1, 4)
    return F.when(F.col("d_wish") == "decrease", wished).otherwise(empty)
