"""Live view of an Ansible run: per-host current task and counts, then a summary table.

In a terminal it is a live table (rich); otherwise one plain line per finished task
result that is not a plain `ok`, so CI logs stay short and readable.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

# The default callback's line for a changed result, possibly coloured: "changed: [host]".
_CHANGED_LINE = re.compile(r"^(?:\x1b\[[0-9;]*m)*changed: \[", re.M)


@dataclass
class HostState:
    task: str = "waiting"
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0


@dataclass
class Failure:
    host: str
    task: str
    message: str


@dataclass
class RunProgress:
    """Collects ansible-runner events; renders them live or as plain lines."""

    hosts: list[str]
    console: Console = field(default_factory=lambda: Console(stderr=True))
    started: float = field(default_factory=time.monotonic)
    states: dict[str, HostState] = field(init=False)
    failures: list[Failure] = field(default_factory=list)
    live: Live | None = None

    def __post_init__(self) -> None:
        self.states = {host: HostState() for host in self.hosts}

    @property
    def interactive(self) -> bool:
        return self.console.is_terminal

    def __enter__(self) -> RunProgress:
        if self.interactive:
            self.live = Live(self.table(), console=self.console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def table(self, final: bool = False) -> Table:
        table = Table(title=None if final else f"halab: {self.elapsed():.0f}s", expand=False)
        for column in ("host", "ok", "changed", "failed", "unreachable", "skipped"):
            table.add_column(column, justify="left" if column == "host" else "right")
        if not final:
            table.add_column("current task")
        for host, state in self.states.items():
            row = [
                host,
                str(state.ok),
                str(state.changed),
                str(state.failed),
                str(state.unreachable),
                str(state.skipped),
            ]
            table.add_row(*row, *([] if final else [state.task]))
        return table

    def _line(self, text: str) -> None:
        if not self.interactive:
            print(f"[{self.elapsed():6.1f}s] {text}", file=sys.stderr, flush=True)

    def handle(self, event: dict[str, Any]) -> bool:
        """ansible-runner event_handler: update state; always keep the event."""
        kind = event.get("event", "")
        data = event.get("event_data", {})
        host = data.get("host")
        task = data.get("task", "")
        state = self.states.get(host) if host else None
        if kind == "playbook_on_task_start":
            for each in self.states.values():
                each.task = task
        elif state is not None and kind == "runner_on_ok":
            res = data.get("res", {})
            # no_log censors the whole result, `changed` included; the callback line keeps it
            changed = bool(res.get("changed"))
            if "censored" in res:
                changed = bool(_CHANGED_LINE.search(event.get("stdout", "")))
            state.ok += 1
            if changed:
                state.changed += 1
                self._line(f"{host}: changed: {task}")
        elif kind == "playbook_on_stats":
            # Ansible's own totals (never censored) are authoritative for the summary.
            for host, each in self.states.items():
                each.ok = data.get("ok", {}).get(host, each.ok)
                each.changed = data.get("changed", {}).get(host, 0)
                each.failed = data.get("failures", {}).get(host, 0)
                each.unreachable = data.get("dark", {}).get(host, 0)
                each.skipped = data.get("skipped", {}).get(host, 0)
        elif state is not None and kind == "runner_on_skipped":
            state.skipped += 1
        elif state is not None and kind in ("runner_on_failed", "runner_on_unreachable"):
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                return True
            res = data.get("res", {})
            message = res.get("msg") or res.get("stderr") or res.get("reason") or "failed"
            if kind == "runner_on_unreachable":
                state.unreachable += 1
            else:
                state.failed += 1
            self.failures.append(Failure(host, task, str(message).strip()))
            self._line(f"{host}: FAILED: {task}: {str(message).strip()[:400]}")
        if self.live is not None:
            self.live.update(self.table())
        return True

    def failed_at(self, runner_status: str) -> str | None:
        """Where the run failed ("host / task: message"), or None when it succeeded."""
        if runner_status == "successful" and not self.failures:
            return None
        first = self.failures[0] if self.failures else None
        return f"{first.host} / {first.task}: {first.message}" if first else f"ansible-runner: {runner_status}"

    def summary(self) -> None:
        self.console.print(self.table(final=True))
        for failure in self.failures:
            self.console.print(
                f"[red]failed[/red] {failure.host} / {failure.task}: {failure.message}", markup=True, highlight=False
            )
