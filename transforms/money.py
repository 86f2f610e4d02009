"""Exact sums of money, added as whole cents.

Amounts are decimal(18,2). Spark adds such decimals into a decimal(28,2), which it can only hold
as a BigDecimal: every row added allocates and converts. The same sum of the amounts in cents (a
long: decimal(18,2) holds at most 1e18 cents, a long 9.2e18) is exact and several times faster
(README: Performance). An overflowing long sum fails the run in ANSI mode, Spark 4's default, as
an overflowing decimal sum does.
"""

from pyspark.sql import Column
from pyspark.sql import functions as F

from transforms.schemas import AMOUNT


def cents(amount: Column) -> Column:
    """An amount as a long of cents."""
    return (amount * 100).cast("long")


def from_cents(total: Column) -> Column:
    """A long of cents as an amount."""
    return (total.cast("decimal(20,0)") / 100).cast(AMOUNT)


def money_sum(amount: Column) -> Column:
    """The exact sum of the amounts, as an amount (null where there is none, as F.sum)."""
    return from_cents(F.sum(cents(amount)))
