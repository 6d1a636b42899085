"""The lab DNS, sshd and the 'eximctl lab' commands, without Exim."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lab_helpers import (
    in_namespace,
    lab_ssh_host,
    python_in_namespace,
)

from eximctl.lab import sshd
from eximctl.lab.control import NamespaceStatus
from eximctl.lab.hosts import HOSTS

pytest_plugins = ["lab_fixtures"]

pytestmark = pytest.mark.lab

QUERY = """
import dns.resolver
resolver = dns.resolver.Resolver()
print(resolver.nameservers[0])
for rdtype in ("SOA", "MX"):
    for rdata in resolver.resolve("alpha.test", rdtype):
        print(rdtype, rdata.to_text())
"""


def ssh_command(*extra: str) -> list[str]:
    return [
        "ssh",
        "-i",
        str(sshd.CLIENT_KEY),
        "-o",
        f"UserKnownHostsFile={sshd.KNOWN_HOSTS}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        *extra,
    ]


def test_status_lists_daemons(
    lab_no_mail: list[NamespaceStatus],
) -> None:
    programs = {s.namespace: s.programs for s in lab_no_mail}
    assert "nsd" in programs["eximlab-dns"]
    for host in HOSTS:
        assert "sshd" in programs[host.namespace]
        assert "exim" not in programs[host.namespace]


def test_dns_answers_from_mx1(
    lab_no_mail: list[NamespaceStatus],
) -> None:
    result = python_in_namespace("mx1", QUERY)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert lines[0] == "192.0.2.53"
    assert (
        "SOA ns.lab.test. hostmaster.alpha.test. 2026010101 3600 600 86400 300" in lines
    )
    assert "MX 10 mx1.alpha.test." in lines
    assert "MX 20 mx2.beta.test." in lines


def test_dns_listens_only_on_lab_address(
    lab_no_mail: list[NamespaceStatus],
) -> None:
    dns = next(s for s in lab_no_mail if s.namespace == "eximlab-dns")
    assert "192.0.2.53:53" in dns.udp
    assert "192.0.2.53:53" in dns.tcp
    assert not [s for s in dns.udp if s.endswith(":53") and s != "192.0.2.53:53"]


def test_ssh_from_inbox_to_mx1(
    lab_no_mail: list[NamespaceStatus],
) -> None:
    result = in_namespace("inbox", *ssh_command("root@192.0.2.11", "hostname"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mx1.alpha.test"


def test_ssh_session_is_in_host_namespace(
    lab_no_mail: list[NamespaceStatus],
) -> None:
    command = ssh_command("root@192.0.2.25", "ip -4 -o addr show dev eth0")
    result = in_namespace("mx2", *command)
    assert result.returncode == 0, result.stderr
    assert "inet 192.0.2.25/24" in result.stdout


def test_ssh_rejects_unknown_key(
    lab_no_mail: list[NamespaceStatus],
    tmp_path: Path,
) -> None:
    other = str(tmp_path / "other")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True
    )
    command = ssh_command("-o", "IdentitiesOnly=yes", "root@192.0.2.11", "true")
    command[2] = other
    result = in_namespace("inbox", *command)
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_ssh_config_reaches_host_from_root_namespace(
    lab_no_mail: list[NamespaceStatus],
) -> None:
    result = subprocess.run(
        ["ssh", "-F", str(sshd.SSH_CONFIG), "-o", "BatchMode=yes", "relay", "hostname"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "smtp.relay.test"


def test_cli_exec_passes_exit_code(
    lab_no_mail: list[NamespaceStatus],
) -> None:
    eximctl = shutil.which("eximctl")
    assert eximctl is not None
    result = subprocess.run(
        [eximctl, "lab", "exec", "mx1", "--", "sh", "-c", "ip -4 -o addr; exit 7"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 7
    assert "192.0.2.11/24" in result.stdout


def test_cli_exec_unknown_host(
    lab_no_mail: list[NamespaceStatus],
) -> None:
    eximctl = shutil.which("eximctl")
    assert eximctl is not None
    result = subprocess.run(
        [eximctl, "lab", "exec", "mx9", "--", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "unknown lab host 'mx9'; use one of: dns, mx1" in result.stderr


def test_cli_status_lists_sockets(
    lab_no_mail: list[NamespaceStatus],
) -> None:
    eximctl = shutil.which("eximctl")
    assert eximctl is not None
    result = subprocess.run(
        [eximctl, "lab", "status"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "listening tcp 192.0.2.11:22" in result.stdout
    assert "listening udp 192.0.2.53:53" in result.stdout


def test_testinfra_ssh_backend_reaches_mx1(
    lab_no_mail: list[NamespaceStatus],
) -> None:
    host = lab_ssh_host("mx1")
    assert host.check_output("hostname") == "mx1.alpha.test"
    assert host.socket("tcp://192.0.2.11:22").is_listening
    assert "192.0.2.11" in host.interface("eth0").addresses


def test_cli_up_again_prints_table(
    lab_no_mail: list[NamespaceStatus], lab_zones: Path
) -> None:
    eximctl = shutil.which("eximctl")
    assert eximctl is not None
    result = subprocess.run(
        [eximctl, "lab", "up", "--no-mail", "--zones", str(lab_zones)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert lines[0].split() == ["NAMESPACE", "HOST", "ADDRESS", "ROLE", "RUNS"]
    mx1 = next(line for line in lines if line.startswith("eximlab-mx1 "))
    assert mx1.split()[1:3] == ["mx1.alpha.test", "192.0.2.11/24"]
    assert mx1.endswith("  sshd")
