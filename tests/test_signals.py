"""The signals ledger's row rules, the newest observation within a characteristic's age limit, and
the carried newest observations against a fold of the whole ledger, on explicit rows."""

from datetime import date, timedelta
from pathlib import Path

import pytest

from jobs.config import ConfigError, policy_from_text
from jobs.files.layout import InputLayout
from jobs.files.ledgers import read_ledger
from transforms.carry import fold
from transforms.policy import Bin, Characteristic
from transforms.signals import newest_observations, observed_column, signal_features
from transforms.validate import FIRST_OF_ID, REJECT_REASON, id_index, with_signal_checks

CONF = Path(__file__).resolve().parent.parent / "conf"

ROWS = "user_id long, source string, name string, value double, observed_on date, dt date, source_file string, source_row long"  # noqa: E501
D = date(2026, 5, 31)


def rows(spark, *values):
    return spark.createDataFrame(list(values), ROWS)


def row(user=1, source="bureau", name="score", value=700.0, observed=D, dt=D, file="a", at=0):
    return (user, source, name, value, observed, dt, file, at)


def reasons(checked) -> list:
    return [r[REJECT_REASON] for r in checked.orderBy("source_file", "source_row").collect()]


def test_each_bad_row_is_refused_for_the_first_rule_it_breaks(spark):
    checked = with_signal_checks(
        rows(
            spark,
            row(at=0),
            row(user=None, at=1),
            row(source=" ", at=2),
            row(name=None, at=3),
            row(source="Bureau", at=4),
            row(name="on-time", at=5),
            row(value=None, at=6),
            row(value=float("nan"), at=7),
            row(value=float("inf"), at=8),
            row(value=float("-inf"), at=9),
            row(observed=None, at=10),
            row(observed=D + timedelta(days=1), at=11),
        )
    )
    assert reasons(checked) == [
        None,
        "NULL_USER_ID",
        "NULL_SOURCE",
        "NULL_NAME",
        "NOT_LOWER_CASE",
        "NOT_LOWER_CASE",
        "NULL_VALUE",
        "NON_FINITE_VALUE",
        "NON_FINITE_VALUE",
        "NON_FINITE_VALUE",
        "NULL_OBSERVED_ON",
        "OBSERVED_AFTER_PARTITION",
    ]


def test_of_two_rows_of_one_observation_the_first_recorded_good_one_is_kept(spark):
    day = D - timedelta(days=3)
    checked = with_signal_checks(
        rows(
            spark,
            row(value=600.0, observed=day, dt=D, file="a", at=0),
            row(value=610.0, observed=day, dt=D - timedelta(days=1), file="z", at=5),
            row(value=620.0, observed=day, dt=D - timedelta(days=1), file="z", at=3),
            # a bad row recorded first keeps no good copy out
            row(value=float("nan"), observed=D, dt=D - timedelta(days=2), file="b", at=0),
            row(value=700.0, observed=D, dt=D, file="b", at=1),
            # another account, source, name or day is another observation
            row(user=2, value=600.0, observed=day, file="c", at=0),
            row(source="utility", value=0.9, observed=day, file="c", at=1),
            row(name="grade", value=3.0, observed=day, file="c", at=2),
        )
    ).collect()
    kept = sorted(r["value"] for r in checked if r[REJECT_REASON] is None)
    assert kept == [0.9, 3.0, 600.0, 620.0, 700.0]
    duplicates = sorted(r["value"] for r in checked if r[REJECT_REASON] == "DUPLICATE_OBSERVATION")
    assert duplicates == [600.0, 610.0]
    assert all(r[FIRST_OF_ID] == (r[REJECT_REASON] is None) for r in checked)


def test_a_night_refuses_an_observation_an_earlier_night_accepted(spark):
    day = D - timedelta(days=20)
    earlier = with_signal_checks(rows(spark, row(observed=day, dt=day, value=650.0)))
    tonight = with_signal_checks(
        rows(
            spark,
            row(observed=day, dt=D, value=900.0, at=0),  # the same observation, replayed
            row(observed=D, dt=D, value=710.0, at=1),
        ),
        earlier=id_index(earlier, ledger="signals"),
    )
    assert reasons(tonight) == ["DUPLICATE_OBSERVATION", None]


def bureau(max_age_days: int) -> Characteristic:
    return Characteristic(
        feature="signal:bureau.score",
        label="bureau",
        reason="BUREAU_SCORE",
        kind="risk",
        monotone="increasing",
        bins=(Bin(600, -0.5, "BUREAU_SCORE"), Bin(None, 0.3, "BUREAU_SCORE")),
        missing=Bin(None, 0.0, "NO_BUREAU_SCORE"),
        max_age_days=max_age_days,
    )


def accepted(spark, *values):
    return rows(spark, *values).drop("dt", "source_file", "source_row")


def scored(spark, newest, as_of, max_age_days=30) -> dict:
    c = bureau(max_age_days)
    found = signal_features(newest, (c,), as_of=as_of).collect()
    return {r["user_id"]: (r[c.column], r[observed_column(c)]) for r in found}


def test_the_newest_observation_counts_while_it_is_within_the_age_limit(spark):
    old, recent = D - timedelta(days=40), D - timedelta(days=10)
    newest = newest_observations(
        accepted(
            spark,
            row(user=1, value=650.0, observed=old),
            row(user=1, value=720.0, observed=recent),
            row(user=2, value=580.0, observed=old),  # only an old one: missing
            row(user=3, source="utility", value=0.9, observed=recent),  # another signal
        )
    )
    assert scored(spark, newest, D) == {1: (720.0, recent), 2: (None, old)}
    # 30 days is still within 30 days; 31 is not
    assert scored(spark, newest, recent + timedelta(days=30))[1] == (720.0, recent)
    assert scored(spark, newest, recent + timedelta(days=31))[1] == (None, recent)
    assert scored(spark, newest, D, max_age_days=40)[2] == (580.0, old)


def test_folded_night_by_night_late_observations_included_equals_the_whole_ledger(spark):
    empty = spark.createDataFrame(
        [],
        "txn_id string, user_id long, event_time timestamp, txn_type string, "
        "amount decimal(18,2), payment_method string, installments int",
    )
    no_repayments = spark.createDataFrame(
        [],
        "entry_id string, user_id long, bill_id string, entry_type string, "
        "amount decimal(18,2), due_date date, event_time timestamp",
    )
    day = lambda n: D - timedelta(days=n)  # noqa: E731
    nights = [
        (
            day(3),
            [row(user=1, value=600.0, observed=day(40)), row(user=2, value=500.0, observed=day(5))],
        ),
        # late: observed before user 1's newest, recorded after it
        (
            day(2),
            [
                row(user=1, value=800.0, observed=day(50)),
                row(user=1, source="utility", name="on_time_rate", value=0.9, observed=day(2)),
            ],
        ),
        (
            day(1),
            [row(user=1, value=650.0, observed=day(1)), row(user=3, value=700.0, observed=day(60))],
        ),
        (day(0), [row(user=2, value=520.0, observed=day(6))]),
    ]
    carried, everything = None, []
    for as_of, values in nights:
        tonight = accepted(spark, *values)
        carried = fold(carried, empty, no_repayments, as_of=as_of, signals=tonight)
        everything += values
    whole = fold(None, empty, no_repayments, as_of=D, signals=accepted(spark, *everything))
    as_set = lambda frame: sorted(tuple(r) for r in frame.collect())  # noqa: E731
    assert as_set(carried.signals) == as_set(whole.signals)
    assert as_set(carried.signals) == [
        (1, "bureau", "score", 650.0, day(1)),
        (1, "utility", "on_time_rate", 0.9, day(2)),
        (2, "bureau", "score", 500.0, day(5)),
        (3, "bureau", "score", 700.0, day(60)),
    ]
    assert scored(spark, carried.signals, D) == {
        1: (650.0, day(1)),
        2: (500.0, day(5)),
        3: (None, day(60)),
    }


SIGNAL = """
[[scorecard.characteristic]]
feature = "signal:bureau.score"
label = "bureau"
reason = "BUREAU_SCORE"
kind = "risk"
monotone = "increasing"
max_age_days = 45
missing = { log_odds = 0.0, reason = "NO_BUREAU_SCORE" }
bins = [{ below = 600, log_odds = -0.5 }, { log_odds = 0.3 }]
"""


def policy_text() -> str:
    return (CONF / "policy.toml").read_text()


def with_signal(signal: str = SIGNAL, tail: str = "") -> str:
    return policy_text() + signal + tail


def test_a_policy_scores_a_signal_with_an_age_limit_and_may_require_its_source():
    policy = policy_from_text(with_signal(tail="\n[signals.bureau]\nrequired = true\n"), "p")
    (c,) = policy.scorecard.signals()
    assert (c.signal, c.max_age_days, c.column) == (
        ("bureau", "score"),
        45,
        "signal__bureau__score",
    )
    assert policy.signal_sources() == ("bureau",)
    assert policy.sources_required() == ("bureau",)
    assert policy_from_text(with_signal(), "p").sources_required() == ()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('"signal:bureau.score"', '"signal:Bureau.score"'), "lower-case words"),
        (('"signal:bureau.score"', '"signal:bureau"'), "lower-case words"),
        (("max_age_days = 45\n", ""), "max_age_days: required"),
        (("max_age_days = 45", "max_age_days = -1"), "max_age_days"),
        (('missing = { log_odds = 0.0, reason = "NO_BUREAU_SCORE" }\n', ""), "its own missing bin"),
        (('reason = "NO_BUREAU_SCORE"', 'reason = "BUREAU_SCORE"'), "name its own"),
    ],
)
def test_a_signal_characteristic_without_what_it_needs_is_refused(change, named):
    old, new = change
    assert old in SIGNAL
    with pytest.raises(ConfigError, match=named):
        policy_from_text(with_signal(SIGNAL.replace(old, new)), "p")


def test_an_age_limit_on_a_ledger_feature_and_a_required_source_nobody_scores_are_refused():
    with pytest.raises(ConfigError, match="only a signal characteristic"):
        policy_from_text(
            policy_text().replace(
                'feature = "current_dpd"', 'feature = "current_dpd"\nmax_age_days = 3'
            ),
            "p",
        )
    with pytest.raises(ConfigError, match="no characteristic scores a signal of 'telecom'"):
        policy_from_text(with_signal(tail="\n[signals.telecom]\nrequired = true\n"), "p")


def test_a_partition_with_only_its_success_marker_reads_as_no_rows(spark, tmp_path):
    quiet_day = tmp_path / "signals" / f"dt={D}"
    quiet_day.mkdir(parents=True)
    (quiet_day / "_SUCCESS").touch()
    rows = read_ledger(spark, InputLayout(str(tmp_path)), "signals", [D])
    assert rows.count() == 0
    assert {"dt", "source_file", "source_row"} <= set(rows.columns)
