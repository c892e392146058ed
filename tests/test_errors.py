"""One error family for halab and its lab, and one mapping of errors to exit codes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from halab import cli
from halab.errors import HalabError, InputError, InvalidInput, OperationFailed, Problem

ROOT = Path(__file__).resolve().parents[1]


def test_every_exception_class_of_halab_is_a_halab_error() -> None:
    """An exception class outside the family would reach the operator as a traceback."""
    outside = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for path in sorted((ROOT / "halab").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Name) and base.id.endswith(("Exception", "Error")) for base in node.bases)
        and not node.name.startswith("_")
        and path.name != "errors.py"
    ]
    assert not outside, f"exception classes outside halab.errors: {outside}"


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (OperationFailed("the lab's apt proxy did not start"), 1, "error: the lab's apt proxy did not start"),
        (InputError("no lab named 'x' is up"), 2, "error: no lab named 'x' is up"),
        (InvalidInput([Problem("nodes", "bad")], "c.yml"), 2, "error: invalid cluster file (1 problem)"),
    ],
)
def test_the_command_line_maps_each_error_to_its_exit_code(
    error: HalabError, code: int, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(cli.main, "main", fail)
    assert cli.run(["status", "c.yml"]) == code
    assert capsys.readouterr().err.startswith(message)
