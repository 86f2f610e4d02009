"""Crash-safe changes to the output: a journal of steps, written before the first step is taken.

A publish (or a rollback) is a short list of moves, markers and small files. Before taking the
first step the whole list is written to `<output>/_journal/<attempt>.json` in one atomic write;
the journal is deleted after the last. A process killed anywhere in between leaves its journal
behind, and the next `rerate` that writes to the output replays it to the end (roll forward:
every input of the steps was complete before the journal existed). Each step can be replayed:

- move A -> B: done when B exists; otherwise A is renamed to B.
- touch P / write P: (re)written whole.
- delete P: removed if present.

Staging folders and trash that no journal names belong to attempts that died before their
journal was written; recovery deletes them.
"""

import json
import logging
from dataclasses import dataclass, field

from jobs.files.layout import OutputLayout
from jobs.files.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class Journal:
    action: str
    run_date: str
    attempt_id: str
    steps: list[dict] = field(default_factory=list)

    def move(self, source: str, target: str) -> "Journal":
        self.steps.append({"move": [source, target]})
        return self

    def touch(self, path: str) -> "Journal":
        self.steps.append({"touch": path})
        return self

    def write(self, path: str, text: str) -> "Journal":
        self.steps.append({"write": path, "text": text})
        return self

    def delete(self, path: str) -> "Journal":
        self.steps.append({"delete": path})
        return self

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Journal":
        data = json.loads(text)
        return cls(data["action"], data["run_date"], data["attempt_id"], data["steps"])


def commit(
    storage: Storage, layout: OutputLayout, journal: Journal, pause=lambda step, output: None
):
    """Writes the journal, takes its steps, deletes it. `pause(step, output)` is called before
    each step (the fault-injection tests stop the process there, or copy the output)."""
    path = layout.journal(journal.attempt_id)
    storage.write_text(path, journal.to_json())
    _replay(storage, journal, lambda step: pause(step, layout.root))
    storage.delete(path)


def _replay(storage: Storage, journal: Journal, pause=lambda step: None) -> None:
    for number, step in enumerate(journal.steps):
        pause(f"{journal.action}:{number}")
        if "move" in step:
            source, target = step["move"]
            if storage.exists(target):
                continue
            if not storage.exists(source):
                raise OSError(
                    f"journal {journal.attempt_id}: cannot move {source}: it is gone and "
                    f"{target} does not exist"
                )
            storage.rename(source, target)
        elif "touch" in step:
            storage.touch(step["touch"])
        elif "write" in step:
            storage.write_text(step["write"], step["text"])
        elif "delete" in step:
            storage.delete(step["delete"])


def recover(storage: Storage, layout: OutputLayout) -> list[str]:
    """Finishes every interrupted publish or rollback, then deletes what dead attempts left.
    Returns what it did, for the report."""
    done = []
    for entry in storage.list(layout.journal_root()):
        if entry.name.endswith(".json.tmp"):  # died while writing its journal: nothing done yet
            storage.delete(entry.path)
            continue
        if entry.name.startswith(".") or not entry.name.endswith(".json"):
            continue
        text = storage.read_text(entry.path)
        journal = Journal.from_json(text)
        log.warning(
            "finishing the interrupted %s of %s (attempt %s)",
            journal.action,
            journal.run_date,
            journal.attempt_id,
        )
        _replay(storage, journal)
        storage.delete(entry.path)
        done.append(
            f"finished the interrupted {journal.action} of {journal.run_date} "
            f"(attempt {journal.attempt_id})"
        )
    for root in (layout.staging_root(), layout.trash_root()):
        for entry in storage.list(root):
            storage.delete(entry.path)
            done.append(f"deleted {entry.path}, left by an attempt that did not finish")
    return done
