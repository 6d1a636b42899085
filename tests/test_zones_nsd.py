"""Generated zones in NSD: nsd-checkzone loads them and a real NSD serves them."""

from __future__ import annotations

import datetime
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import pytest

from eximctl.dkim_keys import dkim_key_path, dkim_txt_value
from eximctl.lab_sites import LAB_NAMESERVER, lab_sites
from eximctl.site import Site, parse_site
from eximctl.zone_checks import txt_value
from eximctl.zone_files import write_zones
from eximctl.zones import build_zones, dkim_key_files

pytestmark = pytest.mark.skipif(
    shutil.which("nsd") is None, reason="needs NSD (apt-get install nsd)"
)

NS = ("ns.example.net", "192.0.2.53")
DAY = datetime.date(2026, 1, 2)
# The MX host is written without a trailing dot on purpose.
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
[dkim]
selector = "s2026"
bits = 2048
[[domains]]
name = "example.org"
kind = "local"
spf = "v=spf1 mx -all"
mx = [{{ host = "mail.example.org", preference = 10, addresses = ["192.0.2.40"] }}]
"""


def make_site(tmp_path: Path) -> Site:
    return parse_site(SITE.format(tmp=tmp_path), tmp_path / "site.toml")


def checkzone(domain: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsd-checkzone", domain, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_k17_nsd_loads_long_dkim_record(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    directory = tmp_path / "zones"
    write_zones(build_zones([site], NS), directory, today=DAY)
    result = checkzone("example.org", directory / "example.org.zone")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "zone example.org is ok" in result.stdout
    value = dkim_txt_value(dkim_key_path(site, "example.org"))
    assert len(value) > 255


def test_lab_zones_load_in_nsd(tmp_path: Path) -> None:
    sites = lab_sites()
    zones = build_zones(sites, LAB_NAMESERVER, key_root=tmp_path)
    keys = dkim_key_files(sites, tmp_path)
    write_zones(zones, tmp_path / "zones", dkim_keys=keys, today=DAY)
    for domain in zones:
        result = checkzone(domain, tmp_path / "zones" / f"{domain}.zone")
        assert result.returncode == 0, f"{domain}: {result.stdout}{result.stderr}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port: int = udp.getsockname()[1]
    return port


NSD_CONF = """\
server:
    ip-address: 127.0.0.1
    port: {port}
    username: ""
    chroot: ""
    zonesdir: "{dir}"
    pidfile: "{dir}/nsd.pid"
    database: ""
    zonelistfile: "{dir}/zone.list"
    xfrdfile: "{dir}/xfrd.state"
    xfrdir: "{dir}"
    logfile: "{dir}/nsd.log"
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: example.org
    zonefile: example.org.zone
"""


@pytest.fixture
def served_zone(tmp_path: Path) -> Iterator[int]:
    """Serve the example.org zone with NSD on 127.0.0.1; yield the port."""
    write_zones(build_zones([make_site(tmp_path)], NS), tmp_path, today=DAY)
    port = free_port()
    conf = tmp_path / "nsd.conf"
    conf.write_text(NSD_CONF.format(port=port, dir=tmp_path))
    nsd = subprocess.Popen(["nsd", "-d", "-c", str(conf)])
    try:
        wait_for_answer(port, nsd, tmp_path / "nsd.log")
        yield port
    finally:
        nsd.terminate()
        try:
            nsd.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nsd.kill()
            nsd.wait()


def wait_for_answer(port: int, nsd: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if nsd.poll() is not None:
            pytest.fail(f"nsd exited with {nsd.returncode}: {read(log)}")
        try:
            query("example.org", "SOA", port)
            return
        except (dns.exception.Timeout, OSError):
            time.sleep(0.1)
    pytest.fail(f"nsd did not answer on port {port} within 10 s: {read(log)}")


def read(path: Path) -> str:
    return path.read_text() if path.exists() else "(no log)"


def query(name: str, rdtype: str, port: int) -> dns.message.Message:
    request = dns.message.make_query(name, rdtype)
    return dns.query.udp(request, "127.0.0.1", port=port, timeout=1)


def test_k21_served_mx_target_exact(served_zone: int) -> None:
    response = query("example.org", "MX", served_zone)
    answer = response.find_rrset(
        response.answer,
        dns.name.from_text("example.org."),
        dns.rdataclass.IN,
        dns.rdatatype.MX,
    )
    assert [r.exchange.to_text() for r in answer] == ["mail.example.org."]
    assert [r.preference for r in answer] == [10]


def test_served_mx_target_resolves(served_zone: int) -> None:
    response = query("mail.example.org", "A", served_zone)
    assert [r.to_text() for rrset in response.answer for r in rrset] == ["192.0.2.40"]


def test_served_dkim_record_joins(served_zone: int, tmp_path: Path) -> None:
    response = query("s2026._domainkey.example.org", "TXT", served_zone)
    values = [txt_value(r) for rrset in response.answer for r in rrset]
    key = dkim_key_path(make_site(tmp_path), "example.org")
    assert values == [dkim_txt_value(key)]
