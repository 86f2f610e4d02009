"""The scorecard: points per bin, the standard scaling, and reasons by points below maximum."""

import math
from dataclasses import replace

from pyspark.sql import functions as F

from transforms.policy import Bin, Characteristic, Scorecard
from transforms.score import with_score


def card(**overrides) -> Scorecard:
    dpd = Characteristic(
        feature="current_dpd",
        label="dpd",
        reason="DELINQUENT",
        kind="risk",
        monotone="decreasing",
        bins=(
            Bin(1, 0.5, "DELINQUENT"),
            Bin(31, -1.0, "DELINQUENT"),
            Bin(None, -3.0, "DELINQUENT"),
        ),
        missing=Bin(None, 0.0, "DELINQUENT"),
    )
    util = Characteristic(
        feature="utilization",
        label="util",
        reason="HIGH_UTILIZATION",
        kind="risk",
        monotone="decreasing",
        bins=(Bin(0.3, 0.3, "HIGH_UTILIZATION"), Bin(None, -0.2, "HIGH_UTILIZATION")),
        missing=Bin(None, 0.0, "HIGH_UTILIZATION"),
    )
    recency = Characteristic(
        feature="days_since_last_purchase",
        label="recency",
        reason="NO_RECENT_PURCHASES",
        kind="engagement",
        monotone="decreasing",
        bins=(Bin(30, 0.2, "NO_RECENT_PURCHASES"), Bin(None, -0.3, "DORMANT")),
        missing=Bin(None, -0.3, "DORMANT"),
    )
    base = Scorecard(
        base_score=600,
        base_odds=50.0,
        pdo=20.0,
        min_score=300,
        max_score=850,
        characteristics=(dpd, util, recency),
    )
    return replace(base, **overrides)


def scored(spark, rows, scorecard=None):
    df = spark.createDataFrame(
        rows, "user_id long, current_dpd int, utilization double, days_since_last_purchase int"
    )
    return {r["user_id"]: r for r in with_score(df, scorecard=scorecard or card()).collect()}


def test_scaling_is_offset_plus_factor_ln_odds():
    c = card()
    assert math.isclose(c.factor, 20 / math.log(2))
    assert math.isclose(c.offset, 600 - c.factor * math.log(50))
    assert c.base_points == 600
    assert c.points(1.0) == round(20 / math.log(2))  # +1 log-odds is about 29 points


def test_score_is_base_plus_points_of_each_bin(spark):
    c = card()
    rows = scored(spark, [(1, 0, 0.1, 3), (2, 40, 0.9, 200), (3, 5, None, None)])
    assert rows[1]["score"] == 600 + c.points(0.5) + c.points(0.3) + c.points(0.2)
    assert rows[2]["score"] == 600 + c.points(-3.0) + c.points(-0.2) + c.points(-0.3)
    assert rows[3]["points_utilization"] == 0  # the missing bin
    assert rows[3]["score"] == 600 + c.points(-1.0) + 0 + c.points(-0.3)


def test_score_is_clamped_to_the_stated_range(spark):
    rows = scored(spark, [(1, 90, 0.9, 400)], card(min_score=590))
    assert rows[1]["score"] == 590


def test_reasons_rank_points_below_maximum_and_drop_zeros(spark):
    rows = scored(spark, [(1, 0, 0.1, 3), (2, 40, 0.9, 200), (3, 0, 0.9, 10)])
    assert rows[1]["reason_codes"] == []
    # dpd 40 falls 101 points short; utilization and recency 15 each (a tie, in card order)
    assert rows[2]["reason_codes"] == ["DELINQUENT", "HIGH_UTILIZATION", "DORMANT"]
    assert rows[2]["risk_reason_codes"] == ["DELINQUENT", "HIGH_UTILIZATION"]
    assert rows[3]["reason_codes"] == ["HIGH_UTILIZATION"]


def test_equal_shortfalls_break_ties_in_the_scorecards_order(spark):
    c = card()
    # utilization 0.9 and recency 200 both fall 0.5 log-odds short of their best bin
    assert c.max_points(c.characteristics[1]) - c.points(-0.2) == c.max_points(
        c.characteristics[2]
    ) - c.points(-0.3)
    rows = scored(spark, [(1, 0, 0.9, 200)])
    assert rows[1]["reason_codes"] == ["HIGH_UTILIZATION", "DORMANT"]


def test_at_most_four_reasons(spark, policy):
    df = spark.range(1).select(
        F.lit(45).alias("current_dpd"),
        F.lit(60).alias("worst_dpd_365d"),
        F.lit(3).alias("serious_delinquencies_365d"),
        F.lit(0.2).alias("on_time_rate_365d"),
        F.lit(0.2).alias("payment_ratio_180d"),
        F.lit(1.2).alias("utilization"),
        F.lit(0.5).alias("refund_rate_180d"),
        F.lit(0.9).alias("installment_share_180d"),
        F.lit(0.0).alias("credit_share_180d"),
        F.lit(10).alias("tenure_days"),
        F.lit(0).alias("active_months_365d"),
        F.lit(None).cast("int").alias("days_since_last_purchase"),
    )
    row = with_score(df, scorecard=policy.scorecard).first()
    assert len(row["reason_codes"]) == 4
    assert row["reason_codes"][0] == "DELINQUENT"
    assert row["score"] < 450


def test_a_code_given_by_several_characteristics_ranks_by_their_summed_shortfall(spark):
    def characteristic(feature, edge, best_log_odds, code):
        return Characteristic(
            feature=feature,
            label=feature,
            reason=code,
            kind="risk",
            monotone="decreasing",
            bins=(Bin(edge, best_log_odds, code), Bin(None, 0.0, code)),
            missing=Bin(None, 0.0, code),
        )

    shared = card(
        characteristics=(
            characteristic("current_dpd", 1, 0.5, "LATE_OR_FULL"),
            characteristic("utilization", 0.3, 0.5, "LATE_OR_FULL"),
            characteristic("days_since_last_purchase", 30, 0.8, "DORMANT"),
        )
    )
    # each LATE_OR_FULL characteristic falls 14 points short, together 28; DORMANT 23
    assert shared.points(0.5) == 14 and shared.points(0.8) == 23
    rows = scored(spark, [(1, 5, 0.9, 200), (2, 5, 0.1, 200)], shared)
    assert rows[1]["reason_codes"] == ["LATE_OR_FULL", "DORMANT"]
    assert rows[2]["reason_codes"] == ["DORMANT", "LATE_OR_FULL"]
