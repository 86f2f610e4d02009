"""Where the contract puts things: the input ledgers' partitions and the output tables."""

from dataclasses import dataclass
from datetime import date

from jobs.files.storage import Storage

SUCCESS = "_SUCCESS"


def _day(name: str, key: str) -> date | None:
    if not name.startswith(key + "="):
        return None
    try:
        return date.fromisoformat(name.split("=", 1)[1])
    except ValueError:
        return None


@dataclass(frozen=True)
class InputLayout:
    root: str

    def ledger_root(self, ledger: str) -> str:
        return f"{self.root.rstrip('/')}/{ledger}"

    def partition(self, ledger: str, day: date) -> str:
        return f"{self.ledger_root(ledger)}/dt={day.isoformat()}"

    def success_marker(self, ledger: str, day: date) -> str:
        return f"{self.partition(ledger, day)}/{SUCCESS}"

    def partition_days(self, storage: Storage, ledger: str) -> list[date]:
        """Every `dt=` partition folder of a ledger, complete or not, oldest first."""
        days = (_day(e.name, "dt") for e in storage.list(self.ledger_root(ledger)) if e.is_dir)
        return sorted(d for d in days if d is not None)


@dataclass(frozen=True)
class OutputLayout:
    root: str

    def _base(self) -> str:
        return self.root.rstrip("/")

    def table(self, name: str) -> str:
        return f"{self._base()}/{name}"

    def partition(self, name: str, run_date: date) -> str:
        return f"{self.table(name)}/run_date={run_date.isoformat()}"

    def report(self, run_date: date) -> str:
        return f"{self.partition('runs', run_date)}/report.json"

    def report_page(self, run_date: date) -> str:
        return f"{self.partition('runs', run_date)}/report.html"

    def attempt_report(self, run_date: date, attempt_id: str) -> str:
        return f"{self.partition('runs', run_date)}/attempts/{attempt_id}.json"

    def state(self, run_date: date) -> str:
        """What the run of `run_date` carries to the next (jobs.output.carried_state)."""
        return self.partition("_state", run_date)

    def staging_root(self) -> str:
        return f"{self._base()}/_staging"

    def staging(self, attempt_id: str) -> str:
        return f"{self.staging_root()}/{attempt_id}"

    def trash_root(self) -> str:
        return f"{self._base()}/_trash"

    def trash(self, attempt_id: str) -> str:
        return f"{self.trash_root()}/{attempt_id}"

    def journal_root(self) -> str:
        return f"{self._base()}/_journal"

    def journal(self, attempt_id: str) -> str:
        return f"{self.journal_root()}/{attempt_id}.json"

    def lock(self) -> str:
        return f"{self._base()}/_lock"

    def withdrawn(self, name: str, run_date: date) -> str:
        return f"{self._base()}/withdrawn/{name}/run_date={run_date.isoformat()}"

    def withdrawn_history(self, attempt_id: str, name: str, run_date: date) -> str:
        return f"{self._base()}/withdrawn/_history/{attempt_id}/{name}/run_date={run_date}"

    def run_dates(self, storage: Storage, name: str) -> list[date]:
        days = (_day(e.name, "run_date") for e in storage.list(self.table(name)) if e.is_dir)
        return sorted(d for d in days if d is not None)
