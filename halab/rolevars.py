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

SUPPORTED_OS = "Debian"  # the vars file halab validates against (the tested platform)


@functools.cache
def role_vars(role: str, name: str = SUPPORTED_OS) -> dict[str, Any]:
    """The variables of `roles/<role>/vars/<name>.yml` (plain data files)."""
    return yaml.safe_load((roles_dir() / role / "vars" / f"{name}.yml").read_text()) or {}


def fence_agents() -> dict[str, list[str]]:
    """Fence agents the pacemaker role installs on the supported OS -> their packages."""
    data = role_vars("pacemaker")
    return {agent: data["__pacemaker_fence_base_packages"] + extra
            for agent, extra in data["__pacemaker_fence_agents"].items()}  # fmt: skip
