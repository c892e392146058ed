"""Fixtures of the checks: the cluster model, its inventory, rendered files, peer hosts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import testinfra

from halab.inventory import Inventory, build_inventory
from halab.model import Cluster
from halab.render import RenderedFile, render_all
from halab.runner import read_inventory
from halab.validation import load_cluster


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--halab-cluster", help="the cluster file the hosts were deployed from")


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Cluster:
    path = request.config.getoption("--halab-cluster")
    if not path:
        pytest.exit("--halab-cluster FILE is required", returncode=2)
    return load_cluster(Path(path))


@pytest.fixture(scope="session")
def inventory(request: pytest.FixtureRequest, cluster: Cluster) -> Inventory:
    """What the hosts were given: the inventory as Ansible reads it (`--ansible-inventory`,
    overrides included), else the one the cluster file generates."""
    directory = request.config.getoption("--ansible-inventory")
    return read_inventory(Path(directory)) if directory else build_inventory(cluster)


@pytest.fixture(scope="session")
def rendered(inventory: Inventory) -> list[RenderedFile]:
    return render_all(inventory)


@pytest.fixture
def node(host: Any) -> str:
    """Inventory name of the host under test."""
    return str(host.backend.host)


@pytest.fixture
def groups(inventory: Inventory, node: str) -> set[str]:
    return {group for group, members in inventory.groups.items() if node in members}


@pytest.fixture(scope="session")
def peer(request: pytest.FixtureRequest):
    """Open another inventory host by name (for checks that compare hosts)."""
    inventory_dir = request.config.getoption("--ansible-inventory")
    cache: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            cache[name] = testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory_dir)
        return cache[name]

    return get
