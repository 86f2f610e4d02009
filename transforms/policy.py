"""The credit policy as typed, frozen values: the scorecard with its scaling and the limit rules.

Loaded and checked by `jobs.config`; passed into the transforms as arguments.
"""

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


@dataclass(frozen=True)
class Bin:
    """One bin of a characteristic: values below `below` (None: no upper edge)."""

    below: float | None
    log_odds: float
    reason: str


SIGNAL_PREFIX = "signal:"  # a feature `signal:<source>.<name>` bins a signals ledger value
SIGNAL_WORD = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"  # a source or name: lower-case words joined by _


@dataclass(frozen=True)
class Characteristic:
    feature: str
    label: str
    reason: str
    kind: str  # "risk" or "engagement"
    monotone: str  # "increasing", "decreasing" or "none"
    bins: tuple[Bin, ...]
    missing: Bin
    max_age_days: int | None = None  # of a signal: older observations are missing

    @property
    def signal(self) -> tuple[str, str] | None:
        """(source, name) of a signal characteristic, else None."""
        if not self.feature.startswith(SIGNAL_PREFIX):
            return None
        source, name = self.feature.removeprefix(SIGNAL_PREFIX).split(".")
        return source, name

    @property
    def column(self) -> str:
        """The feature's column: its name, or for a signal one Spark needs no quoting for."""
        signal = self.signal
        return self.feature if signal is None else "signal__{}__{}".format(*signal)


@dataclass(frozen=True)
class Scorecard:
    base_score: int
    base_odds: float
    pdo: float
    min_score: int
    max_score: int
    characteristics: tuple[Characteristic, ...]

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    @property
    def base_points(self) -> int:
        """Points every account starts from: the score at the base odds."""
        return round(self.offset + self.factor * math.log(self.base_odds))

    def points(self, log_odds: float) -> int:
        return round(self.factor * log_odds)

    def max_points(self, characteristic: Characteristic) -> int:
        return max(self.points(b.log_odds) for b in (*characteristic.bins, characteristic.missing))

    def signals(self) -> tuple[Characteristic, ...]:
        return tuple(c for c in self.characteristics if c.signal is not None)

    def reason_codes(self) -> tuple[str, ...]:
        """Every reason code the scorecard can give, in its fixed tie-break order."""
        codes: list[str] = []
        for characteristic in self.characteristics:
            for b in (*characteristic.bins, characteristic.missing):
                if b.reason not in codes:
                    codes.append(b.reason)
        return tuple(codes)


@dataclass(frozen=True)
class Band:
    name: str
    min_score: int
    max_limit: Decimal
    spend_multiple: Decimal


@dataclass(frozen=True)
class LimitRules:
    limit_step: Decimal
    min_limit: Decimal
    max_limit: Decimal
    suspend_dpd: int
    reinstate_after_days: int
    reinstate_ratio: Decimal
    max_increase_ratio: Decimal
    min_increase_ratio: Decimal
    increase_cooldown_days: int
    new_account_wait_days: int
    dormant_days: int
    decrease_margin_points: int
    cash_out_days: int
    cash_out_utilization: Decimal
    decrease_notice_days: int  # a cut short of suspension is announced this many days ahead
    bands: tuple[Band, ...]  # best first

    def floor_to_grid(self, amount: Decimal) -> Decimal:
        return (amount / self.limit_step).to_integral_value(ROUND_FLOOR) * self.limit_step

    def ceil_to_grid(self, amount: Decimal) -> Decimal:
        return (amount / self.limit_step).to_integral_value(ROUND_CEILING) * self.limit_step


@dataclass(frozen=True)
class Guardrails:
    max_reject_share: float
    max_adverse_share: float
    max_increase_share: float
    volume_weeks: int
    volume_months: int
    volume_min_rows: int
    volume_max_ratio: float
    max_score_psi: float
    max_total_limit_change: float


CHAMPION, CHALLENGER = "champion", "challenger"  # the cells of the book (transforms.cells)


@dataclass(frozen=True)
class Challenger:
    """A second policy deciding a stable share of the book (transforms.cells)."""

    policy: "Policy"
    share: Decimal  # the share of accounts it decides, as written
    salt: str
    file: str  # the policy file as the champion names it


@dataclass(frozen=True)
class Policy:
    version: str
    limits: LimitRules
    guardrails: Guardrails  # a challenger's are not used: the guardrails judge the whole book
    scorecard: Scorecard
    challenger: Challenger | None = None
    # signal sources without whose partition of the run date the night does not run (exit 3)
    required_sources: frozenset[str] = frozenset()

    def cells(self) -> tuple[tuple[str, "Policy"], ...]:
        """(cell, the policy that decides it) for each cell the policy in force has."""
        if self.challenger is None:
            return ((CHAMPION, self),)
        return ((CHAMPION, self), (CHALLENGER, self.challenger.policy))

    def signal_sources(self) -> tuple[str, ...]:
        """Every source a cell's scorecard reads a signal of: none, and the run never reads
        the signals ledger."""
        return tuple(sorted({c.signal[0] for _, p in self.cells() for c in p.scorecard.signals()}))

    def sources_required(self) -> tuple[str, ...]:
        """The sources some cell's policy marks `required`."""
        return tuple(sorted({s for _, p in self.cells() for s in p.required_sources}))

    def of_cell(self, cell: str | None) -> "Policy":
        """The policy that decides `cell` (None: a row written before cells existed)."""
        return dict(self.cells()).get(cell or CHAMPION, self)
