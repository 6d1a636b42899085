"""System users and groups that Exim and the site's local accounts need."""

from __future__ import annotations

import grp
import logging
import pwd

from eximctl.runner import run

log = logging.getLogger(__name__)


def ensure_exim_user(user: str, group: str) -> None:
    """Create the Exim system group and user when they do not exist."""
    if not _group_exists(group):
        log.info("creating system group %s", group)
        run(["groupadd", "--system", group])
    if not _user_exists(user):
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
    if _user_exists(name):
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


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
