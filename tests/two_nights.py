"""Two nights on a small generated ledger, generated once for the whole suite (the `world`
fixture in conftest) and shared by the nightly, gates, fault, backfill and soak tests: an output
with D-1 published, and a reference with D-1 and an undisturbed D; and the checks that compare
an output with them."""

import shutil
from pathlib import Path

from tests.e2e import generate, is_published, run_date, small_profile, table_rows

BEFORE, D = "2026-05-30", "2026-05-31"
USERS, DAYS = 400, 120
TABLES = ("limits", "limit_changes", "notices", "rejects")


def make_world(tmp_path_factory) -> dict:
    """The ledger; `base` has D-1 published, `reference` has D-1 and an undisturbed D (the
    bootstrap, then a normal night); `stdout` is what the run of D printed. Tests copy the
    outputs before changing anything."""
    root = tmp_path_factory.mktemp("two-nights")
    conf = small_profile(root)
    inputs, base, reference = root / "input", root / "base", root / "reference"
    generate(inputs, conf, users=USERS, days=DAYS, end=D)
    assert run_date(BEFORE, inputs, base, conf, "--quiet").returncode == 0
    shutil.copytree(base, reference)
    night = run_date(D, inputs, reference, conf)
    assert night.returncode == 0, night.stderr
    return {
        "conf": conf,
        "input": inputs,
        "base": base,
        "reference": reference,
        "stdout": night.stdout,
    }


def fresh_output(world, folder: Path) -> Path:
    out = folder / "output"
    shutil.copytree(world["base"], out)
    return out


def run_d(
    world,
    out: Path,
    failpoint: str | None = None,
    *extra: str,
    images: Path | None = None,
    process: bool = False,
):
    """Runs D on `out`; `failpoint` is a RERATE_FAILPOINT spec, `images` where its crash images
    go (jobs.output.failpoints). A kill, or a crash image (whose lock must name a process that
    is gone by the time it is recovered), needs `process=True`: the run as a process of its own."""
    env = {"RERATE_FAILPOINT": failpoint} if failpoint else {}
    if images:
        env["RERATE_FAILPOINT_IMAGES"] = str(images)
    return run_date(
        D, world["input"], out, world["conf"], "--quiet", *extra, env=env, process=process
    )


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.equals(b)


def assert_nothing_partial(world, out: Path) -> None:
    """D-1 is published and untouched; whatever of D a reader can pick up is D's whole run."""
    assert is_published(out, BEFORE)
    for table in TABLES:
        part = f"run_date={BEFORE}"
        assert same(table_rows(out / table / part), table_rows(world["base"] / table / part))
        found = table_rows(out / table / f"run_date={D}")
        if found is not None:
            assert same(found, table_rows(world["reference"] / table / f"run_date={D}")), table
    if is_published(out, D):
        assert table_rows(out / "limits" / f"run_date={D}") is not None


def assert_same_as_undisturbed(world, out: Path) -> None:
    assert is_published(out, BEFORE) and is_published(out, D)
    for table in TABLES:
        for day in (BEFORE, D):
            part = f"run_date={day}"
            assert same(
                table_rows(out / table / part), table_rows(world["reference"] / table / part)
            )
    assert_no_leftovers(out)


def assert_no_leftovers(out: Path) -> None:
    """No staging, trash, journal or lock: nothing a next run would have to finish."""
    for leftover in ("_staging", "_trash", "_journal"):
        assert not any((out / leftover).glob("*")), leftover
    assert not (out / "_lock").exists()
