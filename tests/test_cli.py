"""The command line: help on every command, exit codes and error lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from eximctl.cli import main

COMMANDS = ["build", "configure", "verify", "zones", "lab"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_command(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert (
        "Usage: main" in result.output or f"Usage: eximctl {command}" in result.output
    )
    assert "--help" in result.output


def test_unknown_option_is_usage_error() -> None:
    result = CliRunner().invoke(main, ["build", "--no-such-option"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_bad_site_file_exits_1_with_key(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        'accounts = ["ann"]\n[host]\nname = "mail.example.test"\nport = 25\n'
    )
    result = CliRunner().invoke(main, ["--site", str(site), "configure", "--dry-run"])
    assert result.exit_code == 1
    assert f"error: site file {site}: host.port: unknown key" in result.output
    assert "Traceback" not in result.output


def test_debug_shows_traceback(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("not toml [")
    result = CliRunner().invoke(main, ["--debug", "--site", str(site), "configure"])
    assert result.exit_code == 1
    assert result.exception is not None
    assert "invalid TOML" in str(result.exception)


def test_untrusted_fingerprint_option_rejected(tmp_path: Path) -> None:
    tarball = tmp_path / "exim-4.99.tar.xz"
    tarball.write_bytes(b"")
    result = CliRunner().invoke(
        main,
        ["build", "--tarball", str(tarball), "--trust-fingerprint", "E41F32DF"],
    )
    assert result.exit_code == 2
    assert "E41F32DF" in result.output
    assert "full 40-hex-digit fingerprint" in result.output


def test_conflicting_sources_are_usage_error() -> None:
    result = CliRunner().invoke(
        main, ["build", "--mirror", "http://127.0.0.1:1/", "--from-debian"]
    )
    assert result.exit_code == 2
    assert "--mirror and --from-debian conflict" in result.output


def test_mirror_replaces_debian_source() -> None:
    # Nothing listens on 127.0.0.1 port 1, so the download must fail there,
    # proving the mirror was used instead of the site's Debian source.
    result = CliRunner().invoke(main, ["build", "--mirror", "http://127.0.0.1:1/"])
    assert result.exit_code == 1
    assert "127.0.0.1:1" in result.output


def test_missing_site_file_is_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["--site", str(tmp_path / "none.toml"), "check-site"]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_check_site_prints_domains() -> None:
    result = CliRunner().invoke(main, ["check-site"])
    assert result.exit_code == 0
    assert "valid site for mail.eximctl.test" in result.output
    assert "eximctl.test (local)" in result.output


def test_check_site_warns_on_tls_required_port_25(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        'accounts = ["ann"]\n[host]\nname = "mail.example.test"\n'
        '[tls]\nrequired_ports = [25]\n[[domains]]\nname = "example.test"\n'
    )
    result = CliRunner().invoke(main, ["--site", str(site), "check-site"])
    assert result.exit_code == 0
    assert "warning: tls.required_ports includes 25" in result.output


def test_check_site_missing_certificate(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        'accounts = ["ann"]\n[host]\nname = "mail.example.test"\n'
        f'[tls]\ncertificate = "{tmp_path}/none.crt"\nkey = "{tmp_path}/none.key"\n'
        '[[domains]]\nname = "example.test"\n'
    )
    result = CliRunner().invoke(main, ["--site", str(site), "check-site"])
    assert result.exit_code == 1
    assert f"{tmp_path}/none.crt: not found; fix tls.certificate" in result.output
