"""Download source files into the cache: streamed, resumable, sanity-checked.

A complete download is stored as ``NAME`` with a ``NAME.sha256`` sidecar. An
unfinished one is kept as ``NAME.part``, and the next run resumes it with an
HTTP Range request. A cached file is never trusted because it is cached: the caller
always checks its signature again. Empty, truncated or non-tar downloads fail
here, as a :class:`DownloadError`, before any signature is looked at.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import logging
import lzma
import re
import sys
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload
from urllib.parse import urljoin

import click
import requests

from eximctl.errors import DownloadError

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

log = logging.getLogger(__name__)

MIN_TARBALL_SIZE = 100 * 1024
"""No real Exim tarball is smaller; a shorter file is a truncated download."""

CHUNK_SIZE = 64 * 1024
TIMEOUT = (15.0, 60.0)
_HEADERS = {"Accept-Encoding": "identity", "User-Agent": "eximctl"}

_HREF = re.compile(r"""href\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_TARBALL_NAME = re.compile(r"^exim-(\d+\.\d+(?:\.\d+)?)\.tar\.xz$")
_CONTENT_RANGE = re.compile(r"^bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$")


@dataclass(frozen=True)
class CachedFile:
    """A file in the download cache and the SHA-256 of its current content."""

    path: Path
    sha256: str
    from_cache: bool
    changed: bool = False
    """True when a cached file no longer matches its ``.sha256`` sidecar."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def parse_index(html: str) -> list[str]:
    """Return the Exim versions of an index page's exim-X.Y[.Z].tar.xz, oldest first."""
    versions = set()
    for href in _HREF.findall(html):
        match = _TARBALL_NAME.match(href.rsplit("/", 1)[-1])
        if match:
            versions.add(match.group(1))
    return sorted(versions, key=version_key)


def fetch_text(url: str, session: requests.Session | None = None) -> str:
    """GET a small text resource such as a directory index."""
    session = session or requests.Session()
    try:
        response = session.get(url, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise DownloadError(url, str(exc)) from exc
    if response.status_code != 200:
        raise DownloadError(url, f"HTTP {response.status_code} {response.reason}")
    return response.text


@overload
def fetch(
    url: str,
    dest: Path,
    *,
    tarball: bool = ...,
    missing_ok: Literal[False] = ...,
    session: requests.Session | None = ...,
    progress: bool | None = ...,
) -> CachedFile: ...


@overload
def fetch(
    url: str,
    dest: Path,
    *,
    tarball: bool = ...,
    missing_ok: bool,
    session: requests.Session | None = ...,
    progress: bool | None = ...,
) -> CachedFile | None: ...


def fetch(
    url: str,
    dest: Path,
    *,
    tarball: bool = False,
    missing_ok: bool = False,
    session: requests.Session | None = None,
    progress: bool | None = None,
) -> CachedFile | None:
    """Return ``dest``, downloading ``url`` into it unless a complete copy is cached.

    ``tarball`` applies the size floor and the tar check. With ``missing_ok``
    an HTTP 404 returns None instead of raising. ``progress`` None shows a
    progress bar only when stderr is a terminal.
    """
    sidecar = sidecar_path(dest)
    if dest.is_file() and sidecar.is_file():
        digest = sha256_of(dest)
        recorded = sidecar.read_text(encoding="ascii").split(maxsplit=1)[:1]
        changed = recorded != [digest]
        if changed:
            log.warning(
                "cached %s no longer matches its recorded sha256; its signature "
                "is checked again",
                dest,
            )
        else:
            log.info("using cached %s (sha256 %s)", dest, digest)
        return CachedFile(dest, digest, from_cache=True, changed=changed)

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest)
    if dest.is_file():
        # A file without its sidecar was never recorded as complete.
        dest.replace(part)
    if not _download(url, part, session or requests.Session(), progress, missing_ok):
        return None
    try:
        check_download(part, url, tarball=tarball)
    except DownloadError:
        # The server sent all it promised, so resuming cannot repair it.
        part.unlink(missing_ok=True)
        raise
    digest = sha256_of(part)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(f"{digest}  {dest.name}\n", encoding="ascii")
    tmp.replace(sidecar)
    part.replace(dest)
    log.info("downloaded %s (sha256 %s)", url, digest)
    return CachedFile(dest, digest, from_cache=False)


def check_download(path: Path, origin: str, *, tarball: bool) -> None:
    """Raise DownloadError if ``path`` is empty, too short or not a tar archive."""
    size = path.stat().st_size
    if size == 0:
        raise DownloadError(origin, "the file is empty (0 bytes)")
    if not tarball:
        return
    if size < MIN_TARBALL_SIZE:
        raise DownloadError(
            origin,
            f"the file is truncated: {size} bytes is shorter than any Exim "
            f"tarball (at least {MIN_TARBALL_SIZE} bytes)",
        )
    try:
        with _decompressed(path) as raw:
            with tarfile.open(fileobj=raw, mode="r:") as archive:
                count = sum(1 for _ in archive)
            # Read to the end: a tarball cut short after its last member
            # still lacks the end of its compressed stream.
            while raw.read(CHUNK_SIZE):
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        raise DownloadError(
            origin,
            f"the file is truncated or corrupt: not a readable tar archive ({exc})",
        ) from exc
    if count == 0:
        raise DownloadError(origin, "the file is a tar archive with no members")


def _decompressed(path: Path) -> io.BufferedIOBase:
    with path.open("rb") as handle:
        magic = handle.read(6)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path)
    if magic.startswith(b"BZh"):
        return bz2.open(path)
    return path.open("rb")


def _download(
    url: str,
    part: Path,
    session: requests.Session,
    progress: bool | None,
    missing_ok: bool,
) -> bool:
    """Download ``url`` into ``part``, resuming it; False if 404 and missing_ok."""
    for _attempt in range(2):
        offset = part.stat().st_size if part.is_file() else 0
        headers = dict(_HEADERS)
        if offset:
            headers["Range"] = f"bytes={offset}-"
            log.info("resuming %s at byte %d", url, offset)
        try:
            with session.get(
                url, headers=headers, stream=True, timeout=TIMEOUT
            ) as resp:
                status = resp.status_code
                if status == 404 and missing_ok:
                    return False
                content_range = _parse_content_range(resp.headers.get("Content-Range"))
                if status == 416 and offset:
                    if content_range and content_range[2] == offset:
                        return True  # the partial file was already complete
                    part.unlink()
                    continue
                total: int | None
                if status == 206 and offset:
                    if not content_range or content_range[0] != offset:
                        part.unlink()
                        continue
                    mode = "ab"
                    total = content_range[2]
                elif status == 200:
                    mode, offset = "wb", 0
                    total = _int_header(resp.headers.get("Content-Length"))
                else:
                    raise DownloadError(url, f"HTTP {status} {resp.reason}")
                expected = _int_header(resp.headers.get("Content-Length"))
                received = _save(resp, part, mode, offset, total, show=progress)
        except requests.RequestException as exc:
            raise DownloadError(
                url,
                f"{exc} (the partial file {part} is kept; the next run resumes it)",
            ) from exc
        if expected is not None and received != expected:
            raise DownloadError(
                url,
                f"the download is truncated: received {received} of "
                f"{expected} bytes (Content-Length)",
            )
        return True
    raise DownloadError(url, "the server does not resume downloads consistently")


def _save(
    resp: requests.Response,
    part: Path,
    mode: str,
    offset: int,
    total: int | None,
    *,
    show: bool | None,
) -> int:
    received = 0
    # Count the bytes here instead: urllib3 would raise on a short body and
    # drop what it had read, which the next run could otherwise resume from.
    resp.raw.enforce_content_length = False
    with part.open(mode) as out, _progress(part.stem, total, offset, show) as advance:
        for chunk in resp.iter_content(CHUNK_SIZE):
            out.write(chunk)
            received += len(chunk)
            advance(len(chunk))
    return received


@contextmanager
def _progress(
    label: str, total: int | None, done: int, show: bool | None
) -> Iterator[Callable[[int], None]]:
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        yield _ignore
        return
    bar: ProgressBar[int]
    with click.progressbar(
        length=total, label=f"downloading {label}", file=sys.stderr
    ) as bar:
        if done:
            bar.update(done)
        yield bar.update


def _ignore(_count: int) -> None:
    pass


def _parse_content_range(value: str | None) -> tuple[int, int, int] | None:
    match = _CONTENT_RANGE.match((value or "").strip())
    if not match or match.group(3) == "*":
        return None
    start, end, total = match.groups()
    return (int(start or -1), int(end or -1), int(total))


def _int_header(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def index_url(base: str, name: str) -> str:
    return urljoin(base if base.endswith("/") else base + "/", name)
