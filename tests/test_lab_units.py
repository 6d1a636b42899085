"""Lab pieces that need no namespace: topology, names, rendered files, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eximctl.errors import LabError
from eximctl.lab import nsd, sshd
from eximctl.lab.command import run
from eximctl.lab.hosts import HOSTS, find_host, mail_hosts
from eximctl.lab.mail import lab_site, require_exim
from eximctl.lab.netns import is_program


def test_hosts_have_unique_lab_addresses() -> None:
    addresses = [h.address for h in HOSTS]
    assert len(set(addresses)) == len(addresses)
    assert all(a.startswith("192.0.2.") for a in addresses)


@pytest.mark.parametrize("name", ["mx1", "eximlab-mx1", "mx1.alpha.test", "192.0.2.11"])
def test_find_host_accepts_every_name(name: str) -> None:
    assert find_host(name).namespace == "eximlab-mx1"


def test_find_host_unknown() -> None:
    with pytest.raises(LabError, match="unknown lab host 'mx3'; use one of: dns"):
        find_host("mx3")


def test_mail_hosts_match_their_sites() -> None:
    for host in mail_hosts():
        site = lab_site(host)
        assert site.host.name == host.fqdn
        assert site.host.addresses == (host.address,)
        assert site.daemon.interfaces == (host.address,)
        assert site.configure_file.startswith(f"{host.root}/")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("nsd: main", True), ("nsd", True), ("sshd", False), ("nsd-checkconf", False)],
)
def test_is_program(name: str, expected: bool) -> None:
    assert is_program(name, {"nsd"}) is expected


@pytest.mark.parametrize(
    ("file_name", "zone"),
    [("alpha.test.zone", "alpha.test"), ("beta.test", "beta.test")],
)
def test_zone_name(file_name: str, zone: str) -> None:
    assert nsd.zone_name(Path(file_name)) == zone


def test_require_exim_names_build(tmp_path: Path) -> None:
    with pytest.raises(LabError) as error:
        require_exim(tmp_path / "exim")
    assert f"{tmp_path / 'exim'} not found" in str(error.value)
    assert "run 'eximctl build' first" in str(error.value)
    assert "--no-mail" in str(error.value)


def test_run_reports_command_and_fix() -> None:
    with pytest.raises(LabError) as error:
        run(["sh", "-c", "echo broken >&2; exit 3"], "do the fix")
    message = str(error.value)
    assert "'sh -c echo broken >&2; exit 3' failed with exit code 3" in message
    assert "(broken)" in message
    assert message.endswith("; do the fix")


def test_run_reports_missing_program() -> None:
    with pytest.raises(LabError, match="no-such-program not found; install it"):
        run(["no-such-program"], "install it")


def test_nsd_config_passes_checkconf(tmp_path: Path) -> None:
    zone = nsd.ZoneFile("alpha.test", tmp_path / "alpha.test.zone")
    config = tmp_path / "nsd.conf"
    config.write_text(nsd.render_config([zone]))

    result = subprocess.run(
        ["nsd-checkconf", str(config)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert "ip-address: 192.0.2.53" in config.read_text()
    assert f'zonefile: "{zone.file}"' in config.read_text()


def test_ssh_config_enters_namespaces() -> None:
    text = sshd.render_client_config()
    assert "Host mx1 mx1.alpha.test 192.0.2.11\n" in text
    assert (
        f"ProxyCommand ip netns exec eximlab-mx1 {sys.executable} "
        "-m eximctl.lab.relay %h %p" in text
    )
    assert f"UserKnownHostsFile {sshd.KNOWN_HOSTS}" in text


def test_relay_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eximctl.lab.relay", "192.0.2.11"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "usage: python -m eximctl.lab.relay ADDRESS PORT" in result.stderr
