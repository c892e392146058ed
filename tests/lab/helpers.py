"""Helpers of the lab scenarios: the real CLI, remote commands, polling, timings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from halab.lab.deps import missing_tools

TIMINGS: dict[str, float] = {}


def require_qemu() -> None:
    if os.environ.get("HALAB_VM_TESTS") == "0":
        pytest.skip("VM scenarios turned off (HALAB_VM_TESTS=0); under TCG they take 11-20 min each")
    missing = missing_tools(["vm"])
    if missing:
        pytest.skip(f"VM lab tests need {', '.join(missing)} (halab lab up --install-deps)")


def halab(*args: str, timeout: float = 1500, stdin: str | None = None,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """The real entry point, as an operator runs it: halab's venv is not on PATH; `stdin` is
    what the operator types (a prompt's answer); `env`: variables added."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return subprocess.run([sys.executable, "-m", "halab", *args], capture_output=True, text=True, input=stdin,
                          timeout=timeout, check=False, env=os.environ | (env or {}) | {"PATH": path})  # fmt: skip


def ok(*args: str, timeout: float = 1500) -> str:
    result = halab(*args, timeout=timeout)
    assert result.returncode == 0, f"halab {' '.join(args)}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def on(lab: str, node: str, script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return halab("lab", "ssh", node, "--lab", lab, "--", script, timeout=timeout)


def timed(label: str, func: Callable[[], object]) -> object:
    started = time.monotonic()
    result = func()
    TIMINGS[label] = time.monotonic() - started
    print(f"\n[timing] {label}: {TIMINGS[label]:.1f} s", flush=True)
    return result


def page(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as reply:
            return reply.read().decode() if reply.status == 200 else None
    except OSError:
        return None


def wait_until(what: str, check: Callable[[], object], timeout: float, every: float = 1.0) -> float:
    """Seconds until `check()` is truthy; AssertionError naming `what` after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def wait_for_page(url: str, containing: str, timeout: float) -> float:
    """Seconds until `url` answers 200 with `containing` in the body."""
    return wait_until(f"{url} serving a page with {containing!r}", lambda: containing in (page(url) or ""), timeout,
                      0.2)  # fmt: skip
