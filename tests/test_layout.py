"""The rooms of jobs/ import only downward, and transforms/ nothing of jobs/: a newcomer can
read the code from the command down without meeting a cycle."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Higher imports lower (or its own room), never the other way round.
RANK = {
    "jobs.spark_entry": 8,
    "jobs.cli": 7,
    "jobs.commands": 6,
    "jobs.checks": 5,
    "jobs.reporting": 5,
    "jobs.output": 4,
    "jobs.files": 3,
    "jobs.session": 2,
    "jobs.run_report": 2,
    "jobs.config": 1,
    "jobs.outcome": 1,
    "transforms": 0,
}


def room(module: str) -> str:
    """The longest RANK key that is `module` or a package above it."""
    found = [key for key in RANK if module == key or module.startswith(key + ".")]
    assert found, f"{module} is in no room: add it to RANK"
    return max(found, key=len)


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] in ("jobs", "transforms")}


def test_rooms_import_only_downward():
    upward = []
    files = [*(ROOT / "jobs").rglob("*.py"), *(ROOT / "transforms").rglob("*.py")]
    files = [f for f in files if "airflow" not in f.parts]  # the DAG imports nothing of ours
    assert len(files) > 30
    for path in files:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module == "jobs":
            continue  # the package's docstring
        here = room(module)
        for imported in imports(path):
            there = room(imported)
            if RANK[there] > RANK[here] or (RANK[there] == RANK[here] and there != here):
                upward.append(f"{module} -> {imported}")
    assert upward == []
