"""OpenPGP checks of the Exim source: a valid signature by a pinned key only.

The keyring only supplies public keys and confers no trust. A signature passes
when gpg reports it valid: not BAD, and not made by an expired or revoked key.
Then the PRIMARY key that made it, directly or through a signing subkey, must
have one of the full fingerprints pinned here or given by the caller. Short key ids and user
ids are never compared: both are trivial to forge.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import gnupg

from eximctl.errors import (
    BadSignatureError,
    ExpiredKeyError,
    FingerprintError,
    MissingDependencyError,
    MissingSignatureError,
    RevokedKeyError,
    SignatureError,
    UnknownKeyError,
    UntrustedKeyError,
)

log = logging.getLogger(__name__)

MAINTAINER_KEYS: Final[Mapping[str, str]] = {
    # Primary keys of the Exim maintainers, as Debian's
    # debian/upstream/signing-key.asc for exim4 carries them.
    "A986F3A6BD6377D8730958DEBCE58C8CE41F32DF": "Jeremy Harris",
    "ACBB4324393ADE3515DA2DDA4D1E900E14C1CC04": "Phil Pennock",
    "4833892924C60A7AE666D32A1DA3E68F41CEECAC": "Phil Pennock",
    "E5CA331D44AB8E4C806FDBEE26101B62F69376CE": "Heiko Schlittermann",
    "96E4754B8F93C1B239F1A95785BCF7AC6735A680": "Nigel Metheringham",
    "68621AE4C5026D2FED8A771CAD5EDBB793EC57E4": "Graeme Fowler",
}
PINNED_FINGERPRINTS: Final[frozenset[str]] = frozenset(MAINTAINER_KEYS)

_FINGERPRINT = re.compile(r"^[0-9A-F]{40}$")


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of a passed check: who signed, and with which key."""

    fingerprint: str
    """The primary key's fingerprint, the one matched against the pins."""
    signing_key: str
    """The fingerprint of the key that made the signature (may be a subkey)."""
    signer: str
    """The user id gpg reports; for display only, never for trust."""
    signed_at: datetime | None
    pinned: bool = True
    """False when only the caller's extra fingerprints trusted the key."""


def normalize_fingerprint(value: str) -> str:
    """Return ``value`` as 40 upper-case hex digits, or raise FingerprintError.

    Spaces (as gpg prints fingerprints) and a ``0x`` prefix are allowed.
    """
    text = "".join(value.split()).upper()
    text = text.removeprefix("0X")
    if not _FINGERPRINT.match(text):
        raise FingerprintError(value)
    return text


def verify_signature(
    path: Path,
    signature: Path,
    keyring: Path,
    *,
    extra_fingerprints: Iterable[str] = (),
) -> SignatureCheck:
    """Check the detached ``signature`` of ``path`` with the keys of ``keyring``.

    Raises a SignatureError subclass naming the reason unless the signature
    is valid and its primary key is pinned or in ``extra_fingerprints``.
    """
    trusted = PINNED_FINGERPRINTS | {
        normalize_fingerprint(f) for f in extra_fingerprints
    }
    if not signature.is_file():
        raise MissingSignatureError(path, str(signature))
    if not keyring.is_file():
        raise SignatureError(path, f"the keyring {keyring} does not exist")

    with tempfile.TemporaryDirectory(
        prefix="eximctl-gnupg-", ignore_cleanup_errors=True
    ) as home:
        try:
            gpg = gnupg.GPG(gnupghome=home)
        except (OSError, ValueError) as exc:
            raise MissingDependencyError(
                {"gnupg": f"gpg checks the source signature ({exc})"}
            ) from exc
        imported = gpg.import_keys_file(str(keyring))
        if not imported.fingerprints:
            raise SignatureError(
                path, f"the keyring {keyring} holds no OpenPGP public keys"
            )
        log.debug("imported %d keys from %s", len(imported.fingerprints), keyring)
        with signature.open("rb") as stream:
            result = gpg.verify_file(stream, str(path))
    return _judge(result, path, signature, keyring, trusted)


def _judge(
    result: Any, path: Path, signature: Path, keyring: Path, trusted: frozenset[str]
) -> SignatureCheck:
    log.debug("gpg --verify %s: %s", signature, result.stderr)
    statuses = [p.get("status") for p in result.problems]
    key_id = str(result.key_id or "?")
    if "signature bad" in statuses:
        raise BadSignatureError(path, signature)
    if "no public key" in statuses:
        raise UnknownKeyError(path, str(result.fingerprint or key_id), keyring)
    if "signing key was revoked" in statuses:
        raise RevokedKeyError(path, key_id)
    if "signing key has expired" in statuses:
        raise ExpiredKeyError(path, key_id)
    if "signature expired" in statuses:
        raise ExpiredKeyError(path, key_id, what="signature by key")
    if result.status == "signature expected but not found":
        raise MissingSignatureError(
            path, str(signature), f"{signature} is not an OpenPGP signature"
        )
    if result.problems or not result.valid or result.status != "signature valid":
        raise SignatureError(
            path,
            f"gpg did not report a valid signature ({result.status or 'no status'})",
        )

    good = [
        info
        for info in result.sig_info.values()
        if info.get("status") == "signature valid" and info.get("pubkey_fingerprint")
    ]
    if not good:
        raise SignatureError(path, "gpg reported no primary key fingerprint")
    for info in good:
        primary = str(info["pubkey_fingerprint"]).upper()
        if primary in trusted:
            timestamp = info.get("timestamp")
            return SignatureCheck(
                fingerprint=primary,
                signing_key=str(info.get("fingerprint", primary)).upper(),
                signer=str(info.get("username") or MAINTAINER_KEYS.get(primary, "")),
                signed_at=(
                    datetime.fromtimestamp(int(timestamp), UTC)
                    if timestamp and str(timestamp).isdigit()
                    else None
                ),
                pinned=primary in PINNED_FINGERPRINTS,
            )
    raise UntrustedKeyError(path, str(good[0]["pubkey_fingerprint"]).upper())
