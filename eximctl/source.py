"""Obtain a verified Exim source: the API the build step calls.

:func:`obtain_source` downloads (or reuses from the cache) the tarball, its
detached signature and a keyring for the site's source kind, rejects empty or
truncated downloads, and checks the signature against the pinned maintainer
fingerprints every time. :func:`extract_source` then unpacks the verified
tarball safely.

The work is split by concern: :mod:`eximctl.fetch` (HTTP and the cache),
:mod:`eximctl.signature` (gpg and the pins), :mod:`eximctl.extract` (tar
safety) and :mod:`eximctl.debian_source` (apt).
"""

from __future__ import annotations

import logging
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import requests

from eximctl import debian_source, fetch
from eximctl.errors import (
    BadSignatureError,
    DownloadError,
    MissingSignatureError,
    SignatureError,
    VersionNotAvailableError,
)
from eximctl.extract import safe_extract
from eximctl.signature import (
    MAINTAINER_KEYS,
    PINNED_FINGERPRINTS,
    normalize_fingerprint,
    verify_signature,
)
from eximctl.site import Site

__all__ = [
    "KEYRING_NAME",
    "MAINTAINER_KEYS",
    "PINNED_FINGERPRINTS",
    "VerifiedSource",
    "extract_source",
    "normalize_fingerprint",
    "obtain_source",
]

log = logging.getLogger(__name__)

KEYRING_NAME = "Exim-Maintainers-Keyring.asc"
_VERSION_IN_NAME = re.compile(r"^exim4?[-_](\d+\.\d+(?:\.\d+)?)(?:\.orig)?\.tar\.\w+$")


@dataclass(frozen=True)
class VerifiedSource:
    """An Exim tarball whose signature by a pinned key was checked just now."""

    tarball: Path
    signature: Path
    keyring: Path
    sha256: str
    version: str
    fingerprint: str
    """Primary key fingerprint of the signer (40 hex digits, pinned)."""
    signer: str
    """The signer's user id as gpg reports it, for display only."""
    origin: str
    """The tarball's origin: a URL, a path or the Debian package."""
    pinned: bool = True
    """False when the key was trusted only through ``extra_fingerprints``."""


def obtain_source(
    site: Site,
    *,
    cache_dir: Path | None = None,
    extra_fingerprints: Iterable[str] = (),
    keyring: Path | None = None,
    mirror: str | None = None,
    tarball: Path | None = None,
    signature: Path | None = None,
    progress: bool | None = None,
) -> VerifiedSource:
    """Download or reuse the site's Exim source and verify its signature.

    ``cache_dir`` overrides ``site.source.cache_directory``. ``mirror``
    overrides ``site.source.url`` of an upstream or mirror site; a Debian site
    ignores it, so the CLI switches the site to kind "mirror" first.
    ``tarball`` (with ``signature``, default ``TARBALL.asc``) uses a local file
    whatever the site's kind. ``keyring`` overrides the site's keyring and the
    one the source provides. ``extra_fingerprints`` are trusted in addition
    to the pinned maintainer keys and must be full 40-hex fingerprints.
    Raises DownloadError, VersionNotAvailableError or a SignatureError
    subclass.
    """
    extras = tuple(normalize_fingerprint(f) for f in extra_fingerprints)
    src = site.source
    cache = cache_dir or Path(src.cache_directory)
    keyring = keyring or (site.resolve(src.keyring) if src.keyring else None)

    if tarball is not None or src.kind == "file":
        return _from_file(site, tarball, signature, keyring, extras)
    if src.kind == "debian":
        return _from_debian(site, cache / "debian", keyring, extras)
    return _from_url(
        site, mirror or src.url, cache / "exim4", keyring, extras, progress
    )


def extract_source(verified: VerifiedSource, dest: Path) -> Path:
    """Extract the verified tarball into the new folder ``dest``.

    Returns the ``exim-X.Y`` source folder inside it. The tarball's SHA-256 is
    checked again first, so a file changed after verification is refused.
    """
    if fetch.sha256_of(verified.tarball) != verified.sha256:
        raise BadSignatureError(
            verified.tarball,
            verified.signature,
            note="the tarball changed after it was verified",
        )
    return safe_extract(verified.tarball, dest)


# --- the source kinds --------------------------------------------------------


def _from_url(
    site: Site,
    base: str,
    cache: Path,
    keyring: Path | None,
    extras: tuple[str, ...],
    progress: bool | None,
) -> VerifiedSource:
    base = base if base.endswith("/") else base + "/"
    session = requests.Session()
    version = _pick_version(site.source.version, base, cache, session)
    name = f"exim-{version}.tar.xz"
    url = fetch.index_url(base, name)

    got = fetch.fetch(
        url, cache / name, tarball=True, session=session, progress=progress
    )
    sig = fetch.fetch(
        url + ".asc", cache / f"{name}.asc", missing_ok=True, session=session
    )
    if sig is None:
        raise MissingSignatureError(
            got.path, url + ".asc", f"{url}.asc does not exist (HTTP 404)"
        )
    if keyring is None:
        keyring = _download_keyring(base, cache, session)
    return _verify(got, sig.path, keyring, version, url, extras)


def _pick_version(
    pinned: str, base: str, cache: Path, session: requests.Session
) -> str:
    if pinned and fetch.sidecar_path(cache / f"exim-{pinned}.tar.xz").is_file():
        return pinned  # cached: rebuilding needs no index (nor network)
    versions = fetch.parse_index(fetch.fetch_text(base, session))
    if pinned:
        if pinned not in versions:
            raise VersionNotAvailableError(pinned, versions, base)
        return pinned
    if not versions:
        raise DownloadError(base, "the directory index lists no exim-X.Y.tar.xz")
    log.info("newest Exim version at %s: %s", base, versions[-1])
    return versions[-1]


def _download_keyring(base: str, cache: Path, session: requests.Session) -> Path:
    # Exim publishes it beside the tarballs; some mirrors keep it one level up.
    # Where it comes from does not matter: only the pinned fingerprints count.
    for url in (
        fetch.index_url(base, KEYRING_NAME),
        fetch.index_url(base, "../" + KEYRING_NAME),
    ):
        got = fetch.fetch(url, cache / KEYRING_NAME, missing_ok=True, session=session)
        if got is not None:
            return got.path
    raise SignatureError(
        Path(KEYRING_NAME),
        f"no {KEYRING_NAME} at {base} or its parent; give one with --keyring",
    )


def _from_file(
    site: Site,
    tarball: Path | None,
    signature: Path | None,
    keyring: Path | None,
    extras: tuple[str, ...],
) -> VerifiedSource:
    src = site.source
    if tarball is None:
        if not src.tarball:
            raise DownloadError(
                "source.tarball",
                "the site's source kind is 'file' but no tarball is set",
            )
        tarball = site.resolve(src.tarball)
        if signature is None and src.signature:
            signature = site.resolve(src.signature)
    signature = signature or tarball.with_name(tarball.name + ".asc")
    if not tarball.is_file():
        raise DownloadError(str(tarball), "the file does not exist")
    fetch.check_download(tarball, str(tarball), tarball=True)
    version = _version_of(tarball)
    if src.version and src.version != version:
        raise VersionNotAvailableError(src.version, [version], str(tarball))
    if keyring is None:
        raise SignatureError(
            tarball, "no keyring: set source.keyring in the site file or pass --keyring"
        )
    got = fetch.CachedFile(tarball, fetch.sha256_of(tarball), from_cache=False)
    return _verify(got, signature, keyring, version, str(tarball), extras)


def _from_debian(
    site: Site, cache: Path, keyring: Path | None, extras: tuple[str, ...]
) -> VerifiedSource:
    package = debian_source.download(cache, site.source.version)
    origin = f"Debian source package exim4 {package.debian_version}"
    tarball = package.orig_tarball
    fetch.check_download(tarball, origin, tarball=True)
    keyring = keyring or package.signing_key
    if keyring is None:
        raise SignatureError(
            tarball,
            f"the Debian package has no {debian_source.SIGNING_KEY_MEMBER}; "
            "pass --keyring",
        )
    got = fetch.CachedFile(tarball, fetch.sha256_of(tarball), from_cache=False)
    return _verify(got, package.signature, keyring, package.version, origin, extras)


def _verify(
    got: fetch.CachedFile,
    signature: Path,
    keyring: Path,
    version: str,
    origin: str,
    extras: tuple[str, ...],
) -> VerifiedSource:
    try:
        check = verify_signature(
            got.path, signature, keyring, extra_fingerprints=extras
        )
    except BadSignatureError as exc:
        if got.changed:
            raise BadSignatureError(
                got.path,
                signature,
                note=(
                    "the cached copy changed since it was downloaded (it no "
                    f"longer matches {fetch.sidecar_path(got.path).name}); "
                    "delete it to download it again"
                ),
            ) from exc
        raise
    # Hash again: the file must be the one gpg has just read.
    sha256 = fetch.sha256_of(got.path)
    log.info(
        "verified %s: signed by %s (%s), sha256 %s",
        got.path,
        check.signer,
        check.fingerprint,
        sha256,
    )
    return VerifiedSource(
        tarball=got.path,
        signature=signature,
        keyring=keyring,
        sha256=sha256,
        version=version,
        fingerprint=check.fingerprint,
        signer=check.signer,
        origin=origin,
        pinned=check.pinned,
    )


def _version_of(tarball: Path) -> str:
    match = _VERSION_IN_NAME.match(tarball.name)
    if match:
        return match.group(1)
    try:
        with tarfile.open(tarball, "r:*") as archive:
            first = archive.next()
    except (tarfile.TarError, OSError) as exc:
        raise DownloadError(
            str(tarball), f"not a readable tar archive ({exc})"
        ) from exc
    top = first.name.split("/", 1)[0] if first else ""
    match = re.match(r"^exim-(\d+\.\d+(?:\.\d+)?)$", top)
    if not match:
        raise DownloadError(
            str(tarball), "cannot tell the Exim version from its name or contents"
        )
    return match.group(1)
