"""Strict, bounded YAML loading: positions kept for error messages, hostile input refused.

A cluster file is read by people and machines alike, so the loader makes YAML say one
thing only:
- YAML 1.2 core scalars: only `true`/`false` are booleans (`on`, `yes` stay strings),
  `010` is ten, `1:20` is a string, dates are strings;
- mapping keys are plain scalars, each at most once per mapping; merge keys (`<<`) work;
- limits on size, nesting and alias expansion (an alias bomb is refused, not expanded);
- only regular files are read.
Every refusal is an `InvalidInput` naming the field path and position. Secrets may be
written as Ansible Vault values (`!vault |`); they load as `VaultValue`.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput, Problem, format_path

Positions = dict[tuple[str | int, ...], tuple[int, int]]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 50_000  # after alias expansion; a 64-node cluster file has about 3,000
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class VaultValue:
    """An Ansible Vault encrypted string, kept encrypted end to end."""

    ciphertext: str


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader (libyaml when available) with YAML 1.2 core scalars and `!vault`."""

    yaml_implicit_resolvers: dict = {}  # noqa: RUF012 -- replaced below, not shared with SafeLoader


_CORE_SCALARS = (
    ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("tag:yaml.org,2002:int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
        "-+.0123456789",
    ),
    ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    (MERGE_TAG, r"<<", "<"),
)
for _tag, _pattern, _first in _CORE_SCALARS:
    _Loader.add_implicit_resolver(_tag, re.compile(rf"^(?:{_pattern})$"), list(_first))


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    return float(text.replace(".inf", "inf").replace(".nan", "nan"))


def _construct_bool(loader: _Loader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


def _construct_vault(loader: _Loader, node: yaml.Node) -> VaultValue:
    return VaultValue(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
_Loader.add_constructor("!vault", _construct_vault)


class _Refusal(Exception):
    def __init__(self, node: yaml.Node, path: tuple, message: str, hint: str) -> None:
        super().__init__(message)
        mark = node.start_mark
        self.problem = Problem(format_path(path), message, hint, mark.line + 1, mark.column + 1)


@dataclass
class _Walk:
    """One pass over the node graph: checks every rule above, records positions."""

    positions: Positions

    def node(self, node: yaml.Node, path: tuple, active: frozenset[int]) -> None:
        if len(path) > MAX_DEPTH:
            raise _Refusal(node, path, f"nesting deeper than {MAX_DEPTH} levels", "flatten the structure")
        if id(node) in active:
            raise _Refusal(node, path, "an alias refers to a node that contains it", "remove the recursive alias")
        self.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        inner = active | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.node(item, (*path, index), inner)
        elif isinstance(node, yaml.MappingNode):
            for key, key_node, value in self.entries(node, path, inner):
                self.positions[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                self.node(value, (*path, key), inner)

    def entries(self, node: yaml.MappingNode, path: tuple, active: frozenset[int]) -> list[tuple]:
        """(key, key node, value node) of a mapping: explicit keys first, then merged ones."""
        explicit: dict[str, yaml.Node] = {}
        out: list[tuple] = []
        merged: list[yaml.MappingNode] = []
        for key_node, value in node.value:
            if key_node.tag == MERGE_TAG:
                merged += self.merge_sources(value, path, active)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refusal(key_node, path, "a mapping key must be a plain value, not a list or mapping",
                               "write the key as a word or a quoted string")  # fmt: skip
            key = key_node.value
            if key in explicit:
                first = explicit[key].start_mark.line + 1
                raise _Refusal(key_node, (*path, key), f"duplicate key {key!r} (first defined on line {first})",
                               "a key may appear once per mapping: merge or rename the two")  # fmt: skip
            explicit[key] = key_node
            out.append((key, key_node, value))
        seen = set(explicit)
        for source in merged:
            for key, key_node, value in self.entries(source, path, active | {id(source)}):
                if key not in seen:
                    seen.add(key)
                    out.append((key, key_node, value))
        return out

    def merge_sources(self, value: yaml.Node, path: tuple, active: frozenset[int]) -> list[yaml.MappingNode]:
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        if not all(isinstance(s, yaml.MappingNode) for s in sources):
            raise _Refusal(value, path, "a merge key (<<) takes a mapping or a list of mappings",
                           "write `<<: *anchor` with an anchor on a mapping")  # fmt: skip
        for source in sources:
            if id(source) in active:
                raise _Refusal(source, path, "a merge key refers to a mapping that contains it",
                               "remove the recursive merge")  # fmt: skip
        return sources


def _expanded_size(root: yaml.Node) -> int:
    """Values the document has once every alias is expanded (shared nodes counted once each)."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack, seen = [root], set()
    while stack:  # children before parents, without recursion; cycles are the walk's to report
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack += _children(node)
    for node in reversed(order):
        sizes[id(node)] = min(1 + sum(sizes.get(id(child), 1) for child in _children(node)), MAX_NODES + 1)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _syntax_problem(exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        detail = str(exc.problem or exc.context)
        hint = "fix the YAML at this position (indentation, quoting, a missing ':')"
        return Problem("", f"YAML syntax: {detail}", hint, mark.line + 1 if mark else None,
                       mark.column + 1 if mark else None)  # fmt: skip
    return Problem("", f"YAML: {exc}", "fix the YAML syntax")


def load_yaml(text: str, source: str = "") -> tuple[Any, Positions]:
    """Parse one YAML document; return the data and a map from field path to (line, column)."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise InvalidInput([Problem("", f"the document is larger than {MAX_BYTES // 1024} KiB",
                                    "a cluster file is a few KiB: is this the right file?")], source)  # fmt: skip
    loader = _Loader(text)
    positions: Positions = {}
    try:
        node = loader.get_single_node()
        if node is None:
            return None, positions
        if _expanded_size(node) > MAX_NODES:
            raise _Refusal(node, (), f"the document expands to more than {MAX_NODES} values",
                           "anchors and aliases may not multiply the document (an alias bomb?)")  # fmt: skip
        _Walk(positions).node(node, (), frozenset())
        return loader.construct_document(node), positions
    except _Refusal as exc:
        raise InvalidInput([exc.problem], source) from None
    except yaml.YAMLError as exc:
        raise InvalidInput([_syntax_problem(exc)], source) from None
    finally:
        loader.dispose()


def read_text_file(path: str | Path, limit: int = MAX_BYTES, kind: str = "cluster file") -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes; anything else is an input error
    (its hints name `kind`, what the file should be)."""

    def refuse(message: str, hint: str) -> InvalidInput:
        return InvalidInput([Problem("", message, hint)], str(path), title=f"invalid {kind}")

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise refuse(f"cannot read the file: {exc.strerror}", "check the path") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise refuse("not a regular file", f"give the path of a {kind}")
        if info.st_size > limit:
            raise refuse(f"the file is {info.st_size} bytes; at most {limit} are read",
                         f"a {kind} is a few KiB: is this the right file?")  # fmt: skip
        data = handle.read(limit + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("not UTF-8 text", "save the file as UTF-8") from None


def load_yaml_file(path: str | Path) -> tuple[Any, Positions]:
    """Read and parse a YAML file (see `read_text_file` and `load_yaml`)."""
    return load_yaml(read_text_file(path), str(path))
