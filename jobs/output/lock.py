"""One writer at a time per output: `<output>/_lock` names the process that holds it.

Two runs writing one output at once (a backfill started by hand while the scheduler's night
runs) would diff against each other's half-published state. A lock left by a process that died
on this host is taken over; one held by a live process, or by another host, is refused with the
holder named, since only a person can tell whether that run is still going.
"""

import json
import logging
import os
import socket
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

from jobs.files.layout import OutputLayout
from jobs.files.storage import Storage

log = logging.getLogger(__name__)


class OutputLocked(Exception):
    pass


def new_attempt_id(started: datetime) -> str:
    """Names one attempt to write the output: its start time and a random suffix."""
    return started.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def output_lock(storage: Storage, layout: OutputLayout, attempt_id: str, command: str):
    """Holds the output's lock for the body; yields what was taken over, if anything."""
    path = layout.lock()
    me = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "attempt_id": attempt_id,
        "command": command,
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    taken_over = None
    if not storage.create_new(path, json.dumps(me)):
        holder = _holder(storage, path)
        stale = holder and holder.get("host") == me["host"] and not _alive(holder.get("pid", -1))
        if not stale:
            raise OutputLocked(
                f"{path} is held by {holder or 'an unreadable lock file'}; a lock left by a "
                "process that died on this host is taken over, one from another host (or "
                "unreadable) is not: if that process is gone, delete the file and run again"
            )
        storage.delete(path)
        if not storage.create_new(path, json.dumps(me)):
            raise OutputLocked(f"{path} was taken by another process just now")
        taken_over = holder
    try:
        yield taken_over
    finally:
        try:
            if (_holder(storage, path) or {}).get("attempt_id") == attempt_id:
                storage.delete(path)
        except Exception as e:  # noqa: BLE001 - a stale lock is taken over by the next run
            log.warning("could not release %s: %s", path, e)


def _holder(storage: Storage, path: str) -> dict | None:
    text = storage.read_text(path)
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
