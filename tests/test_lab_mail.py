"""The full lab: every mail host runs its Exim daemon in its namespace."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_fixtures import (  # noqa: F401
    lab_zones,
    python_in_namespace,
    require_root,
)

from eximctl.lab import mail
from eximctl.lab.control import NamespaceStatus, lab_down, lab_up
from eximctl.lab.hosts import find_host, mail_hosts

pytestmark = [
    pytest.mark.lab,
    pytest.mark.exim,
    pytest.mark.skipif(
        not mail.exim_available(), reason=f"{mail.EXIM} not built; run eximctl build"
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("eximctl.configure") is None,
        reason="eximctl.configure is not available",
    ),
]

BANNER = """
import smtplib
with smtplib.SMTP("192.0.2.11", 25, timeout=10) as smtp:
    code, message = smtp.ehlo("mx.inbox.test")
    print(code)
    print(smtp.sock.getpeername()[0])
"""


@pytest.fixture(scope="module")
def full_lab(lab_zones: Path) -> Iterator[list[NamespaceStatus]]:  # noqa: F811
    require_root()
    lab_down()
    try:
        yield lab_up(lab_zones, with_mail=True)
    finally:
        lab_down()


def statuses_by_namespace(
    statuses: list[NamespaceStatus],
) -> dict[str, NamespaceStatus]:
    return {s.namespace: s for s in statuses}


def test_every_mail_host_runs_exim(full_lab: list[NamespaceStatus]) -> None:
    by_namespace = statuses_by_namespace(full_lab)
    for host in mail_hosts():
        assert "exim" in by_namespace[host.namespace].programs, host.name
    assert "exim" not in by_namespace["eximlab-dns"].programs


def test_mx1_listens_on_port_25(full_lab: list[NamespaceStatus]) -> None:
    mx1 = statuses_by_namespace(full_lab)[find_host("mx1").namespace]
    assert "192.0.2.11:25" in mx1.tcp
    assert "192.0.2.11:587" in mx1.tcp
    assert "192.0.2.11:465" in mx1.tcp


def test_inbox_gets_smtp_greeting_from_mx1(full_lab: list[NamespaceStatus]) -> None:
    result = python_in_namespace("inbox", BANNER)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["250", "192.0.2.11"]


def test_second_up_keeps_daemons(
    full_lab: list[NamespaceStatus],
    lab_zones: Path,  # noqa: F811
) -> None:
    again = lab_up(lab_zones, with_mail=True)
    assert statuses_by_namespace(again) == statuses_by_namespace(full_lab)
