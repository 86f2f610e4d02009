"""Per-account behaviour features as of the run date, from the accepted ledger rows.

Balances and bill status come from the whole ledger; the look-back windows (days ending on the
run date, inclusive) limit only the behaviour features. Every feature is documented in the README.
"""

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.money import cents, money_sum
from transforms.schemas import AMOUNT

WINDOWS = (30, 90, 180, 365)
LONGEST_WINDOW = max(WINDOWS)

TOTAL_COLUMNS = ("credit_purchases_total", "credit_refunds_total", "payments_total")

# The features a scorecard characteristic may bin (the loader checks the policy against this).
FEATURE_NAMES = (
    "current_dpd",
    "worst_dpd_365d",
    "serious_delinquencies_365d",
    "on_time_rate_365d",
    "payment_ratio_180d",
    "utilization",
    "refund_rate_180d",
    "installment_share_180d",
    "credit_share_180d",
    "tenure_days",
    "active_months_365d",
    "days_since_last_purchase",
    *(f"purchase_count_{w}d" for w in WINDOWS),
    "avg_order_value_365d",
    "avg_monthly_spend_180d",
)


def _event_date() -> Column:
    return F.to_date("event_time")


def within(days: int, as_of: date, day: Column) -> Column:
    """The day is one of the `days` days ending on `as_of`."""
    return day > F.date_sub(F.lit(as_of), days)


def _share(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator > 0, (numerator / denominator).cast("double"))


SETTLED_BILL_COLUMNS = (
    "bill_id",
    "user_id",
    "bill_amount",
    "due_date",
    "paid_amount",
    "paid_by_due",
    "settled_on",
)


def settle_bills(repayments: DataFrame) -> DataFrame:
    """One row per bill (SETTLED_BILL_COLUMNS): amount, due date, what was paid, what was paid
    by the due date, and when it was settled (if it was). Each bill's row depends on its own
    repayment rows only, so a night re-settles just the bills its rows name (transforms.carry).
    Accepted rows have one `bill` row per bill; payments of a bill without one are waiting for
    it and settle nothing yet.

    A bill is settled on the day its payments add up to its amount.
    """
    is_bill = F.col("entry_type") == "bill"
    is_payment = F.col("entry_type") == "payment"
    # One pass over a bill's rows, its bill row first and then its payments in the order they
    # were made: the rows are read and shuffled once, not once as bills and twice as payments.
    bill_first = Window.partitionBy("bill_id").orderBy(
        F.when(is_bill, 0).otherwise(1), "event_time", "entry_id"
    )
    of_bill = {
        "_bill_amount": F.first(F.when(is_bill, F.col("amount")), ignorenulls=True),
        "_due_date": F.first(F.when(is_bill, F.col("due_date")), ignorenulls=True),
        "_paid_cents_so_far": F.sum(F.when(is_payment, cents(F.col("amount")))),
    }
    paid_by_due = is_payment & (_event_date() <= F.col("_due_date"))
    settles = is_payment & (F.col("_paid_cents_so_far") >= cents(F.col("_bill_amount")))
    return (
        repayments.withColumns({name: value.over(bill_first) for name, value in of_bill.items()})
        .groupBy("bill_id")
        .agg(
            F.max(is_bill).alias("_has_bill"),
            F.max(F.when(is_bill, F.col("user_id"))).alias("user_id"),
            F.max(F.when(is_bill, F.col("amount"))).alias("bill_amount"),
            F.max(F.when(is_bill, F.col("due_date"))).alias("due_date"),
            money_sum(F.when(is_payment, F.col("amount"))).alias("paid_amount"),
            money_sum(F.when(paid_by_due, F.col("amount"))).alias("paid_by_due"),
            F.min(F.when(settles, _event_date())).alias("settled_on"),
        )
        .filter(F.col("_has_bill"))
        .fillna(0, subset=["paid_amount", "paid_by_due"])
        .select(*SETTLED_BILL_COLUMNS)
    )


def days_past_due(bills: DataFrame, *, as_of: date) -> DataFrame:
    """Settled bills with the days past due on `as_of` (`dpd_now`: 0 once settled) and at their
    worst (`max_dpd`: until settled, or until `as_of`)."""
    as_of_lit = F.lit(as_of)
    return bills.withColumns(
        {
            "dpd_now": F.when(
                F.col("settled_on").isNull() & (as_of_lit > F.col("due_date")),
                F.datediff(as_of_lit, F.col("due_date")),
            ).otherwise(0),
            "max_dpd": F.greatest(
                F.datediff(F.coalesce("settled_on", as_of_lit), F.col("due_date")), F.lit(0)
            ),
        }
    )


def aggregate_repayment_behaviour(bills: DataFrame, *, as_of: date, suspend_dpd: int) -> DataFrame:
    """Per user, from the settled bills (settle_bills): days past due now and in 12 months,
    on-time rate, payment ratio, bills billed."""
    as_of_lit = F.lit(as_of)
    due_before_today = F.col("due_date") < as_of_lit
    due_in = lambda days: due_before_today & (F.col("due_date") > F.date_sub(as_of_lit, days))  # noqa: E731
    # A delinquency counts in the 12 months if it was still running within them.
    overlaps_year = F.coalesce("settled_on", as_of_lit) > F.date_sub(as_of_lit, 365)
    on_time = F.col("settled_on").isNotNull() & (F.col("settled_on") <= F.col("due_date"))
    billed_180 = F.sum(F.when(due_in(180), F.col("bill_amount")))
    paid_180 = F.sum(F.when(due_in(180), F.least(F.col("paid_amount"), F.col("bill_amount"))))
    return (
        days_past_due(bills, as_of=as_of)
        .groupBy("user_id")
        .agg(
            F.max("dpd_now").alias("current_dpd"),
            F.max(F.when(overlaps_year, F.col("max_dpd"))).alias("worst_dpd_365d"),
            F.count(F.when(overlaps_year & (F.col("max_dpd") > suspend_dpd), True)).alias(
                "serious_delinquencies_365d"
            ),
            F.avg(F.when(due_in(365), on_time.cast("double"))).alias("on_time_rate_365d"),
            _share(paid_180, billed_180).alias("payment_ratio_180d"),
            F.count(F.when(due_in(365), True)).alias("bills_due_365d"),
        )
    )


def build_features(
    accounts: DataFrame,
    purchases: DataFrame,
    repayment_behaviour: DataFrame,
    totals: DataFrame,
    previous: DataFrame,
    *,
    as_of: date,
    signals: DataFrame | None = None,
) -> DataFrame:
    """One row per account of the snapshot, with every feature in FEATURE_NAMES and the balance,
    and the signal columns of `signals` (transforms.signals.signal_features; null where the
    account has none).

    `totals` holds the all-time sums of the balance and the last purchase (transforms.carry);
    `previous` is the previous published state per user (`prev_limit`, may be empty); the
    utilization is measured against the limit the account had going into this run.
    """
    zero = F.lit(0).cast(AMOUNT)
    as_of_lit = F.lit(as_of)
    joined = (
        accounts.join(purchases, "user_id", "left")
        .join(repayment_behaviour, "user_id", "left")
        .join(totals, "user_id", "left")
        .join(previous.select("user_id", "prev_limit"), "user_id", "left")
    )
    if signals is not None:
        joined = joined.join(signals, "user_id", "left")
    balance = (
        F.coalesce("credit_purchases_total", zero)
        - F.coalesce("credit_refunds_total", zero)
        - F.coalesce("payments_total", zero)
    ).cast(AMOUNT)
    reference_limit = F.when(F.col("prev_limit") > 0, F.col("prev_limit")).otherwise(
        F.col("initial_limit")
    )
    tenure = F.datediff(as_of_lit, F.col("opened_on"))
    observed_months = F.least(F.lit(180), F.greatest(F.lit(30), tenure)) / 30.0
    counts = [f"purchase_count_{w}d" for w in WINDOWS] + [
        "active_months_365d",
        "credit_purchase_count_90d",
    ]
    amounts = [f"purchase_amount_{w}d" for w in WINDOWS] + [
        "credit_purchase_amount_180d",
        "installment_amount_180d",
        "refund_amount_180d",
    ]
    return (
        joined.fillna(
            0,
            subset=counts
            + amounts
            + ["current_dpd", "serious_delinquencies_365d", "bills_due_365d"],
        )
        .withColumn("balance", balance)
        .withColumns(
            {
                "worst_dpd_365d": F.coalesce("worst_dpd_365d", F.lit(0)),
                "utilization": _share(F.greatest(F.col("balance"), zero), reference_limit),
                "refund_rate_180d": _share(
                    F.col("refund_amount_180d"), F.col("purchase_amount_180d")
                ),
                "credit_share_180d": _share(
                    F.col("credit_purchase_amount_180d"), F.col("purchase_amount_180d")
                ),
                "installment_share_180d": _share(
                    F.col("installment_amount_180d"), F.col("credit_purchase_amount_180d")
                ),
                "tenure_days": tenure,
                "days_since_last_purchase": F.datediff(as_of_lit, F.col("last_purchase_on")),
                "avg_order_value_365d": _share(
                    F.col("purchase_amount_365d"), F.col("purchase_count_365d")
                ),
                "avg_monthly_spend_180d": (F.col("purchase_amount_180d") / observed_months).cast(
                    AMOUNT
                ),
            }
        )
        .drop(*TOTAL_COLUMNS, "prev_limit")
    )
