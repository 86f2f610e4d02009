"""The behaviour score: points per characteristic, their sum, and the reasons it is not higher.

Reasons follow "points below maximum": for each characteristic, the most points it can give
minus the points the account got, summed by reason code; the largest first, ties in the
scorecard's fixed order, zeros dropped, at most four.
"""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.policy import Bin, Characteristic, Scorecard

MAX_REASONS = 4


def points_column(characteristic: Characteristic) -> str:
    return f"points_{characteristic.column}"


def reason_column(characteristic: Characteristic) -> str:
    return f"reason_{characteristic.column}"


def _by_bin(characteristic: Characteristic, value_of) -> Column:
    """The value `value_of(bin)` of the bin the feature falls in."""
    feature = F.col(characteristic.column)
    expr = F.lit(value_of(characteristic.bins[-1]))
    for b in reversed(characteristic.bins[:-1]):
        expr = F.when(feature < F.lit(b.below), F.lit(value_of(b))).otherwise(expr)
    return F.when(feature.isNull(), F.lit(value_of(characteristic.missing))).otherwise(expr)


def _sorted_reasons(scorecard: Scorecard, characteristics: tuple[Characteristic, ...]) -> Column:
    """Codes with points below maximum among `characteristics`, largest first, at most four.

    Built from plain column expressions over the scorecard's fixed codes, not from higher-order
    array functions (transform, filter, aggregate): Spark runs those interpreted, row by row, and
    they were half the score's time (README: Performance)."""
    given_by = {b.reason for c in characteristics for b in (*c.bins, c.missing)}
    codes = [code for code in scorecard.reason_codes() if code in given_by]
    if not codes:
        return F.array().cast("array<string>")

    # Written as one SQL expression: built from Column objects it took thousands of calls into
    # the JVM, seconds of every decision spent before Spark ran anything.
    def below(code: str) -> str:
        return " + ".join(
            f"CASE WHEN `{reason_column(c)}` = '{code}' "
            f"THEN {scorecard.max_points(c)} - `{points_column(c)}` ELSE 0 END"
            for c in characteristics
        )

    shortfalls = [f"({below(code)})" for code in codes]
    # A code without a shortfall is a null entry, and sort_array puts nulls first.
    entries = ", ".join(
        f"CASE WHEN {short} > 0 THEN named_struct('neg_below', -{short}, 'priority', {i}, "
        f"'code', '{code}') END"
        for i, (code, short) in enumerate(zip(codes, shortfalls, strict=True))
    )
    given = " + ".join(f"CASE WHEN {short} > 0 THEN 1 ELSE 0 END" for short in shortfalls)
    return F.expr(
        f"slice(sort_array(array({entries})), {len(codes) + 1} - ({given}), "
        f"least({given}, {MAX_REASONS})).code"
    )


def with_score(features: DataFrame, *, scorecard: Scorecard) -> DataFrame:
    """Adds points_<feature> and reason_<feature> per characteristic, `score`, `reason_codes`
    (all characteristics) and `risk_reason_codes` (risk characteristics only)."""
    columns = {}
    for c in scorecard.characteristics:
        columns[points_column(c)] = _by_bin(c, lambda b: scorecard.points(b.log_odds))
        columns[reason_column(c)] = _by_bin(c, lambda b: b.reason)
    total = F.lit(scorecard.base_points)
    for c in scorecard.characteristics:
        total = total + F.col(points_column(c))
    score = F.least(F.lit(scorecard.max_score), F.greatest(F.lit(scorecard.min_score), total))
    risk = tuple(c for c in scorecard.characteristics if c.kind == "risk")
    # Two projections, not one per column: each withColumn re-analyses the whole plan.
    return features.withColumns(columns).withColumns(
        {
            "score": score.cast("int"),
            "reason_codes": _sorted_reasons(scorecard, scorecard.characteristics),
            "risk_reason_codes": _sorted_reasons(scorecard, risk),
        }
    )


def bin_label(b: Bin, previous: Bin | None) -> str:
    """A readable range for `policy show` and `explain`, e.g. '[0.3, 0.6)'."""
    low = "-inf" if previous is None else f"{previous.below:g}"
    high = "inf" if b.below is None else f"{b.below:g}"
    return f"[{low}, {high})"
