"""The re-rating as one pure chain: carried ledgers -> features -> score -> limit decision."""

from dataclasses import replace
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.carry import Carried, fold
from transforms.cells import in_challenger
from transforms.features import aggregate_repayment_behaviour, build_features
from transforms.limits import decide_limits
from transforms.notices import PENDING, with_notice_kind
from transforms.policy import CHALLENGER, Policy
from transforms.score import with_score
from transforms.signals import signal_features
from transforms.state import previous_state, summarize_history
from transforms.windows import purchase_features


def rerate_carried(
    accounts: DataFrame,
    carried: Carried,
    previous_limits: DataFrame,
    limit_changes: DataFrame,
    pending: DataFrame | None = None,
    *,
    policy: Policy,
    as_of: date,
) -> DataFrame:
    """Every account of the snapshot with its features, points, score, limit decision, the
    kind of notice it gets (`notice_kind`), its `cell` and the `policy_version` that decided it.

    `carried` is the accepted ledger folded for the run (transforms.carry); `previous_limits`
    is the previous published run's `limits` (empty at bootstrap), `limit_changes` the
    published changes of earlier runs and `pending` the cuts announced and not yet applied or
    withdrawn (transforms.notices; None: none).
    """
    if pending is None:
        pending = accounts.sparkSession.createDataFrame([], PENDING)
    history = summarize_history(limit_changes, before=as_of)
    previous = previous_state(previous_limits, history, pending)
    cells = policy.cells()
    if len(cells) == 1:
        return _in_cell(decide(accounts, carried, previous, policy=policy, as_of=as_of), *cells[0])
    decided = None
    for cell, deciding in cells:
        # each cell's accounts are decided from their own rows only: the state is cut before
        # it is aggregated, so two cells cost about what one book does
        challenger = in_challenger(F.col("user_id"), policy.challenger)
        mine = challenger if cell == CHALLENGER else ~challenger
        part = _in_cell(
            decide(
                accounts.filter(mine),
                _cut(carried, mine),
                previous.filter(mine),
                policy=deciding,
                as_of=as_of,
            ),
            cell,
            deciding,
        )
        decided = part if decided is None else decided.unionByName(part, allowMissingColumns=True)
    return decided


def _in_cell(decided: DataFrame, cell: str, policy: Policy) -> DataFrame:
    return decided.withColumns({"cell": F.lit(cell), "policy_version": F.lit(policy.version)})


def _cut(carried: Carried, keep) -> Carried:
    """The carried state of the accounts `keep` selects (what `decide` reads of it)."""
    return replace(
        carried,
        totals=carried.totals.filter(keep),
        windows=carried.windows.filter(keep),
        bills=carried.bills.filter(keep),
        signals=None if carried.signals is None else carried.signals.filter(keep),
    )


def decide(
    accounts: DataFrame, carried: Carried, previous: DataFrame, *, policy: Policy, as_of: date
) -> DataFrame:
    """The decision from a previous state already built (transforms.state.PREVIOUS_COLUMNS)
    and a carried state whose windows are as of `as_of`."""
    signals = policy.scorecard.signals()
    if signals and carried.signals is None:
        raise ValueError(f"policy {policy.version} scores signals the carried state lacks")
    features = build_features(
        accounts,
        purchase_features(carried.windows, as_of=as_of),
        aggregate_repayment_behaviour(
            carried.bills, as_of=as_of, suspend_dpd=policy.limits.suspend_dpd
        ),
        carried.totals,
        previous,
        as_of=as_of,
        signals=signal_features(carried.signals, signals, as_of=as_of) if signals else None,
    )
    return (
        features.transform(with_score, scorecard=policy.scorecard)
        .join(previous, "user_id", "left")
        .transform(decide_limits, rules=policy.limits, as_of=as_of)
        .transform(with_notice_kind)
    )


def rerate_accounts(
    accounts: DataFrame,
    transactions: DataFrame,
    repayments: DataFrame,
    previous_limits: DataFrame,
    limit_changes: DataFrame,
    pending: DataFrame | None = None,
    *,
    policy: Policy,
    as_of: date,
    signals: DataFrame | None = None,
) -> DataFrame:
    """The same from the whole accepted ledgers (a full recompute); `signals`: the accepted
    signals rows, where the policy scores any."""
    return rerate_carried(
        accounts,
        fold(None, transactions, repayments, as_of=as_of, signals=signals),
        previous_limits,
        limit_changes,
        pending,
        policy=policy,
        as_of=as_of,
    )
