"""The checks expect every package the roles install: both read the roles' vars."""

from __future__ import annotations

import pytest

from halab.checks.test_cluster import _packages
from halab.inventory import build_inventory
from halab.paths import roles_dir
from halab.rolevars import PLATFORMS, role_vars
from halab.validation import load_cluster

from .conftest import EXAMPLES


@pytest.mark.parametrize("release", PLATFORMS)
def test_the_examples_checks_cover_every_package_list_of_the_roles(release: str) -> None:
    lists = {
        name: packages
        for role in sorted(path.parent.parent.name for path in roles_dir().glob("*/vars/main.yml"))
        for name, packages in role_vars(role, release).items()
        if name.startswith("__") and name.endswith("_packages")
    }
    expected = {package for packages in lists.values() for package in packages}
    checked = set()
    for example in EXAMPLES:
        inventory = build_inventory(load_cluster(example))
        checked |= {
            package
            for group, hosts in inventory.groups.items()
            for host in hosts
            for package in _packages(group, inventory.hostvars(host), release)
        }
    assert expected - checked == set(), f"installed by the roles, never checked: {sorted(expected - checked)}"
