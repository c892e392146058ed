"""Run halab's playbooks through ansible-runner against a cluster's hosts.

Before anything touches a host: the model is valid, every secret reference resolves on
this machine, and every host answers on its SSH port. Each run gets a private directory
(mode 0700) holding the generated inventory (unless the operator's is used: `--inventory`)
and ansible-runner's artifacts (full log).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .connection import node_connections, over_ssh
from .errors import InvalidInput, Problem
from .inventory import Inventory, build_inventory, cluster_digest, from_listing, write_inventory
from .model import Cluster
from .paths import collections_dir, playbooks_dir, roles_dir, state_dir
from .secrets import check_secrets

# Ansible's own default collection path, kept after halab's collections.
DEFAULT_COLLECTIONS_PATH = ("~/.ansible/collections", "/usr/share/ansible/collections")
ANSIBLE_ENV = {
    "ANSIBLE_PIPELINING": "True",
    "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s -o PreferredAuthentications=publickey",
    "ANSIBLE_GATHERING": "explicit",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    "ANSIBLE_DISPLAY_ARGS_TO_STDOUT": "False",
    "ANSIBLE_NOCOLOR": "True",
    "ANSIBLE_FORCE_COLOR": "False",
    "ANSIBLE_TIMEOUT": "20",
    "ANSIBLE_DEPRECATION_WARNINGS": "False",
}


def _reachable(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def check_reachable(cluster: Cluster, hostvars: dict[str, dict[str, Any]], timeout: float = 3.0) -> list[Problem]:
    """Every target reached over SSH answers on its SSH port (in parallel, before any change)."""
    targets = {
        node.name: (str(hostvars[node.name]["ansible_host"]), int(hostvars[node.name]["ansible_port"]))
        for node in cluster.nodes
        if over_ssh(hostvars[node.name])
    }
    with ThreadPoolExecutor(max_workers=max(len(targets), 1)) as pool:
        answers = dict(zip(targets, pool.map(lambda t: _reachable(*t, timeout), targets.values()), strict=True))
    problems = []
    for index, node in enumerate(cluster.nodes):
        if not answers.get(node.name, True):
            host, port = targets[node.name]
            problems.append(
                Problem(
                    f"nodes[{index}]",
                    f"host {node.name} ({host}:{port}) does not answer on SSH",
                    "start it (for a lab: halab lab up) or fix its address / connection.host",
                )
            )
    return problems


@dataclass
class RunDir:
    """A private per-run directory: inventory, artifacts, log."""

    path: Path
    inventory: Path = field(init=False)

    def __post_init__(self) -> None:
        self.inventory = self.path / "inventory"


def new_run_dir(cluster: Cluster, verb: str) -> RunDir:
    base = state_dir() / "runs" / cluster.name
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(state_dir(), 0o700)
    path = base / f"{time.strftime('%Y%m%d-%H%M%S')}-{verb}-{os.getpid()}"
    path.mkdir(mode=0o700)
    return RunDir(path)


def read_inventory(directory: Path) -> Inventory:
    """The inventory in `directory` as Ansible itself reads it (`ansible-inventory --list`):
    every file in it, the operator's overrides and hosts included."""
    if not directory.is_dir():
        raise InvalidInput([Problem("--inventory", f"{directory} is not a directory",
                                    "generate one: halab inventory FILE -o DIR")])  # fmt: skip
    listed = subprocess.run(["ansible-inventory", "-i", str(directory), "--list"], capture_output=True, text=True,
                            check=False, env=os.environ | ansible_env(forks=5))  # fmt: skip
    if listed.returncode != 0:
        detail = " ".join(listed.stderr.split())[-600:]
        raise InvalidInput([Problem("--inventory", f"ansible-inventory cannot read {directory}: {detail}",
                                    "fix the file it names (plain `ansible-playbook -i DIR` fails the same way)")])
    return from_listing(json.loads(listed.stdout))


def _inventory_problems(cluster: Cluster, inventory: Inventory, directory: Path) -> list[Problem]:
    """An inventory must hold every node, generated from this version of the cluster file."""
    hint = f"regenerate it: halab inventory FILE -o {directory}"
    missing = [node.name for node in cluster.nodes if node.name not in inventory.host_vars]
    if missing:
        return [Problem("--inventory", f"{directory} has no host {', '.join(missing)}", hint)]
    digests = {str(inventory.hostvars(node.name).get("halab_cluster_digest")) for node in cluster.nodes}
    if digests != {cluster_digest(cluster)}:
        return [Problem("--inventory", f"{directory} was generated from another version of the cluster file", hint)]
    return []


def inventory_of(cluster: Cluster) -> Inventory:
    """The variables the hosts get: from the operator's inventory (`--inventory`), checked
    against the cluster file, or generated from the file and the connections given beside it."""
    directory = cluster.inventory_dir
    if directory is None:
        return build_inventory(cluster, node_connections(cluster))
    inventory = read_inventory(directory)
    problems = _inventory_problems(cluster, inventory, directory)
    if problems:
        raise InvalidInput(problems, title="cannot use the inventory")
    return inventory


def prepare(
    cluster: Cluster,
    source: str,
    verb: str,
    *,
    check_hosts: bool = True,
    vault_password_file: str | None = None,
    needs_secrets: bool = True,
) -> RunDir:
    """Validate what only this machine can tell (secrets resolve and fit, hosts answer),
    then write the run's inventory (or use the operator's, `--inventory`). A playbook that
    reads no secret (`needs_secrets=False`: destroy) runs without them."""
    inventory = inventory_of(cluster)
    hostvars = {node.name: inventory.hostvars(node.name) for node in cluster.nodes}
    problems = check_secrets(cluster, vault_password_file) if needs_secrets else []
    if check_hosts and not problems:
        problems = check_reachable(cluster, hostvars)
    if problems:
        raise InvalidInput(problems, source, title="cannot start: fix these first (no host was touched)")
    run_dir = new_run_dir(cluster, verb)
    if cluster.inventory_dir is not None:
        run_dir.inventory = cluster.inventory_dir.resolve()
    else:
        write_inventory(inventory, run_dir.inventory, source)
    return run_dir


def ansible_env(forks: int) -> dict[str, str]:
    """Ansible settings of a halab run; ansible-playbook is taken from halab's own environment."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    collections = os.pathsep.join([str(collections_dir()), *DEFAULT_COLLECTIONS_PATH])
    return ANSIBLE_ENV | {
        "ANSIBLE_ROLES_PATH": str(roles_dir()),
        "ANSIBLE_COLLECTIONS_PATH": collections,
        "ANSIBLE_FORKS": str(max(forks, 5)),
        "PATH": path,
    }


def scrub_command_artifact(run_dir: RunDir, names: list[str]) -> None:
    """ansible-runner records the child's whole environment in artifacts/<ident>/command:
    replace the secret variables there, so the run's log holds no secret."""
    path = run_dir.path / "artifacts" / "ansible" / "command"
    if not names or not path.exists():
        return
    record = json.loads(path.read_text(encoding="utf-8"))
    env = record.get("env") or {}
    if any(env.get(name) not in (None, "REDACTED") for name in names):
        record["env"] = {key: ("REDACTED" if key in names else value) for key, value in env.items()}
        path.write_text(json.dumps(record), encoding="utf-8")


@dataclass(frozen=True)
class PlaybookOptions:
    """What the operator asked of ansible-playbook; `cmdline` builds its flags in one place."""

    check: bool = False
    diff: bool = False
    limit: str | None = None
    tags: str | None = None
    vault_password_file: str | None = None
    verbosity: int = 0
    extra_vars: dict[str, Any] = field(default_factory=dict)

    def cmdline(self) -> list[str]:
        """Flags with their values attached (`--limit=VALUE`): a value is never read as a flag."""
        flags = [*(["--check"] if self.check else []), *(["--diff"] if self.diff else [])]
        if self.extra_vars:
            flags.append(f"--extra-vars={json.dumps(self.extra_vars)}")
        valued = {"limit": self.limit, "tags": self.tags, "vault-password-file": self.vault_password_file}
        for name, value in valued.items():
            if value is not None:
                flags.append(f"--{name}={value}")
        return flags


def run_playbook(
    run_dir: RunDir,
    playbook: str,
    *,
    forks: int,
    options: PlaybookOptions,
    event_handler: Any,
    secret_env: list[str],
) -> Any:
    """Run one playbook; return the ansible-runner Runner (status, rc, stats, events)."""
    import ansible_runner

    scrubbed = False

    def handler(event: dict[str, Any]) -> bool:
        nonlocal scrubbed
        if not scrubbed:  # the command artifact is written just before the first event
            scrub_command_artifact(run_dir, secret_env)
            scrubbed = True
        return event_handler(event)

    try:
        return ansible_runner.run(
            private_data_dir=str(run_dir.path),
            playbook=str(playbooks_dir() / playbook),
            inventory=str(run_dir.inventory),
            envvars=ansible_env(forks),
            cmdline=shlex.join(options.cmdline()) or None,
            event_handler=handler,
            verbosity=options.verbosity or None,
            quiet=True,
            ident="ansible",
        )
    finally:
        scrub_command_artifact(run_dir, secret_env)
