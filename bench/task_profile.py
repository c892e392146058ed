#!/usr/bin/env python3
"""Where a halab run's time went, from ansible-runner's per-task timestamps.

A task's span is from its first host starting to its last host ending (hosts run in
parallel, so spans, not per-host durations, add up to the run's wall time). Prints the
slowest tasks, the time per play, and the gaps no task accounts for (play and include
overhead on the controller).

Run: python bench/task_profile.py RUN_DIR [--top N]
RUN_DIR is a run's directory (`<state dir>/runs/<cluster>/<stamp>-deploy-<pid>`), as printed
at the end of `halab deploy` after "log:".
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

RESULT_EVENTS = {"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"}


@dataclass
class Span:
    play: str
    task: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def task_spans(run_dir: Path) -> list[Span]:
    """One span per task (by its uuid), in start order."""
    spans: dict[str, Span] = {}
    for path in (run_dir / "artifacts" / "ansible" / "job_events").glob("*.json"):
        event = json.loads(path.read_text(encoding="utf-8"))
        data = event.get("event_data", {})
        if event.get("event") not in RESULT_EVENTS or "start" not in data:
            continue
        start, end = datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])
        span = spans.setdefault(data["task_uuid"], Span(data.get("play", ""), data.get("task", ""), start, end))
        span.start, span.end = min(span.start, start), max(span.end, end)
    return sorted(spans.values(), key=lambda s: s.start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    spans = task_spans(args.run_dir)
    if not spans:
        raise SystemExit(f"no task events under {args.run_dir}/artifacts/ansible/job_events")
    wall = (max(s.end for s in spans) - spans[0].start).total_seconds()
    busy, cursor = 0.0, spans[0].start
    for span in spans:  # union of the spans: time some task was running
        if span.end > cursor:
            busy += (span.end - max(span.start, cursor)).total_seconds()
            cursor = span.end
    print(f"{len(spans)} tasks executed; first task start to last task end: {wall:.1f} s; "
          f"in tasks: {busy:.1f} s; between tasks (controller): {wall - busy:.1f} s")  # fmt: skip
    plays: dict[str, float] = {}
    for span in spans:
        plays[span.play] = plays.get(span.play, 0.0) + span.seconds
    print("\nper play (sum of task spans):")
    for play, seconds in plays.items():
        print(f"  {seconds:6.1f} s  {play}")
    print(f"\nslowest {args.top} tasks:")
    for span in sorted(spans, key=lambda s: -s.seconds)[: args.top]:
        print(f"  {span.seconds:6.1f} s  {span.play} / {span.task}")


if __name__ == "__main__":
    main()
