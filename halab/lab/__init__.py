"""The lab: real cluster nodes on this machine with systemd-nspawn (see docs/lab.md)."""

from halab.lab.lab import inventory_overrides
from halab.lab.spec import LabSpec, lab_spec_from_cluster

__all__ = ["LabSpec", "inventory_overrides", "lab_spec_from_cluster"]
