"""Runs one command as its own process and measures it: wall time and peak resident memory of
the driver (the Python process), of the JVM it starts, and of the whole process tree (shared
pages counted once)."""

import os
import subprocess
import threading
import time
from dataclasses import dataclass

import psutil

POLL_SECONDS = 0.1
MB = 1024 * 1024


@dataclass
class Measured:
    command: list[str]
    exit_code: int
    seconds: float
    driver_peak_mb: float  # the Python process we started
    jvm_peak_mb: float  # the largest java process below it (Spark's driver JVM in local mode)
    job_peak_mb: float  # every process of the tree at once (proportional set size)
    stderr_tail: str

    def as_dict(self) -> dict:
        return {
            "seconds": round(self.seconds, 1),
            "exit_code": self.exit_code,
            "driver_peak_mb": round(self.driver_peak_mb),
            "jvm_peak_mb": round(self.jvm_peak_mb),
            "job_peak_mb": round(self.job_peak_mb),
        }


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.done = threading.Event()
        self.driver = self.jvm = self.total = 0

    def run(self) -> None:
        while not self.done.is_set():
            self._sample()
            self.done.wait(POLL_SECONDS)

    def _sample(self) -> None:
        try:
            tree = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for proc in tree:
            try:
                rss = proc.memory_info().rss
                name = proc.name()
                # PSS splits shared pages among the processes sharing them: the JVM forks
                # helpers (Hadoop shells out to chmod without its native library) that briefly
                # share its whole address space, and summing RSS counted the JVM twice
                total += proc.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if proc.pid == self.root.pid:
                self.driver = max(self.driver, rss)
            elif name == "java":
                self.jvm = max(self.jvm, rss)
        self.total = max(self.total, total)


def measure(command: list[str], env: dict | None = None, timeout: float = 6 * 3600) -> Measured:
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    sampler = _TreeSampler(proc.pid)
    sampler.start()
    try:
        _, stderr = proc.communicate(timeout=timeout)
    finally:
        sampler.done.set()
        sampler.join()
    return Measured(
        command=command,
        exit_code=proc.returncode,
        seconds=time.monotonic() - started,
        driver_peak_mb=sampler.driver / MB,
        jvm_peak_mb=sampler.jvm / MB,
        job_peak_mb=sampler.total / MB,
        stderr_tail="\n".join(stderr.strip().splitlines()[-15:]),
    )
