"""A Spark standalone cluster on 127.0.0.1 from the installed pyspark: one master, workers of one
core each, started with `spark-class` (the wheel has no start-*.sh scripts). Every process is
started in its own process group and stopped by that group's id, executors included."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
SPARK_CLASS = SPARK_HOME / "bin" / "spark-class"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Standalone:
    folder: Path
    env: dict
    master_port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    def _start(self, name: str, *args: str) -> None:
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            [str(SPARK_CLASS), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, workers: int) -> None:
        self._start(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", str(self.master_port),
            "--webui-port", str(self.ui_port),
        )  # fmt: skip
        for i in range(1, workers + 1):
            work = self.folder / f"worker-{i}"
            work.mkdir()
            self._start(
                f"worker-{i}",
                "org.apache.spark.deploy.worker.Worker",
                "--host", "127.0.0.1", "--cores", "1", "--memory", "2g",
                "--webui-port", str(free_port()), "--work-dir", str(work), self.url,
            )  # fmt: skip
        self.wait_for(lambda s: len(self.alive_workers(s)) == workers, "workers to register", 90)

    def state(self) -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
                return json.load(r)
        except OSError:
            return {}

    @staticmethod
    def alive_workers(state: dict) -> list[dict]:
        return [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]

    def wait_for(self, condition, what: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state and condition(state):
                return state
            time.sleep(0.5)
        logs = {p.name: p.read_text()[-1500:] for p in self.folder.glob("*.log")}
        raise AssertionError(f"timed out waiting for {what}; logs: {logs}")

    def kill(self, name: str) -> None:
        """SIGKILL to the process group: the worker and the executor it launched, as a lost host."""
        process = self.processes[name]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.kill(name)
