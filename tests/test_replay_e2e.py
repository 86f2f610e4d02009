"""`rerate replay`: a published run is reproduced from the policy file and the manifest of inputs
it kept; a changed input is exit 3 naming the file, an altered published row exit 6."""

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.e2e import policy_variant, rerate, run_date
from tests.two_nights import D


def copy(world, tmp_path: Path) -> tuple[Path, Path]:
    inputs, out = tmp_path / "input", tmp_path / "output"
    shutil.copytree(world["input"], inputs)
    shutil.copytree(world["reference"], out)
    _move_input(out, world["input"], inputs)
    return inputs, out


def _move_input(out: Path, old: Path, new: Path) -> None:
    """The runs recorded where they read; the copy's reports point at the copied ledger."""
    for report in (out / "runs").glob("run_date=*/report.json"):
        report.write_text(report.read_text().replace(str(old), str(new)))
        report.with_name(".report.json.crc").unlink(missing_ok=True)  # Hadoop's, now stale


def replay(world, out: Path, day: str, *extra: str):
    return rerate("replay", "--date", day, "--output", str(out), *extra, conf=world["conf"])


def test_a_published_night_and_its_bootstrap_replay_identical(world, tmp_path):
    _, out = copy(world, tmp_path)
    kept = out / "runs" / f"run_date={D}"
    assert (kept / "policy" / "policy.toml").read_text() == (
        Path(__file__).parent.parent / "conf" / "policy.toml"
    ).read_text()
    manifest = json.loads((kept / "inputs.json").read_text())
    recorded = json.loads((kept / "report.json").read_text())["input_files"]
    # the normal night fingerprinted what it read (D's partitions, the snapshot), no more
    assert sorted(recorded["read"]) == sorted(
        name for name in manifest["files"] if f"/dt={D}/" in name
    )
    assert recorded["files"] == len(manifest["files"]) > len(recorded["read"])
    # D is a normal night: its carried state and pending notices, recomputed in full
    same = replay(world, out, D, "--format", "json")
    assert same.returncode == 0, same.stderr
    result = json.loads(same.stdout)
    assert result["result"] == "identical" and not any(result["differing_rows"].values())
    assert result["rows"]["limits"] > 0 and result["rows"]["notices"] > 0
    assert result["input_files_verified"] == len(manifest["files"]) > 100
    assert not any((out / "_staging").glob("*"))  # a replay publishes and leaves nothing


def test_an_input_rewritten_or_added_since_is_exit_3_naming_the_file(world, tmp_path):
    inputs, out = copy(world, tmp_path)
    (old,) = (inputs / "transactions" / "dt=2026-03-01").glob("*.parquet")
    touched = old.stat()
    data = bytearray(old.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the content, same size, same modification time
    old.write_bytes(bytes(data))
    os.utime(old, ns=(touched.st_atime_ns, touched.st_mtime_ns))
    old.with_name(f".{old.name}.crc").unlink(missing_ok=True)
    refused = replay(world, out, D)
    assert refused.returncode == 3, refused.stderr
    assert f"transactions/dt=2026-03-01/{old.name}: changed since" in refused.stderr
    assert "Traceback" not in refused.stderr

    _, out = copy(world, tmp_path / "again")
    extra = world["input"] / "repayments" / "dt=2026-04-01"
    inputs = tmp_path / "again" / "input"
    (original,) = extra.glob("*.parquet")
    shutil.copy(original, inputs / "repayments" / "dt=2026-04-01" / "part-late.parquet")
    refused = replay(world, out, D)
    assert refused.returncode == 3, refused.stderr
    assert "repayments/dt=2026-04-01/part-late.parquet: added since" in refused.stderr


def test_a_published_row_altered_is_exit_6_with_both_rows(world, tmp_path):
    _, out = copy(world, tmp_path)
    part = sorted((out / "limits" / f"run_date={D}").glob("*.parquet"))[0]
    rows = pq.ParquetFile(part).read()  # the file alone, without the folder's run_date
    at = rows.schema.get_field_index("score")
    scores = rows.column("score").to_pylist()
    scores[0] += 1  # one published score is not what the run decided
    rows = rows.set_column(at, rows.schema.field(at), pa.array(scores, rows.schema.field(at).type))
    pq.write_table(rows, part)
    part.with_name(f".{part.name}.crc").unlink(missing_ok=True)
    user = rows.column("user_id")[0].as_py()
    differs = replay(world, out, D)
    assert differs.returncode == 6, differs.stderr
    assert "DIFFERS" in differs.stdout.splitlines()[0]
    assert "limits: " in differs.stdout and "rows published, 2 differing" in differs.stdout
    assert "limit_changes: " in differs.stdout and differs.stdout.count(", 0 differing") == 2
    shown = differs.stdout.split(f"limits, user {user}:\n", 1)[1].splitlines()
    assert shown[0].strip().startswith("published") and f'"score": {scores[0]}' in shown[0]
    assert shown[1].strip().startswith("recomputed") and f'"score": {scores[0] - 1}' in shown[1]


def test_a_run_without_a_kept_policy_or_publication_cannot_be_replayed(world, tmp_path):
    out = tmp_path / "output"
    shutil.copytree(world["base"], out)
    handed_in = run_date(D, world["input"], out, world["conf"], policy=policy_variant())
    assert handed_in.returncode == 0, handed_in.stderr
    report = (out / "runs" / f"run_date={D}" / "report.json").read_text()
    assert "`rerate replay` cannot reproduce this run" in report
    refused = replay(world, out, D)
    assert refused.returncode == 3 and "kept no policy file" in refused.stderr
    unpublished = replay(world, out, "2026-06-01")
    assert unpublished.returncode == 3 and "no published run" in unpublished.stderr


def test_a_run_published_before_cells_existed_still_replays_identical(world, tmp_path):
    """Its tables have no `cell` column: every row was the champion's."""
    _, out = copy(world, tmp_path)
    for table in ("limits", "limit_changes", "notices"):
        for part in (out / table / f"run_date={D}").glob("*.parquet"):
            rows = pq.ParquetFile(part).read()
            pq.write_table(rows.drop_columns(["cell"]), part)
            part.with_name(f".{part.name}.crc").unlink(missing_ok=True)
    same = replay(world, out, D, "--format", "json")
    assert same.returncode == 0, same.stdout + same.stderr
    assert json.loads(same.stdout)["result"] == "identical"
