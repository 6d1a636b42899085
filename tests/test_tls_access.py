"""K13: the Exim user must be able to read the TLS key and certificate.

The checks run against real files with real owners and modes, so these tests
need root (to chown) and the Exim user and group that 'eximctl build'
creates.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from eximctl.configure import configure_site
from eximctl.errors import KeyFileError, KeyPermissionError
from eximctl.exim_access import check_exim_can_read, check_tls_access
from eximctl.site import Site, parse_site
from eximctl.tls_certs import issue_certificate

USER = "exim"
GROUP = "exim"

SITE = """
accounts = ["mailtest"]
[aliases]
postmaster = "mailtest"
[host]
name = "mail.access.test"
[build]
prefix = "/opt/eximctl"
config_directory = "{etc}"
spool_directory = "{root}/spool"
log_directory = "{root}/log"
[daemon]
ports = [25, 465]
tls_on_connect_ports = [465]
interfaces = ["127.0.0.1"]
[delivery]
mail_directory = "{root}/mail"
{tls}
[[domains]]
name = "access.test"
"""


@pytest.fixture
def root() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("these tests change file owners and must run as root")
    try:
        pwd.getpwnam(USER)
        grp.getgrnam(GROUP)
    except KeyError:
        pytest.fail(f"user or group {USER} is missing; run 'eximctl build' first")
    path = Path(tempfile.mkdtemp(prefix="eximctl-access-", dir="/var/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def certificate_pair(directory: Path) -> tuple[Path, Path]:
    """Issue a self-signed certificate in ``directory``: root:exim, key 0640."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    cert, key = directory / "mail.crt", directory / "mail.key"
    issue_certificate("mail.access.test", cert, key, GROUP)
    return cert, key


def site_with_files(root: Path, cert: Path, key: Path) -> Site:
    tls = f'[tls]\ncertificate = "{cert}"\nkey = "{key}"'
    text = SITE.format(root=root, etc=root / "etc", tls=tls)
    return parse_site(text, root / "site.toml")


def test_k13_key_0600_root_names_file_and_user(root: Path) -> None:
    _, key = certificate_pair(root / "certs")
    os.chown(key, 0, 0)
    os.chmod(key, 0o600)
    with pytest.raises(KeyPermissionError) as caught:
        check_exim_can_read(key, USER, GROUP)
    message = str(caught.value)
    assert str(key) in message
    assert f"the Exim user {USER} (group {GROUP}) cannot read" in message
    assert "root:root mode 0600" in message
    assert f"chgrp {GROUP} {key}" in message
    assert caught.value.path == key
    assert caught.value.group == GROUP


def test_k13_parent_0700_names_directory(root: Path) -> None:
    _, key = certificate_pair(root / "private" / "certs")
    os.chmod(root / "private", 0o700)
    with pytest.raises(KeyPermissionError) as caught:
        check_exim_can_read(key, USER, GROUP)
    message = str(caught.value)
    assert message.startswith(f"{key}: ")
    assert f"the Exim user {USER} (group {GROUP}) cannot reach" in message
    assert f"the directory {root / 'private'} is root:root mode 0700" in message


def test_k13_group_readable_key_accepted(root: Path) -> None:
    cert, key = certificate_pair(root / "certs")
    check_exim_can_read(key, USER, GROUP)
    check_exim_can_read(cert, USER, GROUP)


def test_k13_world_readable_certificate_accepted(root: Path) -> None:
    cert, _ = certificate_pair(root / "certs")
    os.chown(cert, 0, 0)
    os.chmod(cert, 0o644)
    check_exim_can_read(cert, USER, GROUP)


def test_k13_key_owned_by_exim_user(root: Path) -> None:
    _, key = certificate_pair(root / "certs")
    os.chown(key, pwd.getpwnam(USER).pw_uid, 0)
    os.chmod(key, 0o400)
    check_exim_can_read(key, USER, GROUP)


def test_k13_owner_bits_win_over_others(root: Path) -> None:
    # Unix checks only the owner bits for the owner: 0004 does not help it.
    _, key = certificate_pair(root / "certs")
    os.chown(key, pwd.getpwnam(USER).pw_uid, 0)
    os.chmod(key, 0o004)
    with pytest.raises(KeyPermissionError):
        check_exim_can_read(key, USER, GROUP)


def test_k13_group_dir_without_search_bit(root: Path) -> None:
    _, key = certificate_pair(root / "certs")
    os.chown(root / "certs", 0, grp.getgrnam(GROUP).gr_gid)
    os.chmod(root / "certs", 0o740)
    with pytest.raises(KeyPermissionError) as caught:
        check_exim_can_read(key, USER, GROUP)
    assert f"root:{GROUP} mode 0740" in str(caught.value)


def test_k13_missing_key_reported(root: Path) -> None:
    with pytest.raises(KeyFileError) as caught:
        check_exim_can_read(root / "absent.key", USER, GROUP)
    assert str(caught.value) == f"{root / 'absent.key'}: not found"


def test_k13_configure_fails_before_installing(root: Path) -> None:
    cert, key = certificate_pair(root / "certs")
    os.chown(key, 0, 0)
    os.chmod(key, 0o600)
    site = site_with_files(root, cert, key)
    with pytest.raises(KeyPermissionError) as caught:
        configure_site(site, start_daemon=False)
    assert str(key) in str(caught.value)
    assert USER in str(caught.value)
    for created in ("etc", "spool", "log", "mail"):
        assert not (root / created).exists(), f"{created} was created"


def test_k13_generated_certificate_closed_parent(root: Path) -> None:
    closed = root / "closed"
    closed.mkdir(mode=0o700)
    os.chmod(closed, 0o700)
    text = SITE.format(root=root, etc=closed / "eximctl" / "etc", tls="")
    site = parse_site(text, root / "site.toml")
    with pytest.raises(KeyPermissionError) as caught:
        configure_site(site, start_daemon=False)
    assert f"the directory {closed} is root:root mode 0700" in str(caught.value)
    assert not (closed / "eximctl").exists()
    assert not (root / "spool").exists()


def test_k13_tls_access_passes_for_open_paths(root: Path) -> None:
    cert, key = certificate_pair(root / "certs")
    check_tls_access(site_with_files(root, cert, key))
