"""The full lab: every mail host runs its Exim daemon in its namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_helpers import (
    python_in_namespace,
)

from eximctl import configure
from eximctl.lab import sshd
from eximctl.lab.control import NamespaceStatus, lab_up
from eximctl.lab.hosts import find_host, mail_hosts
from eximctl.lab.mail import lab_site

pytest_plugins = ["lab_fixtures"]

pytestmark = [
    pytest.mark.lab,
    pytest.mark.exim,
]

BANNER = """
import smtplib
with smtplib.SMTP("192.0.2.11", 25, timeout=10) as smtp:
    code, message = smtp.ehlo("mx.inbox.test")
    print(code)
    print(smtp.sock.getpeername()[0])
"""


def statuses_by_namespace(
    statuses: list[NamespaceStatus],
) -> dict[str, NamespaceStatus]:
    return {s.namespace: s for s in statuses}


def test_every_mail_host_runs_exim(lab_with_mail: list[NamespaceStatus]) -> None:
    by_namespace = statuses_by_namespace(lab_with_mail)
    for host in mail_hosts():
        assert "exim" in by_namespace[host.namespace].programs, host.name
    assert "exim" not in by_namespace["eximlab-dns"].programs


def test_mx1_listens_on_port_25(lab_with_mail: list[NamespaceStatus]) -> None:
    mx1 = statuses_by_namespace(lab_with_mail)[find_host("mx1").namespace]
    assert "192.0.2.11:25" in mx1.tcp
    assert "192.0.2.11:587" in mx1.tcp
    assert "192.0.2.11:465" in mx1.tcp


def test_inbox_gets_smtp_greeting_from_mx1(
    lab_with_mail: list[NamespaceStatus],
) -> None:
    result = python_in_namespace("inbox", BANNER)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["250", "192.0.2.11"]


def daemon_pids() -> dict[str, tuple[int | None, str]]:
    """Return the Exim daemon pid and the sshd pid file text of each mail host."""
    return {
        host.name: (
            configure.daemon_pid(lab_site(host)),
            sshd.pid_file(host).read_text().strip(),
        )
        for host in mail_hosts()
    }


def test_second_up_keeps_daemons(
    lab_with_mail: list[NamespaceStatus], lab_zones: Path
) -> None:
    before = daemon_pids()

    again = lab_up(lab_zones, with_mail=True)

    # Compare daemons, not every process: Exim forks queue runners and
    # connection handlers that come and go.
    assert daemon_pids() == before
    assert all(exim is not None for exim, _ in before.values())
    programs = {s.namespace: s.programs for s in again}
    assert programs == {s.namespace: s.programs for s in lab_with_mail}
