"""Turn a cluster file into a `Cluster`, or into a list of problems with field paths.

Pydantic's errors are rewritten for people: each error location is walked against the
model's own annotations, so union branches (`EnvSecret`, `constrained-int`, ...) never
show up in a path; of a union's branches only the one that got furthest is reported;
unknown keys get a "did you mean"; every problem carries the line and column it came
from. Cross-field rules then run from `halab.semantics`.
"""

from __future__ import annotations

import difflib
import sys
import types
import typing
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import FieldPath, InvalidInput, Problem, Warnings, format_path
from .model import Cluster
from .semantics import check_semantics, check_warnings
from .yamlsource import Positions, load_yaml_file

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
# Errors saying a mapping has other keys than a model: the value is not that kind of thing.
_SHAPE_ERRORS = {"missing", "extra_forbidden", "model_type", "model_attributes_type"}
SECRET_HINT = "write {env: VARIABLE}, {file: /absolute/path} or an !vault value"
_HINTS = {
    "ip_v4_address": "write a dotted IPv4 address, e.g. 198.18.0.10",
    "ip_v4_network": "write a network with zero host bits, e.g. 198.18.0.0/24",
    "literal_error": "use one of the values listed",
    "less_than_equal": "use a smaller value",
    "greater_than_equal": "use a larger value",
    "greater_than": "use a larger value",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number (not quoted, not true/false)",
    "int_from_float": "write a whole number",
    "float_type": "write a number (not quoted)",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false (yes/no/on/off are strings in halab's YAML)",
    "string_type": "write a string (quote it)",
    "dict_type": "write a mapping (key: value)",
    "list_type": "write a list ([a, b] or '- item' lines)",
    "model_type": "write a mapping (key: value)",
    "model_attributes_type": "write a mapping (key: value)",
    "too_short": "add at least one item",
    "too_long": "remove items",
    "value_error": "see docs/cluster-yaml.md for the format of this field",
}


def _flatten(annotation: Any) -> list[Any]:
    """The alternatives of an annotation (Annotated and Optional unwrapped, None dropped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [leaf for arg in typing.get_args(annotation) if arg is not type(None) for leaf in _flatten(arg)]
    return [annotation]


def _model(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _by_alias(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _branch(alternatives: list[Any], tag: Any) -> Any:
    """The union alternative a pydantic branch tag names (model name or discriminator value)."""
    for alternative in alternatives:
        model = _model(alternative)
        if model is None:
            continue
        type_field = model.model_fields.get("type")
        if tag == model.__name__ or (type_field and tag in typing.get_args(type_field.annotation)):
            return model
    return None


def classify(loc: tuple) -> tuple[FieldPath, list[int], Any]:
    """Walk a pydantic error location against the model.

    Returns the field path (union branch tags removed), the positions of those tags in
    `loc`, and the annotation the location ends at (for the keys an unknown key could be).
    """
    annotation: Any = Cluster
    path: list[str | int] = []
    branches: list[int] = []
    for index, part in enumerate(loc):
        alternatives = _flatten(annotation)
        if len(alternatives) > 1:
            branches.append(index)
            annotation = _branch(alternatives, part)
            continue
        leaf = alternatives[0] if alternatives else None
        model, origin = _model(leaf), typing.get_origin(leaf)
        if part == "[key]":
            continue
        path.append(part)
        if model is not None:
            annotation = _by_alias(model).get(part)
        elif origin is list:
            annotation = typing.get_args(leaf)[0]
        elif origin is dict:
            annotation = typing.get_args(leaf)[1]
        else:
            annotation = None
    return tuple(path), branches, annotation


def _describe_branch(tag: str) -> str:
    if tag.startswith("literal["):
        return tag[len("literal[") : -1]
    if tag.startswith(("constrained-int", "strict-int")):
        return "an integer"
    return _BRANCH_WORDS.get(tag, f"a mapping ({tag})" if tag[:1].isupper() else tag)


def _problem_for(error: dict[str, Any]) -> tuple[FieldPath, Problem]:
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx") or {}
    path, _, _ = classify(loc)
    where = format_path(path)
    if kind == "extra_forbidden":
        _, _, container = classify(loc[:-1])
        allowed = [key for alt in _flatten(container) if (model := _model(alt)) for key in _by_alias(model)]
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return path, Problem(where, f"unknown key '{loc[-1]}'", hint)
    if kind == "missing":
        return path, Problem(where, "required field is missing", f"add '{loc[-1]}'")
    if kind == "union_tag_invalid":
        return (*path, "type"), Problem(
            format_path((*path, "type")),
            f"unknown resource type {ctx.get('tag')!r}",
            f"use one of: {ctx.get('expected_tags')}",
        )
    if kind == "union_tag_not_found":
        hint = "add type: ip | apache | filesystem | primitive | group | clone"
        return path, Problem(where, "resource has no 'type'", hint)
    if kind == "string_pattern_mismatch":
        return path, Problem(where, f"{error['input']!r} has the wrong form", f"it must match {ctx.get('pattern')}")
    message = error["msg"].removeprefix("Value error, ")
    return path, Problem(where, message, _HINTS.get(kind, "see `halab schema` for the allowed values"))


def _humanize(errors: list[dict[str, Any]], start: int = 0) -> list[tuple[FieldPath, Problem]]:
    """One problem per real mistake: of a union's branches, report the one that got furthest.

    Unions nest (a secret inside a fence device inside `fencing: disabled | {devices}`):
    errors are grouped at the first union after `start`, one branch is chosen, and its
    errors are grouped again at the next union inside it.
    """
    by_union: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    out: list[tuple[FieldPath, Problem]] = []
    for error in errors:
        branch = next((b for b in classify(error["loc"])[1] if b >= start), None)
        if branch is None:
            out.append(_problem_for(error))
        else:
            by_union[error["loc"][:branch]].append(error)
    for union_loc, branch_errors in by_union.items():
        depth = len(union_loc) + 1
        tags: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for error in branch_errors:
            tags[str(error["loc"][depth - 1])].append(error)
        deep = {tag: errs for tag, errs in tags.items() if max(len(e["loc"]) for e in errs) > depth}
        limits = [e for e in branch_errors if len(e["loc"]) == depth and not _is_type_error(e["type"])]
        path = classify(union_loc)[0]
        if len(tags) == 1:
            out += _humanize(branch_errors, depth)
        elif "EnvSecret" in tags and not limits and all(
            e["type"] in _SHAPE_ERRORS for errs in deep.values() for e in errs
        ):
            out.append((path, Problem(format_path(path), "not a secret reference", SECRET_HINT)))
        elif deep:
            tag = min(deep, key=lambda t: (-max(len(e["loc"]) for e in deep[t]), len(deep[t])))
            out += _humanize(deep[tag], depth)
        elif limits:  # the branch of the right type refused the value: say why
            out.append(_problem_for(limits[0]))
        else:
            expected = " or ".join(dict.fromkeys(_describe_branch(tag) for tag in tags))
            out.append((path, Problem(format_path(path), "value has the wrong type", f"expected {expected}")))
    return out


def _is_type_error(kind: str) -> bool:
    """The value is of another kind than the branch (as opposed to out of its range or form)."""
    return kind.endswith(("_type", "_parsing")) or kind in ("literal_error", "is_instance_of")


def _locate(problem: Problem, path: FieldPath, positions: Positions) -> Problem:
    probe = path
    while probe and probe not in positions:
        probe = probe[:-1]
    line, column = positions.get(probe, (None, None))
    return Problem(problem.path, problem.message, problem.hint, line, column)


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def validate_document(
    data: Any, positions: Positions, source: str = "", warn: Callable[[str], None] = _to_stderr
) -> Cluster:
    """Validate parsed YAML: schema first, then (if the schema holds) the semantic rules;
    a valid file's warnings go to `warn` (stderr), they do not fail it."""
    if not isinstance(data, dict):
        raise InvalidInput(
            [Problem("", "the file must be a YAML mapping (name:, networks:, nodes:, ...)",
                     "see docs/cluster-yaml.md or `halab schema`", 1, 1)],
            source,
        )  # fmt: skip
    try:
        cluster = Cluster.model_validate(data)
    except ValidationError as exc:
        located = [_locate(problem, path, positions) for path, problem in _humanize(exc.errors())]
        raise InvalidInput(_unique(located), source) from None
    problems = [
        _locate(Problem(format_path(path), message, hint), path, positions)
        for path, message, hint in check_semantics(cluster)
    ]
    if problems:
        raise InvalidInput(_unique(problems), source)
    warnings = [
        _locate(Problem(format_path(path), message, hint), path, positions)
        for path, message, hint in check_warnings(cluster)
    ]
    if warnings:
        warn(Warnings(_unique(warnings), source).render())
    return cluster


def load_cluster(path: str | Path, warn: Callable[[str], None] = _to_stderr) -> Cluster:
    """Read, parse and validate a cluster file; raise InvalidInput listing every problem."""
    data, positions = load_yaml_file(path)
    return validate_document(data, positions, str(path), warn)


def _unique(problems: list[Problem]) -> list[Problem]:
    return sorted(set(problems), key=lambda p: (p.line or 0, p.column or 0, p.path, p.message))
