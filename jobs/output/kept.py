"""What a published run keeps so that its decision can be reproduced (`rerate replay`, `rerate
simulate`): the exact policy file it decided with, and a manifest of what the decision rests on.

The manifest names each ledger file by its place in the input (`transactions/dt=D/x.parquet`)
with its size and the SHA-256 of its content, the accounts snapshot, and the published run the
decision diffed against (its date and attempt). A normal night hashes only the files it reads
and carries the rest from the previous run's manifest: a file folded into the carried state
keeps the fingerprint it had when it was read, so a rewrite since is found.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.config import ConfigError, Settings, files_beside, policy_from_text
from jobs.files.layout import InputLayout, OutputLayout
from jobs.files.ledgers import SIGNALS, Readiness, check_readiness, parquet_files
from jobs.files.storage import Entry, Storage
from jobs.outcome import ExitCode, Stop
from jobs.output.publish import is_published, previous_published_run, read_report
from transforms.policy import Policy

MANIFEST_FORMAT = 1
LISTED_IN_REPORT = 64  # past this many files read, the report gives counts (the manifest has all)


def kept_policy_path(layout: OutputLayout, run_date: date, name: str) -> str:
    return f"{layout.partition('runs', run_date)}/policy/{name}"


def manifest_path(layout: OutputLayout, run_date: date) -> str:
    return f"{layout.partition('runs', run_date)}/inputs.json"


CHALLENGER_FOLDER = "challenger"  # under policy/: the challenger's file, where there is one


def policies_to_keep(settings: Settings) -> list[tuple[str, str]] | None:
    """(name under policy/, exact text) of each policy file the run decides with: the policy
    in force, and its challenger's under challenger/; None when the policy in force is not what
    its files say now (a program handed in a Policy object; a file was edited since it was
    loaded), which cannot be kept."""
    path = Path(settings.policy_path)
    kept: list[tuple[str, str]] = []
    read_beside = files_beside(path)

    def read_and_keep(name: str) -> tuple[str, str]:
        text, where = read_beside(name)
        kept.append((f"{CHALLENGER_FOLDER}/{Path(where).name}", text))
        return text, where

    try:
        text = path.read_text(encoding="utf-8")
        same = policy_from_text(text, str(path), read_and_keep) == settings.policy
    except (OSError, ConfigError):
        return None
    return [(path.name, text), *kept] if same else None


def content_hashes(spark: SparkSession, storage: Storage, paths: list[str]) -> dict[str, str]:
    """SHA-256 of each file's content, computed by Spark where the files are (any file system
    Spark reads), keyed by the path as given."""
    if not paths:
        return {}
    by_place = {storage.qualified(p): p for p in paths}
    rows = (
        spark.read.format("binaryFile")
        .load(paths)
        .select("path", F.sha2("content", 256).alias("sha256"))
        .collect()
    )
    found = {by_place.get(storage.qualified(r.path)): r.sha256 for r in rows}
    missing = [p for p in paths if p not in found]
    if missing:
        raise OSError(f"could not fingerprint {len(missing)} input files, e.g. {missing[0]}")
    return found


def _name(ledger: str, day: date, entry: Entry) -> str:
    return f"{ledger}/dt={day.isoformat()}/{entry.name}"


def _files_resting_on(
    storage: Storage, inputs: InputLayout, readiness: Readiness, snapshot: date
) -> dict[str, tuple[str, date, Entry]]:
    """By name: every data file of the event ledgers' complete partitions up to D (and the
    signals ledger's, where the policy scores a signal), and of the accounts snapshot the run
    uses."""
    found = {
        _name(ledger, day, entry): (ledger, day, entry)
        for ledger in readiness.folded_ledgers()
        for day, entries in readiness.files.get(ledger, {}).items()
        for entry in parquet_files(entries)
    }
    for entry in parquet_files(storage.list(inputs.partition("accounts", snapshot))):
        found[_name("accounts", snapshot, entry)] = ("accounts", snapshot, entry)
    return found


def build_manifest(
    spark: SparkSession,
    storage: Storage,
    inputs: InputLayout,
    readiness: Readiness,
    read_days: dict[str, list[date]],
    previous: dict | None,
    previous_run: dict | None,
) -> dict:
    """Every ledger file the run's decision rests on: each event ledger's complete partitions up
    to D (tonight's read and hashed; the others, folded earlier, carried from `previous` when it
    has them, else hashed now), the accounts snapshot the run used, and `previous_run` (the
    published run diffed against: date and attempt id, or None on a bootstrap)."""
    carried = (previous or {}).get("files", {})
    snapshot = readiness.accounts_day
    chosen: dict[str, Entry] = {}
    kept: dict[str, dict] = {}
    for name, (ledger, day, entry) in _files_resting_on(
        storage, inputs, readiness, snapshot
    ).items():
        if ledger != "accounts" and day not in read_days.get(ledger, []) and name in carried:
            kept[name] = carried[name]
        else:
            chosen[name] = entry
    hashes = content_hashes(spark, storage, [e.path for e in chosen.values()])
    for name, entry in chosen.items():
        kept[name] = {"bytes": entry.size, "sha256": hashes[entry.path]}
    signals = readiness.complete_days.get(SIGNALS)
    return {
        "format": MANIFEST_FORMAT,
        "previous_run": previous_run,
        "accounts_snapshot": snapshot.isoformat(),
        # the complete signals partitions the decision rests on (files or none), where read
        **({"signals_partitions": [d.isoformat() for d in signals]} if signals is not None else {}),
        "files": dict(sorted(kept.items())),
        "read": sorted(chosen),
    }


def manifest_summary(manifest: dict, path: str) -> dict:
    """What the report says of the manifest: where it is, how much it covers, one digest of it,
    and the files the run read itself with their fingerprints (counts alone past a few)."""
    files = manifest["files"]
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    read = manifest["read"]
    return {
        "path": path,
        "files": len(files),
        "bytes": sum(f["bytes"] for f in files.values()),
        "sha256": digest,
        "read": (
            {name: files[name] for name in read}
            if len(read) <= LISTED_IN_REPORT
            else {"files": len(read), "bytes": sum(files[n]["bytes"] for n in read)}
        ),
    }


def signals_as_read(manifest: dict | None) -> list[date] | None:
    """The signals partitions a run's decision rests on (None: it read no signals)."""
    days = (manifest or {}).get("signals_partitions")
    return None if days is None else [date.fromisoformat(d) for d in days]


def read_manifest(storage: Storage, layout: OutputLayout, run_date: date | None) -> dict | None:
    if run_date is None:
        return None
    text = storage.read_text(manifest_path(layout, run_date))
    return json.loads(text) if text else None


@dataclass(frozen=True)
class Recorded:
    """A published run as it recorded itself: its report, manifest and kept policy."""

    run_date: date
    report: dict
    manifest: dict
    policy: Policy
    input_root: str

    @property
    def attempt_id(self) -> str:
        return self.report["attempt_id"]


def recorded_run(
    storage: Storage, layout: OutputLayout, run_date: date, input_root: str | None
) -> Recorded:
    """The published run D with what it kept, and the published run it rests on still the one
    it diffed against; exit 3 otherwise. `input_root` None: where the run read."""
    if not is_current(storage, layout, run_date, None):
        raise Stop(ExitCode.NOT_READY, f"{run_date} has no published run")
    report = read_report(storage, layout, run_date) or {}
    manifest = read_manifest(storage, layout, run_date)
    policies = [
        e
        for e in storage.list(kept_policy_path(layout, run_date, ""))
        if not e.is_dir and e.name.endswith(".toml")
    ]
    if manifest is None or len(policies) != 1:
        missing = "manifest of inputs" if manifest is None else "policy file"
        raise Stop(
            ExitCode.NOT_READY,
            f"the run of {run_date} kept no {missing} (published before runs kept them, or with "
            "a policy handed in by a program): it cannot be reproduced",
        )
    challengers = [  # kept under the name it had, whatever it ends with
        e
        for e in storage.list(kept_policy_path(layout, run_date, CHALLENGER_FOLDER))
        if not e.is_dir and not e.name.startswith((".", "_"))
    ]

    def read_kept_challenger(name: str) -> tuple[str, str]:
        if len(challengers) != 1:
            raise ConfigError(f"challenger.policy: {name} was not kept with the run")
        return storage.read_text(challengers[0].path) or "", challengers[0].path

    try:
        policy = policy_from_text(
            storage.read_text(policies[0].path) or "", policies[0].path, read_kept_challenger
        )
    except ConfigError as e:
        raise Stop(
            ExitCode.NOT_READY, f"the policy kept with {run_date} no longer loads: {e}"
        ) from None
    pinned = manifest.get("previous_run")
    before = previous_published_run(storage, layout, run_date)
    now = before and {
        "run_date": before.isoformat(),
        "attempt_id": _attempt_of(storage, layout, before),
    }
    if now != pinned:
        raise Stop(
            ExitCode.NOT_READY,
            f"the run of {run_date} rested on the published run {pinned}; the published run "
            f"before it is now {now}: it cannot be reproduced as it was",
        )
    return Recorded(run_date, report, manifest, policy, input_root or report["input"])


def _attempt_of(storage: Storage, layout: OutputLayout, run_date: date) -> str | None:
    return (read_report(storage, layout, run_date) or {}).get("attempt_id")


def is_current(storage: Storage, layout: OutputLayout, run_date: date, attempt: str | None) -> bool:
    """D is published (by `attempt`, if given): a replay or simulation that began with it can
    trust what it compared."""
    if not is_published(storage, layout, run_date):
        return False
    return attempt is None or _attempt_of(storage, layout, run_date) == attempt


def verify_inputs(spark: SparkSession, storage: Storage, recorded: Recorded) -> int:
    """Every file the run recorded is there, unchanged, and no other: else exit 3 naming the
    first files that differ. Returns how many files were verified."""
    inputs, run_date, manifest = (
        InputLayout(recorded.input_root),
        recorded.run_date,
        recorded.manifest,
    )
    readiness = check_readiness(
        storage,
        inputs,
        run_date,
        signals=bool(recorded.policy.signal_sources()),
        signals_as_read=signals_as_read(manifest),
    )
    snapshot = date.fromisoformat(manifest["accounts_snapshot"])
    if readiness.accounts_day != snapshot:
        raise Stop(
            ExitCode.NOT_READY,
            f"the run of {run_date} used the accounts snapshot of {snapshot}; under "
            f"{inputs.root} the newest complete one dated {run_date} or before is now "
            f"{readiness.accounts_day}",
        )
    now = {
        name: entry
        for name, (_, _, entry) in _files_resting_on(storage, inputs, readiness, snapshot).items()
    }
    files = manifest["files"]
    hashes = content_hashes(spark, storage, [e.path for e in now.values()])
    problems = [f"{name}: gone" for name in sorted(set(files) - set(now))]
    problems += [f"{name}: added since" for name in sorted(set(now) - set(files))]
    problems += [
        f"{name}: changed since ({files[name]['bytes']:,} -> {entry.size:,} bytes)"
        for name, entry in sorted(now.items())
        if name in files and hashes[entry.path] != files[name]["sha256"]
    ]
    if problems:
        more = f"; and {len(problems) - 3} more" if problems[3:] else ""
        raise Stop(
            ExitCode.NOT_READY,
            f"the inputs of {run_date} under {inputs.root} are not what its run read: "
            + "; ".join(problems[:3])
            + more,
        )
    return len(files)
