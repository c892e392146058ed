"""Every filter and test the roles, playbooks and templates use exists.

ansible-lint does not look inside expressions, and an unknown filter fails only when the
task runs, which for some tasks (a DRBD initial sync, a rolling restart) is only on the
slow VM scenarios. Every Jinja expression is parsed here and its filter and test names
are looked up in Jinja's, ansible-core's and the halab.ha collection's."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import jinja2
import jinja2.nodes
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["roles", "playbooks", "molecule"]
COLLECTION = "collections/ansible_collections/halab/ha"
CONDITIONALS = {"when", "until", "changed_when", "failed_when", "that"}


@functools.cache
def _known() -> tuple[set[str], set[str]]:
    from ansible.plugins.loader import filter_loader, init_plugin_loader, test_loader

    init_plugin_loader([str(ROOT / "collections")])
    filters, tests = set(jinja2.Environment().filters), set(jinja2.Environment().tests)
    for loader, names in ((filter_loader, filters), (test_loader, tests)):
        for plugin in loader.all():
            names.add(plugin.ansible_name.removeprefix("ansible.builtin."))
            names.add(plugin.ansible_name)
    for path in (ROOT / COLLECTION / "plugins" / "filter").glob("*.py"):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        filters.update(f"halab.ha.{name}" for name in module.FilterModule().filters())
    return filters, tests


def _expressions(node: object, key: str = "") -> Iterator[str]:
    """Template strings, and bare expressions under the conditional keys."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _expressions(v, str(k))
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item, key)
    elif isinstance(node, str):
        if key in CONDITIONALS and "{{" not in node:
            yield "{{ " + node + " }}"
        elif "{{" in node or "{%" in node:
            yield node


def _sources() -> Iterator[tuple[Path, str]]:
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix == ".j2":
                yield path, path.read_text()
            elif path.suffix in (".yml", ".yaml") and "inventory" not in path.parts:
                for expression in _expressions(yaml.safe_load(path.read_text())):
                    yield path, expression


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Jinja on the roles' regex escapes
def test_every_filter_and_test_used_exists() -> None:
    filters, tests = _known()
    env = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
    unknown = []
    for path, text in _sources():
        try:
            tree = env.parse(text)
        except jinja2.TemplateSyntaxError as error:
            unknown.append(f"{path.relative_to(ROOT)}: {error}")
            continue
        for node in tree.find_all(jinja2.nodes.Filter):
            if node.name not in filters:
                unknown.append(f"{path.relative_to(ROOT)}: filter {node.name}")
        for node in tree.find_all(jinja2.nodes.Test):
            if node.name not in tests:
                unknown.append(f"{path.relative_to(ROOT)}: test {node.name}")
    assert not unknown, "\n".join(unknown)


@pytest.mark.parametrize("name", ["regex_split"])
def test_an_unknown_filter_is_found(name: str) -> None:
    """The check itself: a filter that does not exist is not in the known set."""
    assert name not in _known()[0]
