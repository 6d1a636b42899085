"""Downloading from an upstream-like server: cache, resume, K03 and versions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from support.source_helpers import (
    FOLDER,
    TARBALL,
    Keys,
    Upstream,
    make_site,
    url_site,
)

from eximctl import fetch
from eximctl.errors import (
    BadSignatureError,
    DownloadError,
    MissingSignatureError,
    SignatureError,
    UntrustedKeyError,
    VersionNotAvailableError,
)
from eximctl.site import SourceSection
from eximctl.source import extract_source, obtain_source

SIGNATURE = TARBALL + ".asc"
KEYRING = "Exim-Maintainers-Keyring.asc"

pytest_plugins = ("conftest_source",)


def _trust(up: Upstream) -> list[str]:
    return [up.keys.mimic.fingerprint]


def test_download_verifies_and_records_sha256(
    upstream: Upstream, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    result = obtain_source(
        url_site(upstream, cache), extra_fingerprints=_trust(upstream), progress=False
    )
    digest = hashlib.sha256(upstream.tarball).hexdigest()
    assert result.version == "4.99"
    assert result.sha256 == digest
    assert result.fingerprint == upstream.keys.mimic.fingerprint
    assert result.signer == "Jeremy Harris <jgh@exim.org>"
    assert result.tarball == cache / "exim4" / TARBALL
    assert result.origin == upstream.url + TARBALL
    assert result.pinned is False  # trusted through extra_fingerprints only
    sidecar = fetch.sidecar_path(result.tarball).read_text()
    assert sidecar == f"{digest}  {TARBALL}\n"
    assert not fetch.partial_path(result.tarball).exists()

    source_dir = extract_source(result, tmp_path / "build")
    assert source_dir == tmp_path / "build" / "exim-4.99"
    assert (source_dir / "src" / "exim.c").is_file()


def test_unpinned_version_is_the_newest_in_the_index(
    upstream: Upstream, tmp_path: Path
) -> None:
    result = obtain_source(
        url_site(upstream, tmp_path, kind="mirror"), extra_fingerprints=_trust(upstream)
    )
    assert result.version == "4.99"
    assert upstream.server.requested(FOLDER)


def test_pinned_version_missing_from_index_lists_available(
    upstream: Upstream, tmp_path: Path
) -> None:
    with pytest.raises(VersionNotAvailableError) as caught:
        obtain_source(url_site(upstream, tmp_path, version="4.95"))
    message = str(caught.value)
    assert "Exim 4.95 is not available" in message
    assert "it has: 4.97, 4.98, 4.99" in message
    assert caught.value.available == ["4.97", "4.98", "4.99"]
    assert not upstream.server.requested(FOLDER + "exim-4.95.tar.xz")


def test_mirror_option_overrides_the_site_url(
    upstream: Upstream, tmp_path: Path
) -> None:
    site = make_site(
        SourceSection(url="http://127.0.0.1:9/nowhere/", cache_directory=str(tmp_path))
    )
    result = obtain_source(
        site, mirror=upstream.url, extra_fingerprints=_trust(upstream)
    )
    assert result.origin.startswith(upstream.url)


# --- K03: empty or truncated downloads fail as downloads, before any signature


def _assert_failed_download(exc: DownloadError, up: Upstream, *words: str) -> None:
    message = str(exc)
    assert not isinstance(exc, SignatureError)
    assert message.startswith(f"download of {up.url}{TARBALL} failed:")
    for word in words:
        assert word in message
    for unrelated in ("BAD", "signature", "key"):
        assert unrelated not in message
    # Nothing about signatures was even fetched.
    assert not up.server.requested(FOLDER + SIGNATURE)
    assert not up.server.requested(FOLDER + KEYRING)


def test_k03_empty_download_is_a_failed_download(
    upstream: Upstream, tmp_path: Path
) -> None:
    upstream.server.files[FOLDER + TARBALL] = b""
    with pytest.raises(DownloadError) as caught:
        obtain_source(url_site(upstream, tmp_path), extra_fingerprints=_trust(upstream))
    _assert_failed_download(caught.value, upstream, "empty (0 bytes)")
    assert not (tmp_path / "exim4" / TARBALL).exists()


def test_k03_connection_cut_short_is_a_failed_download(
    upstream: Upstream, tmp_path: Path
) -> None:
    upstream.server.cut_after[FOLDER + TARBALL] = 40_000
    with pytest.raises(DownloadError) as caught:
        obtain_source(url_site(upstream, tmp_path), extra_fingerprints=_trust(upstream))
    _assert_failed_download(caught.value, upstream)
    assert "partial file" in str(caught.value) or "truncated" in str(caught.value)
    # The part is kept for the next run to resume.
    assert fetch.partial_path(tmp_path / "exim4" / TARBALL).stat().st_size == 40_000


def test_k03_short_file_is_a_failed_download(
    upstream: Upstream, tmp_path: Path
) -> None:
    upstream.server.files[FOLDER + TARBALL] = upstream.tarball[:50_000]
    with pytest.raises(DownloadError) as caught:
        obtain_source(url_site(upstream, tmp_path), extra_fingerprints=_trust(upstream))
    _assert_failed_download(caught.value, upstream, "truncated", "50000 bytes")


def test_k03_tarball_cut_near_its_end_is_a_failed_download(
    upstream: Upstream, tmp_path: Path
) -> None:
    # Above the size floor, so only the decompression check can catch it.
    upstream.server.files[FOLDER + TARBALL] = upstream.tarball[:-200]
    with pytest.raises(DownloadError) as caught:
        obtain_source(url_site(upstream, tmp_path), extra_fingerprints=_trust(upstream))
    _assert_failed_download(caught.value, upstream, "truncated or corrupt")
    assert not fetch.partial_path(tmp_path / "exim4" / TARBALL).exists()


def test_k03_non_tar_file_is_a_failed_download(
    upstream: Upstream, tmp_path: Path
) -> None:
    upstream.server.files[FOLDER + TARBALL] = b"<html>mirror error page</html>" * 5000
    with pytest.raises(DownloadError) as caught:
        obtain_source(url_site(upstream, tmp_path), extra_fingerprints=_trust(upstream))
    _assert_failed_download(caught.value, upstream, "not a readable tar archive")


# --- resume and cache


def test_partial_file_is_resumed_with_a_range_request(
    upstream: Upstream, tmp_path: Path
) -> None:
    part = fetch.partial_path(tmp_path / "exim4" / TARBALL)
    part.parent.mkdir(parents=True)
    part.write_bytes(upstream.tarball[:70_000])
    result = obtain_source(
        url_site(upstream, tmp_path), extra_fingerprints=_trust(upstream)
    )
    (request,) = upstream.server.requested(FOLDER + TARBALL)
    assert request.headers.get("Range") == "bytes=70000-"
    assert result.sha256 == hashlib.sha256(upstream.tarball).hexdigest()
    assert fetch.sha256_of(result.tarball) == result.sha256


def test_cut_download_resumes_on_the_next_run(
    upstream: Upstream, tmp_path: Path
) -> None:
    site = url_site(upstream, tmp_path)
    upstream.server.cut_after[FOLDER + TARBALL] = 100_000
    with pytest.raises(DownloadError):
        obtain_source(site, extra_fingerprints=_trust(upstream))
    del upstream.server.cut_after[FOLDER + TARBALL]
    result = obtain_source(site, extra_fingerprints=_trust(upstream))
    first, second = upstream.server.requested(FOLDER + TARBALL)
    assert "Range" not in first.headers
    assert second.headers["Range"] == "bytes=100000-"
    assert result.sha256 == hashlib.sha256(upstream.tarball).hexdigest()


def test_complete_partial_file_is_finished_by_a_416(
    upstream: Upstream, tmp_path: Path
) -> None:
    part = fetch.partial_path(tmp_path / "exim4" / TARBALL)
    part.parent.mkdir(parents=True)
    part.write_bytes(upstream.tarball)
    result = obtain_source(
        url_site(upstream, tmp_path), extra_fingerprints=_trust(upstream)
    )
    assert result.sha256 == hashlib.sha256(upstream.tarball).hexdigest()


def test_cached_pinned_version_needs_no_network_but_is_verified(
    upstream: Upstream, tmp_path: Path
) -> None:
    site = url_site(upstream, tmp_path, version="4.99")
    first = obtain_source(site, extra_fingerprints=_trust(upstream))
    seen = len(upstream.server.requests)
    second = obtain_source(site, extra_fingerprints=_trust(upstream))
    assert len(upstream.server.requests) == seen
    assert second == first
    # The cache does not vouch for anything: without the trusted key it fails.
    with pytest.raises(UntrustedKeyError):
        obtain_source(site)


def test_tampered_cache_fails_verification(upstream: Upstream, tmp_path: Path) -> None:
    site = url_site(upstream, tmp_path, version="4.99")
    result = obtain_source(site, extra_fingerprints=_trust(upstream))
    data = bytearray(result.tarball.read_bytes())
    data[len(data) // 2] ^= 0x01
    result.tarball.write_bytes(bytes(data))
    with pytest.raises(BadSignatureError) as caught:
        obtain_source(site, extra_fingerprints=_trust(upstream))
    assert "BAD signature" in str(caught.value)
    assert "changed since it was downloaded" in str(caught.value)


def test_tampered_cache_with_forged_sidecar_fails_verification(
    upstream: Upstream, tmp_path: Path
) -> None:
    site = url_site(upstream, tmp_path, version="4.99")
    result = obtain_source(site, extra_fingerprints=_trust(upstream))
    with result.tarball.open("ab") as handle:
        handle.write(b"\0" * 512)
    digest = fetch.sha256_of(result.tarball)
    fetch.sidecar_path(result.tarball).write_text(f"{digest}  {TARBALL}\n")
    with pytest.raises(BadSignatureError) as caught:
        obtain_source(site, extra_fingerprints=_trust(upstream))
    assert "BAD signature" in str(caught.value)


def test_missing_signature_on_the_server(upstream: Upstream, tmp_path: Path) -> None:
    del upstream.server.files[FOLDER + SIGNATURE]
    with pytest.raises(MissingSignatureError) as caught:
        obtain_source(url_site(upstream, tmp_path), extra_fingerprints=_trust(upstream))
    assert "no usable signature" in str(caught.value)
    assert "HTTP 404" in str(caught.value)


def test_keyring_option_replaces_the_published_one(
    upstream: Upstream, tmp_path: Path
) -> None:
    with pytest.raises(SignatureError, match="not in the keyring"):
        obtain_source(
            url_site(upstream, tmp_path),
            keyring=upstream.keys.other.keyring,
            extra_fingerprints=_trust(upstream),
        )
    assert not upstream.server.requested(FOLDER + KEYRING)


def test_http_error_is_a_failed_download(upstream: Upstream, tmp_path: Path) -> None:
    del upstream.server.files[FOLDER + TARBALL]
    upstream.server.listed[FOLDER].append(TARBALL)  # listed, but gone
    with pytest.raises(DownloadError, match="HTTP 404"):
        obtain_source(url_site(upstream, tmp_path, version="4.99"))


# --- a local file


def test_file_source(upstream: Upstream, tmp_path: Path) -> None:
    tarball = upstream.files / TARBALL
    site = make_site(
        SourceSection(
            kind="file",
            tarball=TARBALL,
            keyring=str(upstream.keys.mimic.keyring),
            version="4.99",
        ),
        path=upstream.files / "site.toml",
    )
    result = obtain_source(site, extra_fingerprints=_trust(upstream))
    assert result.tarball == tarball
    assert result.signature == upstream.files / SIGNATURE
    assert result.version == "4.99"


def test_file_source_with_wrong_pinned_version(
    upstream: Upstream, tmp_path: Path
) -> None:
    site = make_site(SourceSection(kind="file", version="4.98"))
    with pytest.raises(VersionNotAvailableError, match="it has: 4.99"):
        obtain_source(
            site,
            tarball=upstream.files / TARBALL,
            keyring=upstream.keys.mimic.keyring,
            extra_fingerprints=_trust(upstream),
        )


def test_empty_local_file_is_reported_before_the_signature(tmp_path: Path) -> None:
    tarball = tmp_path / TARBALL
    tarball.write_bytes(b"")
    site = make_site(SourceSection(kind="file"))
    with pytest.raises(DownloadError, match="empty"):
        obtain_source(site, tarball=tarball, keyring=tmp_path / "absent.asc")


def test_keys_fixture_is_shared(keys: Keys) -> None:
    assert keys.mimic.fingerprint != keys.other.fingerprint
