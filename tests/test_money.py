"""Money summed as whole cents is the exact decimal sum, to the cent, at any size an amount has."""

from decimal import Decimal

from pyspark.sql import functions as F

from transforms.money import money_sum

ROWS = "user_id long, amount decimal(18,2)"


def test_the_sum_is_exact_where_binary_floating_point_is_not(spark):
    big = Decimal("999999999999999.97")  # as a double: 1000000000000000.0
    rows = [(1, Decimal("0.10")), (1, Decimal("0.20")), (2, big), (2, Decimal("0.01"))]
    rows += [(3, Decimal("-12.34")), (3, Decimal("2.30")), (4, None)]
    sums = {
        r.user_id: r.total
        for r in spark.createDataFrame(rows, ROWS)
        .groupBy("user_id")
        .agg(money_sum(F.col("amount")).alias("total"))
        .collect()
    }
    assert sums == {
        1: Decimal("0.30"),
        2: Decimal("999999999999999.98"),
        3: Decimal("-10.04"),
        4: None,  # nothing to add up: null, as Spark's own sum
    }


def test_the_sum_is_an_amount(spark):
    summed = spark.createDataFrame([(1, Decimal("1.00"))], ROWS).agg(
        money_sum(F.col("amount")).alias("total")
    )
    assert summed.schema["total"].dataType.simpleString() == "decimal(18,2)"
