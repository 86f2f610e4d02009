"""`rerate policy show`: the credit policy in force, as tables a risk analyst can read."""

from jobs.config import Settings
from jobs.reporting.policy_view import render_policy


def show_policy(settings: Settings) -> str:
    return render_policy(settings.policy)
