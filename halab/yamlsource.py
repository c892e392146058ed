"""Strict YAML loading: duplicate keys rejected, positions kept for error messages.

Secrets may be written as Ansible Vault values (`!vault |`); they load as `VaultValue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput, Problem

Positions = dict[tuple[str | int, ...], tuple[int, int]]


@dataclass(frozen=True)
class VaultValue:
    """An Ansible Vault encrypted string, kept encrypted end to end."""

    ciphertext: str


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader (libyaml when available) that refuses duplicate keys and knows `!vault`."""


def _construct_vault(loader: _Loader, node: yaml.Node) -> VaultValue:
    return VaultValue(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            first = seen[key].start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first defined on line {first})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor("!vault", _construct_vault)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _positions(node: yaml.Node, path: tuple[str | int, ...], out: Positions) -> None:
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            _positions(value_node, (*path, key), out)
            out[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _positions(item, (*path, index), out)


def load_yaml(text: str, source: str = "") -> tuple[Any, Positions]:
    """Parse one YAML document; return the data and a map from field path to (line, column)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = str(exc.problem or exc.context)
        duplicate = detail.startswith("duplicate key")
        problem = Problem(
            path="",
            message=detail if duplicate else f"YAML syntax: {detail}",
            hint="a key may appear once per mapping: merge or rename the two"
            if duplicate
            else "fix the YAML at this position (indentation, quoting, a missing ':')",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )
        raise InvalidInput([problem], source) from None
    except yaml.YAMLError as exc:
        raise InvalidInput([Problem("", f"YAML: {exc}")], source) from None
    finally:
        loader.dispose()
    positions: Positions = {}
    if node is not None:
        _positions(node, (), positions)
    return data, positions


def load_yaml_file(path: str | Path) -> tuple[Any, Positions]:
    """Read and parse a YAML file; unreadable files are input errors too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InvalidInput([Problem("", f"cannot read the file: {reason}", "check the path")], str(path)) from None
    return load_yaml(text, str(path))
