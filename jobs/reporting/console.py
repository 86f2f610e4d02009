"""Plain-text rendering of run figures for a terminal."""


def table(rows: list[tuple], headers: tuple[str, ...], left: tuple[int, ...] = (0,)) -> str:
    """Columns padded to width; those in `left` aligned left, the others (numbers) right."""
    cells = [tuple(str(c) for c in headers)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.ljust(w) if j in left else c.rjust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join("  " + line for line in lines)


NOTICE_MEANING = {
    "pending_decrease": "a cut announced; the limit holds until its date",
    "decreased": "an announced cut applied",
    "decrease_withdrawn": "an announced cut called off",
    "suspended": "suspended at once (past due or frozen)",
    "reinstated": "back from a suspension",
    "re_engage": "turned dormant: limit kept, invited back",
}


def notices_table(figures: dict) -> str:
    """What users are told by the run: notices by kind, with the first steps they are given."""
    return table(
        [
            (kind, f"{n:,}", NOTICE_MEANING.get(kind, ""), first_steps(figures, kind))
            for kind, n in figures.get("notices", {}).items()
        ],
        ("notice", "accounts", "meaning", "first step (accounts)"),
        left=(0, 2, 3),
    )


def first_steps(figures: dict, kind: str) -> str:
    """How many notices of a kind are told each first step: "PAY_BILL 9, WAIT_UNTIL 17"."""
    told = figures.get("notice_first_steps", {}).get(kind, {})
    return ", ".join(f"{code} {n:,}" for code, n in told.items())


def accepted_anomaly_lines(accepted: dict | None) -> list[str]:
    """What every view of a run says first when it was published over its guardrails."""
    if not accepted:
        return []
    return [
        f"PUBLISHED OVER THE GUARDRAILS ({', '.join(accepted['checks'])}), accepted by "
        f'{accepted["accepted_by"]} at {accepted["accepted_at"]}: "{accepted["why"]}"',
        *(f"  {finding}" for finding in accepted["findings"]),
    ]


def cell_rows(cells: dict) -> tuple[tuple[str, ...], list[tuple]]:
    """(headers, rows) of each cell's figures side by side: one column per cell."""
    sides = list(cells.values())
    headers = ("", *(f"{name} ({c['policy_version']})" for name, c in cells.items()))

    def row(label: str, value) -> tuple:
        return (label, *(value(c) for c in sides))

    rows = [
        row("accounts", lambda c: f"{c['accounts']:,}"),
        *(
            row(status, lambda c, s=status: f"{c['by_status'][s]:,}")
            for status in sides[0]["by_status"]
        ),
        *(
            row(change, lambda c, k=change: f"{c['changes'][k]:,}")
            for change in sides[0]["changes"]
        ),
        row("pending_decrease notices", lambda c: f"{c['notices']['pending_decrease']:,}"),
        row("cut, suspended or told of a cut, per 1,000", lambda c: f"{c['adverse_per_1000']:.1f}"),
        row("raised, per 1,000", lambda c: f"{c['increases_per_1000']:.1f}"),
        row("total granted limit", lambda c: f"{float(c['active_limits']['total']):,.0f}"),
        row("mean active limit", lambda c: f"{c['active_limits']['mean']:,.2f}"),
        row("mean score (active, suspended)", lambda c: f"{c['mean_score']:.1f}"),
    ]
    return headers, rows


def cells_lines(figures: dict) -> list[str]:
    """The champion and challenger cells side by side, where the run had both."""
    if not figures.get("cells"):
        return []
    headers, rows = cell_rows(figures["cells"])
    return ["", "CELLS (champion and challenger, side by side)", table(rows, headers)]


def signal_rows(signals: dict) -> tuple[tuple[str, ...], list[tuple]]:
    """(headers, rows) of each signal's coverage: accounts with a value fresh enough to score."""
    headers = ("signal", "max age (days)", "fresh", "coverage", "older only", "newest observed")
    rows = [
        (
            s["signal"],
            s["max_age_days"],
            f"{s['accounts_with_fresh_value']:,}",
            f"{s['coverage']:.1%}",
            f"{s['accounts_with_older_value']:,}",
            f"{s['newest_observed_on'] or '-'} ({s['newest_age_days']} days)"
            if s["newest_observed_on"]
            else "-",
        )
        for s in signals["by_signal"]
    ]
    return headers, rows


def signals_headline(signals: dict) -> str:
    newest, age = signals["newest_complete_partition"], signals["feed_age_days"]
    feed = f"newest partition {newest}, {age} days old" if newest else "no partition read yet"
    return f"SIGNALS (the feed: {feed}; accounts without a fresh value score the missing bin)"


def signals_lines(signals: dict | None) -> list[str]:
    if not signals:
        return []
    headers, rows = signal_rows(signals)
    return ["", signals_headline(signals), table(rows, headers)]


def render_run_summary(report: dict, report_path: str) -> str:
    d = report["decisions"]
    status = d["by_status"]
    changes = d["changes"]
    parts = [f"  {line}" for line in accepted_anomaly_lines(report.get("accepted_anomaly"))]
    parts += [
        f"  accounts re-rated: {d['accounts']:,} (active {status.get('active', 0):,}, "
        f"suspended {status.get('suspended', 0):,}, closed {status.get('closed', 0):,}); "
        f"dormant, flagged for re-engagement: {d['dormant']:,}",
        "  previous run: "
        + (report.get("previous_run_date") or "none (bootstrap: compared with initial limits)"),
        "",
        table(
            [
                (c, f"{n:,}", ", ".join(r["reason"] for r in d["change_reasons"][c]))
                for c, n in changes.items()
            ],
            ("change", "accounts", "top reasons"),
            left=(0, 2),
        ),
        "",
        notices_table(d),
        *cells_lines(d),
        *signals_lines(report.get("signals")),
        "",
        table([(q, v) for q, v in d["score"]["quantiles"].items()], ("score quantile", "score")),
        "",
        table(
            [(r["reason"], f"{r['accounts']:,}") for r in d["top_account_reasons"]],
            ("reason the score is not higher", "accounts"),
        ),
        "",
    ]
    parts += [f"  {table}: {path}" for table, path in report.get("outputs", {}).items()]
    parts.append(f"  report: {report_path}")
    return "\n".join(parts)


def check_outcome(check: dict) -> str:
    if not check.get("applied", True):
        return "not applied"
    return "passed" if check["passed"] else "FAILED"


def check_detail(check: dict) -> str:
    if check.get("problems"):
        return "; ".join(check["problems"])
    if "value" in check and "threshold" in check:
        return f"{check['value']} (threshold {check['threshold']})"
    return check.get("detail", "")


def render_checks(checks: list[dict]) -> str:
    return table(
        [(c["name"], check_outcome(c), check_detail(c)) for c in checks],
        ("check", "result", "detail"),
        left=(0, 1, 2),
    )


def render_findings(findings: dict) -> str:
    """What `rerate validate` found: each check, and each ledger's rows and rejects on D."""
    parts = [f"  input: {findings['input']}", "", render_checks(findings["checks"]), ""]
    ledgers = [
        (
            ledger,
            f"{figures['rows_recorded_on_run_date']:,}",
            f"{figures['rejected_on_run_date']:,}",
            f"{figures['reject_share']:.2%}",
            ", ".join(f"{k} {v}" for k, v in figures["rejects_by_reason"].items()),
        )
        for ledger, figures in findings.get("inputs", {}).items()
        if "rows_recorded_on_run_date" in figures
    ]
    if ledgers:
        parts += [
            table(
                ledgers,
                ("ledger", "rows on D", "refused", "share", "refused by reason"),
                left=(0, 4),
            ),
            "",
        ]
    parts += [f"  warning: {w}" for w in findings["warnings"]]
    return "\n".join(parts)
