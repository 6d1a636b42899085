"""Helpers for the source tests: throwaway gpg keys, a fake Exim tarball, sites.

The fixtures built from them live in tests/conftest_source.py.
"""

from __future__ import annotations

import io
import random
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from eximctl.site import HostSection, Site, SourceSection
from support.http_server import FakeSite

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
        gpg(
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


def gpg(home: Path, *args: str) -> str:
    command = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
    command += ["--passphrase", "", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed: {result.stderr}")
    return result.stdout


def new_key(home: Path, uid: str, *args: str, usage: str = "sign") -> str:
    faked = [a for a in args if a.startswith("--faked")]
    expire = next((a for a in args if not a.startswith("--faked")), "never")
    gpg(home, *faked, "--quick-gen-key", uid, "ed25519", usage, expire)
    listing = gpg(home, "--with-colons", "--list-keys", uid)
    return next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")
    )


def export_key(home: Path, fingerprint: str, name: str) -> Path:
    path = home / f"{name}.asc"
    gpg(home, "--armor", "--output", str(path), "--export", fingerprint)
    return path


def revoke(keys: Keys) -> None:
    """Revoke the 'revoked' key (after signing with it) and export it."""
    certificate = keys.home / "openpgp-revocs.d" / f"{keys.revoked.fingerprint}.rev"
    text = certificate.read_text().replace(":-----BEGIN", "-----BEGIN")
    (keys.home / "revocation.asc").write_text(text)
    gpg(keys.home, "--import", str(keys.home / "revocation.asc"))
    export_key(keys.home, keys.revoked.fingerprint, "revoked")


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
