"""Where halab finds its Ansible content and keeps its state."""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from types import ModuleType

_PACKAGE = Path(__file__).resolve().parent


def ansible_dir() -> Path:
    """Directory holding `roles/` and `playbooks/`: inside the wheel, or the source checkout."""
    shipped = _PACKAGE / "_ansible"
    return shipped if (shipped / "roles").is_dir() else _PACKAGE.parent


def roles_dir() -> Path:
    return ansible_dir() / "roles"


def collections_dir() -> Path:
    """Collections the roles use (halab.ha)."""
    return ansible_dir() / "collections"


def playbooks_dir() -> Path:
    return ansible_dir() / "playbooks"


def state_dir() -> Path:
    """Per-user state (lab nodes, run logs): $HALAB_STATE_DIR or the XDG state dir."""
    override = os.environ.get("HALAB_STATE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "halab"


def cache_dir() -> Path:
    """Per-user cache (base images, package cache): $HALAB_CACHE_DIR or the XDG cache dir."""
    override = os.environ.get("HALAB_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "halab"


@functools.cache
def module_util(name: str) -> ModuleType:
    """A plain-Python module_utils file of the halab.ha collection, loaded from its file
    (the controller uses the same code the modules and lookups run)."""
    path = collections_dir() / f"ansible_collections/halab/ha/plugins/module_utils/{name}.py"
    spec = importlib.util.spec_from_file_location(f"halab_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
