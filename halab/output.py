"""Write generated files into one directory and nowhere else.

`halab render -o DIR` and `halab inventory -o DIR` write paths derived from the cluster
file. Each one is checked to stay inside DIR; a symlink inside DIR is never followed (a
file is replaced by a rename, which replaces the link itself; a directory that is a link
is refused); files are written whole, atomically, with their mode set at creation.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from .errors import InvalidInput, Problem


def _refuse(path: Path | str, message: str, hint: str) -> InvalidInput:
    return InvalidInput([Problem("", f"{path}: {message}", hint)], title="cannot write the output")


def checked_relative(relative: str) -> PurePosixPath:
    """`relative` as a normalized path inside a directory (no `..`, not absolute)."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or not pure.parts or any(part in ("", ".", "..") for part in relative.split("/")):
        raise _refuse(relative, "is not a path inside the output directory", "name a path inside it")
    return pure


class OutputDir:
    """A directory generated files go to; `write` refuses anything that would leave it."""

    def __init__(self, path: Path, dir_mode: int = 0o755) -> None:
        self.dir_mode = dir_mode
        if path.is_symlink() and not path.exists():
            raise _refuse(path, "is a symlink to nothing", "remove it or name another output directory")
        try:
            path.mkdir(parents=True, exist_ok=True, mode=dir_mode)
        except FileExistsError:
            raise _refuse(path, "exists and is not a directory", "name a directory") from None
        except OSError as exc:
            raise _refuse(path, f"cannot create it: {exc.strerror}", "name a directory you may write to") from None
        if not path.is_dir():
            raise _refuse(path, "is not a directory", "name a directory")
        self.root = path.resolve()

    def _walk(self, parts: tuple[str, ...], create: bool) -> Path | None:
        """The directory `parts` below the root, never through a link: created when missing
        (`create`), else None when it does not exist."""
        current = self.root
        for part in parts:
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                if not create:
                    return None
                try:
                    os.mkdir(current, self.dir_mode)
                except OSError as exc:
                    raise _refuse(current, f"cannot create it: {exc.strerror}", "check the output directory") from None
                continue
            if stat.S_ISLNK(info.st_mode):
                raise _refuse(current, "is a symlink inside the output directory; halab does not follow it",
                              "remove the link (halab writes real files only)")  # fmt: skip
            if not stat.S_ISDIR(info.st_mode):
                raise _refuse(current, "is in the way (not a directory)", "remove it")
        return current

    def _directory(self, parts: tuple[str, ...]) -> Path:
        """The directory `parts` below the root, created when missing."""
        directory = self._walk(parts, create=True)
        assert directory is not None  # created
        return directory

    def _existing(self, parts: tuple[str, ...]) -> Path | None:
        """The directory `parts` below the root if it exists (None if not)."""
        return self._walk(parts, create=False)

    def read(self, relative: str) -> bytes | None:
        """The bytes of the regular file `relative`; None when it does not exist. A link or
        anything else there is refused: it is never followed."""
        pure = checked_relative(relative)
        parent = self._existing(pure.parts[:-1])
        if parent is None:
            return None
        try:
            fd = os.open(parent / pure.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError:
            raise _refuse(parent / pure.name, "is not a regular file", "remove it or move it away") from None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise _refuse(parent / pure.name, "is not a regular file", "remove it or move it away")
            return handle.read()

    def remove(self, relative: str) -> None:
        """Remove the file `relative` (never a link's target), then its directories left empty."""
        pure = checked_relative(relative)
        parent = self._existing(pure.parts[:-1])
        if parent is None:
            return
        (parent / pure.name).unlink(missing_ok=True)
        for depth in range(len(pure.parts) - 1, 0, -1):
            try:
                os.rmdir(self.root.joinpath(*pure.parts[:depth]))
            except OSError:  # not empty: an operator's file lives there
                return

    def write(self, relative: str, content: str, mode: int = 0o644) -> Path:
        """Write `content` to `relative` (a normalized relative path) below the root."""
        pure = checked_relative(relative)
        parent = self._directory(pure.parts[:-1])
        target = parent / pure.name
        if target.is_dir() and not target.is_symlink():
            raise _refuse(target, "is a directory where a file goes", "remove it")
        temporary = parent / f".{pure.name}.halab-{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
            os.chmod(temporary, mode)  # the umask may have narrowed it
            os.replace(temporary, target)  # replaces a symlink at `target`, never its target
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return target
