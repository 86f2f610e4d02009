"""`rerate explain --date D --user U`: why one account's limit is what it is on D.

Reads the published run of D and recomputes the account's decision from the same inputs (the
ledgers up to D, the previous published run, the published history), so every step can be
shown: features, points per characteristic, score, reasons, and the limit decision step by step.
The recomputed score and limit are checked against the published ones.
"""

from datetime import date, timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.checks.rows import check_rows
from jobs.config import Settings
from jobs.files.layout import InputLayout, OutputLayout
from jobs.files.ledgers import EVENT_LEDGERS, SIGNALS, check_readiness, read_ledger
from jobs.files.storage import Storage
from jobs.outcome import ExitCode, Stop
from jobs.output.kept import read_manifest, signals_as_read
from jobs.output.publish import (
    is_published,
    previous_published_run,
    published_change_dates,
    published_notice_dates,
    read_report,
    read_table,
)
from jobs.reporting.console import table
from transforms.features import FEATURE_NAMES
from transforms.notices import pending_from_published
from transforms.pipeline import rerate_accounts
from transforms.schemas import LIMIT_CHANGES, LIMITS, NOTICES
from transforms.score import bin_label, points_column, reason_column
from transforms.signals import observed_column
from transforms.validate import accepted_rows


def explain(spark: SparkSession, settings: Settings, run_date: date, user_id: int) -> str:
    storage = Storage(spark)
    out = OutputLayout(settings.output_path)
    if not is_published(storage, out, run_date):
        status = (read_report(storage, out, run_date) or {}).get("status", "no run")
        raise Stop(ExitCode.USAGE, f"{run_date} has no published run ({status})")
    published = _one(spark, out.partition("limits", run_date), LIMITS, user_id)
    if published is None:
        raise Stop(ExitCode.USAGE, f"account {user_id} is not in the run of {run_date}")
    change = _one(spark, out.partition("limit_changes", run_date), LIMIT_CHANGES, user_id)
    up_to_d = published_notice_dates(storage, out, run_date + timedelta(days=1))
    notices = read_table(spark, out, "notices", up_to_d, NOTICES)
    notices = notices.filter(F.col("user_id") == user_id)
    told = notices.filter(F.col("run_date") == run_date).collect()
    row = _recompute(spark, settings, storage, out, run_date, user_id)
    return _render(settings, run_date, user_id, row, published, change) + _notices(
        told[0] if told else None, row
    )


def _notices(told, row) -> str:
    """The notice of the run, and the cut the account has been told of and is still waiting."""
    parts = ["", "NOTICES"]
    if told is None:
        parts.append("  no notice on this date")
    else:
        parts.append(
            f"  told on {told['run_date']}: {told['kind']}; limit now {told['current_limit']}"
            + (f", to be {told['proposed_limit']}" if told["proposed_limit"] is not None else "")
            + (f" from {told['effective_date']}" if told["effective_date"] else "")
            + f"; reasons {list(told['reason_codes'])}"
        )
        parts += [f"    next step {i}: {step}" for i, step in enumerate(told["next_steps"], 1)]
    if row.get("pending_effective_date") is not None and row.get("prev_status") == "active":
        parts.append(
            f"  a cut announced on {row['pending_announced_on']} to "
            f"{row['pending_proposed_limit']} from {row['pending_effective_date']} was pending "
            f"going into this run (decision: {row['d_step']})"
        )
    return "\n".join(parts)


def _one(spark, path, schema, user_id):
    rows = spark.read.schema(schema).parquet(path).filter(F.col("user_id") == user_id).collect()
    return rows[0] if rows else None


def _recompute(spark, settings, storage, out, run_date, user_id):
    inputs = InputLayout(settings.input_path)
    scores_signals = bool(settings.policy.signal_sources())
    # the signals as the run read them: a stale feed may have caught up since
    readiness = check_readiness(
        storage,
        inputs,
        run_date,
        signals=scores_signals,
        signals_as_read=signals_as_read(read_manifest(storage, out, run_date)),
    )
    mine = F.col("user_id") == user_id

    def accepted(ledger: str, days: list[date]):
        # Checked on the whole ledger (a duplicate id may belong to another account), then cut.
        return accepted_rows(
            check_rows(read_ledger(spark, inputs, ledger, days), ledger=ledger)
        ).filter(mine)

    previous_day = previous_published_run(storage, out, run_date)
    previous = read_table(spark, out, "limits", [previous_day] if previous_day else [], LIMITS)
    dates = published_change_dates(storage, out, run_date)
    history = read_table(spark, out, "limit_changes", dates, LIMIT_CHANGES)
    notices = read_table(
        spark, out, "notices", published_notice_dates(storage, out, run_date), NOTICES
    )
    decided = rerate_accounts(
        accepted("accounts", [readiness.accounts_day]),
        *(accepted(ledger, readiness.complete_days[ledger]) for ledger in EVENT_LEDGERS),
        previous.filter(mine),
        history.filter(mine),
        pending_from_published(notices.filter(mine), previous.filter(mine)),
        policy=settings.policy,
        as_of=run_date,
        signals=accepted(SIGNALS, readiness.complete_days[SIGNALS]) if scores_signals else None,
    ).collect()
    if not decided:
        raise Stop(ExitCode.USAGE, f"account {user_id} is not in the ledgers up to {run_date}")
    return decided[0].asDict()


def _signals(card, row, run_date: date) -> list[str]:
    """Each signal the scorecard bins: the newest observation, its age, and the points."""
    signals = card.signals()
    if not signals:
        return []
    rows = []
    for c in signals:
        observed = row.get(observed_column(c))
        age = (run_date - observed).days if observed else None
        value = row.get(c.column)
        if observed is None:
            used = "missing: no observation"
        elif value is None:
            used = f"missing: older than {c.max_age_days} days"
        else:
            used = _fmt(value)
        rows.append(
            (
                c.feature,
                used,
                _fmt(observed),
                _fmt(age),
                c.max_age_days,
                f"{row[points_column(c)]:+d}",
            )
        )
    return [
        "",
        "SIGNALS (the newest observation of each, as of the run date)",
        table(
            rows,
            ("signal", "value scored", "observed on", "age (days)", "max age", "points"),
            left=(0, 1),
        ),
    ]


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _render(settings, run_date, user_id, row, published, change) -> str:
    deciding = settings.policy.of_cell(row.get("cell"))  # the cell's policy decided it
    card, rules = deciding.scorecard, deciding.limits
    cell = f", {published['cell']} cell" if published["cell"] else ""
    parts = [
        f"account {user_id} on {run_date} (policy {published['policy_version']}{cell})",
        f"  published: {published['status']}, limit {published['credit_limit']}, score "
        f"{published['score']}, balance {published['balance']}, segment "
        f"{published['segment'] or '-'}, reasons {list(published['reason_codes'])}",
    ]
    if change is not None:
        parts.append(
            f"  change on {run_date}: {change['change_type']} {change['old_limit']} -> "
            f"{change['new_limit']} ({change['old_status']} -> {change['new_status']}), "
            f"reasons {list(change['reason_codes'])}"
        )
    else:
        parts.append(f"  no change on {run_date}")
    parts += [
        "",
        "FEATURES",
        table([(f, _fmt(row.get(f))) for f in FEATURE_NAMES], ("feature", "value"), left=(0, 1)),
        *_signals(card, row, run_date),
    ]

    rows = []
    for c in card.characteristics:
        value = row.get(c.column)
        got = row[points_column(c)]
        if value is None:
            bin_text = "missing"
        else:
            previous = None
            for b in c.bins:
                if b.below is None or value < b.below:
                    break
                previous = b
            bin_text = bin_label(b, previous)
        below = card.max_points(c) - got
        rows.append(
            (
                c.label,
                _fmt(value),
                bin_text,
                f"{got:+d}",
                f"{card.max_points(c):+d}",
                f"{below}" if below else "",
                row[reason_column(c)] if below else "",
            )
        )
    total = card.base_points + sum(row[points_column(c)] for c in card.characteristics)
    parts += [
        "",
        "SCORE",
        table(
            rows,
            ("characteristic", "value", "bin", "points", "max", "below max", "reason"),
            left=(0, 2, 6),
        ),
        f"  base {card.base_points} + points {total - card.base_points:+d} = {total}, within "
        f"[{card.min_score}, {card.max_score}]: score {row['score']}",
        f"  reasons (points below maximum, largest first): {list(row['reason_codes'])}; "
        f"risk reasons: {list(row['risk_reason_codes'])}",
    ]

    steps = [
        (
            "old limit / status",
            f"{row['old_limit']} / {row['old_status']}"
            + (" (first run: initial limit)" if row.get("prev_status") is None else ""),
        ),
        ("score band", f"{row['d_band']}"),
        ("frozen in the account master", _fmt(row["d_frozen"])),
        (
            f"a bill more than {rules.suspend_dpd} days past due",
            f"{_fmt(row['d_delinquent'])} (current dpd {row['current_dpd']})",
        ),
        ("good standing (nothing past due, no 30+ in 12 months)", _fmt(row["d_good_standing"])),
        (f"dormant (no purchase in {rules.dormant_days} days)", _fmt(row["d_dormant"])),
        ("old limit held on the grid", _fmt(row["d_held"])),
    ]
    if row["old_status"] == "suspended":
        steps += [
            ("days suspended", _fmt(row["d_days_suspended"])),
            (
                f"can be reinstated (nothing due, >= {rules.reinstate_after_days} days)",
                _fmt(row["d_can_reinstate"]),
            ),
            (
                f"reinstatement limit (<= {rules.reinstate_ratio:.0%} of pre-suspension)",
                _fmt(row["d_reinstate_limit"]),
            ),
        ]
    steps += [
        (
            "on the recovery plan (reinstated, below the pre-suspension limit)",
            f"{_fmt(row['d_recovering'])} (pre-suspension {_fmt(row.get('pre_suspension_limit'))})",
        ),
        (
            "raise target (band max; spend x multiple, or the pre-suspension limit if recovering)",
            _fmt(row["d_raise_target"]),
        ),
        (f"raise cap (+{rules.max_increase_ratio:.0%})", _fmt(row["d_raise_cap"])),
        (
            f"cooled down ({rules.increase_cooldown_days} days since a raise)",
            f"{_fmt(row['d_cooled_down'])} (last raise {_fmt(row.get('last_raise_on'))})",
        ),
        (f"seasoned ({rules.new_account_wait_days} days of tenure)", _fmt(row["d_seasoned"])),
        ("wants a raise", _fmt(row["d_wants_raise"])),
        ("cut floor (balance rounded up, min limit)", _fmt(row["d_cut_floor"])),
        (
            f"cash-out (>= {rules.cash_out_utilization:.0%} used within "
            f"{rules.cash_out_days} days of an increase: cut to the floor)",
            f"{_fmt(row['d_cash_out'])} (utilization {_fmt(row['utilization'])}, "
            f"last increase {_fmt(row.get('last_increase_on'))})",
        ),
        (f"cut to (band max at score + {rules.decrease_margin_points})", _fmt(row["d_cut_to"])),
        ("wants a cut (a risk reason, not dormant-and-clean)", _fmt(row["d_wants_cut"])),
        (
            "cut announced before (no cut without notice; never below what was announced)",
            f"{_fmt(row['d_has_notice'])} (to {_fmt(row.get('pending_proposed_limit'))} from "
            f"{_fmt(row.get('pending_effective_date'))})",
        ),
        (
            "DECISION",
            f"{row['d_step']}: {row['limit_status']}, limit {row['credit_limit']}, "
            f"reasons {list(row['change_reasons'])}",
        ),
    ]
    parts += [
        "",
        "LIMIT DECISION (in order: closed, suspend, reinstate, cash-out cut, increase, decrease, "
        "hold; a decrease is announced first and applies on or after its date)",
        table(steps, ("step", "value"), left=(0, 1)),
    ]
    if row["score"] != published["score"] or row["credit_limit"] != published["credit_limit"]:
        parts.append(
            "  WARNING: the recomputation differs from the published run (score "
            f"{row['score']} vs {published['score']}, limit {row['credit_limit']} vs "
            f"{published['credit_limit']}): the inputs or the policy changed since it ran"
        )
    return "\n".join(parts)
