"""Runs one command as its own process and measures it: wall time and peak resident memory of
the driver (the Python process), of the JVM it starts, and of the whole process tree (shared
pages counted once), and what measuring cost (the meter's own CPU time)."""

import os
import subprocess
import threading
import time
from dataclasses import dataclass

import psutil

POLL_SECONDS = 0.1
# A process's proportional set size comes from /proc/PID/smaps: the kernel walks its page
# tables under its memory-map lock, ~70 ms for the 4 GB JVM of a 1M night. Read every 0.1 s it
# took most of a core and slowed the night it measured 1.2x; so each pass over the tree waits
# at least this many times what the last one took (at most 5 % of one core).
PSS_WAIT_OVER_COST = 20
MB = 1024 * 1024


@dataclass
class Measured:
    command: list[str]
    exit_code: int
    seconds: float
    driver_peak_mb: float  # the Python process we started
    jvm_peak_mb: float  # the largest java process below it (Spark's driver JVM in local mode)
    job_peak_mb: float  # every process of the tree at once (proportional set size)
    meter_cpu_seconds: float  # what the sampling thread itself spent
    stderr_tail: str

    def as_dict(self) -> dict:
        return {
            "seconds": round(self.seconds, 1),
            "exit_code": self.exit_code,
            "driver_peak_mb": round(self.driver_peak_mb),
            "jvm_peak_mb": round(self.jvm_peak_mb),
            "job_peak_mb": round(self.job_peak_mb),
            "meter_cpu_seconds": round(self.meter_cpu_seconds, 2),
        }


def _resident_peak(proc: psutil.Process) -> int:
    """The most the process has held resident since it started (the kernel's VmHWM), so that a
    peak between two samples counts; its resident size now where /proc has no such line."""
    try:
        with open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return proc.memory_info().rss


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.done = threading.Event()
        self.driver = self.jvm = self.total = 0
        self.cpu_seconds = 0.0
        self._next_pss = 0.0

    def run(self) -> None:
        while not self.done.is_set():
            self._sample()
            self.done.wait(POLL_SECONDS)
        self.cpu_seconds = time.thread_time()

    def _sample(self) -> None:
        try:
            tree = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for proc in tree:
            try:
                peak = _resident_peak(proc)
                name = proc.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if proc.pid == self.root.pid:
                self.driver = max(self.driver, peak)
            elif name == "java":
                self.jvm = max(self.jvm, peak)
        if time.monotonic() >= self._next_pss:
            started = time.monotonic()
            self.total = max(self.total, _tree_pss(tree))
            cost = time.monotonic() - started
            self._next_pss = started + max(POLL_SECONDS, PSS_WAIT_OVER_COST * cost)


def _tree_pss(tree: list[psutil.Process]) -> int:
    """The processes' memory with shared pages split among those sharing them: the JVM forks
    helpers (Hadoop shells out to chmod without its native library) that briefly share its
    whole address space, and a sum of resident sizes counted the JVM twice."""
    total = 0
    for proc in tree:
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


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
        meter_cpu_seconds=sampler.cpu_seconds,
        stderr_tail="\n".join(stderr.strip().splitlines()[-15:]),
    )
