"""Fixtures for the source tests: throwaway gpg keys, a fake Exim tarball, a server.

Test modules import the fixtures they use from here (pytest does not load
this file on its own).
"""

from __future__ import annotations

import io
import random
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from support.http_server import FakeSite, serve

from eximctl.site import HostSection, Site, SourceSection

VERSION = "4.99"
TARBALL = f"exim-{VERSION}.tar.xz"
FOLDER = "/exim4/"
MIMIC_UID = "Jeremy Harris <jgh@exim.org>"


@dataclass(frozen=True)
class Key:
    fingerprint: str
    """The primary key's fingerprint."""
    keyring: Path
    """The armoured public key (with its subkeys and revocations)."""
    signing_key: str = ""
    """The key that signs: the primary unless a signing subkey is set."""

    @property
    def short_id(self) -> str:
        return self.fingerprint[-8:]

    @property
    def long_id(self) -> str:
        return self.fingerprint[-16:]


@dataclass(frozen=True)
class Keys:
    """Throwaway keys in one GNUPGHOME, and a way to sign with them."""

    home: Path
    mimic: Key
    """A key whose user id mimics Jeremy Harris's; never pinned."""
    other: Key
    with_subkey: Key
    """A certify-only primary with a signing subkey."""
    expired: Key
    revoked: Key

    def sign(self, key: Key, path: Path, out: Path | None = None, *faked: str) -> Path:
        out = out or path.with_name(path.name + ".asc")
        _gpg(
            self.home,
            *faked,
            "--yes",
            "--local-user",
            f"{key.signing_key or key.fingerprint}!",
            "--armor",
            "--detach-sign",
            "--output",
            str(out),
            str(path),
        )
        return out


def _gpg(home: Path, *args: str) -> str:
    command = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
    command += ["--passphrase", "", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed: {result.stderr}")
    return result.stdout


def _new_key(home: Path, uid: str, *args: str, usage: str = "sign") -> str:
    faked = [a for a in args if a.startswith("--faked")]
    expire = next((a for a in args if not a.startswith("--faked")), "never")
    _gpg(home, *faked, "--quick-gen-key", uid, "ed25519", usage, expire)
    listing = _gpg(home, "--with-colons", "--list-keys", uid)
    return next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")
    )


def _export(home: Path, fingerprint: str, name: str) -> Path:
    path = home / f"{name}.asc"
    _gpg(home, "--armor", "--output", str(path), "--export", fingerprint)
    return path


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    home = tmp_path_factory.mktemp("gpg")
    home.chmod(0o700)
    mimic = _new_key(home, MIMIC_UID)
    other = _new_key(home, "Someone Else <other@example.org>")

    primary = _new_key(home, "Pinned Primary <pinned@example.org>", usage="cert")
    _gpg(home, "--quick-add-key", primary, "ed25519", "sign", "never")
    listing = _gpg(home, "--with-colons", "--with-subkey-fingerprints", "-k", primary)
    subkey = [ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr")][
        1
    ]

    expired = _new_key(
        home, "Old <old@example.org>", "--faked-system-time=20200101T000000", "1d"
    )
    revoked = _new_key(home, "Revoked <revoked@example.org>")

    made = Keys(
        home=home,
        mimic=Key(mimic, _export(home, mimic, "mimic")),
        other=Key(other, _export(home, other, "other")),
        with_subkey=Key(primary, _export(home, primary, "with-subkey"), subkey),
        expired=Key(expired, _export(home, expired, "expired")),
        revoked=Key(revoked, home / "revoked.asc"),
    )
    yield made
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


def revoke(keys: Keys) -> None:
    """Revoke the 'revoked' key (after signing with it) and export it."""
    certificate = keys.home / "openpgp-revocs.d" / f"{keys.revoked.fingerprint}.rev"
    text = certificate.read_text().replace(":-----BEGIN", "-----BEGIN")
    (keys.home / "revocation.asc").write_text(text)
    _gpg(keys.home, "--import", str(keys.home / "revocation.asc"))
    _export(keys.home, keys.revoked.fingerprint, "revoked")


def make_tarball(top: str = f"exim-{VERSION}", padding: int = 160 * 1024) -> bytes:
    """A real tar.xz of a tiny Exim tree, padded with incompressible bytes."""
    buffer = io.BytesIO()
    noise = random.Random(4099).randbytes(padding)
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for name, data in (
            ("README", b"Exim test tree\n"),
            ("src/exim.c", b"int main(void) { return 0; }\n"),
            ("doc/padding.bin", noise),
        ):
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="session")
def tarball_bytes() -> bytes:
    return make_tarball()


@dataclass
class Upstream:
    """A fake downloads.exim.org serving exim-4.99 signed by the mimic key."""

    server: FakeSite
    keys: Keys
    files: Path
    """Local copies: the tarball, its signature and the keyring."""
    tarball: bytes

    @property
    def url(self) -> str:
        return self.server.url + FOLDER

    def path(self, name: str) -> str:
        return FOLDER + name


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


def make_site(source: SourceSection, path: Path = Path("<embedded>")) -> Site:
    return Site(host=HostSection(name="mail.example.org"), source=source, path=path)


def url_site(
    upstream: Upstream,
    cache: Path,
    version: str = "",
    kind: Literal["upstream", "mirror"] = "upstream",
) -> Site:
    source = SourceSection(
        kind=kind, url=upstream.url, version=version, cache_directory=str(cache)
    )
    return make_site(source)
