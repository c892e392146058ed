"""Molecule scenarios on lab nodes: the same `molecule test` a role developer runs."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest

from halab.inventory import build_inventory, write_inventory
from halab.validation import load_cluster

from ..conftest import ROOT


@pytest.mark.parametrize("scenario", ["cluster", "docker"])
def test_scenario_inventory_is_regenerated_from_its_cluster_file(tmp_path: Path, scenario: str) -> None:
    """molecule/S/inventory is `halab inventory molecule/S/cluster.yml` output."""
    source = f"molecule/{scenario}/cluster.yml"
    write_inventory(build_inventory(load_cluster(ROOT / source)), tmp_path, source)
    compared = filecmp.dircmp(tmp_path, ROOT / "molecule" / scenario / "inventory")
    stale: list[str] = []

    def walk(cmp: filecmp.dircmp, prefix: str = "") -> None:
        stale.extend(prefix + name for name in cmp.left_only + cmp.right_only + cmp.diff_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(compared)
    assert not stale, f"regenerate with: halab inventory {source} -o molecule/{scenario}/inventory"


@pytest.mark.lab
@pytest.mark.parametrize("scenario", ["lab-smoke", "cluster"])
def test_molecule_scenario_passes(lab_state: Path, scenario: str) -> None:
    if shutil.which("molecule") is None:
        pytest.skip("molecule is not installed (scripts/install --test installs it)")
    done = subprocess.run(["molecule", "test", "-s", scenario], cwd=ROOT, capture_output=True, text=True,
                          timeout=1500, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "idempotence" in done.stdout + done.stderr
