"""The 'eximctl zones' command: lab default, --site, --check and exit codes."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from eximctl.cli import main

SITE = """
accounts = ["ann"]
[aliases]
postmaster = "ann"
abuse = "ann"
[host]
name = "mail.example.org"
addresses = ["192.0.2.40"]
[build]
group = "mail"
config_directory = "{tmp}/etc"
[[domains]]
name = "example.org"
kind = "local"
spf = "v=spf1 mx -all"
mx = [{{ host = "mail.example.org", preference = 10, addresses = ["192.0.2.40"] }}]
"""
LAB_ZONES = ["alpha.test", "beta.test", "inbox.test", "lab.test", "relay.test"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def write_site(tmp_path: Path) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(SITE.format(tmp=tmp_path))
    return path


def test_site_zones_written_then_unchanged(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    directory = tmp_path / "zones"
    code, output = run("--site", str(site), "zones", "--directory", str(directory))
    assert code == 0, output
    # The site's own host is the name server, so no lab zone is written.
    assert output.splitlines() == [f"{directory}/example.org.zone: written"]
    code, output = run("--site", str(site), "zones", "--directory", str(directory))
    assert code == 0, output
    assert output.splitlines() == [f"{directory}/example.org.zone: unchanged"]


def test_nameserver_option(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    directory = tmp_path / "zones"
    args = ["--site", str(site), "zones", "--directory", str(directory)]
    code, output = run(*args, "--nameserver", "ns1.example.org=192.0.2.54")
    assert code == 0, output
    text = (directory / "example.org.zone").read_text()
    assert "example.org. 3600 IN NS ns1.example.org.\n" in text
    assert "ns1.example.org. 3600 IN A 192.0.2.54\n" in text
    code, output = run(*args, "--nameserver", "ns1.example.org")
    assert code == 2
    assert "use NAME=ADDRESS" in output


def test_lab_default_and_check(tmp_path: Path) -> None:
    directory = tmp_path / "zones"
    code, output = run("zones", "--directory", str(directory))
    assert code == 0, output
    names = sorted([*LAB_ZONES, "sub.alpha.test"])
    assert output.splitlines() == [f"{directory}/{n}.zone: written" for n in names]
    code, output = run("zones", "--check", "--directory", str(directory))
    assert code == 0, output
    assert "every zone file passed the checks" in output


def test_check_lists_each_problem(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    directory = tmp_path / "zones"
    run("--site", str(site), "zones", "--directory", str(directory))
    path = directory / "example.org.zone"
    text = path.read_text().replace('"v=spf1 mx -all"', '"v=spf1 mx bogus -all"')
    text += '_dmarc.example.org. 3600 IN TXT "v=DMARC1; sp=none; p=none"\n'
    path.write_text(text)
    code, output = run(
        "--site", str(site), "zones", "--check", "--directory", str(directory)
    )
    assert code == 1
    lines = output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith('zone record example.org. TXT "v=spf1 mx bogus -all"')
    assert "unknown SPF mechanism" in lines[0]
    assert "first tag after v=DMARC1 must be p=" in lines[1]


def test_invalid_site_value_exits_1(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    site.write_text(
        site.read_text().replace(
            'kind = "local"', 'kind = "local"\ndmarc = "v=DMARC1; p=rejcet"'
        )
    )
    code, output = run("--site", str(site), "zones", "--directory", str(tmp_path / "z"))
    assert code == 1
    assert "domains[0].dmarc" in output
    assert "invalid DMARC policy p=rejcet" in output
