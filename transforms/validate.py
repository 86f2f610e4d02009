"""Row checks of the ledgers: each refused row gets one reason code, the first rule it breaks.

The ledgers arrive with their source: `dt` (the partition the row was recorded in),
`source_file` and `source_row`. Of two rows with one id the one recorded first is kept
(earliest dt, then file name, then position), so a replayed feed is refused row by row.
"""

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

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


def _first_of_id(key: str) -> Column:
    has_id = ~_blank(key)
    return has_id & ~_is_later_copy(key, has_id)


def with_transaction_checks(transactions: DataFrame) -> DataFrame:
    """Adds `reject_reason`: null for a good row, else the first rule it breaks."""
    credit = F.col("payment_method") == "credit"
    first_of_id = _first_of_id("txn_id")
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
    return transactions.withColumns({REJECT_REASON: _first_reason(rules), FIRST_OF_ID: first_of_id})


def with_repayment_checks(repayments: DataFrame) -> DataFrame:
    """Adds `reject_reason`. A bill's first `bill` row owns its id and user; later ones are
    refused."""
    is_bill = F.col("entry_type") == "bill"
    has_id = ~_blank("entry_id")
    first_of_id = _first_of_id("entry_id")
    bill_row = first_of_id & is_bill & F.col("bill_id").isNotNull()
    # One sort serves both bill rules: each bill's own rows first, in recorded order.
    by_bill = Window.partitionBy("bill_id").orderBy(
        F.when(bill_row, 0).otherwise(1), *_recorded_order()
    )
    owner = F.first(F.when(bill_row, F.col("user_id")), ignorenulls=True).over(
        by_bill.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    )
    later_bill = bill_row & (F.row_number().over(by_bill) > 1)
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
        ("DUPLICATE_ID", has_id & ~first_of_id),
        ("DUPLICATE_BILL", later_bill),
        ("BILL_USER_MISMATCH", owner.isNotNull() & (owner != F.col("user_id"))),
    ]
    return repayments.withColumns({REJECT_REASON: _first_reason(rules), FIRST_OF_ID: first_of_id})


def with_account_checks(accounts: DataFrame) -> DataFrame:
    """Adds `reject_reason` to one snapshot of the account master."""
    has_id = F.col("user_id").isNotNull()
    rules = [
        ("NULL_USER_ID", ~has_id),
        ("NULL_OPENED_ON", F.col("opened_on").isNull()),
        ("OPENED_AFTER_SNAPSHOT", F.col("opened_on") > F.col("dt")),
        ("NULL_INITIAL_LIMIT", F.col("initial_limit").isNull()),
        ("NON_POSITIVE_INITIAL_LIMIT", F.col("initial_limit") <= 0),
        ("UNKNOWN_STATUS", _not_in("status", ACCOUNT_STATUSES)),
        ("DUPLICATE_ID", _is_later_copy("user_id", has_id)),
    ]
    return accounts.withColumn(REJECT_REASON, _first_reason(rules))


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
}

# Of the rows recorded before, the id rules read only these: each id's first row is the index.
INDEX_COLUMNS = {
    "transactions": ("txn_id",),
    "repayments": ("entry_id", "entry_type", "bill_id", "user_id"),
}


def id_index(checked: DataFrame, *, ledger: str) -> DataFrame:
    """The id index of checked rows: each id's first recorded row, with the columns the id rules
    read. Of rows checked_after an index, the ids it did not hold yet."""
    return checked.filter(F.col(FIRST_OF_ID)).select(*INDEX_COLUMNS[ledger], *SOURCE_COLUMNS)


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
    for the whole earlier ledger."""
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
        *SOURCE_COLUMNS,
        F.lit(True).alias("_earlier"),
    )
    return (
        stand_ins.unionByName(rows.withColumn("_earlier", F.lit(False)))
        .transform(CHECKS[ledger])
        .filter(~F.col("_earlier"))
        .drop("_earlier")
    )
