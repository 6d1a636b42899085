"""DKIM keys: file owner and mode, no overwrite, TXT values, group checks."""

from __future__ import annotations

import base64
import dataclasses
import grp
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from eximctl.dkim_keys import (
    bundled_lab_key,
    dkim_domains,
    dkim_key_for_record,
    dkim_key_path,
    dkim_txt_value,
    ensure_dkim_key,
    find_dkim_key,
    load_dkim_key,
)
from eximctl.errors import GroupNotFoundError, KeyFileError, KeyPermissionError
from eximctl.key_files import check_readable_by_group
from eximctl.lab_sites import lab_sites
from eximctl.site import Site, parse_site

# A group that exists on Debian without Exim installed.
GROUP = "mail"
MISSING_GROUP = "eximctl-no-such-group"


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """Return a folder that others may traverse, unlike pytest's 0700 tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="eximctl-keys-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def make_site(tmp_path: Path, key_type: str = "rsa", group: str = GROUP) -> Site:
    text = f"""
accounts = ["ann"]
[aliases]
postmaster = "ann"
abuse = "ann"
[host]
name = "mail.example.org"
addresses = ["192.0.2.40"]
[build]
group = "{group}"
config_directory = "{tmp_path}/etc"
[dkim]
selector = "s2026"
key_type = "{key_type}"
[[domains]]
name = "example.org"
kind = "local"
[[domains]]
name = "backup.example"
kind = "backup"
primary = "mx.backup.example"
"""
    return parse_site(text, tmp_path / "site.toml")


def test_key_path_default_and_root(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    expected = tmp_path / "etc" / "dkim" / "example.org.s2026.pem"
    assert dkim_key_path(site, "example.org") == expected
    staged = dkim_key_path(site, "Example.org.", root=tmp_path / "stage")
    assert staged == tmp_path / "stage" / str(expected).lstrip("/")


def test_dkim_domains_skip_backup(tmp_path: Path) -> None:
    assert dkim_domains(make_site(tmp_path)) == ["example.org"]


def test_rsa_key_mode_group_and_size(open_dir: Path) -> None:
    site = make_site(open_dir)
    path = ensure_dkim_key(site, "example.org")
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640
    assert info.st_uid == 0
    assert info.st_gid == grp.getgrnam(GROUP).gr_gid
    key = load_dkim_key(path)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    check_readable_by_group(path, GROUP)


def test_rsa_txt_value_is_spki(tmp_path: Path) -> None:
    path = ensure_dkim_key(make_site(tmp_path), "example.org")
    value = dkim_txt_value(path)
    prefix = "v=DKIM1; k=rsa; p="
    assert value.startswith(prefix)
    der = base64.b64decode(value.removeprefix(prefix), validate=True)
    public = serialization.load_der_public_key(der)
    assert isinstance(public, rsa.RSAPublicKey)
    private = load_dkim_key(path)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert public.public_numbers() == private.public_key().public_numbers()


def test_ed25519_txt_value_is_raw_key(tmp_path: Path) -> None:
    path = ensure_dkim_key(make_site(tmp_path, key_type="ed25519"), "example.org")
    value = dkim_txt_value(path)
    prefix = "v=DKIM1; k=ed25519; p="
    assert value.startswith(prefix)
    raw = base64.b64decode(value.removeprefix(prefix), validate=True)
    assert len(raw) == 32
    private = load_dkim_key(path)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    expected = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert raw == expected


def test_existing_key_is_kept(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    path = ensure_dkim_key(site, "example.org")
    before = path.read_bytes()
    again = ensure_dkim_key(site, "example.org")
    assert again == path
    assert path.read_bytes() == before


def test_rotation_replaces_key(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    path = ensure_dkim_key(site, "example.org")
    before = dkim_txt_value(path)
    ensure_dkim_key(site, "example.org", rotate=True)
    assert dkim_txt_value(path) != before
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_missing_group_is_clear_error(tmp_path: Path) -> None:
    site = make_site(tmp_path, group=MISSING_GROUP)
    with pytest.raises(GroupNotFoundError) as caught:
        ensure_dkim_key(site, "example.org")
    assert caught.value.group == MISSING_GROUP
    assert MISSING_GROUP in str(caught.value)
    assert "eximctl build" in str(caught.value)
    assert not dkim_key_path(site, "example.org").exists()


def test_key_0600_root_not_readable(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("key")
    os.chown(path, 0, 0)
    path.chmod(0o600)
    with pytest.raises(KeyPermissionError) as caught:
        check_readable_by_group(path, GROUP)
    message = str(caught.value)
    assert str(path) in message
    assert "root:root" in message
    assert f"chgrp {GROUP}" in message
    assert caught.value.group == GROUP
    assert caught.value.owner == "root"


def test_group_without_read_bit_rejected(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("key")
    os.chown(path, 0, grp.getgrnam(GROUP).gr_gid)
    path.chmod(0o600)
    with pytest.raises(KeyPermissionError, match="mode 0600"):
        check_readable_by_group(path, GROUP)


def test_closed_parent_folder_rejected(open_dir: Path) -> None:
    folder = open_dir / "closed"
    folder.mkdir()
    path = folder / "k.pem"
    path.write_text("key")
    os.chown(path, 0, grp.getgrnam(GROUP).gr_gid)
    path.chmod(0o640)
    os.chown(folder, 0, 0)
    folder.chmod(0o700)
    with pytest.raises(KeyPermissionError) as caught:
        check_readable_by_group(path, GROUP)
    assert f"the folder {folder} is root:root mode 0700" in str(caught.value)
    folder.chmod(0o711)
    check_readable_by_group(path, GROUP)


def test_missing_key_file_reported(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        dkim_txt_value(tmp_path / "absent.pem")


def _mx1() -> Site:
    return next(s for s in lab_sites() if s.host.name == "mx1.alpha.test")


def test_lab_site_installs_bundled_key(tmp_path: Path) -> None:
    site = dataclasses.replace(
        _mx1(), build=dataclasses.replace(_mx1().build, group=GROUP)
    )
    bundled = bundled_lab_key(site, "alpha.test")
    assert bundled is not None
    path = ensure_dkim_key(site, "alpha.test", root=tmp_path)
    assert path.read_bytes() == bundled.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_gid == grp.getgrnam(GROUP).gr_gid


def test_lab_key_fallback_without_group(tmp_path: Path) -> None:
    build = dataclasses.replace(_mx1().build, group=MISSING_GROUP)
    site = dataclasses.replace(_mx1(), build=build)
    path = dkim_key_for_record(site, "alpha.test", root=tmp_path)
    assert path == bundled_lab_key(site, "alpha.test")
    assert not dkim_key_path(site, "alpha.test", tmp_path).exists()


def test_non_lab_site_has_no_bundled_key(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    assert bundled_lab_key(site, "example.org") is None
    assert find_dkim_key(site, "example.org") is None
