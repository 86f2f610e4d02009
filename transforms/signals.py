"""Signals: observations from other sources (a bureau score, a utility's on-time rate) that a
scorecard characteristic bins as `signal:<source>.<name>`.

Of a signal, a night needs only each account's newest observation: the value of a
characteristic is the newest one if it was observed within the characteristic's
`max_age_days` of the run date, else missing (so an older observation could never count
instead). The carried state keeps that newest observation per account, source and name, and the
keys of every observation accepted (the duplicate rule's index), so a night reads only the
partitions recorded since.
"""

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.policy import Characteristic

NEWEST_COLUMNS = ("user_id", "source", "name", "value", "observed_on")


def observed_column(characteristic: Characteristic) -> str:
    """The column with the day the account's newest observation of the signal was made."""
    return f"{characteristic.column}__observed_on"


def newest_observations(signals: DataFrame) -> DataFrame:
    """Per account, source and name, the newest observation (NEWEST_COLUMNS) of accepted rows,
    or of carried newest observations with new ones. The duplicate rule refuses a second row of
    one observation, so no two rows tie on the newest day."""
    newest = F.max_by(F.struct("value", "observed_on"), "observed_on")
    return (
        signals.groupBy("user_id", "source", "name")
        .agg(newest.alias("_newest"))
        .select("user_id", "source", "name", "_newest.value", "_newest.observed_on")
    )


def merge_newest(carried: DataFrame, added: DataFrame) -> DataFrame:
    return newest_observations(carried.unionByName(added.select(*NEWEST_COLUMNS)))


def _is(characteristic: Characteristic) -> Column:
    source, name = characteristic.signal
    return (F.col("source") == source) & (F.col("name") == name)


def _fresh(characteristic: Characteristic, as_of: date) -> Column:
    return F.datediff(F.lit(as_of), F.col("observed_on")) <= characteristic.max_age_days


def signal_features(
    newest: DataFrame, characteristics: tuple[Characteristic, ...], *, as_of: date
) -> DataFrame:
    """Per account with any observation of the signals binned: each characteristic's value
    (null when older than its `max_age_days` on `as_of`) and the day it was observed."""
    wanted = F.lit(False)
    columns = []
    for c in characteristics:
        wanted = wanted | _is(c)
        columns += [
            F.max(F.when(_is(c) & _fresh(c, as_of), F.col("value"))).alias(c.column),
            F.max(F.when(_is(c), F.col("observed_on"))).alias(observed_column(c)),
        ]
    return newest.filter(wanted).groupBy("user_id").agg(*columns)


def coverage(
    newest: DataFrame,
    accounts: DataFrame,
    characteristics: tuple[Characteristic, ...],
    *,
    as_of: date,
) -> list[dict]:
    """Per signal binned, of the accounts in the snapshot: how many have a value fresh enough
    to score, and the newest observation among them (one small job over the carried newest)."""
    if not characteristics:
        return []
    book = accounts.select("user_id").distinct()
    mine = newest.join(book, "user_id", "left_semi")
    figures = []
    # by position: two cells may bin one signal with two age limits
    for i, c in enumerate(characteristics):
        figures += [
            F.count(F.when(_is(c) & _fresh(c, as_of), True)).alias(f"fresh_{i}"),
            F.count(F.when(_is(c), True)).alias(f"any_{i}"),
            F.max(F.when(_is(c), F.col("observed_on"))).alias(f"newest_{i}"),
        ]
    row = mine.agg(*figures).first()
    total = book.count()
    found = []
    for i, c in enumerate(characteristics):
        fresh, newest_day = row[f"fresh_{i}"], row[f"newest_{i}"]
        found.append(
            {
                "signal": c.feature.removeprefix("signal:"),
                "max_age_days": c.max_age_days,
                "accounts": total,
                "accounts_with_fresh_value": fresh,
                "accounts_with_older_value": row[f"any_{i}"] - fresh,
                "coverage": round(fresh / total, 4) if total else 0.0,
                "newest_observed_on": newest_day and newest_day.isoformat(),
                "newest_age_days": newest_day and (as_of - newest_day).days,
            }
        )
    return found
