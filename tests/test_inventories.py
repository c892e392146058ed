"""inventories/<example>/ is `halab inventory examples/<example>.yml` output, file for file.

Regenerate after an intended change of the generated inventory:
    HALAB_UPDATE_GOLDEN=1 python -m pytest tests/test_inventories.py
and review the diff like code.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from halab.inventory import build_inventory, write_inventory
from halab.validation import load_cluster

from .conftest import EXAMPLES, ROOT

INVENTORIES = ROOT / "inventories"


def _files(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_each_example_has_its_generated_inventory(tmp_path: Path, example: Path) -> None:
    out = tmp_path / example.stem
    cluster = load_cluster(example, warn=lambda _: None)
    write_inventory(build_inventory(cluster), out, f"examples/{example.name}")
    kept = INVENTORIES / example.stem
    if os.environ.get("HALAB_UPDATE_GOLDEN"):
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(out, kept)
    assert _files(out) == _files(kept), (
        f"inventories/{example.stem} differs from `halab inventory examples/{example.name}` "
        "(HALAB_UPDATE_GOLDEN=1 to accept)"
    )


def test_no_inventory_without_its_example() -> None:
    assert sorted(p.name for p in INVENTORIES.iterdir()) == sorted(e.stem for e in EXAMPLES)
