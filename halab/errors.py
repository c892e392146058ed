"""Errors that halab and its lab report to the operator (never as a traceback).

One family: every error is a `HalabError` carrying the exit code of the command line, so
`halab` and `halab lab` map errors to exit codes the same way (1 failed, 2 bad input).
"""

from __future__ import annotations

from dataclasses import dataclass, field

FieldPath = tuple[str | int, ...]
EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 1, 2, 130


class HalabError(Exception):
    """An error shown to the operator as `render()`, ending the command with `exit_code`."""

    exit_code = EXIT_FAILED

    def render(self) -> str:
        return f"error: {self}"


class OperationFailed(HalabError):
    """A run against hosts, or an operation on this machine, failed (exit code 1)."""


class InputError(HalabError):
    """The operator asked for something impossible or malformed, said in one line (exit code 2)."""

    exit_code = EXIT_INVALID


def format_path(path: FieldPath) -> str:
    """('nodes', 1, 'addresses', 'lan') -> 'nodes[1].addresses.lan'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (field path, file position), what, and how to fix it."""

    path: str
    message: str
    hint: str = ""
    line: int | None = None
    column: int | None = None

    def render(self, source: str = "") -> str:
        where = source
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        head = f"{where}: " if where else ""
        text = f"{head}{self.path or '<top>'}: {self.message}"
        return text + (f"\n    hint: {self.hint}" if self.hint else "")


@dataclass
class InvalidInput(InputError):
    """Bad input: every problem found, reported together (exit code 2)."""

    problems: list[Problem]
    source: str = ""
    title: str = field(default="invalid cluster file")

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        return render_problems("error", self.title, self.problems, self.source)


@dataclass
class Warnings:
    """Findings about a valid file that may not do what its author means: shown like errors,
    on stderr, and nothing stops."""

    problems: list[Problem]
    source: str = ""
    title: str = field(default="the cluster file may not do what you mean")

    def render(self) -> str:
        return render_problems("warning", self.title, self.problems, self.source)


def render_problems(kind: str, title: str, problems: list[Problem], source: str) -> str:
    """`kind: title (N problems)` followed by one indented block per problem."""
    count = len(problems)
    lines = [f"{kind}: {title} ({count} problem{'s' if count != 1 else ''})"]
    lines += ["  " + p.render(source).replace("\n", "\n  ") for p in problems]
    return "\n".join(lines)
