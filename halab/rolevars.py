"""Facts the roles own, read from their `vars/` files (one source for the roles and halab).

halab validates fence agents against the agents the pacemaker role can install, and the
checks expect the packages each role installs: both read them here rather than keeping
copies of their own.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml

from .paths import roles_dir

# The tested platforms, as the roles load their vars: the family file, then the release's.
PLATFORMS = {"bookworm": ("Debian",), "trixie": ("Debian", "Debian_13")}


RELEASE_OF_VERSION = {"12": "bookworm", "13": "trixie"}


def release_of(debian_version: str) -> str:
    """The codename of a node from its /etc/debian_version ("13.8" -> trixie)."""
    return RELEASE_OF_VERSION.get(debian_version.strip().split(".")[0], "bookworm")


@functools.cache
def role_vars(role: str, release: str = "bookworm") -> dict[str, Any]:
    """A role's variables on `release`: its vars files merged in the order the role loads them."""
    merged: dict[str, Any] = {}
    for name in PLATFORMS[release]:
        path = roles_dir() / role / "vars" / f"{name}.yml"
        if path.exists():
            merged |= yaml.safe_load(path.read_text()) or {}
    return merged


@functools.cache
def role_defaults(role: str) -> dict[str, Any]:
    """A role's public variables as its defaults/main.yml sets them."""
    return yaml.safe_load((roles_dir() / role / "defaults" / "main.yml").read_text()) or {}


def fence_agents(release: str | None = None) -> dict[str, list[str]]:
    """Fence agents the pacemaker role installs -> their packages (on `release`, or on any
    tested release when None: an agent of either is valid in a cluster file)."""
    out: dict[str, list[str]] = {}
    for each in [release] if release else reversed(PLATFORMS):
        data = role_vars("pacemaker", each)
        out |= {agent: data["__pacemaker_fence_base_packages"] + extra
                for agent, extra in data["__pacemaker_fence_agents"].items()}  # fmt: skip
    return out
