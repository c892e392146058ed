"""`python -m halab`."""

from halab.cli import entry

entry()
