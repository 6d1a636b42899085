"""Password files: the smarthost password and the SMTP AUTH server passwords.

Exim reads both after dropping root. The smtp transport reads the smarthost
password as the Exim user, and the process that receives a message checks
server passwords as the Exim user too. So both files are root:EXIM_GROUP mode
0640, never readable by others. No function here logs or returns a password
in a message.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Mapping
from pathlib import Path

from eximctl.context import smarthost_password_path
from eximctl.errors import SecretFileError
from eximctl.key_files import PRIVATE_MODE, check_readable_by_group, write_file
from eximctl.site import Site

log = logging.getLogger(__name__)

_LINE_BREAKS = ("\n", "\r", "\0")


def write_smarthost_password(site: Site, password: str) -> Path:
    """Write the smarthost password of ``site`` to its password file.

    The file contains the password and nothing else, as root:EXIM_GROUP 0640,
    and replaces an existing file atomically.
    """
    path = Path(smarthost_password_path(site))
    check_smarthost_password(password, path)
    write_file(path, password.encode(), PRIVATE_MODE, site.build.group, overwrite=True)
    log.info("wrote the smarthost password file %s", path)
    return path


def check_smarthost_password(password: str, path: Path) -> None:
    """Raise SecretFileError unless Exim's plaintext client can send ``password``.

    The client authenticators read the file with ${readfile}, which drops
    line breaks, and double every "^" because client_send turns a single
    "^" into a NUL. A "^" right after that NUL cannot be written at all
    (Exim 4.96, auths/get_data.c), so a password may not start with "^".
    """
    if not password:
        raise SecretFileError(path, "the smarthost password is empty")
    if any(char in password for char in _LINE_BREAKS):
        raise SecretFileError(
            path,
            "the smarthost password contains a line break or NUL, which Exim "
            "drops when it reads the file; use a single-line password",
        )
    if password.startswith("^"):
        raise SecretFileError(
            path,
            "the smarthost password starts with '^', which Exim's PLAIN client "
            "cannot send after the NUL separator; choose another password",
        )


def write_auth_passwords(site: Site, users: Mapping[str, str]) -> Path:
    """Write the SMTP AUTH server passwords of ``site`` as an lsearch file.

    Each line is a quoted user name, a colon and the password. Exim strips
    white space around lsearch data, so a password must not start or end
    with it.
    """
    if not site.auth.passwords_file:
        raise SecretFileError(
            Path(site.path), "the site has no auth.passwords_file to write"
        )
    path = site.resolve(site.auth.passwords_file)
    lines = ["# SMTP AUTH users of this host, written by eximctl.\n"]
    for user, password in users.items():
        lines.append(lsearch_line(user, password, path))
    data = "".join(lines).encode()
    write_file(path, data, PRIVATE_MODE, site.build.group, overwrite=True)
    log.info("wrote %d SMTP AUTH users to %s", len(users), path)
    return path


def lsearch_line(user: str, password: str, path: Path) -> str:
    """Return the lsearch line that maps ``user`` to ``password``.

    The key is always quoted, so a user name may contain a colon or a space;
    lsearch reads backslash escapes inside the quotes.
    """
    if not user or any(char in user for char in _LINE_BREAKS):
        raise SecretFileError(path, f"invalid user name {user!r}")
    if not password or any(char in password for char in _LINE_BREAKS):
        raise SecretFileError(
            path, f"the password of {user} is empty or contains a line break"
        )
    if password != password.strip():
        raise SecretFileError(
            path,
            f"the password of {user} starts or ends with white space, which "
            "lsearch strips; remove it",
        )
    key = user.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{key}": {password}\n'


def check_secret_files(site: Site) -> None:
    """Raise unless every password file of ``site`` is safe and usable.

    Each file must exist, belong to the Exim group with mode 0640 or
    stricter for others, and the smarthost password must be sendable.
    """
    group = site.build.group
    if site.smarthost is not None:
        path = Path(smarthost_password_path(site))
        _check_secret_file(path, group)
        check_smarthost_password(_read_password(path), path)
    if site.auth.passwords_file:
        _check_secret_file(site.resolve(site.auth.passwords_file), group)


def _check_secret_file(path: Path, group: str) -> None:
    if not path.is_file():
        raise SecretFileError(
            path,
            f"not found; write the password into it, then run 'chgrp {group} "
            f"{path}' and 'chmod 0640 {path}'",
        )
    check_readable_by_group(path, group)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & stat.S_IRWXO:
        raise SecretFileError(
            path,
            f"mode {mode:04o} lets every local user read the password; "
            f"run 'chmod 0640 {path}'",
        )


def _read_password(path: Path) -> str:
    # ${readfile{FILE}{}} replaces each newline with nothing; do the same.
    return path.read_text(encoding="utf-8", errors="replace").replace("\n", "")
