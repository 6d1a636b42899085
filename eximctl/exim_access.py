"""Read-access checks for the Exim user, run before anything is installed.

The daemon reads the TLS certificate and key as root, but the smtp transport
presents them as the Exim user, so a key that is 0600 root:root lets inbound
TLS work while outbound TLS fails with "Permission denied". The checks here
use the Unix rule: the owner bits apply to the file's owner, the group bits
to its group, and the other bits to everyone else. Exim runs its transports
with the Exim group alone, so supplementary groups are not counted.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import stat
from pathlib import Path

from eximctl.accounts import group_name, user_name
from eximctl.errors import KeyFileError, KeyPermissionError
from eximctl.site import Site
from eximctl.tls_certs import certificate_paths

log = logging.getLogger(__name__)

_READ = 4
_SEARCH = 1


def check_exim_can_read(path: Path, user: str, group: str) -> None:
    """Raise KeyPermissionError unless Exim user ``user`` can read ``path``.

    Every directory above ``path`` must be searchable by that user, too. A
    user or group that does not exist yet owns nothing, so only the bits for
    others count for it.
    """
    uid, gid = _user_id(user), _group_id(group)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyFileError(path, "not found") from None

    for directory in reversed(path.resolve().parents):
        check_exim_can_search(directory, path, user, group)

    if not _allows(info, uid, gid, _READ):
        raise KeyPermissionError(
            path,
            user_name(info.st_uid),
            group,
            f"the Exim user {user} (group {group}) cannot read this file, "
            f"because it is {_owner(info)} mode {_mode(info):04o}. Run "
            f"'chgrp {group} {path}' and 'chmod g+r {path}'",
        )
    log.debug("the Exim user %s can read %s", user, path)


def check_exim_can_search(directory: Path, path: Path, user: str, group: str) -> None:
    """Raise KeyPermissionError if the Exim user cannot enter ``directory``."""
    info = directory.stat()
    if _allows(info, _user_id(user), _group_id(group), _SEARCH):
        return
    raise KeyPermissionError(
        path,
        user_name(path.stat().st_uid) if path.exists() else "",
        group,
        f"the Exim user {user} (group {group}) cannot reach this file, because "
        f"the directory {directory} is {_owner(info)} mode {_mode(info):04o}. "
        f"Run 'chmod o+x {directory}', or 'chgrp {group} {directory}' and "
        f"'chmod g+x {directory}'",
    )


def check_tls_access(site: Site) -> None:
    """Check, before configure creates anything, that Exim can read TLS files.

    A certificate and key named in the site file must be readable now. For a
    certificate that eximctl generates, only the existing directories above
    the configuration directory are checked, because configure creates that
    directory and the files in it with modes that the Exim group can read.
    """
    if "tls" not in site.build.features:
        return
    user, group = site.build.user, site.build.group
    if site.tls.certificate:
        for key, path in zip(("tls.certificate", "tls.key"), certificate_paths(site)):
            if not path.exists():
                raise KeyFileError(path, f"not found; fix {key} in the site file")
            check_exim_can_read(path, user, group)
        return
    if not site.tls.generate:
        return
    etc = Path(site.etc_directory)
    for directory in reversed(etc.parents):
        if not directory.exists():
            break
        check_exim_can_search(directory, etc, user, group)


def _allows(info: os.stat_result, uid: int | None, gid: int | None, bit: int) -> bool:
    mode = stat.S_IMODE(info.st_mode)
    if uid is not None and info.st_uid == uid:
        return bool(mode & (bit << 6))
    if gid is not None and info.st_gid == gid:
        return bool(mode & (bit << 3))
    return bool(mode & bit)


def _user_id(user: str) -> int | None:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _group_id(group: str) -> int | None:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def _owner(info: os.stat_result) -> str:
    return f"{user_name(info.st_uid)}:{group_name(info.st_gid)}"


def _mode(info: os.stat_result) -> int:
    return stat.S_IMODE(info.st_mode)
