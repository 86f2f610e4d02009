"""`rerate report` as terminal tables, and as one self-contained HTML page (inline SVG, no
scripts, nothing fetched) of the distributions and the band migration."""

import html

from jobs.render import table


def report_text(f: dict) -> str:
    parts = [
        f"rerate report {f['run_date']} (policy {f['policy_version']}; previous run: "
        f"{f['previous_run_date'] or 'none, a bootstrap'})",
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
        "SCORES",
        table(
            [
                (bin_, f"{n:,}", f"{f['score_histogram']['previous'].get(bin_, 0):,}", _bar(n, f))
                for bin_, n in _all_bins(f)
            ],
            ("score", "accounts", "previous run", ""),
            left=(0, 3),
        ),
        "  quantiles: "
        + ", ".join(f"{q} {v}" for q, v in f["score"]["quantiles"].items())
        + "; by band: "
        + ", ".join(f"{b} {n:,}" for b, n in f["score"]["by_band"].items()),
        "",
        "ACTIVE LIMITS",
        table(
            [
                (b["limit"], f"{b['accounts']:,}", f"{float(b['total']):,.0f}")
                for b in f["limit_distribution"]
            ],
            ("limit", "accounts", "total granted"),
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
table { border-collapse: collapse; } td, th { padding: 2px 8px; text-align: right; }
th { border-bottom: 1px solid #999; } td:first-child, th:first-child { text-align: left; }
.now { fill: #2b6cb0; } .previous { fill: #cbd5e0; } .label { font-size: 10px; fill: #444; }
"""


def _svg_bars(series: list[tuple[str, int, int]], height: int = 160) -> str:
    """Paired bars per label: (label, now, previous); previous drawn behind, lighter."""
    bar, gap = 14, 6
    width = len(series) * (bar + gap) + gap
    peak = max([max(n, p) for _, n, p in series] or [1]) or 1
    shapes = []
    for i, (label, now, previous) in enumerate(series):
        x = gap + i * (bar + gap)
        for value, css, shift in ((previous, "previous", 3), (now, "now", 0)):
            h = round((height - 30) * value / peak)
            shapes.append(
                f'<rect class="{css}" x="{x + shift}" y="{height - 20 - h}" width="{bar - 3}" '
                f'height="{h}"><title>{html.escape(label)}: {value:,}</title></rect>'
            )
        tick = html.escape(label.split("-")[0])
        shapes.append(f'<text class="label" x="{x}" y="{height - 6}">{tick}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img">{"".join(shapes)}</svg>'
    )


def _html_table(headers: tuple, rows: list[tuple], shade: bool = False) -> str:
    peak = max([v for r in rows for v in r[1:] if isinstance(v, int)] or [1]) or 1
    cells = []
    for r in rows:
        tds = [f"<td>{html.escape(str(r[0]))}</td>"]
        for v in r[1:]:
            text = f"{v:,}" if isinstance(v, int) else html.escape(str(v))
            tint = f' style="background: rgba(43,108,176,{0.6 * v / peak:.2f})"' if shade else ""
            tds.append(f"<td{tint if isinstance(v, int) else ''}>{text}</td>")
        cells.append("<tr>" + "".join(tds) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>{''.join(cells)}</table>"


def report_html(f: dict) -> str:
    hist = f["score_histogram"]
    score_series = [(k, n, hist["previous"].get(k, 0)) for k, n in _all_bins(f)]
    limit_series = [(b["limit"], b["accounts"], 0) for b in f["limit_distribution"]]
    changes = [(c, n) for c, n in f["changes"].items()]
    body = [
        f"<h1>rerate: the run of {f['run_date']}</h1>",
        f"<p>Policy {html.escape(str(f['policy_version']))}; previous run "
        f"{f['previous_run_date'] or 'none (bootstrap)'}; {f['accounts']:,} accounts, "
        f"{f['dormant']:,} dormant.</p>",
        "<h2>Changes</h2>",
        _html_table(("change", "accounts"), changes),
        "<h2>Score distribution</h2>",
        "<p>Dark: this run; light: the previous run. Bins of "
        f"{hist['bin_width']} points; hover for counts.</p>",
        _svg_bars(score_series),
        "<h2>Active limits</h2>",
        _svg_bars(limit_series),
        _html_table(
            ("limit", "accounts", "total granted"),
            [
                (b["limit"], b["accounts"], f"{float(b['total']):,.0f}")
                for b in f["limit_distribution"]
            ],
        ),
    ]
    migration = f["band_migration"]
    if migration:
        places = migration["places"]
        body += [
            "<h2>Band migration</h2><p>Rows: the previous run; columns: this run.</p>",
            _html_table(
                ("before \\ now", *places),
                [(b, *(row[p] for p in places)) for b, row in migration["matrix"].items()],
                shade=True,
            ),
        ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>rerate {f['run_date']}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
