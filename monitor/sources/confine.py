"""A watched folder's reading stays inside it: symbolic links that lead out are refused.

Whatever lands in a watched folder is read, and its words may go out in an
alert, so a link ``passwd.txt -> /etc/passwd`` must not turn the folder into a
window on the whole machine.  Unless the folder says ``follow_symlinks: true``:

- a link whose target lies inside the folder is read like any file (its
  content is ingested once, as for any copy);
- a link that leads outside it, to a file or to a folder, is refused: the scan
  records it as failed with the reason, once (the record keeps the link's own
  size and time, so later scans skip it until the link itself changes);
- a link to a folder is never walked: the folders inside are walked anyway.

With ``follow_symlinks: true`` links are followed wherever they lead, and a
linked folder is walked once, however many links (or a link back up) lead to it.

The check is made where the file is opened, not only where it is listed: the
path really opened is read back from ``/proc/self/fd``, so a file swapped for
a link between the listing and the reading is refused too.  Only regular files
are read: a FIFO would hold the scan forever, a device never ends.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from monitor.config import FolderSource
from monitor.errors import SourceError

__all__ = ["FolderBounds", "RefusedFile", "walk_folder"]


class RefusedFile(SourceError):
    """A file a folder scan does not read: a link leading out, not a regular file, too large."""


def _inside(real: Path, root: Path) -> bool:
    return real == root or real.is_relative_to(root)


@dataclass(frozen=True)
class FolderBounds:
    """Where a folder's files may be read from: ``root`` (resolved), or anywhere when ``follow``."""

    root: Path
    follow: bool = False

    @classmethod
    def of(cls, folder: FolderSource) -> FolderBounds:
        return cls(folder.path.resolve(), folder.follow_symlinks)

    def refusal(self, path: Path) -> str | None:
        """Why ``path`` may not be read from this folder, or None when it may."""
        if self.follow:
            return None
        real = path.resolve()  # a dangling link resolves to where it points
        if _inside(real, self.root):
            return None
        return (
            f"{path}: a symbolic link to {real}, outside the folder: not read "
            "(follow_symlinks: true would read it)"
        )

    def read(self, path: Path, limit: int) -> bytes:
        """The bytes of ``path``, checked where the opened file really is, and at most ``limit``.

        Raises RefusedFile for a file that may not be read, OSError when it cannot be.
        """
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise RefusedFile(f"{path}: not a regular file: not read")
            if not self.follow:
                real = _opened_path(fd) or path.resolve()
                if not _inside(real, self.root):
                    raise RefusedFile(f"{path}: leads to {real}, outside the folder: not read")
            data = file.read(limit + 1)
        if len(data) > limit:  # it grew since it was listed
            raise RefusedFile(f"{path}: larger than {limit // 2**20} MiB")
        return data


def _opened_path(fd: int) -> Path | None:
    """Where an open file really is (Linux: /proc/self/fd); None where the system cannot say."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def walk_folder(
    top: Path, *, root: Path | None = None, recursive: bool = True, follow: bool = False
) -> Iterator[Path]:
    """Every file under ``top`` outside hidden folders, and every link to a folder outside ``root``.

    Links to folders are walked only when ``follow`` (each real folder once,
    however it is reached: a link back up would loop); otherwise those that lead outside ``root``
    (default ``top``) are yielded themselves, for the scan to refuse and report.
    """
    bounds = (root or top).resolve()
    seen = {_identity(top)}
    for directory, dirnames, filenames in os.walk(top, followlinks=follow):
        kept = []
        for name in dirnames:
            path = Path(directory, name)
            if name.startswith("."):
                continue
            if follow:
                identity = _identity(path)
                if identity not in seen:
                    seen.add(identity)
                    kept.append(name)
            elif not path.is_symlink():
                kept.append(name)
            elif not _inside(path.resolve(), bounds):
                yield path
        dirnames[:] = kept if recursive else []
        for name in filenames:
            yield Path(directory, name)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino
