"""Mail between the lab's partner domains is routed by MX lookup."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import pytest
from lab_helpers import in_namespace

from eximctl.lab.control import NamespaceStatus
from eximctl.lab.hosts import find_host
from eximctl.lab.mail import lab_site

pytestmark = pytest.mark.lab


def submit(host: str, sender: str, recipient: str, token: str) -> None:
    """Submit a message on ``host`` with exim -bm, as a local user would."""
    site = lab_site(find_host(host))
    message = f"From: {sender}\nTo: {recipient}\nSubject: route {token}\n\n{token}\n"
    result = in_namespace(
        host,
        "sh",
        "-c",
        f"printf '%s' \"$0\" | {site.exim_binary} -C {site.configure_file} "
        f"-f {sender} {recipient}",
        message,
    )
    assert result.returncode == 0, result.stderr


def wait_for(mailbox: Path, token: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if mailbox.exists() and token in (text := mailbox.read_text()):
            return text
        time.sleep(0.2)
    raise AssertionError(f"{token} did not reach {mailbox} within {seconds} s")


def test_mx1_to_beta_lands_on_mx2(lab_full: list[NamespaceStatus]) -> None:
    token = uuid.uuid4().hex
    submit("mx1", "ann@alpha.test", "bob@beta.test", token)

    text = wait_for(find_host("mx2").root / "mail" / "bob", token)

    assert "by mx2.beta.test" in text
    assert "from mx1.alpha.test ([192.0.2.11])" in text or "[192.0.2.11]" in text
    log = (find_host("mx1").root / "log" / "mainlog").read_text()
    assert "bob@beta.test R=backup_1 T=remote_smtp H=mx2.beta.test [192.0.2.12]" in log


def test_mx2_to_alpha_lands_on_mx1(lab_full: list[NamespaceStatus]) -> None:
    token = uuid.uuid4().hex
    submit("mx2", "bob@beta.test", "ann@alpha.test", token)

    text = wait_for(find_host("mx1").root / "mail" / "ann", token)

    assert "by mx1.alpha.test" in text
    log = (find_host("mx2").root / "log" / "mainlog").read_text()
    assert (
        "ann@alpha.test R=backup_1 T=remote_smtp H=mx1.alpha.test [192.0.2.11]" in log
    )


def test_unknown_local_refused_from_relay_host(
    lab_full: list[NamespaceStatus],
) -> None:
    # mx1's own address may relay, but an unknown alpha.test address is
    # still refused at RCPT instead of being accepted and bounced.
    code = (
        "import smtplib\n"
        "with smtplib.SMTP('192.0.2.11', 25, timeout=30) as client:\n"
        "    client.ehlo('mx1.alpha.test')\n"
        "    client.mail('ann@alpha.test')\n"
        "    print(client.rcpt('nosuch@alpha.test')[0], client.rcpt('ann@alpha.test')[0])\n"
    )
    result = in_namespace("mx1", sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["550", "250"]
