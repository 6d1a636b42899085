"""Key and certificate files: atomic writes with owner and mode, read checks.

Exim reads its DKIM and TLS private keys after dropping root: the smtp
transport signs as the Exim user, so a key that is 0600 root cannot be read
and signing fails without an error in the delivery. Private keys are written
as root:EXIM_GROUP 0640 for that reason.
"""

from __future__ import annotations

import grp
import logging
import os
import stat
import tempfile
from pathlib import Path

from eximctl.accounts import group_name, user_name
from eximctl.errors import GroupNotFoundError, KeyFileError, KeyPermissionError

log = logging.getLogger(__name__)

PRIVATE_MODE = 0o640
PUBLIC_MODE = 0o644
DIRECTORY_MODE = 0o750


def group_id(group: str, path: Path) -> int:
    """Return the id of ``group``; raise GroupNotFoundError naming ``path``."""
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise GroupNotFoundError(group, path) from None


def write_file(
    path: Path, data: bytes, mode: int, group: str, *, overwrite: bool = False
) -> None:
    """Write ``data`` to ``path`` atomically as root:``group`` with ``mode``.

    The file is complete, owned and chmod-ed before it appears under its name.
    Without ``overwrite`` an existing file is kept and KeyFileError is raised.
    The existence check and the rename are one step (a hard link), so two
    writers cannot both succeed.
    """
    gid = group_id(group, path)
    _make_directory(path.parent, gid)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            _set_owner(stream.fileno(), gid, path, group)
            os.fchmod(stream.fileno(), mode)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        _move_into_place(Path(temporary), path, overwrite)
    finally:
        Path(temporary).unlink(missing_ok=True)
    log.debug("wrote %s (mode %o, group %s)", path, mode, group)


def _set_owner(fd: int, gid: int, path: Path, group: str) -> None:
    # The owner stays the writing user: root, when eximctl runs as it must.
    try:
        os.fchown(fd, -1, gid)
    except PermissionError:
        raise KeyFileError(
            path, f"cannot give the file to group {group}; run eximctl as root"
        ) from None


def _move_into_place(temporary: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise KeyFileError(
            path, "already exists and is kept; rotate the key to replace it"
        ) from None


def _make_directory(directory: Path, gid: int) -> None:
    """Create ``directory`` as root:gid 0750 so the group can traverse it."""
    if directory.is_dir():
        return
    directory.mkdir(parents=True, exist_ok=True)
    os.chown(directory, 0, gid)
    os.chmod(directory, DIRECTORY_MODE)


def check_readable_by_group(path: Path, group: str) -> None:
    """Raise KeyPermissionError unless members of ``group`` can read ``path``.

    The file must have the group-read bit and belong to ``group``, and every
    folder above it must be searchable by that group or by others.
    """
    gid = group_id(group, path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(path, "not found") from None
    owner = user_name(info.st_uid)
    current = group_name(info.st_gid)
    mode = stat.S_IMODE(info.st_mode)
    if info.st_gid != gid or not mode & stat.S_IRGRP:
        raise KeyPermissionError(
            path,
            owner,
            group,
            f"is {owner}:{current} mode {mode:04o}, so the Exim group {group} "
            f"cannot read it and DKIM signing or TLS fails; run 'chgrp {group} "
            f"{path}' and 'chmod 0640 {path}'",
        )
    for parent in path.resolve().parents:
        _check_traversable(parent, path, gid, group, owner)


def _check_traversable(
    directory: Path, path: Path, gid: int, group: str, owner: str
) -> None:
    info = directory.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & stat.S_IXOTH:
        return
    if info.st_gid == gid and mode & stat.S_IXGRP:
        return
    current = f"{user_name(info.st_uid)}:{group_name(info.st_gid)}"
    raise KeyPermissionError(
        path,
        owner,
        group,
        f"the folder {directory} is {current} mode {mode:04o}, so the Exim "
        f"group {group} cannot reach the file; run 'chmod o+x {directory}' "
        f"or 'chgrp {group} {directory}' and 'chmod g+x {directory}'",
    )
