"""Fixtures for the source tests: throwaway gpg keys, a fake tarball, a server.

Test modules load this file with ``pytest_plugins = ("conftest_source",)``
and import plain helpers from :mod:`support.source_helpers`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.http_server import FakeSite, serve
from support.source_helpers import (
    FOLDER,
    MIMIC_UID,
    TARBALL,
    Key,
    Keys,
    Upstream,
    export_key,
    gpg,
    make_tarball,
    new_key,
)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    home = tmp_path_factory.mktemp("gpg")
    home.chmod(0o700)
    mimic = new_key(home, MIMIC_UID)
    other = new_key(home, "Someone Else <other@example.org>")

    primary = new_key(home, "Pinned Primary <pinned@example.org>", usage="cert")
    gpg(home, "--quick-add-key", primary, "ed25519", "sign", "never")
    listing = gpg(home, "--with-colons", "--with-subkey-fingerprints", "-k", primary)
    fingerprints = [ln.split(":")[9] for ln in listing.splitlines() if ln[:3] == "fpr"]
    subkey = fingerprints[1]

    expired = new_key(
        home, "Old <old@example.org>", "--faked-system-time=20200101T000000", "1d"
    )
    revoked = new_key(home, "Revoked <revoked@example.org>")

    made = Keys(
        home=home,
        mimic=Key(mimic, export_key(home, mimic, "mimic")),
        other=Key(other, export_key(home, other, "other")),
        with_subkey=Key(primary, export_key(home, primary, "with-subkey"), subkey),
        expired=Key(expired, export_key(home, expired, "expired")),
        revoked=Key(revoked, home / "revoked.asc"),
    )
    yield made
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


@pytest.fixture(scope="session")
def tarball_bytes() -> bytes:
    return make_tarball()


@pytest.fixture
def upstream(keys: Keys, tarball_bytes: bytes, tmp_path: Path) -> Iterator[Upstream]:
    files = tmp_path / "upstream"
    files.mkdir()
    tarball = files / TARBALL
    tarball.write_bytes(tarball_bytes)
    signature = keys.sign(keys.mimic, tarball)
    site = FakeSite(
        files={
            FOLDER + TARBALL: tarball_bytes,
            FOLDER + TARBALL + ".asc": signature.read_bytes(),
            FOLDER + "Exim-Maintainers-Keyring.asc": keys.mimic.keyring.read_bytes(),
        },
        listed={
            FOLDER: ["exim-4.97.tar.xz", "exim-4.98.tar.xz", "exim-4.98.tar.xz.asc"]
        },
    )
    with serve(site) as running:
        yield Upstream(running, keys, files, tarball_bytes)
