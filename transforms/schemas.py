"""The contract's tables as Spark schemas, and the vocabularies of their coded columns.

Column names that cross module borders are read from here, never retyped.
"""

from pyspark.sql import types as T

AMOUNT = T.DecimalType(18, 2)

TXN_TYPES = ("purchase", "refund")
PAYMENT_METHODS = ("credit", "debit_card", "wallet", "other")
ENTRY_TYPES = ("bill", "payment")
ACCOUNT_STATUSES = ("active", "frozen", "closed")
LIMIT_STATUSES = ("active", "suspended", "closed")
CHANGE_TYPES = ("increase", "decrease", "suspend", "reinstate")
NOTICE_KINDS = (
    "pending_decrease",
    "decreased",
    "decrease_withdrawn",
    "suspended",
    "reinstated",
    "re_engage",
)
LEDGERS = ("transactions", "repayments", "accounts", "signals")

TRANSACTIONS = T.StructType(
    [
        T.StructField("txn_id", T.StringType()),
        T.StructField("user_id", T.LongType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("txn_type", T.StringType()),
        T.StructField("amount", AMOUNT),
        T.StructField("payment_method", T.StringType()),
        T.StructField("installments", T.IntegerType()),
    ]
)

REPAYMENTS = T.StructType(
    [
        T.StructField("entry_id", T.StringType()),
        T.StructField("user_id", T.LongType()),
        T.StructField("bill_id", T.StringType()),
        T.StructField("entry_type", T.StringType()),
        T.StructField("amount", AMOUNT),
        T.StructField("due_date", T.DateType()),
        T.StructField("event_time", T.TimestampType()),
    ]
)

ACCOUNTS = T.StructType(
    [
        T.StructField("user_id", T.LongType()),
        T.StructField("opened_on", T.DateType()),
        T.StructField("initial_limit", AMOUNT),
        T.StructField("status", T.StringType()),
    ]
)

# Observations from other sources (bureau, utility, ...): optional, read only by a policy that
# scores a `signal:<source>.<name>` (transforms.signals).
SIGNALS = T.StructType(
    [
        T.StructField("user_id", T.LongType()),
        T.StructField("source", T.StringType()),
        T.StructField("name", T.StringType()),
        T.StructField("value", T.DoubleType()),
        T.StructField("observed_on", T.DateType()),
    ]
)

LEDGER_SCHEMAS = {
    "transactions": TRANSACTIONS,
    "repayments": REPAYMENTS,
    "accounts": ACCOUNTS,
    "signals": SIGNALS,
}
# The column that identifies a row of each ledger in `rejects.row_id` (a signal has no id of its
# own: its account's).
LEDGER_ID = {
    "transactions": "txn_id",
    "repayments": "entry_id",
    "accounts": "user_id",
    "signals": "user_id",
}

LIMITS = T.StructType(
    [
        T.StructField("user_id", T.LongType(), False),
        T.StructField("run_date", T.DateType(), False),
        T.StructField("score", T.IntegerType(), False),
        T.StructField("credit_limit", AMOUNT, False),
        T.StructField("status", T.StringType(), False),
        T.StructField("balance", AMOUNT, False),
        T.StructField("segment", T.StringType()),
        T.StructField("reason_codes", T.ArrayType(T.StringType(), False), False),
        T.StructField("policy_version", T.StringType(), False),
        # `champion` or `challenger` (transforms.cells); null in runs published before cells
        T.StructField("cell", T.StringType()),
    ]
)

LIMIT_CHANGES = T.StructType(
    [
        T.StructField("user_id", T.LongType(), False),
        T.StructField("run_date", T.DateType(), False),
        T.StructField("change_type", T.StringType(), False),
        T.StructField("old_limit", AMOUNT, False),
        T.StructField("new_limit", AMOUNT, False),
        T.StructField("old_status", T.StringType(), False),
        T.StructField("new_status", T.StringType(), False),
        T.StructField("old_score", T.IntegerType()),
        T.StructField("new_score", T.IntegerType(), False),
        T.StructField("reason_codes", T.ArrayType(T.StringType(), False), False),
        T.StructField("policy_version", T.StringType(), False),
        # `champion` or `challenger` (transforms.cells); null in runs published before cells
        T.StructField("cell", T.StringType()),
    ]
)

NOTICES = T.StructType(
    [
        T.StructField("user_id", T.LongType(), False),
        T.StructField("run_date", T.DateType(), False),
        T.StructField("kind", T.StringType(), False),
        T.StructField("current_limit", AMOUNT, False),
        T.StructField("proposed_limit", AMOUNT),
        T.StructField("effective_date", T.DateType()),
        T.StructField("reason_codes", T.ArrayType(T.StringType(), False), False),
        T.StructField("next_steps", T.ArrayType(T.StringType(), False), False),
        T.StructField("policy_version", T.StringType(), False),
        # `champion` or `challenger` (transforms.cells); null in runs published before cells
        T.StructField("cell", T.StringType()),
    ]
)

REJECTS = T.StructType(
    [
        T.StructField("run_date", T.DateType(), False),
        T.StructField("ledger", T.StringType(), False),
        T.StructField("row_id", T.StringType()),
        T.StructField("reason", T.StringType(), False),
        T.StructField("record", T.StringType(), False),
    ]
)


def names(schema: T.StructType) -> list[str]:
    return [field.name for field in schema.fields]
