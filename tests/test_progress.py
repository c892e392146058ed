"""Counting of changed results in deploy's live progress."""

from __future__ import annotations

import io

from rich.console import Console

from halab.progress import RunProgress


def _ok(res: dict, stdout: str) -> dict:
    return {"event": "runner_on_ok", "event_data": {"host": "n1", "task": "t", "res": res}, "stdout": stdout}


def test_no_log_changes_are_counted() -> None:
    progress = RunProgress(["n1"], console=Console(file=io.StringIO()))
    censored = {"censored": "the output has been hidden due to the fact that 'no_log: true' was specified"}
    progress.handle(_ok({"changed": True}, "changed: [n1]"))
    progress.handle(_ok(censored, "\x1b[0;33mchanged: [n1]\x1b[0m"))
    progress.handle(_ok(censored, "ok: [n1]"))
    progress.handle(_ok({"changed": False}, "ok: [n1]"))
    assert progress.states["n1"].changed == 2
    assert progress.states["n1"].ok == 4
