"""The champion/challenger cell of an account: the contract's SHA-256 rule, in Python and in
Spark, against digests computed by hand (`printf 'pilot-2026:42' | sha256sum`)."""

from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from transforms.cells import cell_column, cell_of, hash_prefix, threshold
from transforms.policy import Challenger

SALT = "pilot-2026"
# the first 16 hex digits of sha256sum of "pilot-2026:<user_id>"
BY_HAND = {
    1: "8c128ed3b49c873e",  # 0.547 of 2^64
    42: "7db9c6670970de1e",  # 0.491
    1000007: "0a9ea0562428088a",  # 0.0415
    -5: "19be953156c1c0f5",  # 0.1006: just above a 10 % share
}


def challenger(share, salt: str = SALT) -> Challenger:
    return Challenger(policy=None, share=Decimal(share), salt=salt, file="challenger.toml")


def spark_cells(spark, user_ids, cell: Challenger) -> dict[int, str]:
    rows = spark.createDataFrame([(u,) for u in user_ids], "user_id long")
    found = rows.select("user_id", cell_column(F.col("user_id"), cell).alias("cell")).collect()
    return {r["user_id"]: r["cell"] for r in found}


def test_the_hash_is_the_first_eight_bytes_of_sha256_big_endian():
    for user_id, prefix in BY_HAND.items():
        assert hash_prefix(SALT, user_id) == int(prefix, 16)


def test_an_account_is_in_the_challenger_cell_below_the_share():
    ten = challenger("0.10")
    assert {u: cell_of(u, ten) for u in BY_HAND} == {
        1: "champion",
        42: "champion",
        1000007: "challenger",
        -5: "champion",
    }
    assert cell_of(-5, challenger("0.11")) == "challenger"
    assert cell_of(1, challenger("0.55")) == "challenger"
    assert cell_of(1, None) == "champion"


def test_the_boundary_is_exact_and_spark_agrees_on_it(spark):
    x = int(BY_HAND[-5], 16)
    # x / 2^64 written out exactly: 1 / 2^64 = 5^64 / 10^64
    exactly = Decimal(f"{x * 5**64}E-64")
    just_above = Decimal(f"{(x + 1) * 5**64}E-64")
    assert threshold(exactly) == x and threshold(just_above) == x + 1
    assert cell_of(-5, challenger(exactly)) == "champion"  # not below the share
    assert cell_of(-5, challenger(just_above)) == "challenger"
    assert spark_cells(spark, [-5], challenger(exactly)) == {-5: "champion"}
    assert spark_cells(spark, [-5], challenger(just_above)) == {-5: "challenger"}


@pytest.mark.parametrize("share", ["0.10", "0.5", "0.999", "1"])
def test_spark_assigns_every_account_as_the_contract_states(spark, share):
    cell = challenger(share)
    user_ids = [*range(-50, 3000), 2**63 - 1, -(2**63), *BY_HAND]
    assert spark_cells(spark, user_ids, cell) == {u: cell_of(u, cell) for u in user_ids}


def test_the_share_is_met_and_the_salt_alone_decides_who_is_in(spark):
    user_ids = range(20_000)
    ten = spark_cells(spark, user_ids, challenger("0.10"))
    taken = {u for u, c in ten.items() if c == "challenger"}
    # binomial(20,000, 0.1): sd 42; 4 sd either way
    assert abs(len(taken) - 2000) < 170
    other_salt = spark_cells(spark, user_ids, challenger("0.10", salt="pilot-2027"))
    assert taken != {u for u, c in other_salt.items() if c == "challenger"}
    # a larger share keeps every account the smaller one took
    twenty = spark_cells(spark, user_ids, challenger("0.20"))
    assert taken < {u for u, c in twenty.items() if c == "challenger"}
