"""Errors of the lab: each carries the CLI exit code it maps to."""

from __future__ import annotations


class LabError(Exception):
    """An operation on the machine failed (exit code 1)."""

    exit_code = 1


class LabInputError(LabError):
    """The user asked for something impossible or malformed (exit code 2)."""

    exit_code = 2
