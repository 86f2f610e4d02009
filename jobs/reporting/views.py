"""`rerate report` as terminal tables, and as one self-contained HTML page (inline SVG, no
scripts, nothing fetched) of the distributions and the band migration."""

import html
import math

from jobs.reporting.console import (
    NOTICE_MEANING,
    accepted_anomaly_lines,
    cell_rows,
    cells_lines,
    first_steps,
    notices_table,
    signal_rows,
    signals_headline,
    signals_lines,
    table,
)


def report_text(f: dict) -> str:
    parts = [
        *accepted_anomaly_lines(f.get("accepted_anomaly")),
        f"rerate report {f['run_date']}: {f['status']} (policy {f['policy_version']}; previous "
        f"run: {f['previous_run_date'] or 'none, a bootstrap'})",
        f"  accounts: {f['accounts']:,}; active {f['by_status']['active']:,}, suspended "
        f"{f['by_status']['suspended']:,}, closed {f['by_status']['closed']:,}; dormant "
        f"(flagged for re-engagement) {f['dormant']:,}",
        "",
        "CHANGES",
        table(
            [
                (c, f"{n:,}", ", ".join(f"{r['reason']} {r['accounts']:,}" for r in reasons))
                for (c, n), reasons in zip(
                    f["changes"].items(), f["change_reasons"].values(), strict=True
                )
            ],
            ("change", "accounts", "top reasons (accounts)"),
            left=(0, 2),
        ),
        "",
        "NOTICES (what users are told)",
        notices_table(f),
        *cells_lines(f),
        *signals_lines(f.get("signals")),
        "",
        "SCORES",
        table(
            [
                (bin_, f"{n:,}", f"{f['score_histogram']['previous'].get(bin_, 0):,}", _bar(n, f))
                for bin_, n in _all_bins(f)
            ],
            ("score", "accounts", "previous run", ""),
            left=(0, 3),
        ),
        "  quantiles (active and suspended): "
        + ", ".join(f"{q} {v}" for q, v in f["score"]["quantiles"].items()),
        "  active accounts by band: "
        + ", ".join(f"{b} {n:,}" for b, n in f["score"]["by_band"].items())
        + f"; suspended {f['by_status']['suspended']:,} (as in the band migration below)",
        "",
        "ACTIVE LIMITS",
        table(
            [
                (
                    b["limit"],
                    f"{b['accounts']:,}",
                    f"{float(b['total']):,.0f}",
                    f"{b['previous_accounts']:,}",
                )
                for b in f["limit_distribution"]
            ],
            ("limit", "accounts", "total granted", "previous run"),
        ),
        f"  total {float(f['active_limits']['total']):,.0f} over "
        f"{f['active_limits']['accounts']:,} accounts, mean {f['active_limits']['mean']:,.2f}",
    ]
    migration = f["band_migration"]
    if migration:
        places = migration["places"]
        parts += [
            "",
            "BAND MIGRATION (rows: the previous run; columns: now)",
            table(
                [
                    (before, *(f"{row[p]:,}" for p in places))
                    for before, row in migration["matrix"].items()
                ],
                ("before \\ now", *places),
            ),
        ]
    return "\n".join(parts)


def _all_bins(f: dict) -> list[tuple[str, int]]:
    hist = f["score_histogram"]
    keys = sorted(set(hist["now"]) | set(hist["previous"]), key=lambda k: int(k.split("-")[0]))
    return [(k, hist["now"].get(k, 0)) for k in keys]


def _bar(n: int, f: dict, width: int = 30) -> str:
    peak = max(f["score_histogram"]["now"].values() or [1])
    return "#" * round(width * n / peak) if peak else ""


# -- HTML ----------------------------------------------------------------------------------------

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; max-width: 60em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; }
td, th { padding: 2px 8px; text-align: right; vertical-align: top; }
th { border-bottom: 1px solid #999; } td:first-child, th:first-child { text-align: left; }
.words { text-align: left; }
.key { display: inline-block; width: 12px; height: 12px; vertical-align: middle; }
.now-key { background: #2b6cb0; } .previous-key { background: #a0aec0; }
.anomaly { border: 2px solid #c53030; background: #fff5f5; padding: 0.5em 1em; }
"""


NOW_COLOUR, PREVIOUS_COLOUR = "#2b6cb0", "#a0aec0"
LABEL = 'font-size="10" font-family="sans-serif" fill="#444"'


def _svg_bars(
    series: list[tuple[str, int, int]], bar: int = 26, height: int = 180, log: bool = False
) -> str:
    """Paired bars per label: (label, now, previous), the previous lighter beside it; the axis
    names every label there is room for; dashed lines give the scale. `log`: heights on a
    logarithmic scale (a bin of 3 accounts beside one of 3,000 is still seen), a line at each
    power of ten."""
    gap, left, char = 8, 8, 6.2  # char: the width of a 10 px label character
    width = left + len(series) * (bar + gap) + 60
    peak = max([max(n, p) for _, n, p in series] or [1]) or 1
    top, base = 24, height - 22

    def scaled(value: int) -> float:
        return math.log10(1 + value) / math.log10(1 + peak) if log else value / peak

    marks = [10**k for k in range(int(math.log10(peak)) + 1)] if log else []
    # a power of ten just under the peak's line would print its label over the peak's
    marks = [m for m in marks if m == peak or (base - top) * (1 - scaled(m)) >= 12]
    shapes = [
        f'<line stroke="#444" x1="{left}" y1="{base}" x2="{width - 60}" y2="{base}"/>',
        *(_scale_line(left, width, round(base - (base - top) * scaled(m)), m) for m in marks),
    ]
    if not marks or marks[-1] < peak:
        shapes.append(_scale_line(left, width, top, peak))
    free_from = 0.0
    for i, (label, now, previous) in enumerate(series):
        x = left + i * (bar + gap)
        half = bar // 2
        for value, which, at, colour in (
            (now, "this run", x, NOW_COLOUR),
            (previous, "previous run", x + half, PREVIOUS_COLOUR),
        ):
            h = round((base - top) * scaled(value))
            # colours as attributes, not CSS: renderers that ignore the page's style still draw them
            shapes.append(
                f'<rect fill="{colour}" x="{at}" y="{base - h}" width="{half - 1}" height="{h}">'
                f"<title>{html.escape(label)} ({which}): {value:,}</title></rect>"
            )
        tick = label.split("-")[0]
        if x >= free_from:
            shapes.append(f'<text {LABEL} x="{x}" y="{height - 8}">{html.escape(tick)}</text>')
            free_from = x + len(tick) * char + 6
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img">{"".join(shapes)}</svg>'
    )


def _scale_line(left: int, width: int, y: int, value: int) -> str:
    return (
        f'<line stroke="#ccc" stroke-dasharray="3 3" x1="{left}" y1="{y}" x2="{width - 60}" '
        f'y2="{y}"/><text {LABEL} x="{width - 56}" y="{y + 4}">{value:,}</text>'
    )


def _legend() -> str:
    return (
        '<p><span class="key now-key"></span> this run &nbsp; '
        '<span class="key previous-key"></span> the previous run; hover a bar for its count.</p>'
    )


def _html_table(headers: tuple, rows: list[tuple], words: tuple[int, ...] = ()) -> str:
    """Numbers read from the right; the first column and the `words` columns from the left."""

    def cell(tag: str, i: int, v) -> str:
        text = f"{v:,}" if isinstance(v, int) else html.escape(str(v))
        return f'<{tag} class="words">{text}</{tag}>' if i in words else f"<{tag}>{text}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _migration_table(places: list[str], matrix: dict[str, dict[str, int]]) -> str:
    """Each cell tinted by its share of the row: staying grey, moving to a worse place red, to
    a better one green; a move of even one account is visible."""
    rank = {p: i for i, p in enumerate(places) if p != "closed"}
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("before \\ now", *places))
    rows = []
    for before, row in matrix.items():
        total = sum(row.values()) or 1
        tds = [f"<td>{html.escape(before)}</td>"]
        for now in places:
            n = row[now]
            colour = "160,174,192"  # staying, or nowhere to rank (new, closed)
            if before in rank and now in rank and rank[now] != rank[before]:
                colour = "197,48,48" if rank[now] > rank[before] else "47,133,90"
            alpha = 0.12 + 0.6 * (n / total) ** 0.5 if n else 0
            tds.append(f'<td style="background: rgba({colour},{alpha:.2f})">{n:,}</td>')
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _cells_section(f: dict) -> list[str]:
    if not f.get("cells"):
        return []
    headers, rows = cell_rows(f["cells"])
    return [
        "<h2>Champion and challenger</h2><p>Each cell decided by its own policy; rates per "
        "1,000 of the cell's accounts. The guardrails judged the whole book.</p>",
        _html_table(headers, rows),
    ]


def _signals_section(f: dict) -> list[str]:
    if not f.get("signals"):
        return []
    headers, rows = signal_rows(f["signals"])
    return [
        f"<h2>Signals</h2><p>{html.escape(signals_headline(f['signals']).removeprefix('SIGNALS '))}"
        "</p>",
        _html_table(headers, rows),
    ]


def report_html(f: dict) -> str:
    hist = f["score_histogram"]
    score_series = [(k, n, hist["previous"].get(k, 0)) for k, n in _all_bins(f)]
    limit_series = [
        (b["limit"], b["accounts"], b["previous_accounts"]) for b in f["limit_distribution"]
    ]
    changes = [
        (c, n, ", ".join(f"{r['reason']} {r['accounts']:,}" for r in f["change_reasons"][c]))
        for c, n in f["changes"].items()
    ]
    accepted = accepted_anomaly_lines(f.get("accepted_anomaly"))
    warning = (
        '<div class="anomaly"><strong>'
        + html.escape(accepted[0])
        + "</strong><ul>"
        + "".join(f"<li>{html.escape(line.strip())}</li>" for line in accepted[1:])
        + "</ul></div>"
        if accepted
        else ""
    )
    body = [
        f"<h1>rerate: the run of {f['run_date']}</h1>",
        warning,
        f"<p>Status: <strong>{html.escape(str(f['status']))}</strong>. "
        f"Policy {html.escape(str(f['policy_version']))}; previous run "
        f"{f['previous_run_date'] or 'none (bootstrap)'}; {f['accounts']:,} accounts, "
        f"{f['dormant']:,} dormant.</p>",
        "<h2>Changes</h2>",
        _html_table(("change", "accounts", "top reasons (accounts)"), changes, words=(2,)),
        "<h2>Notices</h2><p>What users are told by this run.</p>",
        _html_table(
            ("notice", "accounts", "meaning", "first step (accounts)"),
            [
                (k, n, NOTICE_MEANING.get(k, ""), first_steps(f, k))
                for k, n in f.get("notices", {}).items()
            ],
            words=(2, 3),
        ),
        *_cells_section(f),
        *_signals_section(f),
        "<h2>Score distribution</h2>",
        f"<p>Accounts by score, bins of {hist['bin_width']} points, on a logarithmic scale: "
        "the low bins, where cuts happen, hold few accounts.</p>",
        _legend(),
        _svg_bars(score_series, log=True),
        "<h2>Active limits</h2>",
        "<p>Active accounts by credit limit (yuan).</p>",
        _legend(),
        _svg_bars(limit_series, bar=48),
        _html_table(
            ("limit", "accounts", "total granted", "previous run"),
            [
                (b["limit"], b["accounts"], f"{float(b['total']):,.0f}", b["previous_accounts"])
                for b in f["limit_distribution"]
            ],
        ),
    ]
    migration = f["band_migration"]
    if migration:
        places = migration["places"]
        body += [
            "<h2>Band migration</h2><p>Rows: where accounts were in the previous run; columns:"
            " where they are now. Red: to a worse band or suspended; green: to a better band or"
            " reinstated; the deeper the tint, the larger the share of the row.</p>",
            _migration_table(places, migration["matrix"]),
        ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>rerate {f['run_date']}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
