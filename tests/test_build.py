"""The build: dependency preflight, feature check, stamp, real exim -bV."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from eximctl.build import _make, build_site, exim_bv, missing_packages, preflight
from eximctl.errors import CommandError, MissingDependencyError
from eximctl.features import missing_features, parse_bv, required_packages
from eximctl.site import Site
from eximctl.source import obtain_source

BV_WITHOUT_SPF = """Exim version 4.96 #1 built 04-Dec-2026 12:00:00
Support for: crypteq iconv() OpenSSL DKIM DNSSEC Event OCSP PRDR
Lookups (built-in): lsearch wildlsearch nwildlsearch iplsearch dbm dnsdb dsearch
Transports: appendfile/maildir autoreply pipe smtp
"""


def dpkg_database(tmp_path: Path, installed: list[str]) -> Path:
    """Create a dpkg database folder in which only ``installed`` are installed."""
    entries = [
        f"Package: {name}\nStatus: install ok installed\nVersion: 1.0\n"
        "Architecture: amd64\nMaintainer: test <test@example.test>\n"
        "Description: test package\n"
        for name in installed
    ]
    (tmp_path / "status").write_text("\n".join(entries))
    (tmp_path / "updates").mkdir()
    (tmp_path / "info").mkdir()
    return tmp_path


def test_k01_missing_feature_detected() -> None:
    assert missing_features(BV_WITHOUT_SPF, ("tls", "dkim", "spf")) == ["spf"]
    assert missing_features(BV_WITHOUT_SPF, ("tls", "dkim", "maildir")) == []


def test_parse_bv_splits_labels() -> None:
    parsed = parse_bv(BV_WITHOUT_SPF)
    assert "OpenSSL" in parsed["Support for"]
    assert parsed["Transports"][0] == "appendfile/maildir"


def test_k02_pcre2_needed_from_496() -> None:
    assert "libpcre2-dev" in required_packages("4.96", ())
    assert "libpcre2-dev" in required_packages("4.97.1", ())
    assert "libpcre3-dev" in required_packages("4.95", ())
    assert "libpcre2-dev" not in required_packages("4.95", ())


def test_k02_preflight_names_pcre2_package(tmp_path: Path) -> None:
    everything = list(required_packages("4.96", ("tls", "spf")))
    without_pcre2 = [p for p in everything if p != "libpcre2-dev"]
    admindir = dpkg_database(tmp_path, without_pcre2)

    assert missing_packages("4.96", ("tls", "spf"), admindir) == {
        "libpcre2-dev": "PCRE2, needed by Exim 4.96 (4.96 and later)"
    }
    with pytest.raises(MissingDependencyError) as raised:
        preflight("4.96", ("tls", "spf"), install=False, admindir=admindir)
    assert "libpcre2-dev" in str(raised.value)
    assert "apt-get install libpcre2-dev" in str(raised.value)


def test_preflight_names_libspf2_for_spf(tmp_path: Path) -> None:
    admindir = dpkg_database(tmp_path, ["gcc", "make"])
    missing = missing_packages("4.96", ("spf",), admindir)
    assert missing["libspf2-dev"] == "the spf feature"


def test_preflight_passes_on_this_machine() -> None:
    assert missing_packages("4.96", ("tls", "dkim", "spf", "maildir")) == {}


@pytest.mark.exim
def test_k01_built_exim_lists_requested_features(built_site: Site) -> None:
    bv = exim_bv(built_site)
    parsed = parse_bv(bv)
    assert "SPF" in parsed["Support for"]
    assert "DKIM" in parsed["Support for"]
    assert "OpenSSL" in parsed["Support for"]
    assert "appendfile/maildir" in parsed["Transports"]
    assert missing_features(bv, built_site.build.features) == []


@pytest.mark.exim
def test_rebuild_with_same_inputs_is_skipped(built_site: Site) -> None:
    verified = obtain_source(built_site)
    binary = Path(built_site.exim_binary).resolve()
    before = binary.stat().st_mtime_ns

    result = build_site(built_site, verified)

    assert result.skipped
    assert Path(built_site.exim_binary).resolve().stat().st_mtime_ns == before


@pytest.mark.exim
def test_exim_binary_is_setuid_root(built_site: Site) -> None:
    info = Path(built_site.exim_binary).resolve().stat()
    assert info.st_uid == 0
    assert info.st_mode & 0o4000


@pytest.mark.exim
def test_build_cli_shows_signature_and_options(built_site: Site) -> None:
    eximctl = shutil.which("eximctl")
    assert eximctl is not None
    result = subprocess.run(
        [eximctl, "--site", str(built_site.path), "build", "--show-options"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "primary key A986F3A6BD6377D8730958DEBCE58C8CE41F32DF (pinned)" in result.stdout
    )
    assert "SUPPORT_SPF" in result.stdout
    assert f"BIN_DIRECTORY         {built_site.bin_directory}" in result.stdout


@pytest.mark.exim
def test_install_deps_installs_missing_package() -> None:
    # Exim 4.95 needs PCRE1, which nothing else here uses; it is removed
    # first so the preflight really has to install it.
    subprocess.run(["apt-get", "remove", "-y", "-q", "libpcre3-dev"], check=True)
    assert "libpcre3-dev" in missing_packages("4.95", ())

    preflight("4.95", (), install=True)

    assert missing_packages("4.95", ()) == {}


def test_failed_make_shows_log_tail(tmp_path: Path) -> None:
    source = tmp_path / "src" / "exim-9.99"
    source.mkdir(parents=True)
    (source / "Makefile").write_text(
        "all:\n\t@echo compiling step one\n\t@echo 'fatal: pcre2.h: No such file' >&2\n"
        "\t@exit 3\n"
    )
    log_file = tmp_path / "build.log"

    with pytest.raises(CommandError) as raised:
        _make(source, ["make"], log_file, "compiling")

    message = str(raised.value)
    assert raised.value.returncode == 2
    assert "fatal: pcre2.h: No such file" in message
    assert f"(full log: {log_file})" in message
    assert "compiling step one" in log_file.read_text()
