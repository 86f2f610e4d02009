"""The pure parts of the gates: which days a volume is compared with, and the PSI."""

from datetime import date

import pytest

from jobs.checks.gates import comparable_days
from jobs.checks.guardrails import psi


def test_volume_compares_with_the_same_weekday_and_the_same_day_of_month():
    days = comparable_days(date(2026, 3, 31), weeks=4, months=3)
    assert days["same_weekday"] == [
        date(2026, 3, 24),
        date(2026, 3, 17),
        date(2026, 3, 10),
        date(2026, 3, 3),
    ]
    # A shorter month compares with its last day: past every billing day too.
    assert days["same_day_of_month"] == [date(2026, 2, 28), date(2026, 1, 31), date(2025, 12, 31)]


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift():
    before = {0: 100, 1: 300, 2: 600}
    assert psi(before, {0: 10, 1: 30, 2: 60}) == pytest.approx(0.0)
    small = psi(before, {0: 120, 1: 300, 2: 580})
    large = psi(before, {0: 600, 1: 300, 2: 100})
    assert 0 < small < 0.1 < 0.25 < large
    # A bin that empties counts (its share is floored, not dropped).
    assert psi(before, {1: 300, 2: 700}) > psi(before, {0: 50, 1: 300, 2: 650})
