"""Value formats of the cluster file, each named after the file format it ends up in.

A value is checked for the place it is written to: a path that Apache, DRBD or a mount
reads, a command keepalived runs, an attribute Pacemaker stores, an address ssh connects
to. What a target format cannot hold (a newline in a configuration line, a quote inside
a quoted string, `..` in a path, a leading `-` that a command would read as an option) is
refused here, so the templates never have to guess.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, Strict, WithJsonSchema


def _written(value: object) -> object:
    """An address is written as text: 3232235777 or `true` are not addresses."""
    if isinstance(value, str | IPv4Address | IPv4Network):
        return value
    raise ValueError("write the address as text, e.g. 198.18.0.10 or 198.18.0.0/24")


Address = Annotated[IPv4Address, BeforeValidator(_written), Strict(False)]
"""An IPv4 address, written as a string (the one value that is parsed, not taken as is)."""
Subnet = Annotated[IPv4Network, BeforeValidator(_written), Strict(False)]
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Number = Annotated[float, Strict()]


def ranged(low: int, high: int) -> object:
    """A strict integer in [low, high] (`true` is not 1, `"80"` is not 80)."""
    return Annotated[int, Strict(), Field(ge=low, le=high)]


Port = ranged(1, 65535)

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9._@+~-]+$")


def _single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be one line without control characters (no newline or tab)")
    return value


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path (start it with /)")
    segments = value[1:].rstrip("/").split("/") if value != "/" else []
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValueError(f"{value!r} is not a normalized path (no '//', '.' or '..')")
        if not _PATH_SEGMENT.match(segment):
            raise ValueError(f"{value!r}: path segments may hold letters, digits and ._@+~- only")
    return value


def _url_path(value: str) -> str:
    if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", value) or "/../" in value + "/" or "//" in value:
        raise ValueError(f"{value!r} is not a URL path (/, letters, digits, ._~- ; no '..' or '//')")
    return value


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _command(value: str) -> str:
    _single_line(value)
    if '"' in value or "\\" in value:
        raise ValueError('keepalived writes the command in double quotes: no " or \\ in it')
    if not value.startswith("/"):
        raise ValueError(f"{value!r}: start the command with its absolute path")
    return value


def host_address(value: str) -> str:
    """`value` if it is an IPv4 address or a DNS host name, else ValueError."""
    try:
        IPv4Address(value)
        return value
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(value):
        raise ValueError(f"{value!r} is neither an IPv4 address nor a host name")
    if re.fullmatch(r"[0-9.]+", value):
        raise ValueError(f"{value!r} is not a valid IPv4 address")
    return value


Line = Annotated[str, AfterValidator(_single_line)]
"""Text written on one line of a configuration file or as an XML attribute."""
AbsolutePath = Annotated[str, AfterValidator(_absolute_path), WithJsonSchema({"type": "string", "pattern": "^/"})]
"""A normalized absolute path on the nodes (no `..`, no spaces or quotes)."""
UrlPath = Annotated[str, AfterValidator(_url_path), WithJsonSchema({"type": "string", "pattern": "^/"})]
Text = Annotated[str, AfterValidator(_text)]
"""Free text written as a whole file (any characters but NUL)."""
Command = Annotated[str, AfterValidator(_command)]
"""A command line keepalived runs: absolute program path, arguments, no quotes."""
HostAddress = Annotated[str, AfterValidator(host_address)]
"""An IPv4 address or a DNS host name (never something ssh or an agent reads as an option)."""
POSIX_USER = r"^[a-z_][a-z0-9_-]{0,31}$"
"""A user name as useradd takes it (so never read as an ssh option)."""
PosixUser = Annotated[str, Field(pattern=POSIX_USER)]
Interface = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$")]
"""A Linux interface name (at most 15 characters; never `.`, `..` or an option-like `-x`)."""
ParamName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.:-]{0,127}$")]
"""A Pacemaker nvpair name (instance, meta, property, operation attribute)."""
_INTERVAL = re.compile(
    r"^([0-9]+(ms|msec|us|usec|s|sec|m|min|h|hr)?|P(?=.)([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+S)?)?)$"
)


def _interval(value: str) -> str:
    if not _INTERVAL.match(value):
        raise ValueError(f"{value!r} is not a Pacemaker interval (10s, 500ms, 2min, 1h, PT30S)")
    return value


_MICROSECONDS = {"us": 1, "usec": 1, "ms": 1000, "msec": 1000, "": 10**6, "s": 10**6, "sec": 10**6,
                 "m": 60 * 10**6, "min": 60 * 10**6, "h": 3600 * 10**6, "hr": 3600 * 10**6}  # fmt: skip
_ISO_MICROSECONDS = {"D": 86400 * 10**6, "H": 3600 * 10**6, "M": 60 * 10**6, "S": 10**6}


def interval_us(value: str) -> int:
    """A valid Pacemaker interval in microseconds: Pacemaker compares `10s` and `10000ms` as one."""
    if value.startswith("P"):
        return sum(int(n) * _ISO_MICROSECONDS[unit] for n, unit in re.findall(r"([0-9]+)([DHMS])", value))
    number, unit = re.fullmatch(r"([0-9]+)([a-z]*)", value).groups()  # type: ignore[union-attr]
    return int(number) * _MICROSECONDS[unit]


Interval = Annotated[str, AfterValidator(_interval)]
"""A Pacemaker interval or timeout: 10s, 500ms, 2min, 1h, or ISO 8601 (PT30S)."""
MountOptions = Annotated[str, Field(pattern=r"^[A-Za-z0-9_=.:/@+-]+(,[A-Za-z0-9_=.:/@+-]+)*$")]
Rate = Annotated[str, Field(pattern=r"^[0-9]+[KMG]?$")]
"""A DRBD rate, e.g. 100M."""
DevicePath = Annotated[str, AfterValidator(_absolute_path), Field(pattern=r"^/dev/")]

ISO_DURATION = re.compile(
    r"^P(?=.)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+S)?)?$"
)
"""An ISO 8601 duration as Pacemaker's `crm_resource --lifetime` takes it (PT1H, P1DT12H)."""

_VAULT_HEADER = re.compile(r"^\$ANSIBLE_VAULT;1\.[12];AES256(;[A-Za-z0-9_.@-]+)?$")


def vault_problem(text: str) -> str | None:
    """Why `text` is not Ansible Vault ciphertext (`ansible-vault encrypt_string` output), or None.

    Checks the envelope without the password: header, hex body, and the salt, HMAC and
    ciphertext fields inside it, so a pasted fragment or junk is refused at validation.
    """
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or not _VAULT_HEADER.match(lines[0]):
        return "does not start with a $ANSIBLE_VAULT;1.1;AES256 header"
    body = "".join(lines[1:])
    if not body or not re.fullmatch(r"([0-9a-fA-F]{2})+", body):
        return "the body after the header is not hexadecimal"
    fields = bytes.fromhex(body).decode("ascii", errors="replace").split("\n")
    if len(fields) != 3 or not all(re.fullmatch(r"([0-9a-f]{2})+", f) for f in fields):
        return "the body does not hold salt, HMAC and ciphertext (is it truncated?)"
    salt, hmac, ciphertext = fields
    if len(salt) != 64 or len(hmac) != 64 or len(ciphertext) % 32:
        return "the salt, HMAC or ciphertext has the wrong length (is it truncated?)"
    return None
