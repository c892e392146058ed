"""Shared fixtures: paths to the examples and a runner for the CLI in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))


@pytest.fixture
def halab(capsys: pytest.CaptureFixture[str]):
    """Run `halab ARGS...` in-process; return (exit code, stdout, stderr)."""
    from halab.cli import run

    def invoke(*args: str) -> tuple[int, str, str]:
        code = run([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke
