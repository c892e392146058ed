"""Turn a parsed document into a `Cluster`, or into a list of problems with field paths.

Pydantic's errors are rewritten for people: union branches are collapsed to the one that
got furthest, unknown keys get a "did you mean", and every problem carries the line and
column it came from. Cross-field rules then run from `halab.semantics`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import InvalidInput, Problem
from .model import Cluster
from .yamlsource import Positions

Path = tuple[str | int, ...]

_RESOURCE_TAGS = {"ip", "apache", "filesystem", "primitive", "group", "clone"}
_BRANCH_WORDS = {
    "EnvSecret": "{env: VARIABLE}",
    "FileSecret": "{file: PATH}",
    "function-plain[_vault_value()]": "an !vault value",
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true/false",
    "none": "null",
}


def format_path(path: Path) -> str:
    """('nodes', 1, 'addresses', 'lan') -> 'nodes[1].addresses.lan'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_branch(loc: tuple, index: int) -> bool:
    part = loc[index]
    if not isinstance(part, str):
        return False
    if loc[0] == "resources" and index == 2 and part in _RESOURCE_TAGS:
        return True
    return part in _BRANCH_WORDS or part[:1].isupper() or "[" in part


def _describe_branch(tag: str) -> str:
    if tag.startswith("literal["):
        return tag[len("literal[") : -1]
    return _BRANCH_WORDS.get(tag, f"a mapping ({tag})" if tag[:1].isupper() else tag)


def _field_names(loc: tuple) -> list[str]:
    """Allowed keys of the model that an extra_forbidden error at `loc` sits in."""
    annotation: Any = Cluster
    for index, part in enumerate(loc[:-1]):
        model = _as_model(annotation, part if _is_branch(loc, index) else None)
        if _is_branch(loc, index):
            annotation = model or annotation
            continue
        if isinstance(part, int):
            annotation = _item_type(annotation)
        elif model is not None and part in _by_alias(model):
            annotation = _by_alias(model)[part]
        else:
            annotation = _value_type(annotation)
    model = _as_model(annotation, None)
    return list(_by_alias(model)) if model else []


def _by_alias(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _flatten(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [leaf for arg in typing.get_args(annotation) for leaf in _flatten(arg)]
    return [annotation]


def _as_model(annotation: Any, tag: str | int | None) -> type[BaseModel] | None:
    models = [a for a in _flatten(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    for model in models:
        type_field = model.model_fields.get("type")
        if tag in (model.__name__, *(typing.get_args(type_field.annotation) if type_field else ())):
            return model
    return models[0] if len(models) == 1 else None


def _item_type(annotation: Any) -> Any:
    for leaf in _flatten(annotation):
        if typing.get_origin(leaf) is list:
            return typing.get_args(leaf)[0]
    return annotation


def _value_type(annotation: Any) -> Any:
    for leaf in _flatten(annotation):
        if typing.get_origin(leaf) is dict:
            return typing.get_args(leaf)[1]
    return annotation


def _problem_for(error: dict[str, Any], path: Path) -> Problem:
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = _field_names(loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return Problem(format_path(path), f"unknown key '{loc[-1]}'", hint)
    if kind == "missing":
        return Problem(format_path(path), "required field is missing", f"add '{loc[-1]}'")
    if kind == "union_tag_invalid":
        return Problem(
            format_path((*path, "type")),
            f"unknown resource type {ctx.get('tag')!r}",
            f"use one of: {ctx.get('expected_tags')}",
        )
    if kind == "union_tag_not_found":
        return Problem(
            format_path(path),
            "resource has no 'type'",
            "add type: ip | apache | filesystem | primitive | group | clone",
        )
    if kind == "string_pattern_mismatch":
        return Problem(
            format_path(path), f"{error['input']!r} has the wrong form", f"it must match {ctx.get('pattern')}"
        )
    message = error["msg"].removeprefix("Value error, ")
    return Problem(format_path(path), message, _HINTS.get(kind, "see `halab schema` for the allowed values"))


_HINTS = {
    "ip_v4_address": "write a dotted IPv4 address, e.g. 198.18.0.10",
    "ip_v4_network": "write a network with zero host bits, e.g. 198.18.0.0/24",
    "ip_v4_interface": "write an address with prefix, e.g. 198.18.0.10/24",
    "literal_error": "use one of the values listed",
    "less_than_equal": "use a smaller value",
    "greater_than_equal": "use a larger value",
    "greater_than": "use a larger value",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "int_from_float": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write a string (quote it)",
    "dict_type": "write a mapping (key: value)",
    "list_type": "write a list ([a, b] or '- item' lines)",
    "model_type": "write a mapping (key: value)",
    "model_attributes_type": "write a mapping (key: value)",
    "too_short": "add at least one item",
    "too_long": "remove items",
}
SECRET_HINT = "write {env: VARIABLE}, {file: PATH} or an !vault value"


def _humanize(errors: list[dict[str, Any]]) -> list[tuple[Path, Problem]]:
    """Collapse union branches (keep the one that got furthest) and word each error."""
    by_union: dict[Path, list[dict[str, Any]]] = defaultdict(list)
    plain: list[dict[str, Any]] = []
    for error in errors:
        loc = error["loc"]
        branch_at = next((i for i in range(len(loc)) if _is_branch(loc, i)), None)
        if branch_at is None or (loc[0] == "resources" and branch_at == 2):
            plain.append(error)
        else:
            by_union[loc[:branch_at]].append(error)
    out = [(_clean(e["loc"]), _problem_for(e, _clean(e["loc"]))) for e in plain]
    for union_path, branch_errors in by_union.items():
        depth = len(union_path) + 1
        branches: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for error in branch_errors:
            branches[error["loc"][depth - 1]].append(error)
        deep = {tag: errs for tag, errs in branches.items() if max(len(e["loc"]) for e in errs) > depth}
        if "EnvSecret" in branches:
            path = _clean(union_path)
            out.append((path, Problem(format_path(path), "not a secret reference", SECRET_HINT)))
        elif deep:
            tag = min(deep, key=lambda t: (-max(len(e["loc"]) for e in deep[t]), len(deep[t])))
            out += [(_clean(e["loc"]), _problem_for(e, _clean(e["loc"]))) for e in deep[tag]]
        else:
            path = _clean(union_path)
            expected = " or ".join(_describe_branch(str(tag)) for tag in branches)
            out.append((path, Problem(format_path(path), "value has the wrong type", f"expected {expected}")))
    return out


def _clean(loc: tuple) -> Path:
    return tuple(part for index, part in enumerate(loc) if not _is_branch(loc, index))


def _locate(problem: Problem, path: Path, positions: Positions) -> Problem:
    probe = path
    while probe and probe not in positions:
        probe = probe[:-1]
    line, column = positions.get(probe, (None, None))
    return Problem(problem.path, problem.message, problem.hint, line, column)


def validate_document(data: Any, positions: Positions, source: str = "") -> Cluster:
    """Validate parsed YAML: schema first, then (if the schema holds) the semantic rules."""
    from .semantics import check_semantics

    if not isinstance(data, dict):
        raise InvalidInput(
            [
                Problem(
                    "",
                    "the file must be a YAML mapping (name:, networks:, nodes:, ...)",
                    "see docs/cluster-yaml.md or `halab schema`",
                    1,
                    1,
                )
            ],
            source,
        )
    try:
        cluster = Cluster.model_validate(data)
    except ValidationError as exc:
        located = [_locate(p, path, positions) for path, p in _humanize(exc.errors())]
        raise InvalidInput(_unique(located), source) from None
    problems = [
        _locate(Problem(format_path(path), message, hint), path, positions)
        for path, message, hint in check_semantics(cluster)
    ]
    if problems:
        raise InvalidInput(_unique(problems), source)
    return cluster


def _unique(problems: list[Problem]) -> list[Problem]:
    return sorted(set(problems), key=lambda p: (p.line or 0, p.column or 0, p.path, p.message))
