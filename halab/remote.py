"""Run one command on a cluster host over SSH, with the connection the inventory describes
(`halab.connection`)."""

from __future__ import annotations

import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .connection import connections
from .model import Cluster
from .runner import inventory_of


@dataclass(frozen=True)
class Result:
    host: str
    rc: int
    stdout: str
    stderr: str


class Hosts:
    """SSH access to a cluster's hosts (lab or production), connected as the inventory says:
    the operator's (`--inventory`) when given, else the connection variables halab generates."""

    def __init__(self, cluster: Cluster) -> None:
        if cluster.inventory_dir is None:
            self.vars = connections(cluster)
        else:
            inventory = inventory_of(cluster)
            self.vars = {host: inventory.hostvars(host) for host in inventory.host_vars}

    def argv(self, host: str, command: str) -> list[str]:
        hv: dict[str, Any] = self.vars[host]
        argv = [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=5",
            "-p",
            str(hv.get("ansible_port", 22)),
        ]
        if hv.get("ansible_ssh_private_key_file"):
            argv += ["-i", str(hv["ansible_ssh_private_key_file"])]
        argv += shlex.split(str(hv.get("ansible_ssh_common_args", "")))
        # -l USER and `--` before the host: neither can be read as an ssh option.
        return [*argv, "-l", str(hv.get("ansible_user", "root")), "--", str(hv["ansible_host"]), command]

    def run(self, host: str, command: str, timeout: float = 60) -> Result:
        try:
            done = subprocess.run(
                self.argv(host, command), stdin=subprocess.DEVNULL,  # see halab.lab.proc.run
                capture_output=True, text=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            return Result(host, 255, "", f"timed out after {timeout:.0f}s")
        return Result(host, done.returncode, done.stdout, done.stderr)

    def run_all(self, jobs: list[tuple[str, str]], timeout: float = 15) -> dict[tuple[str, str], Result]:
        """Every (host, command) at once: one slow node does not add up."""
        if not jobs:
            return {}
        with ThreadPoolExecutor(max_workers=min(len(jobs), 16)) as pool:
            return dict(zip(jobs, pool.map(lambda job: self.run(job[0], job[1], timeout), jobs), strict=True))
