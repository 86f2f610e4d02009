"""Row checks of the ledgers: each refused row gets one reason code, the first rule it breaks.

The ledgers arrive with their source: `dt` (the partition the row was recorded in),
`source_file` and `source_row`. Of two rows with one id the one recorded first is kept
(earliest dt, then file name, then position), so a replayed feed is refused row by row.
"""

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.policy import SIGNAL_WORD
from transforms.schemas import (
    ACCOUNT_STATUSES,
    ENTRY_TYPES,
    LEDGER_ID,
    LEDGER_SCHEMAS,
    PAYMENT_METHODS,
    TXN_TYPES,
    names,
)

REJECT_REASON = "reject_reason"
# On checked event-ledger rows: whether the row is the first recorded of its id, the row the
# duplicate rule keeps and the id index holds (flagged by the checks' own sort, not sorted again).
FIRST_OF_ID = "first_of_id"
SOURCE_COLUMNS = ("dt", "source_file", "source_row")

# Every reason a row can be refused for, by ledger, in the order the rules are tried.
REASONS = {
    "transactions": (
        "NULL_TXN_ID",
        "NULL_USER_ID",
        "NULL_EVENT_TIME",
        "EVENT_AFTER_PARTITION",
        "UNKNOWN_TXN_TYPE",
        "NULL_AMOUNT",
        "NON_POSITIVE_AMOUNT",
        "UNKNOWN_PAYMENT_METHOD",
        "INVALID_INSTALLMENTS",
        "UNEXPECTED_INSTALLMENTS",
        "DUPLICATE_ID",
    ),
    "repayments": (
        "NULL_ENTRY_ID",
        "NULL_USER_ID",
        "NULL_BILL_ID",
        "NULL_EVENT_TIME",
        "EVENT_AFTER_PARTITION",
        "UNKNOWN_ENTRY_TYPE",
        "NULL_AMOUNT",
        "NON_POSITIVE_AMOUNT",
        "BILL_WITHOUT_DUE_DATE",
        "PAYMENT_WITH_DUE_DATE",
        "DUPLICATE_ID",
        "DUPLICATE_BILL",
        "BILL_USER_MISMATCH",
    ),
    "signals": (
        "NULL_USER_ID",
        "NULL_SOURCE",
        "NULL_NAME",
        "NOT_LOWER_CASE",
        "NULL_VALUE",
        "NON_FINITE_VALUE",
        "NULL_OBSERVED_ON",
        "OBSERVED_AFTER_PARTITION",
        "DUPLICATE_OBSERVATION",
    ),
    "accounts": (
        "NULL_USER_ID",
        "NULL_OPENED_ON",
        "OPENED_AFTER_SNAPSHOT",
        "NULL_INITIAL_LIMIT",
        "NON_POSITIVE_INITIAL_LIMIT",
        "UNKNOWN_STATUS",
        "DUPLICATE_ID",
    ),
}


def _blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def _after_partition_day() -> Column:
    return F.col("event_time") >= F.to_timestamp(F.date_add(F.col("dt"), 1))


def _not_in(column: str, allowed: tuple[str, ...]) -> Column:
    return F.col(column).isNull() | ~F.col(column).isin(*allowed)


def _first_reason(rules: list[tuple[str, Column]]) -> Column:
    expr = F.lit(None).cast("string")
    for reason, broken in reversed(rules):
        expr = F.when(broken, F.lit(reason)).otherwise(expr)
    return expr


def _recorded_order() -> list[Column]:
    return [F.col(c).asc() for c in SOURCE_COLUMNS]


def _is_later_copy(key: str, valid: Column) -> Column:
    """True on every row of `key` but the one recorded first, among rows where `valid`."""
    order = Window.partitionBy(F.when(valid, F.col(key))).orderBy(*_recorded_order())
    return valid & (F.row_number().over(order) > 1)


KEY_HASH = "_key_hash"


def _key_hash(key: str) -> Column:
    """A long standing in for the key while keys are counted: cheaper to shuffle and group than
    a string. Two keys sharing a hash are only both looked at closely, by their own value."""
    return F.xxhash64(key).alias(KEY_HASH)


def _rows_hashed_in(rows: DataFrame, key: str, hashes: DataFrame) -> DataFrame:
    return (
        rows.withColumn(KEY_HASH, _key_hash(key))
        .join(F.broadcast(hashes), KEY_HASH, "left_semi")
        .drop(KEY_HASH)
    )


def _with_found(rows: DataFrame, found: DataFrame, key: str, *columns: Column) -> DataFrame:
    """`rows` with `columns`, computed from `found` (a few rows by `key`) where it has the row's
    key: broadcast to the rows where they lie, not shuffled."""
    return (
        rows.alias("_row")
        .join(F.broadcast(found), key, "left")
        .select(*[F.col(f"_row.{c}") for c in rows.columns], *columns)
    )


# The id of each ledger, and which rows have one.
IDS = {
    "transactions": ("txn_id", lambda: ~_blank("txn_id")),
    "repayments": ("entry_id", lambda: ~_blank("entry_id")),
    "accounts": ("user_id", lambda: F.col("user_id").isNotNull()),
}


def closer_look(rows: DataFrame, *, ledger: str) -> dict[str, DataFrame]:
    """The keys of a ledger's rows worth a closer look, by the name of the check function's
    parameter that takes them: `repeated`, the hashes of ids seen twice, and, of repayments,
    `troubled`, the hashes of bills with two `bill` rows or two users. Nearly every id occurs
    once: counting the ids alone (a one-column aggregate) finds them without sorting the
    ledger's whole rows. The caller brings them to the driver, if they are few."""
    if ledger == "signals":
        return {}  # a night's or a year's observations are sorted by their key
    key, has_key = IDS[ledger]
    repeated = rows.filter(has_key()).groupBy(_key_hash(key)).count()
    keys = {"repeated": repeated.filter(F.col("count") > 1).select(KEY_HASH)}
    if ledger == "repayments":
        keys["troubled"] = _troubled_bills(rows)
    return keys


def with_first_of_id(
    rows: DataFrame, key: str, has_key: Column, *, repeated: DataFrame | None = None
) -> DataFrame:
    """Adds FIRST_OF_ID: whether the row, one where `has_key`, is its id's first recorded row.

    `repeated` (closer_look, brought to the driver): only the ids with those hashes have their
    first row found, by their own value; None sorts every row by id (a night's few rows, or a
    replayed ledger with too many ids seen twice to broadcast).
    """
    if repeated is None:
        return rows.withColumn(FIRST_OF_ID, has_key & ~_is_later_copy(key, has_key))
    firsts = (
        _rows_hashed_in(rows.filter(has_key), key, repeated)
        .groupBy(key)
        .agg(F.min(F.struct(*SOURCE_COLUMNS)).alias("_first_source"))
    )
    first = F.col("_first_source").isNull() | (F.struct(*SOURCE_COLUMNS) == F.col("_first_source"))
    return _with_found(rows, firsts, key, (has_key & first).alias(FIRST_OF_ID))


def with_transaction_checks(
    transactions: DataFrame, *, repeated: DataFrame | None = None
) -> DataFrame:
    """Adds `reject_reason`: null for a good row, else the first rule it breaks. `repeated`:
    as with_first_of_id takes it."""
    credit = F.col("payment_method") == "credit"
    first_of_id = F.col(FIRST_OF_ID)
    rules = [
        ("NULL_TXN_ID", _blank("txn_id")),
        ("NULL_USER_ID", F.col("user_id").isNull()),
        ("NULL_EVENT_TIME", F.col("event_time").isNull()),
        ("EVENT_AFTER_PARTITION", _after_partition_day()),
        ("UNKNOWN_TXN_TYPE", _not_in("txn_type", TXN_TYPES)),
        ("NULL_AMOUNT", F.col("amount").isNull()),
        ("NON_POSITIVE_AMOUNT", F.col("amount") <= 0),
        ("UNKNOWN_PAYMENT_METHOD", _not_in("payment_method", PAYMENT_METHODS)),
        (
            "INVALID_INSTALLMENTS",
            credit & (F.col("installments").isNull() | (F.col("installments") < 1)),
        ),
        ("UNEXPECTED_INSTALLMENTS", ~credit & F.col("installments").isNotNull()),
        ("DUPLICATE_ID", ~_blank("txn_id") & ~first_of_id),
    ]
    return with_first_of_id(
        transactions, "txn_id", ~_blank("txn_id"), repeated=repeated
    ).withColumn(REJECT_REASON, _first_reason(rules))


def _troubled_bills(repayments: DataFrame) -> DataFrame:
    """The hashes of bills with two `bill` rows or two users: an aggregate over the bill ids,
    like the ids seen twice. Counted over every `bill` row, a copied id's too: a few more bills
    looked at row by row than need it, never one fewer."""
    bill_row = (F.col("entry_type") == "bill") & F.col("bill_id").isNotNull()
    return (
        repayments.filter(F.col("bill_id").isNotNull())
        .groupBy(_key_hash("bill_id"))
        .agg(
            F.count(F.when(bill_row, 1)).alias("bill_rows"),
            F.min("user_id").alias("low"),
            F.max("user_id").alias("high"),
        )
        .filter((F.col("bill_rows") > 1) | (F.col("low") != F.col("high")))
        .select(KEY_HASH)
    )


def _with_bill_owner(repayments: DataFrame, *, troubled: DataFrame | None) -> DataFrame:
    """Adds the bill rules' two facts to each row: `_owner`, the user of its bill's first `bill`
    row (null where every row of the bill has one user, so none can mismatch), and
    `_later_bill`, whether it is a `bill` row of a bill whose first `bill` row came before.

    With `troubled` (closer_look), only those bills are looked at row by row; None sorts every
    row by bill.
    """
    bill_row = F.col(FIRST_OF_ID) & (F.col("entry_type") == "bill") & F.col("bill_id").isNotNull()
    if troubled is None:
        return _with_bill_owner_sorted(repayments, bill_row)
    user_known = F.col("user_id").isNotNull()
    firsts = (
        _rows_hashed_in(repayments.filter(bill_row), "bill_id", troubled)
        .groupBy("bill_id")
        .agg(
            F.min(F.struct(*SOURCE_COLUMNS)).alias("_first_bill"),
            F.min(F.when(user_known, F.struct(*SOURCE_COLUMNS, "user_id"))).alias("_owning"),
        )
    )
    later_bill = bill_row & (F.struct(*SOURCE_COLUMNS) != F.col("_first_bill"))
    return _with_found(
        repayments,
        firsts,
        "bill_id",
        F.col("_owning.user_id").alias("_owner"),
        F.coalesce(later_bill, F.lit(False)).alias("_later_bill"),
    )


def _with_bill_owner_sorted(repayments: DataFrame, bill_row: Column) -> DataFrame:
    """`_with_bill_owner` by one sort of the rows by bill: each bill's `bill` rows first."""
    by_bill = Window.partitionBy("bill_id").orderBy(
        F.when(bill_row, 0).otherwise(1), *_recorded_order()
    )
    owner = F.first(F.when(bill_row, F.col("user_id")), ignorenulls=True).over(
        by_bill.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    )
    return repayments.withColumns(
        {"_owner": owner, "_later_bill": bill_row & (F.row_number().over(by_bill) > 1)}
    )


def with_repayment_checks(
    repayments: DataFrame,
    *,
    repeated: DataFrame | None = None,
    troubled: DataFrame | None = None,
) -> DataFrame:
    """Adds `reject_reason`. A bill's first `bill` row owns its id and user; later ones are
    refused. `repeated` and `troubled`: as closer_look finds them, or None to sort."""
    is_bill = F.col("entry_type") == "bill"
    has_id = ~_blank("entry_id")
    owner = F.col("_owner")
    rules = [
        ("NULL_ENTRY_ID", ~has_id),
        ("NULL_USER_ID", F.col("user_id").isNull()),
        ("NULL_BILL_ID", _blank("bill_id")),
        ("NULL_EVENT_TIME", F.col("event_time").isNull()),
        ("EVENT_AFTER_PARTITION", _after_partition_day()),
        ("UNKNOWN_ENTRY_TYPE", _not_in("entry_type", ENTRY_TYPES)),
        ("NULL_AMOUNT", F.col("amount").isNull()),
        ("NON_POSITIVE_AMOUNT", F.col("amount") <= 0),
        ("BILL_WITHOUT_DUE_DATE", is_bill & F.col("due_date").isNull()),
        ("PAYMENT_WITH_DUE_DATE", ~is_bill & F.col("due_date").isNotNull()),
        ("DUPLICATE_ID", has_id & ~F.col(FIRST_OF_ID)),
        ("DUPLICATE_BILL", F.col("_later_bill")),
        ("BILL_USER_MISMATCH", owner.isNotNull() & (owner != F.col("user_id"))),
    ]
    return (
        with_first_of_id(repayments, "entry_id", has_id, repeated=repeated)
        .transform(_with_bill_owner, troubled=troubled)
        .withColumn(REJECT_REASON, _first_reason(rules))
        .drop("_owner", "_later_bill")
    )


def with_account_checks(accounts: DataFrame, *, repeated: DataFrame | None = None) -> DataFrame:
    """Adds `reject_reason` to one snapshot of the account master."""
    has_id = F.col("user_id").isNotNull()
    rules = [
        ("NULL_USER_ID", ~has_id),
        ("NULL_OPENED_ON", F.col("opened_on").isNull()),
        ("OPENED_AFTER_SNAPSHOT", F.col("opened_on") > F.col("dt")),
        ("NULL_INITIAL_LIMIT", F.col("initial_limit").isNull()),
        ("NON_POSITIVE_INITIAL_LIMIT", F.col("initial_limit") <= 0),
        ("UNKNOWN_STATUS", _not_in("status", ACCOUNT_STATUSES)),
        ("DUPLICATE_ID", has_id & ~F.col(FIRST_OF_ID)),
    ]
    return (
        with_first_of_id(accounts, "user_id", has_id, repeated=repeated)
        .withColumn(REJECT_REASON, _first_reason(rules))
        .drop(FIRST_OF_ID)
    )


LOWER_CASE_WORDS = f"^{SIGNAL_WORD}$"
SIGNAL_KEY = ("user_id", "source", "name", "observed_on")


def with_signal_checks(signals: DataFrame, *, earlier: DataFrame | None = None) -> DataFrame:
    """Adds `reject_reason` to signals rows. Of two rows of one observation (account, source,
    name and day observed), the one recorded first is kept, as with the ledgers' ids; only a row
    good otherwise claims its observation, so a bad row never keeps a good copy out. `earlier`:
    the observations accepted before these rows (id_index of earlier checked rows), or None
    when the rows are the whole ledger."""
    blank_source, blank_name = _blank("source"), _blank("name")
    rules = [
        ("NULL_USER_ID", F.col("user_id").isNull()),
        ("NULL_SOURCE", blank_source),
        ("NULL_NAME", blank_name),
        (
            "NOT_LOWER_CASE",
            ~F.col("source").rlike(LOWER_CASE_WORDS) | ~F.col("name").rlike(LOWER_CASE_WORDS),
        ),
        ("NULL_VALUE", F.col("value").isNull()),
        ("NON_FINITE_VALUE", F.isnan("value") | (F.abs("value") == float("inf"))),
        ("NULL_OBSERVED_ON", F.col("observed_on").isNull()),
        ("OBSERVED_AFTER_PARTITION", F.col("observed_on") > F.col("dt")),
    ]
    good = ~F.coalesce(_first_reason(rules).isNotNull(), F.lit(False))
    rows = signals
    seen_before = F.lit(False)
    if earlier is not None:
        # the night's observations are few: broadcast, and the index is read where it lies
        named = rows.select(*SIGNAL_KEY).distinct()
        seen = earlier.select(*SIGNAL_KEY).join(F.broadcast(named), list(SIGNAL_KEY), "left_semi")
        rows = rows.join(
            F.broadcast(seen.withColumn("_seen", F.lit(True))), list(SIGNAL_KEY), "left"
        )
        seen_before = F.coalesce(F.col("_seen"), F.lit(False))
    order = Window.partitionBy(*[F.when(good, F.col(c)) for c in SIGNAL_KEY]).orderBy(
        *_recorded_order()
    )
    first = good & ~seen_before & (F.row_number().over(order) == 1)
    rules.append(("DUPLICATE_OBSERVATION", good & ~first))
    return (
        rows.withColumn(FIRST_OF_ID, first)
        .withColumn(REJECT_REASON, _first_reason(rules))
        .select(*signals.columns, FIRST_OF_ID, REJECT_REASON)
    )


def accepted_rows(checked: DataFrame) -> DataFrame:
    return checked.filter(F.col(REJECT_REASON).isNull()).drop(REJECT_REASON, FIRST_OF_ID)


def to_rejects(checked: DataFrame, *, ledger: str, run_date) -> DataFrame:
    """The refused rows recorded on `run_date`, in the contract's `rejects` layout."""
    contract_columns = names(LEDGER_SCHEMAS[ledger])
    record = F.to_json(
        F.struct(
            *[F.col(c) for c in contract_columns],
            F.struct(*[F.col(c) for c in SOURCE_COLUMNS]).alias("_source"),
        ),
        {"ignoreNullFields": "false"},
    )
    return checked.filter(
        F.col(REJECT_REASON).isNotNull() & (F.col("dt") == F.lit(run_date))
    ).select(
        F.lit(run_date).alias("run_date"),
        F.lit(ledger).alias("ledger"),
        F.col(LEDGER_ID[ledger]).cast("string").alias("row_id"),
        F.col(REJECT_REASON).alias("reason"),
        record.alias("record"),
    )


CHECKS = {
    "transactions": with_transaction_checks,
    "repayments": with_repayment_checks,
    "accounts": with_account_checks,
    "signals": with_signal_checks,
}

# Of the rows recorded before, the id rules read only these: each id's first row is the index.
INDEX_COLUMNS = {
    "transactions": ("txn_id",),
    "repayments": ("entry_id", "entry_type", "bill_id", "user_id"),
    "signals": SIGNAL_KEY,
}
# Where in the ledger an index row was recorded. The rows checked against an index were all
# recorded on later days than its rows (jobs.output.carried_state refolds the whole ledger
# otherwise), so the day alone orders a stand-in before them. Only a repayments bill's earlier
# rows, several per bill, are ordered among themselves (its first bill row, its first user):
# they keep the file and row. A transaction id has one index row: its day is enough, and the
# index is a third smaller.
INDEX_SOURCE = {
    "transactions": ("dt",),
    "repayments": SOURCE_COLUMNS,
    "signals": SOURCE_COLUMNS,
}


def id_index(checked: DataFrame, *, ledger: str) -> DataFrame:
    """The id index of checked rows: each id's first recorded row, with the columns the id rules
    read. Of rows checked_after an index, the ids it did not hold yet."""
    return checked.filter(F.col(FIRST_OF_ID)).select(*INDEX_COLUMNS[ledger], *INDEX_SOURCE[ledger])


def _named_by(index: DataFrame, rows: DataFrame, column: str) -> tuple[DataFrame, Column]:
    """`index` with a flag: whether some row of `rows` has the index row's `column`. A night's
    rows are few and the index is every id ever recorded: the night's values are broadcast and
    the index is read as it lies, not shuffled; flags on several columns share one pass."""
    flag = f"_named_by_{column}"
    named = rows.select(column).distinct().withColumn(flag, F.lit(True))
    return index.join(F.broadcast(named), column, "left"), F.coalesce(F.col(flag), F.lit(False))


def extend_index(index: DataFrame, checked: DataFrame, *, ledger: str) -> DataFrame:
    """The index once `checked` (checked_after it) is added."""
    return index.unionByName(id_index(checked, ledger=ledger))


def checked_after(index: DataFrame, rows: DataFrame, *, ledger: str) -> DataFrame:
    """`rows` with their `reject_reason`, checked as if together with every row recorded before
    them: the indexed first rows of the ids (and, for repayments, of the bills) they name stand in
    for the whole earlier ledger. They are few (a night's), so they are sorted by id and bill.
    """
    if ledger == "signals":
        return with_signal_checks(rows, earlier=index)
    earlier, by_id = _named_by(index, rows, LEDGER_ID[ledger])
    wanted = by_id
    if ledger == "repayments":
        earlier, by_bill = _named_by(earlier, rows, "bill_id")
        wanted = by_id | (by_bill & (F.col("entry_type") == "bill"))
    earlier = earlier.filter(wanted)
    stand_ins = earlier.select(
        *[
            F.col(f.name)
            if f.name in earlier.columns
            else F.lit(None).cast(f.dataType).alias(f.name)
            for f in LEDGER_SCHEMAS[ledger].fields
        ],
        # a source column the index does not keep is null, as a ledger column is: the day,
        # earlier than every row checked, orders the stand-in first (INDEX_SOURCE)
        *(
            c if c in earlier.columns else F.lit(None).cast(rows.schema[c].dataType).alias(c)
            for c in SOURCE_COLUMNS
        ),
        F.lit(True).alias("_earlier"),
    )
    return (
        stand_ins.unionByName(rows.withColumn("_earlier", F.lit(False)))
        .transform(CHECKS[ledger])  # few rows: sorted by id and bill
        .filter(~F.col("_earlier"))
        .drop("_earlier")
    )
