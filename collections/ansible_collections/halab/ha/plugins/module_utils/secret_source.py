# Copyright: halab contributors
# Apache-2.0
"""Where a halab secret comes from, and the format its value must have.

The one place for these rules: the `halab.ha.secret` lookup applies them when Ansible
resolves a secret (in the preflight play, before any change), and halab itself applies
them before it starts Ansible (it loads this file; it imports nothing from Ansible).

A source is a mapping: `{name, format}` plus one of `env: VARIABLE`, `file: /path`,
`vault: <decrypted by Ansible>` or `value: <plain text>` (labs only).
`{file:}` rule: a regular file, not readable by group or others, at most 64 KiB; its value
is the whole content with one final newline (LF or CRLF) removed.
"""

from __future__ import annotations

import os
import stat

MAX_FILE_BYTES = 64 * 1024
# VRRP PASS authentication: keepalived keeps 8 characters and reads the value as one
# bare word of its configuration (no blanks, no comment or quote characters).
_VRRP_FORBIDDEN = set(" #!\"'{}\\;")


class SecretError(Exception):
    """A secret that cannot be resolved or has the wrong format (the value is never in it)."""


def _line(value: str) -> str | None:
    if not value:
        return "is empty"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "holds a newline or another control character (a secret is one line)"
    return None


def _vrrp_auth_pass(value: str) -> str | None:
    problem = _line(value)
    if problem:
        return problem
    if len(value) > 8:
        return f"has {len(value)} characters; VRRP PASS authentication uses at most 8"
    if any(c in _VRRP_FORBIDDEN or ord(c) > 0x7E for c in value):
        return "may hold printable ASCII only, without blanks or any of # ! \" ' { } \\ ;"
    return None


def _ipmi_password(value: str) -> str | None:
    problem = _line(value)
    if problem:
        return problem
    if len(value.encode("utf-8")) > 20:
        return "is longer than 20 bytes, the most an IPMI 2.0 password holds"
    return None


# DRBD keeps a shared secret of at most 63 bytes (SHARED_SECRET_MAX 64 with its NUL);
# halab writes it in double quotes in the resource file.
DRBD_SECRET_MAX = 63


def _drbd_shared_secret(value: str) -> str | None:
    problem = _line(value)
    if problem:
        return problem
    if len(value.encode("utf-8")) > DRBD_SECRET_MAX:
        return f"is longer than {DRBD_SECRET_MAX} bytes, the most DRBD keeps of a shared secret"
    if any(c in '"\\' or ord(c) > 0x7E for c in value):
        return "may hold printable ASCII only, without \" or \\ (it is written in double quotes)"
    return None


FORMATS = {"line": _line, "vrrp_auth_pass": _vrrp_auth_pass, "ipmi_password": _ipmi_password,
           "drbd_shared_secret": _drbd_shared_secret}


def format_problem(value: str, fmt: str) -> str | None:
    """Why `value` does not fit format `fmt`, or None (the message never quotes the value)."""
    return FORMATS[fmt](value)


def file_problem(path: str) -> str | None:
    """Why the file of a `{file:}` secret may not be read, or None (existence not required)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_mode & 0o077:
        return f"is readable by others (mode {stat.S_IMODE(info.st_mode):04o}): chmod 600 {path}"
    return None


def read_file(path: str) -> str:
    """The value of a `{file:}` secret (see the module docstring for the rule)."""
    problem = file_problem(path)
    if problem:
        raise SecretError(f"the file {path} {problem}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SecretError(f"the file {path} cannot be read: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SecretError(f"the file {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"the file {path} is not UTF-8 text") from None
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def resolve(source: dict) -> str:
    """The secret's value, checked against its format; SecretError names the secret, never the value."""
    name = source.get("name", "a secret")
    try:
        if "env" in source:
            value = os.environ.get(str(source["env"]))
            if value is None:
                raise SecretError(f"the environment variable {source['env']} is not set")
        elif "file" in source:
            value = read_file(str(source["file"]))
        elif "vault" in source:
            value = str(source["vault"])
        elif "value" in source:
            value = str(source["value"])
        else:
            raise SecretError("has no source (env, file, vault or value)")
        problem = format_problem(value, str(source.get("format", "line")))
        if problem:
            raise SecretError(f"its value {problem}")
    except SecretError as exc:
        raise SecretError(f"secret {name}: {exc}") from None
    return value
