"""Helpers for end-to-end tests: the `rerate` command as an operator runs it, and what it wrote.

`rerate(...)` runs the command in this test process, on the suite's one SparkSession, through
the same click group, exit-code mapping and job code as the console script (jobs.cli). Only a
test whose subject is a process (a SIGKILL, a crash image, the exit code cron sees) uses
`rerate_process(...)`, which starts the installed command.
"""

import dataclasses
import json
import logging
import os
import subprocess
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from pyspark.sql import SparkSession

from jobs.cli import LOG_FORMAT, Runtime, cli
from jobs.config import load_policy
from transforms.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
RERATE = Path(sys.executable).parent / "rerate"


# Tiny ledgers are CPU-bound on compiling, not computing: without whole-stage code generation
# each night is ~20 % faster. Production profiles keep Spark's defaults. The suite's session
# (tests/conftest.py) is started from this profile too.
TINY_DATA_SETTINGS = {
    "spark.sql.shuffle.partitions": "1",
    "spark.ui.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.adaptive.enabled": "false",
}
# A process that runs one night is done before the full JIT pays off: the quick one alone is
# faster. The suite's session lives for minutes, and the full JIT makes it ~20 % faster
# (tests/test_recovery_scenario.py: 77 s against 97 s with the quick JIT alone).
SHORT_PROCESS_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
LONG_SESSION_JVM = "-XX:-DontCompileHugeMethods"


def small_profile(folder: Path, jvm_options: str = SHORT_PROCESS_JVM) -> Path:
    """A small local profile for tiny ledgers: two cores, settings for short runs."""
    path = folder / "test.toml"
    settings = {**TINY_DATA_SETTINGS, "spark.driver.extraJavaOptions": jvm_options}
    settings = "".join(f'"{key}" = "{value}"\n' for key, value in settings.items())
    path.write_text(
        f'extends = "{ROOT / "conf" / "base.toml"}"\n'
        '[spark]\nmaster = "local[2]"\n'
        f"[spark.settings]\n{settings}"
    )
    return path


@contextmanager
def environment(env: dict | None):
    """Sets env's variables for the body (a failpoint, say) and puts the old values back."""
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _ToCurrentStderr(logging.Handler):
    """Writes to whatever sys.stderr is when a record comes: CliRunner's, during a command."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


def rerate(*args: str, conf: Path | None = None, env: dict | None = None, policy=None):
    """`rerate [--conf CONF] ARGS` in this process; returns what a subprocess run would
    (returncode, stdout, stderr). Needs the suite's SparkSession (the `spark` fixture).
    `policy`, a Policy object, replaces the profile's (a variant: `policy_variant`)."""
    spark = SparkSession.getActiveSession()
    assert spark is not None, "in-process rerate needs the suite's `spark` fixture"
    failpoint = (env or {}).get("RERATE_FAILPOINT", "")
    assert "kill@" not in failpoint and "image@" not in failpoint, "needs rerate_process"
    command = (["--conf", str(conf)] if conf else []) + list(args)
    logs = _ToCurrentStderr()
    logging.getLogger().addHandler(logs)  # as main() does: the job's log lines go to stderr
    try:
        with environment(env):
            runtime = Runtime(spark, policy)
            result = CliRunner().invoke(cli, command, prog_name="rerate", obj=runtime)
    finally:
        logging.getLogger().removeHandler(logs)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # escaped the group's own handling: show it, the test will fail on the exit code
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(
        ["rerate", *command], result.exit_code, result.stdout, stderr
    )


def explain(day: str, user_id: int, inputs: Path, output: Path, conf: Path):
    """`rerate explain` of one account of a published run, in this process."""
    args = ("explain", "--date", day, "--user", str(user_id), "--input", str(inputs))
    return rerate(*args, "--output", str(output), conf=conf)


def policy_variant(**guardrails) -> Policy:
    """The policy of conf/ with some guardrails changed, under a version that says so."""
    policy = load_policy(ROOT / "conf" / "policy.toml")
    changed = dataclasses.replace(policy.guardrails, **guardrails)
    return dataclasses.replace(policy, version=f"{policy.version}-test", guardrails=changed)


def rerate_process(
    *args: str, conf: Path | None = None, timeout: int = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """The installed `rerate` as a new process, as cron or a scheduler starts it."""
    command = [str(RERATE)] + (["--conf", str(conf)] if conf else []) + list(args)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", **(env or {})}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, start_new_session=True
    )


def read_table(output: Path, table: str, run_date: str) -> pd.DataFrame:
    return pd.read_parquet(output / table / f"run_date={run_date}")


def report(output: Path, run_date: str) -> dict:
    return json.loads((output / "runs" / f"run_date={run_date}" / "report.json").read_text())


def generate(inputs: Path, conf: Path, users: int, days: int, end: str, seed: int = 3) -> None:
    made = rerate(
        "generate",
        "--users",
        str(users),
        "--days",
        str(days),
        "--end-date",
        end,
        "--seed",
        str(seed),
        "--input",
        str(inputs),
        conf=conf,
    )
    assert made.returncode == 0, made.stderr


def run_date(
    day: str,
    inputs: Path,
    output: Path,
    conf: Path,
    *extra: str,
    env: dict | None = None,
    process: bool = False,
    policy: Policy | None = None,
) -> subprocess.CompletedProcess:
    """`rerate run --date DAY`; in a new process when the test's subject is the process."""
    args = ("run", "--date", day, "--input", str(inputs), "--output", str(output), *extra)
    if process:
        assert policy is None, "a process reads its policy from the profile"
        return rerate_process(*args, conf=conf, env=env)
    return rerate(*args, conf=conf, env=env, policy=policy)


def is_published(output: Path, day: str) -> bool:
    """The contract's test: both `_SUCCESS` markers and a report saying "published"."""
    markers = all(
        (output / t / f"run_date={day}" / "_SUCCESS").exists() for t in ("limits", "limit_changes")
    )
    path = output / "runs" / f"run_date={day}" / "report.json"
    return markers and path.exists() and json.loads(path.read_text())["status"] == "published"


def table_rows(folder: Path) -> pd.DataFrame | None:
    """What a reader globbing `<table>/run_date=D/*.parquet` picks up, sorted; None if nothing."""
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return None
    rows = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    key = [c for c in ("ledger", "row_id", "user_id") if c in rows.columns]
    return rows.sort_values(key).reset_index(drop=True)
