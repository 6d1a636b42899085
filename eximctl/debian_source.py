"""Debian's exim4 source package as an Exim source.

apt downloads the package, whose index the Debian archive signs. From it
eximctl takes the upstream tarball ``exim4_X.orig.tar.xz``, the upstream
signature ``exim4_X.orig.tar.xz.asc`` and the maintainers' keys that Debian
ships as ``debian/upstream/signing-key.asc``. The upstream signature is then
checked against the pinned fingerprints like any other source.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cmp_to_key
from pathlib import Path

from eximctl.errors import CommandError, DownloadError, VersionNotAvailableError

log = logging.getLogger(__name__)

APT_DIR = Path("/etc/apt")
DEB_SRC_FILE = "eximctl-deb-src.sources"
PACKAGE = "exim4"
SIGNING_KEY_MEMBER = "debian/upstream/signing-key.asc"

_NON_DIGITS = re.compile(r"^\D*")
_DIGITS = re.compile(r"^\d*")

Runner = Callable[[Sequence[str], Path | None], "subprocess.CompletedProcess[str]"]


def run_command(
    command: Sequence[str], cwd: Path | None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with C-locale output captured; a failure is returned, not raised."""
    env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    log.debug("running %s in %s", " ".join(command), cwd or ".")
    return subprocess.run(
        list(command),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )


@dataclass(frozen=True)
class AptEntry:
    """One enabled 'deb' entry of the apt sources."""

    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str = ""


@dataclass(frozen=True)
class DebianSource:
    """The files of one downloaded exim4 source package."""

    debian_version: str
    version: str
    orig_tarball: Path
    signature: Path
    signing_key: Path | None


# --- apt sources -----------------------------------------------------------


def _source_files(apt_dir: Path) -> list[Path]:
    files = [apt_dir / "sources.list"]
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        files += sorted(parts.glob("*.list")) + sorted(parts.glob("*.sources"))
    return [f for f in files if f.is_file()]


def _stanzas(text: str) -> list[dict[str, str]]:
    """Parse deb822 text into stanzas (continuation lines joined, comments dropped)."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            current[key] = value.strip()
    return stanzas


def has_deb_src(apt_dir: Path = APT_DIR) -> bool:
    """True if any apt source file has an enabled deb-src entry."""
    for path in _source_files(apt_dir):
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".list":
            if any(line.split()[:1] == ["deb-src"] for line in text.splitlines()):
                return True
            continue
        for stanza in _stanzas(text):
            enabled = stanza.get("enabled", "yes").lower() != "no"
            if enabled and "deb-src" in stanza.get("types", "").split():
                return True
    return False


def deb_entries(apt_dir: Path = APT_DIR) -> list[AptEntry]:
    """Return the enabled 'deb' entries of the Debian archive (URI path /debian...)."""
    entries: list[AptEntry] = []
    for path in _source_files(apt_dir):
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".list":
            entries += _one_line_entries(text)
            continue
        for stanza in _stanzas(text):
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in stanza.get("types", "").split():
                continue
            entries.append(
                AptEntry(
                    uris=tuple(stanza.get("uris", "").split()),
                    suites=tuple(stanza.get("suites", "").split()),
                    components=tuple(stanza.get("components", "").split()),
                    signed_by=stanza.get("signed-by", ""),
                )
            )
    # Third-party repositories rarely publish sources; apt-get update would
    # fail on their missing Sources index. Keep the Debian archive only.
    return [e for e in entries if e.uris and any(_is_debian(u) for u in e.uris)]


def _is_debian(uri: str) -> bool:
    return (
        re.search(r"/debian(?:-security|-ports)?/?$", uri.rstrip("/") + "/") is not None
    )


def _one_line_entries(text: str) -> list[AptEntry]:
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        options: dict[str, str] = {}
        match = re.match(r"^deb\s+\[([^\]]*)\]\s+(.*)$", line)
        rest = line[3:].strip()
        if match:
            for option in match.group(1).split():
                name, _, value = option.partition("=")
                options[name] = value
            rest = match.group(2)
        fields = rest.split()
        if len(fields) >= 2:
            entries.append(
                AptEntry(
                    uris=(fields[0],),
                    suites=(fields[1],),
                    components=tuple(fields[2:]),
                    signed_by=options.get("signed-by", ""),
                )
            )
    return entries


def render_deb_src(entries: Sequence[AptEntry]) -> str:
    """Return a deb822 file that mirrors ``entries`` as deb-src entries."""
    stanzas = []
    for entry in entries:
        lines = [
            "Types: deb-src",
            f"URIs: {' '.join(entry.uris)}",
            f"Suites: {' '.join(entry.suites)}",
        ]
        if entry.components:
            lines.append(f"Components: {' '.join(entry.components)}")
        if entry.signed_by:
            # An inline key continues on lines that start with a space.
            first, *rest = entry.signed_by.split("\n")
            lines.append(f"Signed-By: {first}")
            lines += [f" {line}" if line else " ." for line in rest]
        stanzas.append("\n".join(lines))
    header = "# Written by eximctl: source entries for 'apt-get source exim4'.\n"
    return header + "\n\n".join(stanzas) + "\n"


def ensure_deb_src(apt_dir: Path = APT_DIR, run: Runner = run_command) -> bool:
    """Add deb-src entries and run apt-get update unless some exist; True if added."""
    if has_deb_src(apt_dir):
        return False
    entries = deb_entries(apt_dir)
    if not entries:
        raise DownloadError(
            "apt sources",
            f"no Debian 'deb' entry in {apt_dir} to mirror as 'deb-src'; add a "
            "deb-src entry for the Debian archive",
        )
    target = apt_dir / "sources.list.d" / DEB_SRC_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_deb_src(entries), encoding="utf-8")
    log.warning("added Debian source entries in %s; running apt-get update", target)
    _check(run(["apt-get", "update"], None), ["apt-get", "update"])
    return True


def _check(result: subprocess.CompletedProcess[str], command: list[str]) -> None:
    if result.returncode != 0:
        raise CommandError(command, result.returncode, result.stdout or "")


# --- versions ----------------------------------------------------------------


def list_versions(run: Runner = run_command) -> list[str]:
    """Return the exim4 source versions that apt lists, newest first."""
    command = ["apt-cache", "showsrc", PACKAGE]
    result = run(command, None)
    _check(result, command)
    versions: list[str] = []
    for stanza in _stanzas(result.stdout):
        version = stanza.get("version", "")
        if stanza.get("package") == PACKAGE and version and version not in versions:
            versions.append(version)
    return sorted(versions, key=cmp_to_key(compare_versions), reverse=True)


def upstream_version(debian_version: str) -> str:
    """'1:4.96-15+deb12u10' -> '4.96': no epoch, no Debian revision."""
    version = debian_version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def compare_versions(a: str, b: str) -> int:
    """Compare Debian version strings as dpkg does: -1, 0 or 1."""

    def split(version: str) -> tuple[int, str, str]:
        epoch, _, rest = (
            version.rpartition(":") if ":" in version else ("0", "", version)
        )
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        return int(epoch or 0), upstream, revision

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    while a or b:
        na, nb = _NON_DIGITS.match(a), _NON_DIGITS.match(b)
        sa = na.group(0) if na else ""
        sb = nb.group(0) if nb else ""
        for i in range(max(len(sa), len(sb))):
            oa = _order(sa[i]) if i < len(sa) else 0
            ob = _order(sb[i]) if i < len(sb) else 0
            if oa != ob:
                return -1 if oa < ob else 1
        a, b = a[len(sa) :], b[len(sb) :]
        da, db = _DIGITS.match(a), _DIGITS.match(b)
        ta = da.group(0) if da else ""
        tb = db.group(0) if db else ""
        if int(ta or 0) != int(tb or 0):
            return -1 if int(ta or 0) < int(tb or 0) else 1
        a, b = a[len(ta) :], b[len(tb) :]
    return 0


# --- download ----------------------------------------------------------------


def download(
    dest: Path,
    pinned: str = "",
    *,
    apt_dir: Path = APT_DIR,
    run: Runner = run_command,
) -> DebianSource:
    """Download the newest exim4 source that apt can fetch into ``dest``.

    ``pinned`` is an upstream version ('4.96') or a full Debian version. The
    candidates are tried newest first. A failed download is logged and the
    next older version is tried, because an index can list a version whose
    files the mirror no longer serves (HTTP 404).
    """
    ensure_deb_src(apt_dir, run)
    versions = list_versions(run)
    if pinned:
        candidates = [v for v in versions if pinned in (v, upstream_version(v))]
        if not candidates:
            available = sorted({upstream_version(v) for v in versions})
            raise VersionNotAvailableError(
                pinned, available, "Debian's exim4 source package"
            )
    else:
        candidates = versions
    if not candidates:
        raise DownloadError("apt-get source exim4", "apt knows no exim4 source package")

    dest.mkdir(parents=True, exist_ok=True)
    failures = []
    for version in candidates:
        command = ["apt-get", "source", "--download-only", f"{PACKAGE}={version}"]
        result = run(command, dest)
        if result.returncode != 0:
            reason = _last_error(result.stdout)
            # Often an older version succeeds next, so this is not yet a
            # problem for the user; the final error lists every failure.
            log.info("apt-get source %s=%s failed: %s", PACKAGE, version, reason)
            failures.append(f"{version}: {reason}")
            continue
        try:
            return _package_files(dest, version)
        except DownloadError as exc:
            log.warning("exim4 source %s is incomplete: %s", version, exc)
            failures.append(f"{version}: {exc}")
    raise DownloadError(
        "apt-get source exim4",
        "no candidate version could be downloaded (" + "; ".join(failures) + ")",
    )


def _last_error(output: str) -> str:
    lines = [line for line in (output or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E:")]
    # apt's first error names the URL and the HTTP status; the last one is
    # only "Failed to fetch some archives".
    return (errors[:1] or lines[-1:] or ["no output"])[0].strip()


def _package_files(dest: Path, version: str) -> DebianSource:
    plain = version.split(":", 1)[-1]
    dsc = dest / f"{PACKAGE}_{plain}.dsc"
    if not dsc.is_file():
        raise DownloadError(str(dsc), "apt-get source left no .dsc file")
    names = _dsc_files(dsc.read_text(encoding="utf-8", errors="replace"))
    orig = next((n for n in names if re.search(r"\.orig\.tar\.\w+$", n)), "")
    debian = next((n for n in names if re.search(r"\.debian\.tar\.\w+$", n)), "")
    if not orig:
        raise DownloadError(str(dsc), "the .dsc lists no .orig tarball")
    for name in (orig, debian):
        if name and not (dest / name).is_file():
            raise DownloadError(str(dest / name), "apt-get source did not download it")
    upstream = upstream_version(version)
    key = _signing_key(dest / debian, dest / f"{PACKAGE}_{upstream}.signing-key.asc")
    return DebianSource(
        debian_version=version,
        version=upstream,
        orig_tarball=dest / orig,
        signature=dest / f"{orig}.asc",
        signing_key=key,
    )


def _dsc_files(text: str) -> list[str]:
    for stanza in _stanzas(text.replace("-----BEGIN PGP SIGNED MESSAGE-----", "")):
        if "files" in stanza:
            return [line.split()[-1] for line in stanza["files"].splitlines()[1:]]
    return []


def _signing_key(debian_tar: Path, target: Path) -> Path | None:
    """Copy debian/upstream/signing-key.asc out of the Debian tarball."""
    if not debian_tar.name or not debian_tar.is_file():
        return None
    try:
        with tarfile.open(debian_tar, "r:*") as tar:
            member = tar.getmember(SIGNING_KEY_MEMBER)
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is None:
                return None
            data = handle.read()
    except KeyError:
        return None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(str(debian_tar), f"cannot read it ({exc})") from exc
    target.write_bytes(data)
    return target
