"""`halab verify`: run the testinfra checks against the deployed hosts.

The checks expect what the run's inventory installs, read through `ansible-inventory`: the
one generated from the cluster file, or the operator's (`--inventory`), overrides included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from . import checks
from .errors import OperationFailed
from .model import Cluster
from .runner import ansible_env, prepare

CHECKS_DIR = Path(checks.__file__).resolve().parent


def verify(cluster: Cluster, source: str, extra: list[str]) -> None:
    """Run the checks in a pytest subprocess; raise OperationFailed when any fails."""
    run_dir = prepare(cluster, source, "verify")
    command = [
        sys.executable, "-m", "pytest", str(CHECKS_DIR), "-c", str(CHECKS_DIR / "pytest.ini"),
        "--rootdir", str(CHECKS_DIR), "--halab-cluster", str(Path(source).resolve()),
        "--hosts=ansible://halab_nodes", f"--ansible-inventory={run_dir.inventory}",
        "-q", "-rfE", "--tb=line", "--no-header", *extra,
    ]
    # testinfra calls ansible-inventory by name: same PATH as a deploy (halab's own venv first).
    result = subprocess.run(command, check=False, env=os.environ | ansible_env(forks=5))
    if result.returncode != 0:
        raise OperationFailed(f"verification failed (pytest exit {result.returncode}); see the failures above")
