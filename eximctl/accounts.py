"""System users and groups that Exim and the site's local accounts need."""

from __future__ import annotations

import grp
import logging
import pwd

from eximctl.runner import run

log = logging.getLogger(__name__)


def ensure_exim_user(user: str, group: str) -> None:
    """Create the Exim system group and user when they do not exist."""
    if not group_exists(group):
        log.info("creating system group %s", group)
        run(["groupadd", "--system", group])
    if not user_exists(user):
        log.info("creating system user %s", user)
        run(
            [
                "useradd",
                "--system",
                "--gid",
                group,
                "--home-dir",
                "/nonexistent",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                user,
            ]
        )


def ensure_mail_account(name: str) -> None:
    """Create a local account that receives mail but cannot log in."""
    if user_exists(name):
        return
    log.info("creating mail account %s", name)
    run(
        [
            "useradd",
            "--create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "mail account created by eximctl",
            name,
        ]
    )


def user_exists(name: str) -> bool:
    """Return True when the system account ``name`` exists."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def group_exists(name: str) -> bool:
    """Return True when the system group ``name`` exists."""
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def user_name(uid: int) -> str:
    """Return the account name of ``uid``, or the number when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    """Return the group name of ``gid``, or the number when it has none."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
