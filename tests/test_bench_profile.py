"""The profile of a run from Spark's event log: jobs cut into the report's phases, stages with
their seconds and metrics, skipped stages left out."""

import json

from tests.bench.profile import by_phase, read_event_log


def _job(job_id: int, stages: list[int], start: int, end: int) -> list[dict]:
    return [
        {
            "Event": "SparkListenerJobStart",
            "Job ID": job_id,
            "Submission Time": start,
            "Stage IDs": stages,
            "Properties": {"callSite.short": f"collect at job{job_id}"},
        },
        {"Event": "SparkListenerJobEnd", "Job ID": job_id, "Completion Time": end},
    ]


def _stage(stage_id: int, start: int, end: int, task_ms: list[int], read_bytes: int) -> list:
    tasks = [
        {
            "Event": "SparkListenerTaskEnd",
            "Stage ID": stage_id,
            "Task Metrics": {"Executor Run Time": ms},
        }
        for ms in task_ms
    ]
    return [
        *tasks,
        {
            "Event": "SparkListenerStageCompleted",
            "Stage Info": {
                "Stage ID": stage_id,
                "Stage Name": f"stage {stage_id}",
                "Number of Tasks": len(task_ms),
                "Submission Time": start,
                "Completion Time": end,
                "Accumulables": [
                    {"Name": "internal.metrics.input.bytesRead", "Value": read_bytes},
                    {"Name": "internal.metrics.shuffle.write.bytesWritten", "Value": 2_000_000},
                ],
            },
        },
    ]


def test_jobs_fall_into_the_reports_phases_with_their_stages(tmp_path):
    events = [
        {"Event": "SparkListenerApplicationStart"},
        *_job(0, [0], 0, 500),  # before the first phase: the session's own start
        *_stage(0, 0, 400, [300], 0),
        *_job(1, [1, 2], 1_000, 4_000),  # stage 1 was computed earlier: skipped, never completed
        *_stage(2, 1_000, 3_500, [1_000, 2_000], 5_000_000),
        *_job(2, [3], 4_000, 5_000),
        *_stage(3, 4_000, 4_900, [700], 0),
    ]
    folder = tmp_path / "eventlog_v2_local-1"
    folder.mkdir()
    (folder / "events_1_local-1").write_text("\n".join(json.dumps(e) for e in events) + "\n")

    jobs = read_event_log(folder)
    assert [j.job_id for j in jobs] == [0, 1, 2]
    assert [s.stage_id for s in jobs[1].stages] == [2]
    stage = jobs[1].stages[0]
    assert (stage.seconds, stage.task_seconds, stage.tasks) == (2.5, 3.0, 2)
    assert (stage.input_mb, stage.shuffle_write_mb) == (5.0, 2.0)
    assert jobs[1].seconds == 3.0

    phases = by_phase(jobs, {"input_checks": {"jobs": 1}, "decision": {"jobs": 1}})
    assert {p: [j.job_id for j in js] for p, js in phases.items()} == {
        "before": [0],
        "input_checks": [1],
        "decision": [2],
    }
