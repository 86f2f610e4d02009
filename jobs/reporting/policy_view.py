"""`rerate policy show`: the scorecard with its scaling, and the limit strategy, as tables a
risk analyst can read without opening the TOML."""

import math

from jobs.reporting.console import table
from transforms.features import WINDOWS
from transforms.policy import Policy
from transforms.score import bin_label


def _sources(policy: Policy) -> list[str]:
    sources = sorted({c.signal[0] for c in policy.scorecard.signals()})
    if not sources:
        return []

    def how(source: str) -> str:
        if source in policy.required_sources:
            return "required: no run without its partition of D"
        return "optional: a stale feed scores as missing"

    return ["signal sources: " + ", ".join(f"{s} ({how(s)})" for s in sources)]


def render_policy(policy: Policy, *, guardrails: bool = True) -> str:
    """`guardrails` False: a challenger's, whose guardrails are not the ones that judge."""
    card, rules, guard = policy.scorecard, policy.limits, policy.guardrails
    lowest = card.base_points + sum(
        min(card.points(b.log_odds) for b in (*c.bins, c.missing)) for c in card.characteristics
    )
    highest = card.base_points + sum(card.max_points(c) for c in card.characteristics)
    parts = [
        f"policy {policy.version}",
        *_sources(policy),
        "",
        "SCORECARD: score = offset + factor x ln(odds), odds as good:bad",
        table(
            [
                ("base score", f"{card.base_score} at odds {card.base_odds:g}:1"),
                ("points to double the odds (PDO)", f"{card.pdo:g}"),
                ("factor = PDO / ln 2", f"{card.factor:.4f}"),
                ("offset = base - factor x ln(base odds)", f"{card.offset:.2f}"),
                ("base points (every account starts here)", f"{card.base_points}"),
                ("stated range", f"{card.min_score}-{card.max_score}"),
                ("reachable with these bins", f"{max(lowest, card.min_score)}-{highest}"),
                (
                    "odds at the base score + 1 PDO",
                    f"{card.base_odds * 2:g}:1 (ln odds {math.log(card.base_odds * 2):.3f})",
                ),
            ],
            ("scaling", "value"),
            left=(0, 1),
        ),
        "",
        "Each bin's points = round(factor x its ln-odds contribution); a bin below the",
        "characteristic's maximum gives its reason code that many points (points below maximum).",
    ]
    for c in card.characteristics:
        rows = []
        previous = None
        for b in c.bins:
            rows.append((bin_label(b, previous), f"{card.points(b.log_odds):+d}", b.reason))
            previous = b
        missing = "missing" if c.signal is None else f"missing (none within {c.max_age_days} days)"
        rows.append((missing, f"{card.points(c.missing.log_odds):+d}", c.missing.reason))
        age = "" if c.signal is None else f"; newest within {c.max_age_days} days"
        parts += [
            "",
            f"{c.label} ({c.feature}; {c.kind}, {c.monotone}; max {card.max_points(c):+d}{age})",
            table(rows, ("value", "points", "reason"), left=(0, 2)),
        ]
    parts += [
        "",
        "LIMIT STRATEGY: score bands, best first",
        table(
            [
                (b.name, f">= {b.min_score}", f"{b.max_limit:,}", f"{b.spend_multiple} x")
                for b in rules.bands
            ],
            ("band", "score", "max limit", "x avg monthly spend"),
        ),
        "",
        table(
            [
                (
                    "limit grid",
                    f"multiples of {rules.limit_step} in [{rules.min_limit:,}, "
                    f"{rules.max_limit:,}]",
                ),
                ("suspend", f"a bill more than {rules.suspend_dpd} days past due, or frozen"),
                (
                    "reinstate",
                    f"nothing past due and suspended >= {rules.reinstate_after_days} days; at "
                    f"<= {rules.reinstate_ratio:.0%} of the pre-suspension limit",
                ),
                (
                    "increase",
                    f"good standing; <= +{rules.max_increase_ratio:.0%} a run, once in "
                    f"{rules.increase_cooldown_days} days, not before "
                    f"{rules.new_account_wait_days} days of tenure, only if >= "
                    f"+{rules.min_increase_ratio:.0%}",
                ),
                (
                    "recovery plan",
                    "a reinstated account with nothing past due climbs back towards its "
                    "pre-suspension limit, one capped increase per cool-down",
                ),
                (
                    "cash-out cut",
                    f">= {rules.cash_out_utilization:.0%} of the line used within "
                    f"{rules.cash_out_days} days of an increase: cut to the balance floor",
                ),
                (
                    "decrease",
                    f"on a risk reason, score >= {rules.decrease_margin_points} points inside "
                    "a lower band; never below the balance rounded up to the grid",
                ),
                (
                    "notice before a cut",
                    f"a decrease is announced and applies {rules.decrease_notice_days} days "
                    "later, never below what was announced; suspensions apply at once",
                ),
                ("dormant", f"no purchase in {rules.dormant_days} days: kept, flagged"),
                ("look-back windows", ", ".join(f"{d} days" for d in WINDOWS)),
            ],
            ("rule", "setting"),
            left=(0, 1),
        ),
    ]
    if guardrails:
        parts += [
            "",
            "GUARDRAILS",
            table(
                [
                    ("bad rows in a ledger's day (exit 4)", f"> {guard.max_reject_share:.1%}"),
                    (
                        "volume vs usual (exit 4)",
                        f"outside 1/{guard.volume_max_ratio:g}-{guard.volume_max_ratio:g}x of the "
                        f"same weekday ({guard.volume_weeks} weeks) and day of month "
                        f"({guard.volume_months} months); judged from {guard.volume_min_rows} rows",
                    ),
                    (
                        "accounts cut, suspended or told of a cut (exit 5)",
                        f"> {guard.max_adverse_share:.1%}",
                    ),
                    ("accounts raised (exit 5)", f"> {guard.max_increase_share:.1%}"),
                    ("score PSI vs previous run (a warning only)", f"> {guard.max_score_psi:g}"),
                    ("total granted limit move (exit 5)", f"> {guard.max_total_limit_change:.0%}"),
                ],
                ("guardrail", "blocks when"),
                left=(0, 1),
            ),
        ]
    challenger = policy.challenger
    if challenger is not None:
        parts += [
            "",
            f"CHALLENGER: {challenger.share:%} of accounts (salt {challenger.salt!r}) are "
            f"decided by {challenger.file}, policy {challenger.policy.version}, as follows; the "
            "guardrails above judge the whole book.",
            "",
            render_policy(challenger.policy, guardrails=False),
        ]
    return "\n".join(parts)
