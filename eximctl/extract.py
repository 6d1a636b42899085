"""Safe extraction of a source tarball into a fresh folder.

Every member is checked before anything is written: absolute names, ``..``
components, links whose target leaves the tree, devices and FIFOs are
rejected with the member named. Extraction then runs with tarfile's "data"
filter as a second line of defence (it also resolves symlink chains on disk).
"""

from __future__ import annotations

import logging
import posixpath
import re
import shutil
import tarfile
from pathlib import Path

from eximctl.errors import UnsafeArchiveError

log = logging.getLogger(__name__)

_SOURCE_DIR = re.compile(r"^exim-\d+\.\d+(?:\.\d+)?$")


def check_member(archive: Path, member: tarfile.TarInfo) -> None:
    """Raise UnsafeArchiveError if ``member`` could write outside the tree."""
    name = member.name
    if name.startswith("/") or posixpath.isabs(name) or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchiveError(archive, name, "absolute path")
    if ".." in name.split("/"):
        raise UnsafeArchiveError(archive, name, "path contains '..'")
    if member.ischr() or member.isblk():
        raise UnsafeArchiveError(archive, name, "device file")
    if member.isfifo():
        raise UnsafeArchiveError(archive, name, "FIFO")
    if member.issym() or member.islnk():
        kind = "symlink" if member.issym() else "hard link"
        target = member.linkname
        if not target or target.startswith("/"):
            raise UnsafeArchiveError(
                archive, name, f"{kind} to the absolute path {target!r}"
            )
        # A symlink resolves from its own folder, a hard link from the root.
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchiveError(
                archive, name, f"{kind} to {target!r} leaves the archive"
            )
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(archive, name, "unsupported member type")


def safe_extract(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` into the new folder ``dest``; return the exim-X.Y dir.

    ``dest`` must not exist or must be empty.
    """
    if dest.exists() and any(dest.iterdir()):
        raise UnsafeArchiveError(archive, str(dest), "the destination is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            check_member(archive, member)
        try:
            tar.extractall(dest, members=members, filter="data")
        except tarfile.FilterError as exc:
            _empty(dest)  # no half-extracted tree is left to build from
            member_name = getattr(getattr(exc, "tarinfo", None), "name", "?")
            raise UnsafeArchiveError(archive, member_name, str(exc)) from exc
    tops = sorted(p for p in dest.iterdir() if p.is_dir() and not p.is_symlink())
    sources = [p for p in tops if _SOURCE_DIR.match(p.name)]
    if len(sources) != 1:
        names = ", ".join(p.name for p in tops) or "nothing"
        raise UnsafeArchiveError(
            archive,
            names,
            "expected exactly one top-level exim-X.Y folder",
        )
    log.info("extracted %s into %s", archive, sources[0])
    return sources[0]


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
