"""Names halab derives from the cluster file (resource ids, constraint ids)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Cluster


def drbd_primitive(resource: str) -> str:
    return f"drbd-{resource}"


def drbd_clone(resource: str) -> str:
    return f"drbd-{resource}-clone"


def derived_resource_names(cluster: Cluster) -> set[str]:
    """Pacemaker resources halab adds on its own: the DRBD primitive and its promotable clone."""
    if cluster.drbd is None:
        return set()
    return {name for res in cluster.drbd.resources for name in (drbd_primitive(res.name), drbd_clone(res.name))}
