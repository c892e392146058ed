"""halab: declarative high-availability cluster provisioning."""

__version__ = "0.1.0"
