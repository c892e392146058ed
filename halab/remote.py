"""Run one command on a cluster host, reached the way a deploy reaches it.

The one place that turns a host's Ansible connection variables (the operator's inventory,
`--inventory`, or the ones halab generates) into a command line: user, port, key,
`ansible_ssh_common_args`/`ansible_ssh_extra_args` (a jump host), `ansible_connection:
local`, and become through sudo. Ansible itself would cost seconds per command and status
runs dozens, so this is plain ssh with a reused master connection.

Values are data: each becomes one argv item where ssh or sudo reads a value (`-l USER`,
`-u USER`, the host after `--`), none is templated or run through a shell here, and a
value that holds a template, could be read as an option, or asks for something this
module does not do (another connection plugin or become method, an SSH password) is
refused, naming the host and variable, before any host is touched. The become password
reaches sudo on its standard input (`sudo -S`), never an argument, a file or a log.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInput, OperationFailed, Problem
from .formats import POSIX_USER, host_address
from .model import Cluster
from .paths import state_dir
from .runner import inventory_of
from .secrets import SecretRef, resolve_ref, rules
from .yamlsource import VaultValue


@dataclass(frozen=True)
class Result:
    host: str
    rc: int
    stdout: str
    stderr: str


class _Refused(Exception):
    """A connection variable halab's own commands cannot honour as written."""

    def __init__(self, variable: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.variable, self.message, self.hint = variable, message, hint


# Ansible's spellings of one setting, first wins (as the model's CONNECTION_FIELDS list them).
ADDRESS = ("ansible_host", "ansible_ssh_host")
USER = ("ansible_user", "ansible_ssh_user")
PORT = ("ansible_port", "ansible_ssh_port")
KEY = ("ansible_ssh_private_key_file", "ansible_private_key_file")
TIMEOUT = ("ansible_timeout", "ansible_ssh_timeout")
HOST_KEY_CHECKING = ("ansible_host_key_checking", "ansible_ssh_host_key_checking")
BECOME_PASSWORD = ("ansible_become_password", "ansible_become_pass", "ansible_sudo_pass")
SSH_PASSWORD = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
# Set to anything but Ansible's default, these change what runs: not supported here.
ONLY_DEFAULT = {"ansible_ssh_executable": "ssh", "ansible_become_exe": "sudo", "ansible_become_method": "sudo"}
CONNECTIONS = {"ssh": False, "smart": False, "local": True}  # plugin -> runs on this machine
BECOME_FLAGS = {"-H", "-S", "-n"}  # Ansible's default `-H -S -n` and its parts: what sudo gets here anyway
# ssh's options that take a value (OpenSSH 9 getopt string), and those that do not.
SSH_VALUED, SSH_FLAGS = set("BbcDEeFIiJLlmOoPpQRSWw"), set("46AaCfGgKkMNnqsTtVvXxYy")
BOOLEANS = {**dict.fromkeys(("true", "yes", "on", "1", "y", "t"), True),
            **dict.fromkeys(("false", "no", "off", "0", "n", "f"), False)}  # fmt: skip
_TEMPLATE = re.compile(r"\{\{|\{%|\{#")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SSH_BASE = ["ssh", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
CONTROL_PERSIST = "60s"
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; ssh appends a 17-character suffix while binding


def _value(hostvars: dict[str, Any], names: tuple[str, ...]) -> tuple[str, str | None]:
    """The first of `names` set, as text (variable, value); templates and vault values refused."""
    variable = next((name for name in names if hostvars.get(name) is not None), names[0])
    value = hostvars.get(variable)
    if value is None:
        return variable, None
    if isinstance(value, VaultValue):
        raise _Refused(variable, "is an !vault value", "write it in plain text (it is no secret)")
    text = str(value)
    if _TEMPLATE.search(text):
        raise _Refused(variable, f"{text!r} is a template, which halab's own commands never evaluate",
                       "write the value itself")  # fmt: skip
    if _CONTROL.search(text):
        raise _Refused(variable, "holds a control character", "remove it")
    return variable, text


def _flag(hostvars: dict[str, Any], names: tuple[str, ...], default: bool) -> bool:
    variable, text = _value(hostvars, names)
    if text is None:
        return default
    if text.lower() not in BOOLEANS:
        raise _Refused(variable, f"{text!r} is not a boolean", "write true or false")
    return BOOLEANS[text.lower()]


def _user(hostvars: dict[str, Any], names: tuple[str, ...], default: str) -> str:
    variable, text = _value(hostvars, names)
    if text is not None and not re.fullmatch(POSIX_USER, text):
        raise _Refused(variable, f"{text!r} is not a user name", "write a POSIX user name (it never starts with '-')")
    return text or default


def _ssh_words(variable: str, text: str) -> list[str]:
    """`ansible_ssh_*_args` split as Ansible splits them; every word an ssh option or its
    value, so that none can become the destination or the remote command."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise _Refused(variable, f"cannot be split into words: {exc}", "fix its quoting") from None
    needs_value = False
    for word in words:
        if needs_value:
            needs_value = False
            continue
        if not word.startswith("-") or word in ("-", "--"):
            raise _Refused(
                variable, f"{word!r} is not an ssh option", "give only options such as -o Key=value, -J host"
            )
        letters = word[1:]
        for at, letter in enumerate(letters):
            if letter in SSH_VALUED:
                needs_value = at == len(letters) - 1
                break
            if letter not in SSH_FLAGS:
                raise _Refused(variable, f"{word!r} is not an ssh option", "check `man ssh`")
    if needs_value:
        raise _Refused(variable, f"{words[-1]!r} needs a value", "add it")
    return words


def _key_and_port(hostvars: dict[str, Any]) -> list[str]:
    variable, port = _value(hostvars, PORT)
    if port is None:
        port = "22"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _Refused(variable, f"{port!r} is not a port", "write a number from 1 to 65535")
    variable, key = _value(hostvars, KEY)
    if key is not None and (not key or key.startswith("-")):
        raise _Refused(variable, f"{key!r} is not a key file", "write the key's path")
    return ["-p", port, *(["-i", os.path.expanduser(key)] if key else [])]  # as Ansible expands it


def _timeouts(hostvars: dict[str, Any]) -> list[str]:
    variable, timeout = _value(hostvars, TIMEOUT)
    if timeout is not None and not timeout.isdigit():
        raise _Refused(variable, f"{timeout!r} is not a number of seconds", "write e.g. 10")
    checking = [] if _flag(hostvars, HOST_KEY_CHECKING, True) else ["-o", "StrictHostKeyChecking=no"]
    return ["-o", f"ConnectTimeout={timeout or 5}", *checking]


def control_dir() -> Path:
    """Where the master connections' sockets live (created private by `Hosts.run`)."""
    return state_dir() / "ssh"


def _control(destination: list[str]) -> list[str]:
    """A master connection per distinct destination, kept a minute: a status that runs a
    dozen commands per host logs in once. Its socket sits in halab's private state dir,
    named by a hash of the address and every option (user, port, key, jump host), so no
    other connection ever shares it; none when that path would be too long or need quoting."""
    name = hashlib.sha256("\0".join(destination).encode()).hexdigest()[:16]
    path = f"{control_dir()}/{name}"
    if len(path) > SOCKET_PATH_MAX or not re.fullmatch(r"[A-Za-z0-9/._-]+", path):
        return []
    return ["-o", "ControlMaster=auto", "-o", f"ControlPath={path}", "-o", f"ControlPersist={CONTROL_PERSIST}"]


def ssh_prefix(hostvars: dict[str, Any]) -> list[str]:
    """ssh's command line up to the destination: Ansible's order (its settings, then the
    common args, then the extra args; ssh takes the first value of an option)."""
    variable, address = _value(hostvars, ADDRESS)
    try:
        host_address(address or "")
    except ValueError as exc:
        raise _Refused(variable, str(exc), "write the node's IPv4 address or host name") from None
    options = [*_timeouts(hostvars), *_key_and_port(hostvars)]
    for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        text = _value(hostvars, (name,))[1]
        options += _ssh_words(name, text) if text else []
    destination = [*options, "-l", _user(hostvars, USER, "root"), "--", str(address)]
    return [*SSH_BASE, *_control(destination), *destination]


@dataclass(frozen=True)
class Become:
    """sudo to `user`; with a password, sudo reads it on its standard input."""

    user: str
    password: str | None = field(default=None, repr=False)

    def argv(self, command: str) -> list[str]:
        if self.password is None:
            return ["sudo", "-H", "-n", "-u", self.user, "--", "sh", "-c", command]
        # The command itself reads nothing: the password must not reach it when sudo needs none.
        return ["sudo", "-H", "-S", "-p", "", "-u", self.user, "--", "sh", "-c", f"exec </dev/null; {command}"]


def _become_password(hostvars: dict[str, Any]) -> str | None:
    """The password as the inventory gives it: a halab secret lookup (resolved here by the
    lookup's rules) or the value itself."""
    variable = next((name for name in BECOME_PASSWORD if hostvars.get(name) is not None), None)
    if variable is None:
        return None
    if isinstance(hostvars[variable], SecretRef):
        try:
            return resolve_ref(hostvars[variable], hostvars.get("halab_secrets") or {})
        except rules().SecretError as exc:
            raise _Refused(variable, str(exc), "give the password as {env: VARIABLE} or {file: PATH}") from None
    if isinstance(hostvars[variable], VaultValue):
        raise _Refused(variable, "is an !vault value, which halab decrypts only for a run",
                       "give the password as {env: VARIABLE} or {file: PATH} in the node's connection")  # fmt: skip
    return _value(hostvars, (variable,))[1]


def _become(hostvars: dict[str, Any], local: bool) -> Become | None:
    """sudo as Ansible's become would, or None; a non-root login without become is refused
    (halab's commands need root, and the deploy would fail the same way)."""
    for variable, default in ONLY_DEFAULT.items():
        text = _value(hostvars, (variable,))[1]
        if text not in (None, default):
            raise _Refused(variable, f"{text!r} is not supported by halab's own commands", f"use {default}")
    flags = _value(hostvars, ("ansible_become_flags",))[1] or ""
    if not set(flags.split()) <= BECOME_FLAGS:
        allowed = " ".join(sorted(BECOME_FLAGS))
        raise _Refused("ansible_become_flags", f"{flags!r}: halab's own commands take only {allowed}",
                       "remove the other flags")  # fmt: skip
    if _flag(hostvars, ("ansible_become",), False):
        return Become(_user(hostvars, ("ansible_become_user",), "root"), _become_password(hostvars))
    here = "root" if os.geteuid() == 0 else "this machine's user"
    runs_as = here if local else _user(hostvars, USER, "root")
    if runs_as != "root":
        raise _Refused("ansible_become", f"is not set, and halab's commands would run as {runs_as}, not root",
                       "set ansible_become: true (sudo, with ansible_become_password or NOPASSWD)")  # fmt: skip
    return None


def sudo_refusal(rc: int, stderr: str) -> str | None:
    """sudo's own complaint (wrong or missing password, not in sudoers), which would
    otherwise read as the command failing; halab's commands never print a `sudo:` line."""
    lines = stderr.strip().splitlines()
    return lines[-1] if rc == 1 and lines and lines[-1].startswith("sudo: ") else None


@dataclass(frozen=True)
class Target:
    """How one host runs a command: over ssh (`ssh` ends with `-- ADDRESS`) or here, maybe
    through sudo."""

    ssh: list[str] | None
    become: Become | None

    def argv(self, command: str) -> list[str]:
        words = self.become.argv(command) if self.become else ["sh", "-c", command]
        if self.ssh is None:
            return words
        # The remote login shell reads one string: quoted words, or the command as it is.
        return [*self.ssh, shlex.join(words) if self.become else command]

    def stdin(self) -> str | None:
        return None if self.become is None or self.become.password is None else self.become.password + "\n"


def target_of(hostvars: dict[str, Any]) -> Target:
    """A host's Target from its merged Ansible variables; _Refused names what cannot be honoured."""
    for variable in SSH_PASSWORD:
        if hostvars.get(variable) is not None:
            raise _Refused(variable, "an SSH password is not supported by halab's own commands",
                           "log in with a key (ansible_ssh_private_key_file); sudo may keep its password")  # fmt: skip
    plugin = _value(hostvars, ("ansible_connection",))[1] or "ssh"
    if plugin not in CONNECTIONS:
        raise _Refused("ansible_connection", f"{plugin!r} is not supported by halab's own commands",
                       f"use one of {', '.join(CONNECTIONS)}")  # fmt: skip
    local = CONNECTIONS[plugin]
    return Target(None if local else ssh_prefix(hostvars), _become(hostvars, local))


def targets(cluster: Cluster) -> dict[str, Target]:
    """Every node's Target; InvalidInput (exit 2) listing each host that cannot be reached
    as its variables say, before any host is touched."""
    inventory = inventory_of(cluster)
    found, problems = {}, []
    for node in cluster.nodes:
        try:
            found[node.name] = target_of(inventory.hostvars(node.name))
        except _Refused as exc:
            where = f"the inventory {cluster.inventory_dir}" if cluster.inventory_dir else "the node's connection"
            problems.append(Problem(f"{node.name}.{exc.variable}", exc.message, f"{exc.hint} (in {where})"))
    if problems:
        raise InvalidInput(
            problems, title="cannot connect as the inventory says: fix these first (no host was touched)"
        )
    return found


class Hosts:
    """Command access to a cluster's hosts (lab or production), connected as the inventory
    says: the operator's (`--inventory`) when given, else the variables halab generates."""

    def __init__(self, cluster: Cluster) -> None:
        self.targets = targets(cluster)

    def argv(self, host: str, command: str) -> list[str]:
        return self.targets[host].argv(command)

    def run(self, host: str, command: str, timeout: float = 60) -> Result:
        target = self.targets[host]
        control_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = target.stdin()
        feed: dict[str, Any] = {"input": secret} if secret else {"stdin": subprocess.DEVNULL}  # see lab.proc.run
        try:
            done = subprocess.run(target.argv(command), capture_output=True, text=True, timeout=timeout,
                                  check=False, **feed)  # fmt: skip
        except subprocess.TimeoutExpired:
            return Result(host, 255, "", f"timed out after {timeout:.0f}s")
        refusal = sudo_refusal(done.returncode, done.stderr) if target.become else None
        if refusal:
            raise OperationFailed(f"sudo on {host} refused halab's command: {refusal} (check the become password: "
                                  "ansible_become_password, or nodes[].connection.become_password)")  # fmt: skip
        return Result(host, done.returncode, done.stdout, done.stderr)

    def run_all(self, jobs: list[tuple[str, str]], timeout: float = 15) -> dict[tuple[str, str], Result]:
        """Every (host, command) at once: one slow node does not add up."""
        if not jobs:
            return {}
        with ThreadPoolExecutor(max_workers=min(len(jobs), 16)) as pool:
            return dict(zip(jobs, pool.map(lambda job: self.run(job[0], job[1], timeout), jobs), strict=True))
