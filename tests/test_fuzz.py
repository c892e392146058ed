"""Property tests: random and mutated cluster files never end in a traceback, and what
validates reaches the inventory as data (template syntax only ever tagged !unsafe)."""

from __future__ import annotations

import contextlib
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halab.errors import InvalidInput
from halab.inventory import build_inventory, to_yaml
from halab.validation import validate_document
from halab.yamlsource import load_yaml

from .conftest import EXAMPLES

DOCUMENTS = [yaml.safe_load(path.read_text()) for path in EXAMPLES]

# Template and shell syntax, whole or as pieces of other strings.
HOSTILE = ["{{ lookup('pipe', 'touch CANARY') }}", "{% set x = 1 %}", "{# c #}", "pw{{x}}", "$(touch CANARY)",
           "`id`", "'; rm -rf / #", '"\n', "#jinja2:variable_start_string:'[['", "-oProxyCommand=x", "/../../x"]
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["198.18.0.1", "198.18.0.0/24", "eth0", "INFINITY", "n1", *HOSTILE]),
    st.tuples(st.text(max_size=6), st.sampled_from(HOSTILE), st.text(max_size=6)).map("".join),
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out += _paths(value, (*prefix, index))
    return out


def _mutate(doc: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    *parents, last = path
    target = doc
    for part in parents:
        target = target[part]
    if delete:
        del target[last]
    else:
        target[last] = value
    return doc


class _Unsafe(str):
    """A string the inventory tagged !unsafe."""


class _InventoryLoader(yaml.SafeLoader):
    pass


_InventoryLoader.add_constructor("!unsafe", lambda loader, node: _Unsafe(loader.construct_scalar(node)))
_InventoryLoader.add_constructor("!vault", lambda loader, node: _Unsafe(loader.construct_scalar(node)))
SECRET_LOOKUP = "{{ lookup('halab.ha.secret', halab_secrets['"


def _strings(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [s for key, value in data.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(data, list):
        return [s for item in data for s in _strings(item)]
    return [data] if isinstance(data, str) else []


def _check(data: Any) -> None:
    try:
        cluster = validate_document(data, {}, "fuzz.yml")
    except InvalidInput as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        exc.render()
        return
    inventory = build_inventory(cluster)
    for part in (*inventory.group_vars.values(), *inventory.host_vars.values()):
        for text in _strings(yaml.load(to_yaml(part), Loader=_InventoryLoader)):
            if not isinstance(text, _Unsafe) and "{" in text:
                assert text.startswith(SECRET_LOOKUP), f"template syntax reaches Ansible untagged: {text!r}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_examples_never_crash(data: st.DataObject) -> None:
    import copy

    doc = copy.deepcopy(data.draw(st.sampled_from(DOCUMENTS)))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths))
        delete = bool(path) and data.draw(st.booleans())
        doc = _mutate(doc, path, data.draw(values), delete)
    _check(doc)


@settings(max_examples=200, deadline=None)
@given(values)
def test_random_documents_never_crash(doc: Any) -> None:
    _check(doc)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    try:
        data, positions = load_yaml(text, "fuzz.yml")
    except InvalidInput:
        return
    with contextlib.suppress(InvalidInput):
        validate_document(data, positions, "fuzz.yml")
