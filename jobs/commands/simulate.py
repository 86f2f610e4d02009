"""`rerate simulate --date D --policy FILE --into DIR`: decide the published run D again with a
draft policy, from the same inputs and carried state, on the code path of `rerate run`, and
compare it with what the champion published. Writes only under DIR; publishes nothing.

The inputs are verified against D's manifest first (exit 3 if they are not what D read), so
every difference is the policy's. The draft's tables land at DIR/<table>/run_date=D/ (the
output's layout: an analyst's queries run on them as they are) beside DIR/comparison.json.
"""

import json
import os
from dataclasses import replace
from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession

from jobs.commands.run import new_night, rerate_night
from jobs.config import ConfigError, Settings, load_policy
from jobs.files.layout import OutputLayout
from jobs.files.storage import Storage
from jobs.outcome import ExitCode, Stop
from jobs.output.kept import is_current, recorded_run, signals_as_read, verify_inputs
from jobs.output.publish import read_table
from jobs.reporting.comparison import compare_runs
from transforms.schemas import LIMIT_CHANGES, LIMITS, NOTICES

DECIDED_TABLES = {"limits": LIMITS, "limit_changes": LIMIT_CHANGES, "notices": NOTICES}
SIMULATED = "simulated: not published"  # the guardrails are reported, not obeyed
OUTPUT_MARKS = ("runs", "_state", "_lock", "_journal")  # a folder holding these is an output


def simulate(
    spark: SparkSession,
    settings: Settings,
    run_date: date,
    draft_file: Path,
    into: str,
    input_root: str | None = None,
) -> dict:
    storage, out = Storage(spark), OutputLayout(settings.output_path)
    try:
        draft = load_policy(draft_file)
    except ConfigError as e:
        raise Stop(ExitCode.USAGE, f"the draft policy: {e}") from None
    target = _outside_the_output(storage, into, settings.output_path)
    recorded = recorded_run(storage, out, run_date, input_root)
    verify_inputs(spark, storage, recorded)
    night = new_night(
        spark,
        replace(settings, input_path=recorded.input_root, policy=draft),
        run_date,
        dry_run=True,
        accept_anomaly=SIMULATED,
        full_recompute=False,
        staging_root=f"{target}/_work",
    )
    night.signals_as_read = signals_as_read(recorded.manifest)
    decided = OutputLayout(target)
    try:
        rerate_night(night)
        for name in DECIDED_TABLES:
            final = decided.partition(name, run_date)
            storage.delete(final)
            storage.rename(night.publisher.staged(name), final)
    finally:
        storage.delete(f"{target}/_work")
    comparison = compare_runs(
        tuple(read_table(spark, out, t, [run_date], s) for t, s in DECIDED_TABLES.items()),
        tuple(read_table(spark, decided, t, [run_date], s) for t, s in DECIDED_TABLES.items()),
        recorded.policy,
        draft,
        run_date.isoformat(),
    )
    if not is_current(storage, out, run_date, recorded.attempt_id):
        raise Stop(ExitCode.NOT_READY, f"{run_date} was published again or withdrawn meanwhile")
    accepted = night.report.accepted_anomaly
    comparison["draft"]["guardrails_failed"] = accepted["findings"] if accepted else []
    storage.write_text(f"{target}/comparison.json", json.dumps(comparison, indent=2) + "\n")
    return comparison


def _outside_the_output(storage: Storage, into: str, output: str) -> str:
    """DIR in full; exit 2 if it is the output root, inside it, or holds an output of its own:
    a simulation must never replace a published partition."""
    if "://" not in into and not into.startswith("file:"):
        into = os.path.realpath(into)
    target = storage.qualified(into)
    roots = {storage.qualified(output)}
    if "://" not in output and not output.startswith("file:"):
        roots.add(storage.qualified(os.path.realpath(output)))
    for root in roots:
        if target == root or target.startswith(root + "/"):
            raise Stop(ExitCode.USAGE, f"--into {into} is inside the output root {root}")
    held = [m for m in OUTPUT_MARKS if storage.exists(f"{target}/{m}")]
    if held:
        raise Stop(ExitCode.USAGE, f"--into {into} holds an output ({', '.join(held)})")
    return target
