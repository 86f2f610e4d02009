"""Synthetic ledgers in the contract's layout, for samples, tests and benchmarks.

Every random draw is a hash of (seed, user, purpose, index), so the output depends only on the
seed and the sizes, never on how Spark partitions the work. The population mixes the behaviours
a real book has: steady and heavy users, occasional late payers, partial payers, delinquents who
stop paying, users who fall behind and recover, dormant, new, frozen and closed accounts.
"""

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.schemas import ACCOUNTS, AMOUNT, REPAYMENTS, TRANSACTIONS, names

# (archetype, share of the population, purchases a month)
ARCHETYPES = (
    ("steady", 0.40, 2.5),
    ("heavy", 0.12, 6.0),
    ("late", 0.14, 2.5),
    ("partial", 0.06, 3.0),
    ("delinquent", 0.035, 3.0),
    ("recovered", 0.035, 2.5),
    ("dormant", 0.10, 2.0),
    ("frozen", 0.01, 2.0),
    ("closed", 0.02, 1.5),
    ("new", 0.08, 3.0),
)
INITIAL_LIMITS = (1000, 2000, 3000, 5000, 5000, 8000, 10000, 15000, 20000)
NEW_ACCOUNT_LIMITS = (500, 1000, 1500, 2000, 3000)
DUE_AFTER_DAYS = 20
LATE_ROW_SHARE = 0.005
SNAPSHOT_EVERY_DAYS = 7
_MOD = 2_147_483_647


def uniform(seed: int, *parts: Column | str | int) -> Column:
    """A uniform draw in [0, 1) that depends only on the seed and `parts`."""
    cols = [p if isinstance(p, Column) else F.lit(p) for p in parts]
    return F.pmod(F.xxhash64(F.lit(seed), *cols), F.lit(_MOD)) / float(_MOD)


def _pick(u: Column, values: tuple) -> Column:
    return F.element_at(F.array(*[F.lit(v) for v in values]), (u * len(values)).cast("int") + 1)


def _between(u: Column, low: int, high: int) -> Column:
    """A whole number in [low, high]."""
    return (F.lit(low) + (u * (high - low + 1)).cast("int")).cast("int")


def _at(day: Column, second: Column) -> Column:
    return F.timestamp_seconds(F.unix_date(day).cast("long") * 86400 + second)


def make_users(ids: DataFrame, *, seed: int, start: date, end: date) -> DataFrame:
    """One row per user (from `ids`, a column `id` from 0): archetype and behaviour parameters."""
    u = lambda name: uniform(seed, F.col("user_id"), name)  # noqa: E731
    pick, edge = F, 0.0
    for name, share, _ in ARCHETYPES[:-1]:
        edge += share
        pick = pick.when(u("archetype") < edge, F.lit(name))
    pick = pick.otherwise(F.lit(ARCHETYPES[-1][0]))
    rate = F.create_map(*[x for name, _, r in ARCHETYPES for x in (F.lit(name), F.lit(r))])
    end_lit, start_lit = F.lit(end), F.lit(start)
    users = ids.select((F.col("id") + 1).cast("long").alias("user_id")).withColumn(
        "archetype", pick
    )
    kind = F.col("archetype")
    return (
        users.withColumn(
            "opened_on",
            F.when(kind == "new", F.date_sub(end_lit, _between(u("opened"), 10, 170))).otherwise(
                F.date_sub(start_lit, _between(u("opened"), 30, 1500))
            ),
        )
        .withColumn("billing_day", _between(u("billing_day"), 1, 28))
        .withColumn(
            "initial_limit",
            F.when(kind == "new", _pick(u("limit"), NEW_ACCOUNT_LIMITS))
            .otherwise(_pick(u("limit"), INITIAL_LIMITS))
            .cast(AMOUNT),
        )
        .withColumn("monthly_purchases", rate[kind] * (0.5 + u("rate")))
        .withColumn("log_order_value", F.log(F.lit(150.0)) + 0.4 * (u("value") - 0.5) * 2)
        .withColumn(
            "credit_propensity", F.when(kind == "heavy", 0.9).otherwise(0.3 + 0.6 * u("credit"))
        )
        .withColumn("installment_propensity", 0.05 + 0.3 * u("installments"))
        # The last day the user buys (dormant users stopped long ago, closed ones before closing).
        .withColumn(
            "closed_on",
            F.when(kind == "closed", F.date_sub(end_lit, _between(u("closed"), 30, 300))),
        )
        .withColumn(
            "frozen_from",
            F.when(kind == "frozen", F.date_sub(end_lit, _between(u("frozen"), 1, 300))),
        )
        .withColumn(
            "active_until",
            F.when(kind == "dormant", F.date_sub(end_lit, _between(u("dormant"), 190, 420)))
            .when(kind == "closed", F.date_sub(F.col("closed_on"), 60))
            .otherwise(end_lit),
        )
        .withColumn("active_from", F.greatest(F.col("opened_on"), start_lit))
        # Delinquents stop paying bills due after `stop_on`; the recovered pay late, then catch up.
        .withColumn(
            "stop_on",
            F.when(kind == "delinquent", F.date_sub(end_lit, _between(u("stop"), 20, 250))),
        )
        .withColumn(
            "cure_on",
            F.when(kind == "recovered", F.date_sub(end_lit, _between(u("cure"), 45, 240))),
        )
        .withColumn("behind_from", F.date_sub(F.col("cure_on"), _between(u("behind"), 40, 90)))
    )


def make_purchases(users: DataFrame, *, seed: int, end: date) -> DataFrame:
    """Purchases on all payment methods, and refunds of some of them a few days later."""
    active_days = F.datediff(F.col("active_until"), F.col("active_from")) + 1
    count = F.when(
        active_days > 0, F.round(F.col("monthly_purchases") * active_days / 30.0)
    ).otherwise(0)
    k = F.col("k")
    u = lambda name: uniform(seed, F.col("user_id"), name, k)  # noqa: E731
    z = F.sqrt(-2.0 * F.log(F.greatest(u("z1"), F.lit(1e-9)))) * F.cos(
        2 * 3.141592653589793 * u("z2")
    )
    credit = u("method") < F.col("credit_propensity")
    other_method = _pick(
        u("other_method"), ("debit_card", "debit_card", "wallet", "wallet", "other")
    )
    purchases = (
        users.withColumn(
            "k", F.explode(F.sequence(F.lit(1), F.greatest(count.cast("int"), F.lit(0))))
        )
        .filter(k >= 1)
        .select(
            "user_id",
            F.concat(F.lit("T"), F.col("user_id"), F.lit("-"), k).alias("txn_id"),
            _at(
                F.date_add(F.col("active_from"), (u("day") * active_days).cast("int")),
                (u("second") * 86400).cast("long"),
            ).alias("event_time"),
            F.lit("purchase").alias("txn_type"),
            F.greatest(F.lit(1.0), F.exp(F.col("log_order_value") + 0.9 * z))
            .cast(AMOUNT)
            .alias("amount"),
            F.when(credit, F.lit("credit")).otherwise(other_method).alias("payment_method"),
            F.when(
                credit,
                F.when(
                    u("installments") < F.col("installment_propensity"),
                    _pick(u("plan"), (3, 6, 12)),
                ).otherwise(1),
            )
            .cast("int")
            .alias("installments"),
            u("refund").alias("refund_draw"),
            _between(u("refund_after"), 1, 14).alias("refund_after"),
        )
    )
    refunds = purchases.filter(F.col("refund_draw") < 0.03).select(
        "user_id",
        F.concat(F.col("txn_id"), F.lit("-R")).alias("txn_id"),
        (F.col("event_time") + F.make_interval(days=F.col("refund_after"))).alias("event_time"),
        F.lit("refund").alias("txn_type"),
        "amount",
        "payment_method",
        "installments",
    )
    rows = purchases.select(*names(TRANSACTIONS)).unionByName(refunds)
    return rows.filter(F.to_date("event_time") <= F.lit(end))


def _statement_after(day: Column) -> Column:
    """The first statement date after `day` (statements fall on the user's billing day)."""
    month = F.trunc(day, "month")
    month = F.when(F.dayofmonth(day) >= F.col("billing_day"), F.add_months(month, 1)).otherwise(
        month
    )
    return F.make_date(F.year(month), F.month(month), F.col("billing_day"))


def make_bills(users: DataFrame, transactions: DataFrame, *, end: date) -> DataFrame:
    """Monthly statements of credit spend: installments billed over their months, refunds netted."""
    credit = transactions.filter(F.col("payment_method") == "credit").join(
        users.select("user_id", "billing_day"), "user_id"
    )
    sign = F.when(F.col("txn_type") == "refund", -1).otherwise(1)
    n = F.when(F.col("txn_type") == "refund", 1).otherwise(F.col("installments"))
    part = F.round(F.col("amount") / n, 2)
    charges = credit.withColumn("i", F.explode(F.sequence(F.lit(0), n - 1))).select(
        "user_id",
        F.add_months(_statement_after(F.to_date("event_time")), F.col("i")).alias("statement_on"),
        (sign * F.when(F.col("i") < n - 1, part).otherwise(F.col("amount") - part * (n - 1))).alias(
            "charge"
        ),
    )
    return (
        charges.filter(F.col("statement_on") <= F.lit(end))
        .groupBy("user_id", "statement_on")
        .agg(F.sum("charge").cast(AMOUNT).alias("amount"))
        .filter(F.col("amount") > 0)
        .withColumn("due_date", F.date_add(F.col("statement_on"), DUE_AFTER_DAYS))
        .withColumn(
            "bill_id",
            F.concat(
                F.lit("BL"), F.col("user_id"), F.lit("-"), F.date_format("statement_on", "yyyyMMdd")
            ),
        )
    )


def make_payments(users: DataFrame, bills: DataFrame, *, seed: int, end: date) -> DataFrame:
    """The payments each archetype makes against its bills (on time, late, partly, or never)."""
    u = lambda name: uniform(seed, F.col("bill_id"), name)  # noqa: E731
    kind = F.col("archetype")
    due = F.col("due_date")
    on_time = F.greatest(
        F.date_add(F.col("statement_on"), 1), F.date_sub(due, _between(u("early"), 0, 15))
    )
    late_share = (
        F.when(kind == "late", 0.30)
        .when(kind == "heavy", 0.05)
        .when(kind == "new", 0.10)
        .otherwise(0.02)
    )
    very_late = (kind == "late") & (u("very_late") < 0.04)
    lateness = F.when(very_late, _between(u("lateness"), 31, 45)).otherwise(
        _between(u("lateness"), 1, 12)
    )
    paid_on = F.when(u("late") < late_share, F.date_add(due, lateness)).otherwise(on_time)
    stopped = (kind == "delinquent") & (due > F.col("stop_on"))
    behind = (kind == "recovered") & (due >= F.col("behind_from")) & (due < F.col("cure_on"))
    paid_on = F.when(behind, F.col("cure_on")).otherwise(paid_on)
    first_share = F.when(kind == "partial", 0.5 + 0.4 * u("share")).otherwise(1.0)
    first = (F.col("amount") * first_share).cast(AMOUNT)
    bills_of = bills.join(
        users.select("user_id", "archetype", "stop_on", "behind_from", "cure_on"), "user_id"
    ).filter(~stopped)
    payments = bills_of.select(
        "user_id",
        "bill_id",
        F.array(
            F.struct(F.lit("1").alias("n"), paid_on.alias("paid_on"), first.alias("amount")),
            F.struct(
                F.lit("2").alias("n"),
                F.date_add(due, _between(u("rest"), 5, 40)).alias("paid_on"),
                (F.col("amount") - first).cast(AMOUNT).alias("amount"),
            ),
        ).alias("parts"),
    ).select("user_id", "bill_id", F.explode("parts").alias("p"))
    return payments.filter((F.col("p.amount") > 0) & (F.col("p.paid_on") <= F.lit(end))).select(
        F.concat(F.lit("P"), F.col("bill_id"), F.lit("-"), F.col("p.n")).alias("entry_id"),
        "user_id",
        "bill_id",
        F.lit("payment").alias("entry_type"),
        F.col("p.amount").alias("amount"),
        F.lit(None).cast("date").alias("due_date"),
        _at(
            F.col("p.paid_on"),
            (uniform(seed, F.col("bill_id"), F.col("p.n"), "s") * 86400).cast("long"),
        ).alias("event_time"),
    )


def bill_entries(bills: DataFrame) -> DataFrame:
    return bills.select(
        F.concat(F.lit("B"), F.col("bill_id")).alias("entry_id"),
        "user_id",
        "bill_id",
        F.lit("bill").alias("entry_type"),
        "amount",
        "due_date",
        _at(F.col("statement_on"), F.lit(7200).cast("long")).alias("event_time"),
    ).select(*names(REPAYMENTS))


def with_recorded_day(rows: DataFrame, *, seed: int, id_column: str, end: date) -> DataFrame:
    """Adds `dt`, the day a row is recorded: its event's day, a few days later for a few rows."""
    u = uniform(seed, F.col(id_column), "late_row")
    lag = F.when(
        u < LATE_ROW_SHARE, _between(uniform(seed, F.col(id_column), "lag"), 1, 3)
    ).otherwise(0)
    recorded = F.date_add(F.to_date("event_time"), lag)
    return rows.withColumn(
        "dt", F.when(recorded > F.lit(end), F.to_date("event_time")).otherwise(recorded)
    )


def make_account_snapshots(users: DataFrame, snapshot_days: DataFrame) -> DataFrame:
    """The account master as of each day in `snapshot_days` (a column `dt`)."""
    status = (
        F.when(F.col("closed_on") <= F.col("dt"), "closed")
        .when(F.col("frozen_from") <= F.col("dt"), "frozen")
        .otherwise("active")
    )
    return (
        users.crossJoin(snapshot_days)
        .filter(F.col("opened_on") <= F.col("dt"))
        .withColumn("status", status)
        .select(*names(ACCOUNTS), "dt")
    )


def snapshot_dates(start: date, end: date) -> list[date]:
    """Weekly snapshot days back from the end, the first on or before the ledger's start."""
    days, day = [], end
    while day > start - timedelta(days=SNAPSHOT_EVERY_DAYS):
        days.append(day)
        day -= timedelta(days=SNAPSHOT_EVERY_DAYS)
    return sorted(days)


# Signals from other sources: (source, name, share of accounts reported, value by archetype).
BUREAU_SHARE, UTILITY_SHARE = 0.70, 0.25
BUREAU_SCORE = {
    "steady": 720,
    "heavy": 700,
    "late": 640,
    "partial": 610,
    "delinquent": 520,
    "recovered": 620,
    "dormant": 690,
    "frozen": 560,
    "closed": 650,
    "new": 680,
}
UTILITY_ON_TIME = {
    "steady": 0.97,
    "heavy": 0.95,
    "late": 0.82,
    "partial": 0.78,
    "delinquent": 0.55,
    "recovered": 0.80,
    "dormant": 0.93,
    "frozen": 0.70,
    "closed": 0.90,
    "new": 0.92,
}
SIGNAL_LAG_DAYS = 3  # an observation is recorded up to this many days after it was made


def _by_archetype(values: dict) -> Column:
    return F.create_map(*[x for k, v in values.items() for x in (F.lit(k), F.lit(v))])[
        F.col("archetype")
    ]


def make_signals(users: DataFrame, *, seed: int, start: date, end: date) -> DataFrame:
    """Monthly observations (SIGNALS columns and `dt`, the day recorded) of a bureau score
    (300-850) for about 70 % of accounts and a utility's on-time payment rate for about 25 %,
    both lower for the riskier archetypes, each account on a day of the month of its own, from
    its opening; recorded 0-3 days after they were made."""
    months = F.sequence(F.lit(start.replace(day=1)), F.lit(end), F.expr("interval 1 month"))
    per_user = lambda name: uniform(seed, F.col("user_id"), name)  # noqa: E731
    monthly = lambda name: uniform(seed, F.col("user_id"), name, F.col("month"))  # noqa: E731
    noise = monthly("noise_a") + monthly("noise_b") - 1.0  # in (-1, 1), peaked at 0
    sources = [
        (
            "bureau",
            "score",
            BUREAU_SHARE,
            F.round(
                F.least(
                    F.lit(850.0),
                    F.greatest(
                        F.lit(300.0),
                        _by_archetype(BUREAU_SCORE)
                        + 60 * (per_user("bureau_base") - 0.5)
                        + 25 * noise,
                    ),
                )
            ),
        ),
        (
            "utility",
            "on_time_rate",
            UTILITY_SHARE,
            F.round(
                F.least(
                    F.lit(1.0),
                    F.greatest(F.lit(0.0), _by_archetype(UTILITY_ON_TIME) + 0.06 * noise),
                ),
                3,
            ),
        ),
    ]
    observed = users.select(
        "user_id", "archetype", "opened_on", F.explode(months).alias("month")
    ).withColumn(
        "observed_on",
        F.date_add(F.col("month"), _between(per_user("signal_day"), 0, 27)),
    )
    rows = None
    for source, name, share, value in sources:
        part = observed.filter(per_user(f"has_{source}") < share).select(
            "user_id",
            F.lit(source).alias("source"),
            F.lit(name).alias("name"),
            value.cast("double").alias("value"),
            "observed_on",
        )
        rows = part if rows is None else rows.unionByName(part)
    lag = _between(
        uniform(seed, F.col("user_id"), F.col("source"), F.col("observed_on")), 0, SIGNAL_LAG_DAYS
    )
    return (
        rows.join(users.select("user_id", "opened_on"), "user_id")
        .filter((F.col("observed_on") >= F.col("opened_on")) & (F.col("observed_on") <= F.lit(end)))
        .withColumn("dt", F.least(F.date_add(F.col("observed_on"), lag), F.lit(end)))
        .drop("opened_on")
    )
