"""The lab's namespaces, links and routes, and its teardown."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_helpers import (
    in_namespace,
    python_in_namespace,
    require_root,
    write_test_zones,
)

from eximctl.lab import netns, nsd, sshd
from eximctl.lab.control import lab_down, lab_status, lab_up
from eximctl.lab.hosts import HOSTS, NETNS_ETC, PREFIX, SWITCH_NAMESPACE, find_host

pytestmark = pytest.mark.lab


@pytest.fixture
def clean_lab() -> Iterator[None]:
    """Start and end each test with no lab at all."""
    require_root()
    lab_down()
    yield
    lab_down()


def lab_namespaces() -> list[str]:
    output = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[0] for line in output.splitlines() if line.startswith(PREFIX)]


def root_links() -> list[str]:
    output = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split(":")[1].strip() for line in output.splitlines()]


def lab_processes() -> list[str]:
    """Return the live processes that run a lab configuration file."""
    output = subprocess.run(
        ["ps", "-eo", "stat=,args="], capture_output=True, text=True, check=True
    ).stdout
    return [
        line
        for line in output.splitlines()
        if "/var/lib/eximctl/lab" in line and not line.lstrip().startswith("Z")
    ]


def test_up_down_leaves_nothing(clean_lab: None, tmp_path: Path) -> None:
    lab_up(write_test_zones(tmp_path), with_mail=False)
    assert len(lab_namespaces()) == len(HOSTS) + 1
    assert lab_processes()

    lab_down()

    assert lab_namespaces() == []
    assert not [link for link in root_links() if link.startswith("v-")]
    assert not [p for p in (Path("/run/netns")).iterdir() if p.name.startswith(PREFIX)]
    assert lab_processes() == []
    assert not NETNS_ETC.exists() or not list(NETNS_ETC.glob(f"{PREFIX}*"))


def test_down_keeps_documented_files(clean_lab: None, tmp_path: Path) -> None:
    lab_up(write_test_zones(tmp_path), with_mail=False)
    mx1 = find_host("mx1")

    lab_down()

    assert sshd.CLIENT_KEY.is_file()
    assert sshd.host_key(mx1).is_file()
    assert not (mx1.root / "run").exists()
    assert not (find_host("dns").root / "zones").exists()


def test_up_is_idempotent(clean_lab: None, tmp_path: Path) -> None:
    zones = write_test_zones(tmp_path)
    first = lab_up(zones, with_mail=False)
    pids = {s.namespace: sorted(s.processes) for s in first}

    second = lab_up(zones, with_mail=False)

    assert second == first
    assert {s.namespace: sorted(s.processes) for s in second} == pids
    addresses = in_namespace("mx1", "ip", "-4", "-o", "addr", "show", "dev", "eth0")
    assert addresses.stdout.count("inet ") == 1


def test_down_after_interrupted_up(clean_lab: None) -> None:
    # What an 'up' leaves when it stops after wiring mx1: the switch, one
    # host with its /etc/netns files, a process, and a namespace file that
    # was never mounted.
    netns.ensure_switch()
    mx1 = find_host("mx1")
    netns.attach_host(mx1)
    netns.write_netns_etc(mx1)
    sleeper = subprocess.Popen(["ip", "netns", "exec", mx1.namespace, "sleep", "300"])
    broken = netns.RUN_NETNS / f"{PREFIX}broken"
    broken.touch()

    report = lab_down()
    sleeper.wait(timeout=10)

    assert sleeper.returncode != 0
    assert sorted(report.namespaces) == sorted(
        [SWITCH_NAMESPACE, mx1.namespace, f"{PREFIX}broken"]
    )
    assert lab_namespaces() == []
    assert not broken.exists()
    assert not (NETNS_ETC / mx1.namespace).exists()
    assert lab_status() == []


def test_status_reports_half_created_namespace(clean_lab: None) -> None:
    broken = netns.RUN_NETNS / f"{PREFIX}broken"
    broken.touch()

    statuses = lab_status()

    assert [s.namespace for s in statuses] == [f"{PREFIX}broken"]
    assert statuses[0].error


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    require_root()
    lab_down()
    lab_up(write_test_zones(tmp_path_factory.mktemp("zones")), with_mail=False)
    yield
    lab_down()


@pytest.mark.parametrize("host", [h.name for h in HOSTS])
def test_no_default_route(network: None, host: str) -> None:
    namespace = find_host(host).namespace
    result = subprocess.run(
        ["ip", "-n", namespace, "route", "show", "default"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == ""


def test_outside_address_unreachable(network: None) -> None:
    # 'ip route get' computes the route without sending a packet.
    result = in_namespace("mx1", "ip", "route", "get", "8.8.8.8")
    assert result.returncode != 0
    assert "Network is unreachable" in result.stderr


@pytest.mark.parametrize("host", [h.name for h in HOSTS])
def test_host_address_and_loopback(network: None, host: str) -> None:
    lab_host = find_host(host)
    eth0 = in_namespace(host, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
    lo = in_namespace(host, "ip", "-o", "link", "show", "lo")
    assert f"inet {lab_host.address}/24 " in eth0.stdout
    assert "UP" in lo.stdout.split(">")[0]


def test_lab_hosts_reach_each_other(network: None) -> None:
    code = "import socket; socket.create_connection(('192.0.2.11', 22), 5).close()"
    result = python_in_namespace("inbox", code)
    assert result.returncode == 0, result.stderr


def test_resolv_conf_points_at_lab_dns(network: None) -> None:
    result = in_namespace("mx1", "cat", "/etc/resolv.conf")
    assert result.stdout.splitlines()[0] == "nameserver 192.0.2.53"


def test_root_namespace_has_no_lab_link(network: None) -> None:
    assert not [link for link in root_links() if link.startswith("v-")]


def test_up_serves_generated_zones(clean_lab: None) -> None:
    first = lab_up(with_mail=False)
    query = (
        "import dns.resolver\n"
        "for rdata in dns.resolver.resolve('beta.test', 'MX'):\n"
        "    print(rdata.to_text())\n"
    )

    result = python_in_namespace("mx2", query)
    second = lab_up(with_mail=False)

    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [
        "10 mx2.beta.test.",
        "20 mx1.alpha.test.",
    ]
    assert (nsd.ZONES_DIRECTORY / "alpha.test.zone").is_file()
    # Unchanged zones must not restart NSD.
    assert second == first
