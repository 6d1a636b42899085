"""Debian's exim4 source package: deb-src set-up, version fallback, real check."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

import gnupg
import pytest
from support.source_helpers import make_site, make_tarball

from eximctl import debian_source
from eximctl.debian_source import (
    AptEntry,
    compare_versions,
    deb_entries,
    ensure_deb_src,
    has_deb_src,
    list_versions,
    upstream_version,
)
from eximctl.errors import DownloadError, VersionNotAvailableError
from eximctl.signature import PINNED_FINGERPRINTS
from eximctl.site import SourceSection
from eximctl.source import extract_source, obtain_source

DEBIAN_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

SHOWSRC = """\
Package: exim4
Binary: exim4, exim4-base
Version: 4.96-15+deb12u10
Files:
 0123 2927 exim4_4.96-15+deb12u10.dsc

Package: exim4
Version: 4.96-15+deb12u11
Files:
 0123 2927 exim4_4.96-15+deb12u11.dsc

Package: exim4
Version: 4.96-15+deb12u10
"""

NOT_FOUND = (
    "Get:1 http://deb.debian.org/debian-security bookworm-security/main exim4\n"
    "E: Failed to fetch http://deb.debian.org/debian-security/pool/updates/main/e/"
    "exim4/exim4_4.96-15%2bdeb12u11.dsc  404  Not Found\n"
    "E: Failed to fetch some archives.\n"
)


class FakeApt:
    """Plays apt-get and apt-cache; records the commands it was given."""

    def __init__(self, failing: Sequence[str] = ("4.96-15+deb12u11",)) -> None:
        self.failing = set(failing)
        self.commands: list[list[str]] = []

    def __call__(
        self, command: Sequence[str], cwd: Path | None
    ) -> subprocess.CompletedProcess[str]:
        command = list(command)
        self.commands.append(command)
        if command[:2] == ["apt-cache", "showsrc"]:
            return subprocess.CompletedProcess(command, 0, SHOWSRC)
        if command[:2] == ["apt-get", "update"]:
            return subprocess.CompletedProcess(command, 0, "Reading package lists...")
        if command[:3] == ["apt-get", "source", "--download-only"]:
            version = command[3].split("=", 1)[1]
            if version in self.failing:
                return subprocess.CompletedProcess(command, 100, NOT_FOUND)
            assert cwd is not None
            _write_package(cwd, version)
            return subprocess.CompletedProcess(command, 0, "Fetched 2 MB\n")
        raise AssertionError(f"unexpected command {command}")


def _write_package(folder: Path, version: str) -> None:
    upstream = upstream_version(version)
    orig = f"exim4_{upstream}.orig.tar.xz"
    debian = f"exim4_{version}.debian.tar.xz"
    (folder / orig).write_bytes(make_tarball(f"exim-{upstream}"))
    (folder / f"{orig}.asc").write_text("signature\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        key = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
        info = tarfile.TarInfo("debian/upstream/signing-key.asc")
        info.size = len(key)
        tar.addfile(info, io.BytesIO(key))
    (folder / debian).write_bytes(buffer.getvalue())
    (folder / f"exim4_{version}.dsc").write_text(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n"
        f"Format: 3.0 (quilt)\nSource: exim4\nVersion: {version}\n"
        "Files:\n"
        f" aa 100 {orig}\n bb 10 {orig}.asc\n cc 20 {debian}\n"
        "\n-----BEGIN PGP SIGNATURE-----\n"
    )


@pytest.fixture
def apt_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "apt"
    (folder / "sources.list.d").mkdir(parents=True)
    (folder / "sources.list.d" / "debian.sources").write_text(DEBIAN_SOURCES)
    (folder / "sources.list.d" / "nodesource.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\n"
        "Suites: nodistro\nComponents: main\n"
    )
    (folder / "sources.list.d" / "old.list.disabled").write_text(
        "deb-src http://deb.debian.org/debian bookworm main\n"
    )
    return folder


# --- deb-src entries


def test_no_deb_src_is_detected(apt_dir: Path) -> None:
    assert not has_deb_src(apt_dir)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.list", "deb-src http://deb.debian.org/debian bookworm main\n", True),
        ("a.list", "# deb-src http://deb.debian.org/debian bookworm main\n", False),
        ("a.sources", "Types: deb deb-src\nURIs: http://x/debian\nSuites: a\n", True),
        (
            "a.sources",
            "Types: deb-src\nURIs: http://x/debian\nSuites: a\nEnabled: no\n",
            False,
        ),
        ("a.sources", "# Types: deb-src\nTypes: deb\nURIs: http://x\n", False),
    ],
)
def test_deb_src_forms(apt_dir: Path, name: str, text: str, expected: bool) -> None:
    (apt_dir / "sources.list.d" / name).write_text(text)
    assert has_deb_src(apt_dir) is expected


def test_deb_src_entries_mirror_the_debian_deb_entries(apt_dir: Path) -> None:
    apt = FakeApt()
    assert ensure_deb_src(apt_dir, apt) is True
    written = apt_dir / "sources.list.d" / "eximctl-deb-src.sources"
    text = written.read_text()
    assert "Types: deb-src\nURIs: http://deb.debian.org/debian\n" in text
    assert "Suites: bookworm bookworm-updates\nComponents: main\n" in text
    assert (
        "URIs: http://deb.debian.org/debian-security\nSuites: bookworm-security" in text
    )
    assert text.count("Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg") == 2
    assert "nodesource" not in text
    assert apt.commands == [["apt-get", "update"]]
    assert has_deb_src(apt_dir)
    # Second time round nothing is written and apt is not updated again.
    assert ensure_deb_src(apt_dir, apt) is False
    assert apt.commands == [["apt-get", "update"]]


def test_one_line_entries_with_options(apt_dir: Path) -> None:
    (apt_dir / "sources.list.d" / "debian.sources").unlink()
    (apt_dir / "sources.list").write_text(
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] "
        "http://ftp.de.debian.org/debian bookworm main contrib\n"
    )
    assert deb_entries(apt_dir) == [
        AptEntry(
            uris=("http://ftp.de.debian.org/debian",),
            suites=("bookworm",),
            components=("main", "contrib"),
            signed_by="/usr/share/keyrings/k.gpg",
        )
    ]


def test_no_debian_entry_to_mirror(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    with pytest.raises(DownloadError, match="no Debian 'deb' entry"):
        ensure_deb_src(tmp_path, FakeApt())


# --- versions and the fallback


def test_versions_are_listed_newest_first() -> None:
    assert list_versions(FakeApt()) == ["4.96-15+deb12u11", "4.96-15+deb12u10"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("4.96-15+deb12u10", "4.96-15+deb12u11", -1),
        ("4.96-15+deb12u9", "4.96-15+deb12u10", -1),
        ("4.97-1", "4.96-15+deb12u11", 1),
        ("4.97~rc1-1", "4.97-1", -1),
        ("1:4.90-1", "4.96-1", 1),
        ("4.96-15", "4.96-15", 0),
    ],
)
def test_compare_versions(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


def test_failed_newest_version_falls_back_to_the_next(
    apt_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    apt = FakeApt()
    with caplog.at_level(logging.INFO, logger="eximctl.debian_source"):
        package = debian_source.download(tmp_path / "cache", apt_dir=apt_dir, run=apt)
    tries = [c[3] for c in apt.commands if c[:2] == ["apt-get", "source"]]
    assert tries == ["exim4=4.96-15+deb12u11", "exim4=4.96-15+deb12u10"]
    assert package.debian_version == "4.96-15+deb12u10"
    assert package.version == "4.96"
    assert package.orig_tarball.name == "exim4_4.96.orig.tar.xz"
    assert package.signature.name == "exim4_4.96.orig.tar.xz.asc"
    assert package.signing_key is not None
    assert package.signing_key.read_text().startswith("-----BEGIN PGP PUBLIC KEY")
    assert "exim4=4.96-15+deb12u11 failed" in caplog.text
    assert "404  Not Found" in caplog.text


def test_every_version_failing_is_a_failed_download(
    apt_dir: Path, tmp_path: Path
) -> None:
    apt = FakeApt(failing=("4.96-15+deb12u11", "4.96-15+deb12u10"))
    with pytest.raises(DownloadError) as caught:
        debian_source.download(tmp_path / "cache", apt_dir=apt_dir, run=apt)
    message = str(caught.value)
    assert "4.96-15+deb12u11: E: Failed to fetch" in message
    assert "4.96-15+deb12u10: E: Failed to fetch" in message


def test_pinned_upstream_version_selects_debian_versions(
    apt_dir: Path, tmp_path: Path
) -> None:
    apt = FakeApt(failing=())
    package = debian_source.download(tmp_path / "c", "4.96", apt_dir=apt_dir, run=apt)
    assert package.debian_version == "4.96-15+deb12u11"
    package = debian_source.download(
        tmp_path / "d", "4.96-15+deb12u10", apt_dir=apt_dir, run=apt
    )
    assert package.debian_version == "4.96-15+deb12u10"


def test_pinned_version_debian_lacks(apt_dir: Path, tmp_path: Path) -> None:
    apt = FakeApt()
    with pytest.raises(VersionNotAvailableError) as caught:
        debian_source.download(tmp_path / "cache", "4.98", apt_dir=apt_dir, run=apt)
    message = str(caught.value)
    assert "Exim 4.98 is not available from Debian's exim4 source package" in message
    assert "it has: 4.96" in message
    assert not [c for c in apt.commands if c[:2] == ["apt-get", "source"]]


# --- the real thing


@pytest.mark.exim
@pytest.mark.skipif(
    shutil.which("apt-get") is None or os.geteuid() != 0,
    reason="needs apt-get as root and network access to Debian's archive",
)
def test_real_debian_source_verifies_against_the_pins(tmp_path: Path) -> None:
    """Verify Debian's real exim4 orig tarball with its real signing-key.asc."""
    site = make_site(
        SourceSection(kind="debian", cache_directory=str(tmp_path / "cache"))
    )
    verified = obtain_source(site)
    assert verified.fingerprint in PINNED_FINGERPRINTS
    assert verified.pinned
    assert verified.tarball.name == f"exim4_{verified.version}.orig.tar.xz"
    assert verified.keyring.name.endswith(".signing-key.asc")

    # Every pinned fingerprint is a primary key of Debian's signing-key.asc.
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = gnupg.GPG(gnupghome=str(home))
    gpg.import_keys_file(str(verified.keyring))
    primaries = {key["fingerprint"] for key in gpg.list_keys()}
    assert PINNED_FINGERPRINTS <= primaries

    source_dir = extract_source(verified, tmp_path / "build")
    assert source_dir.name == f"exim-{verified.version}"
    assert (source_dir / "src" / "exim.c").is_file()
