"""Signature checks: each failure has its own exception and message (K04 too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.source_helpers import (
    MIMIC_UID,
    TARBALL,
    Keys,
    Upstream,
    revoke,
    url_site,
)

from eximctl import signature as signature_module
from eximctl.errors import (
    BadSignatureError,
    ExpiredKeyError,
    FingerprintError,
    MissingSignatureError,
    RevokedKeyError,
    SignatureError,
    UnknownKeyError,
    UntrustedKeyError,
)
from eximctl.signature import (
    PINNED_FINGERPRINTS,
    normalize_fingerprint,
    verify_signature,
)
from eximctl.source import obtain_source

BRIEF_PINS = {
    "A986F3A6BD6377D8730958DEBCE58C8CE41F32DF",
    "ACBB4324393ADE3515DA2DDA4D1E900E14C1CC04",
    "4833892924C60A7AE666D32A1DA3E68F41CEECAC",
    "E5CA331D44AB8E4C806FDBEE26101B62F69376CE",
    "96E4754B8F93C1B239F1A95785BCF7AC6735A680",
    "68621AE4C5026D2FED8A771CAD5EDBB793EC57E4",
}

pytest_plugins = ("conftest_source",)


@pytest.fixture
def tarball(tarball_bytes: bytes, tmp_path: Path) -> Path:
    path = tmp_path / TARBALL
    path.write_bytes(tarball_bytes)
    return path


def test_pinned_list_is_full_fingerprints_of_the_maintainers() -> None:
    assert PINNED_FINGERPRINTS == BRIEF_PINS
    assert all(len(f) == 40 and f == normalize_fingerprint(f) for f in BRIEF_PINS)


def test_good_signature_passes_when_its_fingerprint_is_trusted(
    keys: Keys, tarball: Path
) -> None:
    sig = keys.sign(keys.mimic, tarball)
    check = verify_signature(
        tarball, sig, keys.mimic.keyring, extra_fingerprints=[keys.mimic.fingerprint]
    )
    assert check.fingerprint == keys.mimic.fingerprint
    assert check.signing_key == keys.mimic.fingerprint
    assert check.signer == MIMIC_UID
    assert check.signed_at is not None


def test_fingerprint_in_gpg_display_form_is_accepted(keys: Keys, tarball: Path) -> None:
    sig = keys.sign(keys.mimic, tarball)
    fpr = keys.mimic.fingerprint.lower()
    spaced = " ".join(fpr[i : i + 4] for i in range(0, 40, 4))
    check = verify_signature(
        tarball, sig, keys.mimic.keyring, extra_fingerprints=[spaced]
    )
    assert check.fingerprint == keys.mimic.fingerprint


# --- K04: a valid signature by an unpinned key is refused


def test_k04_unpinned_key_mimicking_a_maintainer_is_rejected(
    keys: Keys, tarball: Path
) -> None:
    sig = keys.sign(keys.mimic, tarball)
    with pytest.raises(UntrustedKeyError) as caught:
        verify_signature(tarball, sig, keys.mimic.keyring)
    message = str(caught.value)
    assert caught.value.fingerprint == keys.mimic.fingerprint
    assert keys.mimic.fingerprint in message
    assert "not a pinned Exim maintainer key" in message


@pytest.mark.parametrize("which", ["short_id", "long_id", "uid", "email"])
def test_k04_short_ids_and_user_ids_are_never_trusted(
    keys: Keys, tarball: Path, which: str
) -> None:
    value = {
        "short_id": keys.mimic.short_id,
        "long_id": keys.mimic.long_id,
        "uid": MIMIC_UID,
        "email": "jgh@exim.org",
    }[which]
    sig = keys.sign(keys.mimic, tarball)
    with pytest.raises(FingerprintError) as caught:
        verify_signature(tarball, sig, keys.mimic.keyring, extra_fingerprints=[value])
    assert "full 40-hex-digit fingerprint" in str(caught.value)


def test_k04_end_to_end_through_obtain_source(
    upstream: Upstream, tmp_path: Path
) -> None:
    site = url_site(upstream, tmp_path)
    with pytest.raises(UntrustedKeyError):
        obtain_source(site)
    with pytest.raises(FingerprintError):
        obtain_source(site, extra_fingerprints=[upstream.keys.mimic.short_id])


def test_k04_signing_subkey_of_a_pinned_primary_is_accepted(
    keys: Keys, tarball: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = keys.with_subkey
    sig = keys.sign(key, tarball)
    monkeypatch.setattr(
        signature_module,
        "PINNED_FINGERPRINTS",
        PINNED_FINGERPRINTS | {key.fingerprint},
    )
    check = verify_signature(tarball, sig, key.keyring)
    assert check.pinned
    assert check.fingerprint == key.fingerprint
    assert check.signing_key == key.signing_key != key.fingerprint


def test_k04_trusting_only_the_subkey_is_not_enough(keys: Keys, tarball: Path) -> None:
    key = keys.with_subkey
    sig = keys.sign(key, tarball)
    with pytest.raises(UntrustedKeyError) as caught:
        verify_signature(
            tarball, sig, key.keyring, extra_fingerprints=[key.signing_key]
        )
    assert caught.value.fingerprint == key.fingerprint


# --- each other failure


def test_missing_signature_file(keys: Keys, tarball: Path) -> None:
    with pytest.raises(MissingSignatureError) as caught:
        verify_signature(tarball, tarball.with_name("absent.asc"), keys.mimic.keyring)
    assert "absent.asc does not exist" in str(caught.value)


def test_signature_file_that_is_not_a_signature(keys: Keys, tarball: Path) -> None:
    sig = tarball.with_name("junk.asc")
    sig.write_text("this is not a signature\n")
    with pytest.raises(MissingSignatureError, match="not an OpenPGP signature"):
        verify_signature(tarball, sig, keys.mimic.keyring)


def test_unknown_key(keys: Keys, tarball: Path) -> None:
    sig = keys.sign(keys.mimic, tarball)
    with pytest.raises(UnknownKeyError) as caught:
        verify_signature(
            tarball,
            sig,
            keys.other.keyring,
            extra_fingerprints=[keys.mimic.fingerprint],
        )
    message = str(caught.value)
    assert "not in the keyring" in message
    assert "no public key" in message
    assert keys.mimic.fingerprint in message


def test_bad_signature_on_tampered_tarball(keys: Keys, tarball: Path) -> None:
    sig = keys.sign(keys.mimic, tarball)
    data = bytearray(tarball.read_bytes())
    data[1000] ^= 0xFF
    tarball.write_bytes(bytes(data))
    with pytest.raises(BadSignatureError) as caught:
        verify_signature(
            tarball,
            sig,
            keys.mimic.keyring,
            extra_fingerprints=[keys.mimic.fingerprint],
        )
    assert "BAD signature" in str(caught.value)
    assert "altered" in str(caught.value)


def test_signature_of_another_file(keys: Keys, tarball: Path) -> None:
    other = tarball.with_name("exim-4.98.tar.xz")
    other.write_bytes(b"another release\n")
    sig = keys.sign(keys.mimic, other)
    with pytest.raises(BadSignatureError) as caught:
        verify_signature(
            tarball,
            sig,
            keys.mimic.keyring,
            extra_fingerprints=[keys.mimic.fingerprint],
        )
    assert "signature is for another file" in str(caught.value)


def test_expired_key_is_refused_even_when_trusted(keys: Keys, tarball: Path) -> None:
    key = keys.expired
    sig = keys.sign(key, tarball, None, "--faked-system-time=20200101T000100")
    with pytest.raises(ExpiredKeyError) as caught:
        verify_signature(
            tarball, sig, key.keyring, extra_fingerprints=[key.fingerprint]
        )
    assert "has expired" in str(caught.value)


def test_revoked_key_is_refused_even_when_trusted(keys: Keys, tarball: Path) -> None:
    key = keys.revoked
    sig = keys.sign(key, tarball)
    revoke(keys)
    with pytest.raises(RevokedKeyError) as caught:
        verify_signature(
            tarball, sig, key.keyring, extra_fingerprints=[key.fingerprint]
        )
    assert "has been revoked" in str(caught.value)


def test_missing_or_empty_keyring(keys: Keys, tarball: Path) -> None:
    sig = keys.sign(keys.mimic, tarball)
    with pytest.raises(SignatureError, match="does not exist"):
        verify_signature(tarball, sig, tarball.with_name("nokeys.asc"))
    empty = tarball.with_name("empty.asc")
    empty.write_text("")
    with pytest.raises(SignatureError, match="holds no OpenPGP public keys"):
        verify_signature(tarball, sig, empty)


def test_each_failure_has_its_own_exception_type() -> None:
    kinds = [
        MissingSignatureError,
        UnknownKeyError,
        BadSignatureError,
        UntrustedKeyError,
        ExpiredKeyError,
        RevokedKeyError,
    ]
    assert len(set(kinds)) == len(kinds)
    assert all(issubclass(k, SignatureError) for k in kinds)
