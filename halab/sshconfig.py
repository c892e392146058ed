"""Node connections from an OpenSSH client config, the format `vagrant ssh-config` prints.

`--ssh-config FILE` lets a cluster of Vagrant boxes (or any hosts an ssh config describes)
deploy with the same cluster file: node N takes the block `Host N` (exact, case-sensitive,
as ssh matches), and its HostName, User, Port and IdentityFile become N's connection.

The file is data, like the cluster file: bounded, read, never handed to ssh with `-F`
(ssh would then honour every key, including those that run commands or read other files).
Only a small set of keys is understood; each value is checked for the place it ends up
in (an address, a user name, a port, a path, an `-o` option), and a key that executes or
includes (`ProxyCommand`, `LocalCommand`, `Include`, `Match`, ...) is refused, as is any
value that ssh could read as an option or that holds a control character.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInput, Problem
from .formats import POSIX_USER, host_address
from .model import Cluster
from .yamlsource import read_text_file

MAX_BYTES = 256 * 1024  # `vagrant ssh-config` prints about 400 bytes per machine
TITLE = "invalid ssh-config file"

# Key (lower case) -> spelling in `-o`. Carried into ansible_ssh_common_args: they decide how
# (not where or as whom) ssh connects, and `vagrant ssh-config` prints them for good reason.
CARRIED = {
    "stricthostkeychecking": "StrictHostKeyChecking",
    "userknownhostsfile": "UserKnownHostsFile",
    "identitiesonly": "IdentitiesOnly",
    "passwordauthentication": "PasswordAuthentication",
    "pubkeyacceptedkeytypes": "PubkeyAcceptedKeyTypes",
    "pubkeyacceptedalgorithms": "PubkeyAcceptedAlgorithms",
    "hostkeyalgorithms": "HostKeyAlgorithms",
    "proxyjump": "ProxyJump",
}
# Read, checked, and left out, each for a reason.
IGNORED = {
    "loglevel": "halab sets its own (Vagrant's FATAL would hide the ssh errors halab reports)",
    "forwardagent": "a deploy needs no agent on the nodes, and forwarding hands them its keys",
    "forwardx11": "a deploy opens no X11 window",
    "forwardx11trusted": "a deploy opens no X11 window",
    "serveraliveinterval": "halab and Ansible set their own timeouts",
    "serveralivecountmax": "halab and Ansible set their own timeouts",
    "connecttimeout": "halab and Ansible set their own timeouts",
    "compression": "it changes nothing about where or as whom ssh connects",
}
# Refused: each runs a command or reads another file, which a data file may not make halab do.
REFUSED = {
    "include": "it reads other files",
    "match": "`Match exec` runs commands, and other criteria depend on more than the host's name",
    "proxycommand": "it runs a command (use ProxyJump for a jump host)",
    "localcommand": "it runs a command",
    "permitlocalcommand": "it allows LocalCommand, which runs a command",
    "remotecommand": "it runs a command on the node instead of Ansible's",
    "knownhostscommand": "it runs a command",
}
CONNECTION = ("host", "hostname", "user", "port", "identityfile")
CHOICES = {
    "stricthostkeychecking": ("yes", "no", "accept-new", "ask", "off"),
    "identitiesonly": ("yes", "no"),
    "passwordauthentication": ("yes", "no"),
}
_ALGORITHMS = re.compile(r"[+^]?[A-Za-z0-9@._,-]+")
_KEY = re.compile(r"\s*(?P<key>[A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+|$)(?P<rest>.*)")
_WORD = re.compile(r'"(?P<quoted>[^"]*)"|(?P<plain>\S+)')
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


class _Refusal(Exception):
    """One line refused: becomes a Problem naming the file's line."""

    def __init__(self, key: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.key, self.message, self.hint = key, message, hint


@dataclass
class HostBlock:
    """One `Host` block: its patterns, where it starts, and its settings in file order."""

    patterns: tuple[str, ...]
    line: int
    settings: list[tuple[str, list[str], int]] = field(default_factory=list)  # (key, words, line)

    def names(self, name: str) -> bool:
        """True when `name` is one of the block's patterns as written: a wildcard (`web*`) is
        never a node's name, and a block with a negation (`!web2`) names no node at all."""
        return not any(p.startswith("!") for p in self.patterns) and name in self.patterns


def _words(rest: str) -> list[str]:
    """The values of a line: blank-separated, double quotes group, `#` at a word's start ends it."""
    words = []
    for match in _WORD.finditer(rest):
        word = match.group("quoted") if match.group("quoted") is not None else match.group("plain")
        if match.group("plain") is not None and word.startswith("#"):
            break
        words.append(word)
    return words


def _check_words(key: str, words: list[str]) -> None:
    """What no value may be: empty, an option (leading `-`), holding a quote."""
    if not words:
        raise _Refusal(key, f"{key} has no value", f"write `{key} VALUE`")
    for word in words:
        if not word:
            raise _Refusal(key, "an empty value", "remove the line or give a value")
        if word.startswith("-"):
            raise _Refusal(key, f"{word!r} starts with '-' (ssh would read it as an option)", "remove the '-'")
        if '"' in word:
            raise _Refusal(key, f"{word!r}: a double quote inside a value", 'quote a whole value: "a value"')
    if key.lower() not in ("host", "userknownhostsfile") and len(words) > 1:
        raise _Refusal(key, f"{key} takes one value, got {len(words)}", 'quote a value with blanks: "a value"')


def _parse_line(raw: str) -> tuple[str, list[str]] | None:
    """(key, words) of one line, None for a blank line or a comment."""
    text = raw.removesuffix("\r")
    if _CONTROL.search(text):
        raise _Refusal("", "a control character (NUL, carriage return, ...) in the line", "remove it")
    if not text.strip() or text.lstrip().startswith("#"):
        return None
    match = _KEY.fullmatch(text)
    if match is None:
        raise _Refusal("", "not a `Key value` line", "write one setting per line: `Key value` or `Key=value`")
    key, words = match.group("key"), _words(match.group("rest"))
    lower = key.lower()
    if lower in REFUSED:
        raise _Refusal(key, f"{key} is refused: {REFUSED[lower]}", "remove the line")
    if lower not in (*CONNECTION, *CARRIED, *IGNORED):
        known = ", ".join(["Host", "HostName", "User", "Port", "IdentityFile", *CARRIED.values()])
        raise _Refusal(key, f"{key} is not a key halab reads", f"remove the line; halab reads {known}")
    _check_words(key, words)
    return key, words


def parse(text: str, source: str = "") -> list[HostBlock]:
    """The `Host` blocks of an ssh config; every refused line reported together (exit 2).

    Settings before the first `Host` apply to every host for ssh: they are checked and kept
    in a block of pattern `*`, which names no node.
    """
    blocks = [HostBlock(("*",), 0)]
    problems = []
    for number, raw in enumerate(text.split("\n"), start=1):
        try:
            parsed = _parse_line(raw)
            if parsed is None:
                continue
            key, words = parsed
            if key.lower() == "host":
                blocks.append(HostBlock(tuple(words), number))
            else:
                _check_value(key, words)
                blocks[-1].settings.append((key, words, number))
        except _Refusal as exc:
            problems.append(Problem(exc.key, exc.message, exc.hint, number))
    if problems:
        raise InvalidInput(problems, source, title=TITLE)
    return blocks


def _path(key: str, value: str) -> str:
    if not value.startswith(("/", "~/")):
        raise _Refusal(key, f"{value!r} is not an absolute path", "write it from / (or ~/), as Vagrant prints it")
    return value


def _port(key: str, value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 65535:
        raise _Refusal(key, f"{value!r} is not a port (1-65535)", "write the port number")
    return int(value)


def _user(key: str, value: str) -> str:
    if not re.match(POSIX_USER, value):
        raise _Refusal(key, f"{value!r} is not a user name", "a POSIX user name: [a-z_][a-z0-9_-]*")
    return value


def _host(key: str, value: str) -> str:
    try:
        return host_address(value)
    except ValueError as exc:
        raise _Refusal(key, str(exc), "write an IPv4 address or a DNS host name (no ssh %-tokens)") from None


def _jump(key: str, value: str) -> str:
    """ProxyJump: `none`, or hops `[user@]host[:port]` separated by commas."""
    if value.lower() == "none":
        return value
    for hop in value.removeprefix("ssh://").split(","):
        user, _, rest = hop.rpartition("@")
        host, _, port = rest.partition(":")
        if user:
            _user(key, user)
        _host(key, host)
        if port:
            _port(key, port)
    return value


def _check_value(key: str, words: list[str]) -> None:
    """Each value checked for the place it ends up in (see the module docstring)."""
    lower, value = key.lower(), words[0]
    checks = {"hostname": _host, "user": _user, "port": _port, "identityfile": _path, "proxyjump": _jump}
    if lower in checks:
        checks[lower](key, value)
    elif lower == "userknownhostsfile":
        for word in words:
            _path(key, word)
    elif lower in CHOICES and value.lower() not in CHOICES[lower]:
        raise _Refusal(key, f"{value!r} is not one of {', '.join(CHOICES[lower])}", "use one of the values listed")
    elif lower.endswith(("algorithms", "keytypes")) and not _ALGORITHMS.fullmatch(value):
        raise _Refusal(key, f"{value!r} is not a list of algorithms", "write e.g. +ssh-rsa")


def _option(key: str, words: list[str]) -> list[str]:
    """`-o Key=value` for ssh: a value with blanks in double quotes, as ssh's own parser reads it."""
    value = " ".join(f'"{w}"' if re.search(r"\s", w) else w for w in words)
    return ["-o", f"{CARRIED.get(key.lower(), key)}={value}"]


def host_vars(block_settings: list[tuple[str, list[str], int]]) -> dict[str, Any]:
    """Ansible connection variables of a node from its settings (the first value of a key
    wins, as in ssh; every IdentityFile is tried in order: the first is Ansible's key, the
    others follow as `-o IdentityFile=` options)."""
    seen: set[str] = set()
    out: dict[str, Any] = {}
    options: list[str] = []
    variables = {"hostname": "ansible_host", "user": "ansible_user", "port": "ansible_port"}
    for key, words, _ in block_settings:
        lower = key.lower()
        if lower == "identityfile":
            if "ansible_ssh_private_key_file" in out:
                options += _option("IdentityFile", words)
            else:
                out["ansible_ssh_private_key_file"] = words[0]
        elif lower in seen or lower in IGNORED:
            continue
        elif lower in variables:
            out[variables[lower]] = int(words[0]) if lower == "port" else words[0]
        else:
            options += _option(key, words)
        seen.add(lower)
    if options:
        out["ansible_ssh_common_args"] = shlex.join(options)
    return out


def node_connections(cluster: Cluster, blocks: list[HostBlock], source: str = "") -> dict[str, dict[str, Any]]:
    """Connection variables per node from the blocks naming it; exit 2 naming each node without one."""
    problems = []
    out = {}
    for index, node in enumerate(cluster.nodes):
        mine = [block for block in blocks if block.names(node.name)]
        if not mine:
            problems.append(
                Problem(f"nodes[{index}]", f"no `Host {node.name}` block for node {node.name}",
                        "write the file with `vagrant ssh-config > FILE` or add a `Host` block named after the node"
                        " (wildcard blocks name no node)")
            )  # fmt: skip
            continue
        out[node.name] = host_vars([setting for block in mine for setting in block.settings])
    if problems:
        raise InvalidInput(problems, source, title=TITLE)
    return out


def load(path: str | Path, cluster: Cluster) -> dict[str, dict[str, Any]]:
    """Read an ssh-config file (a regular file of at most MAX_BYTES) and give each node of
    `cluster` its connection variables."""
    text = read_text_file(path, MAX_BYTES, kind="ssh-config file")
    return node_connections(cluster, parse(text, str(path)), str(path))
