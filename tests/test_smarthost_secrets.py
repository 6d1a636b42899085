"""Password files of the smarthost client and the SMTP AUTH server."""

from __future__ import annotations

import grp
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from eximctl.errors import KeyPermissionError, SecretFileError
from eximctl.exim_access import check_exim_can_read
from eximctl.secrets import (
    check_secret_files,
    lsearch_line,
    write_auth_passwords,
    write_smarthost_password,
)
from eximctl.site import Site, parse_site

PASSWORD = "p^ss:w$rd \\x"


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """Return a folder that others may traverse, unlike pytest's 0700 tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="eximctl-secrets-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def group_name() -> str:
    return grp.getgrgid(os.getgid()).gr_name


def smarthost_site(directory: Path) -> Site:
    text = f"""
accounts = ["ann"]
[host]
name = "mail.example.test"
[build]
group = "{group_name()}"
[[domains]]
name = "example.test"
[smarthost]
host = "smtp.example.org"
user = "relay@example.org"
password_file = "{directory}/smarthost.password"
[auth]
passwords_file = "{directory}/passwd"
"""
    return parse_site(text)


def test_k10_password_file_exact_bytes(tmp_path: Path) -> None:
    site = smarthost_site(tmp_path)

    path = write_smarthost_password(site, PASSWORD)

    assert path == tmp_path / "smarthost.password"
    assert path.read_bytes() == b"p^ss:w$rd \\x"
    assert path.stat().st_mode & 0o777 == 0o640
    assert path.stat().st_gid == os.getgid()


@pytest.mark.parametrize(
    ("password", "phrase"),
    [
        ("", "is empty"),
        ("first\nsecond", "line break"),
        ("^leading", "starts with '^'"),
    ],
)
def test_unsendable_password_rejected(
    tmp_path: Path, password: str, phrase: str
) -> None:
    with pytest.raises(SecretFileError) as raised:
        write_smarthost_password(smarthost_site(tmp_path), password)

    assert phrase in str(raised.value)
    assert str(tmp_path / "smarthost.password") in str(raised.value)
    assert not (tmp_path / "smarthost.password").exists()


def test_error_never_shows_password(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError) as raised:
        write_smarthost_password(smarthost_site(tmp_path), "^secret-value")

    assert "secret-value" not in str(raised.value)


def test_server_passwords_lsearch_file(tmp_path: Path) -> None:
    site = smarthost_site(tmp_path)

    path = write_auth_passwords(site, {"relay@alpha.test": PASSWORD})

    lines = path.read_text().splitlines()
    assert lines[1] == '"relay@alpha.test": p^ss:w$rd \\x'
    assert path.stat().st_mode & 0o777 == 0o640


def test_lsearch_key_quoted() -> None:
    line = lsearch_line('we"ird: user\\', "pw", Path("passwd"))

    assert line == '"we\\"ird: user\\\\": pw\n'


@pytest.mark.parametrize("password", [" lead", "trail ", ""])
def test_lsearch_rejects_stripped_password(password: str) -> None:
    with pytest.raises(SecretFileError):
        lsearch_line("user", password, Path("passwd"))


def test_missing_password_file_names_fix(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError) as raised:
        check_secret_files(smarthost_site(tmp_path))

    message = str(raised.value)
    assert str(tmp_path / "smarthost.password") in message
    assert "not found" in message
    assert "chmod 0640" in message


def test_world_readable_password_rejected(open_dir: Path) -> None:
    site = smarthost_site(open_dir)
    path = write_smarthost_password(site, PASSWORD)
    write_auth_passwords(site, {"u": "pw"})
    os.chmod(path, 0o644)

    with pytest.raises(SecretFileError) as raised:
        check_secret_files(site)

    assert "0644" in str(raised.value)
    assert "chmod 0640" in str(raised.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="changing the owner needs root")
def test_password_file_outside_group_rejected(open_dir: Path) -> None:
    group = next(g for g in grp.getgrall() if g.gr_gid != os.getgid())
    site = smarthost_site(open_dir)
    path = write_smarthost_password(site, PASSWORD)
    os.chown(path, 0, group.gr_gid)

    with pytest.raises(KeyPermissionError) as raised:
        check_secret_files(site)

    assert str(path) in str(raised.value)
    assert f"group {group_name()}" in str(raised.value)


def test_valid_password_files_pass(open_dir: Path) -> None:
    site = smarthost_site(open_dir)
    write_smarthost_password(site, PASSWORD)
    write_auth_passwords(site, {"relay@alpha.test": PASSWORD})

    check_secret_files(site)


def test_ca_in_closed_folder_rejected(open_dir: Path) -> None:
    site = smarthost_site(open_dir)
    closed = open_dir / "ca"
    closed.mkdir()
    ca = closed / "ca.crt"
    ca.write_text("certificate\n")
    os.chmod(ca, 0o644)
    os.chmod(closed, 0o700)

    with pytest.raises(KeyPermissionError) as raised:
        check_exim_can_read(ca, site.build.user, site.build.group)

    assert str(closed) in str(raised.value)
    assert "chmod" in str(raised.value)
    os.chmod(closed, 0o755)
    check_exim_can_read(ca, site.build.user, site.build.group)
