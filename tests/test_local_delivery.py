"""End to end on this machine: configure a built Exim and deliver real mail."""

from __future__ import annotations

import smtplib
import ssl
import subprocess
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from eximctl import files
from eximctl.configure import configure_site, daemon_pid
from eximctl.errors import ConfigError
from eximctl.site import Site
from eximctl.verify import run_checks

pytestmark = pytest.mark.exim


def test_message_lands_in_mailbox(running_site: Site) -> None:
    token = uuid.uuid4().hex
    with smtplib.SMTP("127.0.0.1", 2525, timeout=30) as client:
        client.ehlo("client.e2e.test")
        client.sendmail("sender@example.test", ["mailtest@e2e.test"], _message(token))

    mailbox = Path(running_site.delivery.mail_directory) / "mailtest"
    text = _wait_for(mailbox, token)
    assert f"Subject: e2e {token}" in text
    assert "Envelope-to: mailtest@e2e.test" in text
    assert "by mail.e2e.test with esmtp" in text


def test_virtual_alias_delivers(running_site: Site) -> None:
    token = uuid.uuid4().hex
    with smtplib.SMTP("127.0.0.1", 2525, timeout=30) as client:
        client.sendmail("sender@example.test", ["info@virt.e2e.test"], _message(token))
    mailbox = Path(running_site.delivery.mail_directory) / "mailtest"
    assert "Envelope-to: info@virt.e2e.test" in _wait_for(mailbox, token)


def test_virtual_unknown_refused_at_rcpt(running_site: Site) -> None:
    with smtplib.SMTP("127.0.0.1", 2525, timeout=30) as client:
        client.ehlo("client.e2e.test")
        client.mail("sender@example.test")
        code, _ = client.rcpt("mailtest@virt.e2e.test")
    assert code == 550


def test_k05_postmaster_routes_for_every_domain(running_site: Site) -> None:
    for domain in ("e2e.test", "virt.e2e.test", "mail.e2e.test"):
        result = _exim(running_site, "-bt", f"Postmaster@{domain}")
        assert result.returncode == 0, result.stdout
        assert "mailtest@e2e.test" in result.stdout


def test_k05_unqualified_postmaster_accepted(running_site: Site) -> None:
    with smtplib.SMTP("127.0.0.1", 2525, timeout=30) as client:
        client.ehlo("client.e2e.test")
        client.mail("sender@example.test")
        code, _ = client.rcpt("Postmaster")
    assert code == 250


def test_unknown_local_user_refused(running_site: Site) -> None:
    with smtplib.SMTP("127.0.0.1", 2525, timeout=30) as client:
        client.ehlo("client.e2e.test")
        client.mail("sender@example.test")
        code, message = client.rcpt("daemon@e2e.test")
    assert code == 550
    assert b"Unknown user" in message


def test_tls_on_connect_port_handshakes(running_site: Site) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP_SSL("127.0.0.1", 2465, context=context, timeout=30) as client:
        code, _ = client.ehlo("client.e2e.test")
        assert code == 250
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")


def test_invalid_configuration_keeps_installed(
    running_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A template fault is simulated by prefixing an unknown main option to
    # the rendered text; Exim itself must reject it.
    configure = Path(running_site.configure_file)
    before = configure.read_text()
    pid = daemon_pid(running_site)
    original = files.render_configure
    monkeypatch.setattr(
        files, "render_configure", lambda site: "no_such_option = 1\n" + original(site)
    )

    with pytest.raises(ConfigError) as raised:
        configure_site(running_site)

    assert 'main option "no_such_option" unknown' in str(raised.value)
    assert "nothing was installed" in str(raised.value)
    assert configure.read_text() == before
    assert daemon_pid(running_site) == pid


def test_configure_again_changes_nothing(running_site: Site) -> None:
    result = configure_site(running_site, start_daemon=False)
    assert result.changed == []


def test_verify_checks_pass(running_site: Site) -> None:
    result = run_checks(running_site)
    assert result.failed == 0
    assert result.passed >= 7
    assert "Return-path: <verify@e2e.test>" in result.evidence
    assert "Support for:" in result.evidence


def _exim(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [site.exim_binary, "-C", site.configure_file, *args],
        capture_output=True,
        text=True,
        check=False,
    )


def _message(token: str) -> str:
    return (
        f"From: sender@example.test\nTo: mailtest@e2e.test\nSubject: e2e {token}\n"
        f"Message-ID: <{token}@e2e.test>\n\nbody {token}\n"
    )


def _wait_for(mailbox: Path, token: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if mailbox.exists() and token in (text := mailbox.read_text()):
            return text
        time.sleep(0.2)
    raise AssertionError(f"message {token} did not reach {mailbox} in {seconds} s")


def test_maildir_delivery(running_site: Site) -> None:
    # A second configuration of the same build, delivering to Maildir;
    # the message is submitted locally, so no daemon is needed.
    root = Path(running_site.build.prefix).parent / "maildir-variant"
    site = replace(
        running_site,
        build=replace(
            running_site.build,
            config_directory=str(root / "etc"),
            spool_directory=str(root / "spool"),
            log_directory=str(root / "log"),
        ),
        delivery=replace(
            running_site.delivery, mailbox="maildir", mail_directory=str(root / "mail")
        ),
    )
    configure_site(site, start_daemon=False)
    token = uuid.uuid4().hex

    result = subprocess.run(
        [
            site.exim_binary,
            "-C",
            site.configure_file,
            "-odi",
            "-f",
            "sender@example.test",
            "mailtest@e2e.test",
        ],
        input=_message(token),
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    new = root / "mail" / "mailtest" / "Maildir" / "new"
    messages = [p.read_text() for p in new.iterdir()]
    assert len(messages) == 1
    assert f"Subject: e2e {token}" in messages[0]
    assert (new.stat().st_mode & 0o777) == 0o700


def test_dry_run_shows_diff_and_changes_nothing(running_site: Site) -> None:
    configure = Path(running_site.configure_file)
    before = configure.read_text()
    changed = replace(
        running_site,
        daemon=replace(running_site.daemon, received_headers_max=12),
    )

    result = configure_site(changed, dry_run=True)

    assert len(result.diffs) == 1
    assert "-received_headers_max = 30\n" in result.diffs[0]
    assert "+received_headers_max = 12\n" in result.diffs[0]
    assert configure.read_text() == before
