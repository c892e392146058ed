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

    def _directory(self, parts: tuple[str, ...]) -> Path:
        """The directory `parts` below the root: created when missing, never through a link."""
        current = self.root
        for part in parts:
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
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

    def write(self, relative: str, content: str, mode: int = 0o644) -> Path:
        """Write `content` to `relative` (a normalized relative path) below the root."""
        pure = PurePosixPath(relative)
        if pure.is_absolute() or not pure.parts or any(part in ("", ".", "..") for part in pure.parts):
            raise _refuse(relative, "is not a path inside the output directory", "this is a bug in halab: report it")
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
