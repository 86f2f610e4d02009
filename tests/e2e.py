"""Helpers for end-to-end tests: run the installed `rerate` command as an operator would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RERATE = Path(sys.executable).parent / "rerate"


def small_profile(folder: Path) -> Path:
    """A small local profile: two cores, two shuffle partitions."""
    path = folder / "test.toml"
    path.write_text(
        f'extends = "{ROOT / "conf" / "base.toml"}"\n'
        '[spark]\nmaster = "local[2]"\n'
        '[spark.settings]\n"spark.sql.shuffle.partitions" = "2"\n"spark.ui.enabled" = "false"\n'
    )
    return path


def rerate(*args: str, conf: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    command = [str(RERATE)] + (["--conf", str(conf)] if conf else []) + list(args)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def read_table(output: Path, table: str, run_date: str) -> pd.DataFrame:
    return pd.read_parquet(output / table / f"run_date={run_date}")


def report(output: Path, run_date: str) -> dict:
    return json.loads((output / "runs" / f"run_date={run_date}" / "report.json").read_text())
