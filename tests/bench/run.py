"""`make bench`: the nightly run at a real book's size against the least any job must do.

Generates (once, cached under data/bench/) a book of --users accounts with a year of ledger and
signals, then times on it, one after the other: the nightly run for the last day after a run for
the day before (which, a bootstrap, folds the whole ledger; the night folds D into its state); the
same date again as a full recompute (`--full-recompute`), whose tables must equal the nightly
run's; replay and simulate of D; the Spark floor and the DuckDB floor (tests/bench/floors.py); the
nightly run with only 90 days of history; the nightly run under a policy that scores signals
(conf/draft-bureau.toml); the night and the Spark floor on the test suite's 400-account ledger.
Then the nightly run alone at each of --scales. Prints the figures, each target with whether it
is met, and writes them to data/bench/result.json.
"""

import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import click
import pandas as pd
import psutil
import pyarrow.parquet as pq

from jobs.output.carried_state import APPENDED_TABLES
from tests.bench.measure import Measured, measure

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LEDGERS = ("transactions", "repayments", "accounts", "signals")
EVENT_LEDGERS = ("transactions", "repayments")
# Ratios of two runs of one bench (this machine's speed moves 2x between days): at most these.
TARGETS = {
    "nightly_over_spark_floor": 1.0,
    "full_over_spark_floor": 4.0,
    "year_over_90_days": 1.10,
    "state_over_ledger_bytes": 0.5,
    "tiny_over_spark_floor": 1.3,
}
SEED = 11
SIGNALS_POLICY = ROOT / "conf" / "draft-bureau.toml"
# The test suite's ledger (tests/two_nights.py): 400 accounts, 120 days to 2026-05-31, seed 3.
TINY = {"users": 400, "days": 120, "end": date(2026, 5, 31), "seed": 3}


class BenchFailed(click.ClickException):
    exit_code = 1


def rerate(*args: str) -> list[str]:
    return [str(BIN / "rerate"), *args]


def checked(step: str, result: Measured) -> Measured:
    if result.exit_code != 0:
        raise BenchFailed(f"{step} exited {result.exit_code}:\n{result.stderr_tail}")
    return result


def book(folder: Path, users: int, days: int, end: date, seed: int = SEED) -> Path:
    """The generated input of `users` accounts, made once and reused while its marker is there;
    a book made before the signals ledger existed gains it (the same rows generate writes)."""
    inputs = folder / "input"
    if (inputs / ".complete").exists() and not (inputs / "signals").exists():
        click.echo(f"adding the signals ledger to {inputs} (once) ...")
        made = checked(
            "generate signals",
            measure(
                [
                    sys.executable,
                    "-m",
                    "tests.bench.signals",
                    str(inputs),
                    str(users),
                    str(days),
                    end.isoformat(),
                    str(seed),
                ],
                env={"PYTHONPATH": str(ROOT)},
            ),
        )
        click.echo(f"  generated in {made.seconds:.0f} s")
    if not (inputs / ".complete").exists():
        shutil.rmtree(inputs, ignore_errors=True)
        click.echo(f"generating {users:,} accounts x {days} days into {inputs} (once) ...")
        made = checked(
            "generate",
            measure(
                rerate(
                    "generate",
                    "--users",
                    str(users),
                    "--days",
                    str(days),
                    "--end-date",
                    end.isoformat(),
                    "--seed",
                    str(seed),
                    "--input",
                    str(inputs),
                )
            ),
        )
        click.echo(f"  generated in {made.seconds:.0f} s")
        (inputs / ".complete").touch()
    return inputs


def ledger_sizes(inputs: Path) -> dict:
    """Rows (from the Parquet footers), bytes and partitions of each ledger."""
    sizes = {}
    for ledger in LEDGERS:
        if not (inputs / ledger).exists():
            continue
        files = sorted((inputs / ledger).glob("dt=*/*.parquet"))
        sizes[ledger] = {
            "rows": sum(pq.ParquetFile(f).metadata.num_rows for f in files),
            "bytes": sum(f.stat().st_size for f in files),
            "partitions": len({f.parent for f in files}),
        }
    return sizes


def recent_history(inputs: Path, target: Path, end: date, days: int) -> Path:
    """The same book with only the last `days` days of the event ledgers, as hard links."""
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    first = end - timedelta(days=days - 1)
    for ledger in LEDGERS:
        (target / ledger).mkdir(parents=True)
        for part in sorted((inputs / ledger).glob("dt=*")):
            if ledger == "accounts" or date.fromisoformat(part.name[3:]) >= first:
                subprocess.run(
                    ["cp", "-al", str(part), str(target / ledger / part.name)], check=True
                )
    (target / ".complete").touch()
    return target


def night(
    inputs: Path, output: Path, end: date, label: str, conf: Path | None = None
) -> tuple[Measured, dict]:
    """Runs D-1 on a fresh output, then measures D, which diffs against it and starts from its
    carried state; `conf`: a profile other than the local one."""
    shutil.rmtree(output, ignore_errors=True)
    before = (end - timedelta(days=1)).isoformat()
    profile = ("--conf", str(conf)) if conf else ()
    checked(
        f"{label}: run {before}",
        measure(rerate(*profile, "run", "--date", before, *_on(inputs, output))),
    )
    return run_d(inputs, output, end, label, "incremental", conf=conf)


def _on(inputs: Path, output: Path) -> tuple[str, ...]:
    return ("--input", str(inputs), "--output", str(output), "--quiet")


def run_d(inputs: Path, output: Path, end: date, label: str, mode: str, *extra: str, conf=None):
    """Measures the run of D; fails the bench unless it ran in `mode`. Returns the measurement
    and what the run read and carried, from its report."""
    profile = ("--conf", str(conf)) if conf else ()
    result = checked(
        f"{label}: run {end}",
        measure(rerate(*profile, "run", "--date", end.isoformat(), *_on(inputs, output), *extra)),
    )
    report = json.loads((output / "runs" / f"run_date={end}" / "report.json").read_text())
    if report["carried_state"]["mode"] != mode:
        raise BenchFailed(f"{label}: expected a {mode} run, got {report['carried_state']}")
    state = output / "_state" / f"run_date={end}"
    return result, {
        "rows_read": {
            ledger: report["inputs"][ledger].get("rows_read")
            for ledger in LEDGERS
            if ledger in report["inputs"]
        },
        "phase_seconds": report["phase_seconds"],
        "spark_jobs": report.get("spark_jobs", {}),
        # what keeping the manifest of inputs cost the run (jobs.output.kept)
        "fingerprint_seconds": report["phase_seconds"].get("fingerprints"),
        "files_fingerprinted": _files_read(report["input_files"]["read"]),
        "carried_state_bytes": _state_bytes(output, state),
        "carried_state_bytes_by_table": _state_bytes_by_table(output, state),
        "state_bytes_written": _parquet_bytes(state),
    }


def _files_read(read: dict) -> int:
    """The report lists the files a run read, or past a few gives their count."""
    return read["files"] if isinstance(read.get("files"), int) else len(read)


def _parquet_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*.parquet"))


def _state_bytes(output: Path, state: Path) -> int:
    """The state as a run reads it: its own folder and the segments of earlier ones it builds
    on (jobs.output.carried_state)."""
    folded = json.loads((state / "folded.json").read_text())
    earlier = [
        output / "_state" / f"run_date={s['run_date']}" / table
        for s in folded.get("segments", [])[:-1]
        for table in APPENDED_TABLES
    ]
    return _parquet_bytes(state) + sum(_parquet_bytes(t) for t in earlier)


def _state_bytes_by_table(output: Path, state: Path) -> dict[str, int]:
    """The carried state's bytes per table, segments included: where its size is."""
    folded = json.loads((state / "folded.json").read_text())
    folders = [output / "_state" / f"run_date={s['run_date']}" for s in folded["segments"][:-1]]
    sizes: dict[str, int] = {}
    for table in sorted(p for p in state.iterdir() if p.is_dir()):
        sizes[table.name] = _parquet_bytes(table) + sum(
            _parquet_bytes(f / table.name) for f in folders if table.name in APPENDED_TABLES
        )
    return sizes


def published_tables(output: Path, end: date) -> dict:
    keys = {"limits": ["user_id"], "limit_changes": ["user_id"], "rejects": ["ledger", "row_id"]}
    tables = {}
    for table, key in keys.items():
        rows = pd.read_parquet(output / table / f"run_date={end}")
        tables[table] = rows.sort_values(key).reset_index(drop=True) if len(rows) else rows
    return tables


def assert_same_tables(a: dict, b: dict) -> None:
    for table in a:
        try:
            pd.testing.assert_frame_equal(a[table], b[table])
        except AssertionError as e:
            raise BenchFailed(
                f"the full recompute's {table} differ from the nightly run's: {e}"
            ) from e


def floor(engine: str, inputs: Path, folder: Path) -> Measured:
    out = folder / f"floor-{engine}"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "tests.bench.floors", engine, str(inputs), str(out)]
    return checked(f"{engine} floor", measure(command, env={"PYTHONPATH": str(ROOT)}))


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "pyspark": _version("pyspark"),
        "duckdb": _version("duckdb"),
    }


def _version(package: str) -> str:
    from importlib import metadata

    return metadata.version(package)


def ratio(a: float, b: float) -> float:
    return round(a / b, 2)


@click.command()
@click.option("--users", type=int, default=1_000_000, show_default=True)
@click.option(
    "--scales",
    default="250000,500000",
    show_default=True,
    help="Other book sizes to time the nightly run at (comma-separated, may be empty).",
)
@click.option("--days", type=int, default=365, show_default=True)
@click.option("--end", "end_text", default="2026-10-31", show_default=True)
@click.option("--root", type=click.Path(path_type=Path), default=ROOT / "data" / "bench")
def main(users: int, scales: str, days: int, end_text: str, root: Path) -> None:
    end = date.fromisoformat(end_text)
    here = machine()
    folder = root / f"users-{users}"
    inputs = book(folder, users, days, end)
    sizes = ledger_sizes(inputs)
    click.echo(f"\nbook: {users:,} accounts, {days} days of ledger to {end} ({inputs})")
    for ledger, s in sizes.items():
        click.echo(
            f"  {ledger:<13} {s['rows']:>12,} rows {s['bytes'] / 1e6:>9.1f} MB "
            f"in {s['partitions']} partitions"
        )
    click.echo(
        f"machine: {here['cores']} cores ({here['cpu']}), {here['memory_gb']} GB memory, "
        f"load average {here['load_average_at_start']}\n"
    )

    out = folder / "out-year"
    nightly, read = night(inputs, out, end, "nightly")
    _line("1 nightly run (after D-1)", nightly)
    incremental_tables = published_tables(out, end)
    full, full_read = run_d(
        inputs, out, end, "full recompute", "full_recompute", "--full-recompute"
    )
    _line("2 full recompute of D", full)
    assert_same_tables(incremental_tables, published_tables(out, end))
    click.echo("  (its limits, limit_changes and rejects equal the nightly run's)")
    replayed = checked(
        "replay", measure(rerate("replay", "--date", end.isoformat(), *_on(inputs, out)[:-1]))
    )
    _line("6 replay of D (identical)", replayed)
    draft = ROOT / "conf" / "draft-cautious-raises.toml"
    shutil.rmtree(folder / "simulate", ignore_errors=True)
    simulated = checked(
        "simulate",
        measure(
            rerate(
                "simulate",
                "--date",
                end.isoformat(),
                "--policy",
                str(draft),
                "--into",
                str(folder / "simulate"),
                *_on(inputs, out)[:-1],
            )
        ),
    )
    _line(f"7 simulate of D ({draft.name})", simulated)
    spark_floor = floor("spark", inputs, folder)
    _line("3 Spark floor", spark_floor)
    duckdb_floor = floor("duckdb", inputs, folder)
    _line("4 DuckDB floor", duckdb_floor)
    recent = recent_history(inputs, folder / "input-90d", end, 90)
    nightly_90, _ = night(recent, folder / "out-90d", end, "nightly, 90 days")
    _line("5 nightly run, 90 days of history", nightly_90)

    profile = folder / "signals-profile.toml"
    profile.write_text(
        f'extends = "{ROOT / "conf" / "local.toml"}"\n[paths]\npolicy = "{SIGNALS_POLICY}"\n'
    )
    with_signals, signals_read = night(inputs, folder / "out-signals", end, "signals", profile)
    _line(f"8 nightly run, {SIGNALS_POLICY.name}", with_signals)
    tiny_folder = root / "tiny"
    tiny = book(tiny_folder, TINY["users"], TINY["days"], TINY["end"], TINY["seed"])
    tiny_night, tiny_read = night(tiny, tiny_folder / "out", TINY["end"], "tiny")
    _line(f"9 nightly run, {TINY['users']} accounts", tiny_night)
    tiny_floor = floor("spark", tiny, tiny_folder)
    _line(f"10 Spark floor, {TINY['users']} accounts", tiny_floor)

    ledger_bytes = sum(sizes[ledger]["bytes"] for ledger in EVENT_LEDGERS)
    ratios = {
        "nightly_over_spark_floor": ratio(nightly.seconds, spark_floor.seconds),
        "full_over_spark_floor": ratio(full.seconds, spark_floor.seconds),
        "year_over_90_days": ratio(nightly.seconds, nightly_90.seconds),
        "state_over_ledger_bytes": ratio(read["carried_state_bytes"], ledger_bytes),
        "tiny_over_spark_floor": ratio(tiny_night.seconds, tiny_floor.seconds),
    }
    reported = {
        "nightly_over_duckdb_floor": ratio(nightly.seconds, duckdb_floor.seconds),
        "replay_over_nightly": ratio(replayed.seconds, nightly.seconds),
        "simulate_over_nightly": ratio(simulated.seconds, nightly.seconds),
        "signals_night_over_nightly": ratio(with_signals.seconds, nightly.seconds),
    }
    click.echo(
        f"replay / nightly {reported['replay_over_nightly']:.2f}, simulate / nightly "
        f"{reported['simulate_over_nightly']:.2f}, the night with signals / without "
        f"{reported['signals_night_over_nightly']:.2f} (phases {signals_read['phase_seconds']}"
        f" against {read['phase_seconds']}); nightly / DuckDB floor "
        f"{reported['nightly_over_duckdb_floor']:.2f}"
    )
    click.echo(
        f"keeping the manifest of inputs: nightly {read['fingerprint_seconds']} s "
        f"({read['files_fingerprinted']} files hashed), full recompute "
        f"{full_read['fingerprint_seconds']} s ({full_read['files_fingerprinted']})"
    )
    click.echo(
        f"rows read: nightly {read['rows_read']}, full {full_read['rows_read']}; carried state "
        f"{read['carried_state_bytes'] / 1e6:.1f} MB (the year's two ledgers: "
        f"{ledger_bytes / 1e6:.1f} MB), of which the night wrote "
        f"{read['state_bytes_written'] / 1e6:.1f} MB; with signals "
        f"{signals_read['carried_state_bytes'] / 1e6:.1f} MB"
    )
    click.echo(
        "carried state by table (MB): "
        + ", ".join(f"{t} {b / 1e6:.1f}" for t, b in read["carried_state_bytes_by_table"].items())
    )
    for label, phases in (
        ("nightly", read),
        ("full recompute", full_read),
        (f"{TINY['users']} accounts", tiny_read),
    ):
        click.echo(f"phases of the {label} run: {_phases(phases)}")
    click.echo(f"\n{'target':<28}{'value':>8}{'target':>9}")
    for name, value in ratios.items():
        verdict = "met" if value <= TARGETS[name] else "MISSED"
        click.echo(f"{name:<28}{value:>8.2f}{'<= ' + str(TARGETS[name]):>9}  {verdict}")

    by_scale = [{"users": users, **nightly.as_dict()}]
    for n in [int(s) for s in scales.split(",") if s.strip()]:
        scale_folder = root / f"users-{n}"
        result, _ = night(book(scale_folder, n, days, end), scale_folder / "out-year", end, f"{n}")
        by_scale.append({"users": n, **result.as_dict()})
    by_scale.sort(key=lambda s: s["users"])
    click.echo("\nnightly run by book size:")
    for s in by_scale:
        click.echo(
            f"  {s['users']:>10,} accounts {s['seconds']:>8.1f} s   driver (Python) "
            f"{s['driver_peak_mb']:>5} MB   JVM {s['jvm_peak_mb']:>6} MB"
        )

    result = {
        **ratios,
        **reported,
        "targets": TARGETS,
        "met": {name: value <= TARGETS[name] for name, value in ratios.items()},
        "users": users,
        "days": days,
        "run_date": end.isoformat(),
        "ledgers": sizes,
        "rows_read_by_nightly_run": read["rows_read"],
        "rows_read_by_full_recompute": full_read["rows_read"],
        "carried_state_bytes": read["carried_state_bytes"],
        "carried_state_bytes_with_signals": signals_read["carried_state_bytes"],
        "carried_state_bytes_by_table": read["carried_state_bytes_by_table"],
        "ledger_bytes": ledger_bytes,
        "state_bytes_written_by_nightly_run": read["state_bytes_written"],
        "fingerprints": {
            "nightly": {k: read[k] for k in ("fingerprint_seconds", "files_fingerprinted")},
            "full_recompute": {
                k: full_read[k] for k in ("fingerprint_seconds", "files_fingerprinted")
            },
        },
        "machine": {**here, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "timings": {
            "nightly": nightly.as_dict(),
            "full_recompute": full.as_dict(),
            "spark_floor": spark_floor.as_dict(),
            "duckdb_floor": duckdb_floor.as_dict(),
            "nightly_90_days": nightly_90.as_dict(),
            "replay": replayed.as_dict(),
            "simulate": simulated.as_dict(),
            "nightly_with_signals": with_signals.as_dict(),
            "tiny_nightly": tiny_night.as_dict(),
            "tiny_spark_floor": tiny_floor.as_dict(),
        },
        "phase_seconds": {
            "nightly": read["phase_seconds"],
            "full_recompute": full_read["phase_seconds"],
            "nightly_with_signals": signals_read["phase_seconds"],
            "tiny_nightly": tiny_read["phase_seconds"],
        },
        "spark_jobs": {
            "nightly": read["spark_jobs"],
            "full_recompute": full_read["spark_jobs"],
            "tiny_nightly": tiny_read["spark_jobs"],
        },
        "nightly_by_users": by_scale,
    }
    path = root / "result.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    click.echo(f"\nwritten: {path}")


def _phases(read: dict) -> str:
    """Each phase's seconds and the Spark jobs it started (from the run's report)."""
    jobs = read["spark_jobs"]
    return ", ".join(
        f"{phase} {seconds} s" + (f" ({jobs[phase]['jobs']} jobs)" if phase in jobs else "")
        for phase, seconds in read["phase_seconds"].items()
    )


def _line(label: str, m: Measured) -> None:
    click.echo(
        f"{label:<34}{m.seconds:>8.1f} s   driver {m.driver_peak_mb:>6.0f} MB   "
        f"JVM {m.jvm_peak_mb:>6.0f} MB   job {m.job_peak_mb:>6.0f} MB   "
        f"(meter {m.meter_cpu_seconds:.1f} s CPU)"
    )


if __name__ == "__main__":
    main()
