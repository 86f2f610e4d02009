"""Where a run's time went, from Spark's event log: per phase of the run, its jobs, stages and
wall seconds, then the stages that took longest.

    python -m tests.bench.profile EVENT_LOG REPORT_JSON [--top N]

The run must have been made, as a process of its own, with Spark's event log on: a profile
(`rerate --conf`) setting "spark.eventLog.enabled" = "true", "spark.eventLog.dir" =
"file:///tmp/events" and "spark.eventLog.compress" = "false". The report's `spark_jobs` (jobs
per phase, in the order the phases ran) says which of the log's jobs belong to which phase;
the jobs before them (the session's start) are `before`.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import click


@dataclass
class Stage:
    stage_id: int
    name: str
    tasks: int
    seconds: float
    task_seconds: float = 0.0
    input_mb: float = 0.0
    shuffle_read_mb: float = 0.0
    shuffle_write_mb: float = 0.0


@dataclass
class Job:
    job_id: int
    description: str
    seconds: float = 0.0
    stages: list[Stage] = field(default_factory=list)


def _lines(path: Path):
    """The events of a log: one file, or a folder of rolled files (Spark 4's `eventlog_v2_*`)."""
    files = (
        sorted(path.glob("events_*"), key=lambda f: int(f.name.split("_")[1]))
        if (path.is_dir())
        else [path]
    )
    for file in files:
        if file.suffix in (".zstd", ".lz4", ".snappy"):
            raise click.ClickException(
                f'{file} is compressed: run with "spark.eventLog.compress" = "false"'
            )
        with file.open() as lines:
            yield from lines


def read_event_log(path: Path) -> list[Job]:
    """The log's jobs in the order they started, each with the stages it ran (not skipped)."""
    jobs: dict[int, Job] = {}
    started: dict[int, int] = {}
    stage_job: dict[int, int] = {}
    task_seconds: dict[int, float] = defaultdict(float)
    for line in _lines(path):
        event = json.loads(line)
        kind = event["Event"]
        if kind == "SparkListenerJobStart":
            job_id = event["Job ID"]
            props = event.get("Properties") or {}
            description = props.get("spark.job.description") or props.get("callSite.short", "")
            jobs[job_id] = Job(job_id, description)
            started[job_id] = event["Submission Time"]
            for stage_id in event["Stage IDs"]:
                stage_job.setdefault(stage_id, job_id)
        elif kind == "SparkListenerJobEnd":
            job_id = event["Job ID"]
            jobs[job_id].seconds = (event["Completion Time"] - started[job_id]) / 1000
        elif kind == "SparkListenerTaskEnd":
            metrics = event.get("Task Metrics") or {}
            task_seconds[event["Stage ID"]] += metrics.get("Executor Run Time", 0) / 1000
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            stage = Stage(
                info["Stage ID"],
                info["Stage Name"],
                info["Number of Tasks"],
                (info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000,
            )
            for acc in info.get("Accumulables", []):
                name, value = acc.get("Name", ""), acc.get("Value")
                if name == "internal.metrics.input.bytesRead":
                    stage.input_mb = int(value) / 1e6
                elif name == "internal.metrics.shuffle.read.localBytesRead":
                    stage.shuffle_read_mb += int(value) / 1e6
                elif name == "internal.metrics.shuffle.read.remoteBytesRead":
                    stage.shuffle_read_mb += int(value) / 1e6
                elif name == "internal.metrics.shuffle.write.bytesWritten":
                    stage.shuffle_write_mb = int(value) / 1e6
            stage.task_seconds = task_seconds[stage.stage_id]
            job_id = stage_job.get(stage.stage_id)
            if job_id is not None:
                jobs[job_id].stages.append(stage)
    return [jobs[j] for j in sorted(jobs)]


def by_phase(jobs: list[Job], counts: dict[str, dict]) -> dict[str, list[Job]]:
    """The log's jobs cut into the report's phases by their counts; what came before the first
    phase (session start, readiness) is `before`."""
    total = sum(c["jobs"] for c in counts.values())
    before = len(jobs) - total
    phases: dict[str, list[Job]] = {"before": jobs[:before]} if before > 0 else {}
    at = max(before, 0)
    for phase, count in counts.items():
        phases[phase] = jobs[at : at + count["jobs"]]
        at += count["jobs"]
    return phases


@click.command()
@click.argument("event_log", type=click.Path(exists=True, path_type=Path))
@click.argument("report", type=click.Path(exists=True, path_type=Path))
@click.option("--top", default=15, show_default=True, help="How many of the longest stages.")
def main(event_log: Path, report: Path, top: int) -> None:
    jobs = read_event_log(event_log)
    counts = json.loads(report.read_text()).get("spark_jobs") or {}
    click.echo(f"{'phase':<16}{'jobs':>6}{'stages':>8}{'job s':>9}{'task s':>9}")
    for phase, phase_jobs in by_phase(jobs, counts).items():
        stages = [s for j in phase_jobs for s in j.stages]
        click.echo(
            f"{phase:<16}{len(phase_jobs):>6}{len(stages):>8}"
            f"{sum(j.seconds for j in phase_jobs):>9.1f}{sum(s.task_seconds for s in stages):>9.1f}"
        )
        for stage in sorted(stages, key=lambda s: -s.seconds)[:top]:
            click.echo(
                f"    stage {stage.stage_id:>4} {stage.seconds:>7.1f} s {stage.tasks:>5} tasks "
                f"task {stage.task_seconds:>7.1f} s  in {stage.input_mb:>7.1f} MB  shuffle "
                f"{stage.shuffle_read_mb:>7.1f}/{stage.shuffle_write_mb:>7.1f} MB  {stage.name}"
            )


if __name__ == "__main__":
    main()
