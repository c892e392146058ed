"""Running host commands with errors that name the command."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from halab.errors import OperationFailed


def run(
    argv: Sequence[str], *, check: bool = True, timeout: float | None = 120, env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv`, capture its output; raise OperationFailed (with stderr) on failure if `check`.

    `env`: variables added to this process's environment; `stdin`: text fed to it."""
    # stdin: /dev/null. A child sharing ours could leave it non-blocking (ssh sets O_NONBLOCK
    # and cannot undo it when killed at the timeout), and Ansible refuses to run on that.
    try:
        feed: dict[str, Any] = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                                env=os.environ | dict(env) if env else None, **feed)  # fmt: skip
    except FileNotFoundError as exc:
        raise OperationFailed(f"{argv[0]}: command not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise OperationFailed(f"`{' '.join(argv)}` timed out after {timeout} s") from exc
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise OperationFailed(f"`{' '.join(argv)}` failed ({result.returncode}): {detail}")
    return result
