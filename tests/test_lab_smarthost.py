"""Outbound mail through the lab smarthost: AUTH over verified TLS.

mx1 sends mail for inbox.test to the relay (smtp.relay.test, port 587,
STARTTLS), which accepts it only after SMTP AUTH and delivers it to inbox by
MX lookup. Each test that breaks something (the password, the relay's
daemon, its certificate) puts the lab host back in a ``finally`` block.
"""

from __future__ import annotations

import grp
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from lab_outbound import (
    MainLog,
    deliver,
    exim,
    mailbox_messages,
    message_token,
    messages_with,
    queued_ids,
    reload_daemon,
    restore_host,
    site,
    submit,
    wait_for_delivery,
)

from eximctl import configure
from eximctl.files import render_configure
from eximctl.lab.control import NamespaceStatus
from eximctl.lab.mail import LAB_CA_DIRECTORY, LAB_RELAY_PASSWORD, LAB_RELAY_USER
from eximctl.secrets import write_auth_passwords, write_smarthost_password
from eximctl.site import parse_site
from eximctl.tls_certs import certificate_paths, issue_certificate

pytest_plugins = ["lab_fixtures"]

pytestmark = [
    pytest.mark.lab,
    pytest.mark.exim,
]

RELAY_IP = "192.0.2.25"
# Lines of the delivery log (Exim's "=>" and "==" lines) on mx1.
DELIVERED = r"=> carol@inbox\.test R=smarthost T=smarthost_smtp"
DEFERRED = r"== carol@inbox\.test R=smarthost T=smarthost_smtp defer"


def auth_line(mechanism: str) -> str:
    """Return the relay's reception log pattern for a login with ``mechanism``."""
    server = f"{mechanism.lower()}_server"
    return rf"<= ann@alpha\.test H=\(mx1\.alpha\.test\) \[192\.0\.2\.11\] P=esmtpsa .*A={server}:relay@alpha\.test "


def send_and_deliver(subject: str) -> tuple[str, bytes]:
    """Submit a message on mx1, deliver it and wait for it at inbox."""
    message_id = submit(subject)
    token = message_token(message_id)
    deliver(message_id)
    return message_id, wait_for_delivery(token)


@contextmanager
def relay_offers_only_login() -> Iterator[None]:
    """Make the relay advertise AUTH LOGIN but not PLAIN, then restore it."""
    relay = site("relay")
    original = Path(relay.configure_file).read_text()
    marker = "  public_name = PLAIN\n"
    assert original.count(marker) == 1, "relay must have exactly one PLAIN server"
    changed = original.replace(
        marker, marker + "  server_advertise_condition = false\n"
    )
    Path(relay.configure_file).write_text(changed)
    try:
        reload_daemon("relay")
        yield
    finally:
        Path(relay.configure_file).write_text(original)
        reload_daemon("relay")


@contextmanager
def mechanism(name: str) -> Iterator[None]:
    if name == "LOGIN":
        with relay_offers_only_login():
            yield
    else:
        yield


def test_outbound_authenticated_over_verified_tls(
    lab_full: list[NamespaceStatus],
) -> None:
    mx1_log, relay_log, inbox_log = MainLog("mx1"), MainLog("relay"), MainLog("inbox")

    message_id, message = send_and_deliver("smarthost path")

    print(message.decode(errors="replace").split("\n\n", 1)[0])
    delivered = mx1_log.wait_for(DELIVERED)
    assert f"H=smtp.relay.test [{RELAY_IP}]:587" in delivered
    assert "X=TLS" in delivered
    assert "CV=yes" in delivered
    assert 'DN="/CN=smtp.relay.test"' in delivered
    assert "A=smarthost_plain" in delivered
    relay_log.wait_for(auth_line("PLAIN"))
    inbox_log.wait_for(rf"<= ann@alpha\.test H=\(smtp\.relay\.test\) \[{RELAY_IP}\]")
    assert message_id not in queued_ids()


def test_k10_password_files_hold_exact_bytes(lab_full: list[NamespaceStatus]) -> None:
    mx1_file = Path(site("mx1").etc_directory) / "smarthost.password"
    relay_file = Path(site("relay").etc_directory) / "passwd"

    assert mx1_file.read_bytes() == b"p^ss:w$rd \\x"
    assert LAB_RELAY_PASSWORD.encode() == b"p^ss:w$rd \\x"
    relay_lines = relay_file.read_bytes().splitlines()
    assert b'"relay@alpha.test": p^ss:w$rd \\x' in relay_lines
    for path in (mx1_file, relay_file):
        info = path.stat()
        assert info.st_mode & 0o777 == 0o640, path
        assert info.st_uid == 0, path
        assert info.st_gid == _exim_gid(), path


def _exim_gid() -> int:
    return grp.getgrnam(site("mx1").build.group).gr_gid


def test_k10_login_sends_exact_password(lab_full: list[NamespaceStatus]) -> None:
    with relay_offers_only_login():
        mx1_log, relay_log = MainLog("mx1"), MainLog("relay")

        send_and_deliver("login only")

        delivered = mx1_log.wait_for(DELIVERED)
        assert "A=smarthost_login" in delivered
        relay_log.wait_for(auth_line("LOGIN"))


# What the relay would have received had an escape gone wrong: "$rd"
# expanded to nothing, the text cut at "^" (PLAIN's NUL), "^" sent doubled,
# the backslash dropped.
WRONG_PASSWORDS = ["p^ss:w \\x", "p", "p^^ss:w$rd \\x", "p^ss:w$rd x"]


@pytest.mark.parametrize("mechanism_name", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("stored", WRONG_PASSWORDS)
def test_k10_relay_rejects_near_misses(
    lab_full: list[NamespaceStatus], mechanism_name: str, stored: str
) -> None:
    relay = site("relay")
    message_id = ""
    try:
        write_auth_passwords(relay, {LAB_RELAY_USER: stored})
        with mechanism(mechanism_name):
            mx1_log, relay_log = MainLog("mx1"), MainLog("relay")
            message_id = submit(f"near miss {mechanism_name}")
            deliver(message_id)

            deferred = mx1_log.wait_for(DEFERRED)
            assert "authentication" in deferred.lower(), deferred
            server = f"{mechanism_name.lower()}_server"
            relay_log.wait_for(rf"{server} authenticator failed for .*535")
            assert "<= ann@alpha.test" not in relay_log.text()
            assert message_id in queued_ids()
    finally:
        write_auth_passwords(relay, {LAB_RELAY_USER: LAB_RELAY_PASSWORD})
        if message_id:
            exim("mx1", "-Mrm", message_id)


def test_k08_wrong_password_defers_then_delivers_once(
    lab_full: list[NamespaceStatus],
) -> None:
    mx1 = site("mx1")
    mx1_log = MainLog("mx1")
    try:
        write_smarthost_password(mx1, "not the relay password")
        message_id = submit("wrong password")
        token = message_token(message_id)
        deliver(message_id)

        deferred = mx1_log.wait_for(rf"{message_id} {DEFERRED}")
        print(deferred)
        assert "authentication" in deferred.lower()
        assert message_id in queued_ids()
        assert not messages_with(token)
        assert not messages_with(token, "mx1", "ann"), "bounce sent to ann"
        assert f"<= <> R={message_id}" not in mx1_log.text()
    finally:
        write_smarthost_password(mx1, LAB_RELAY_PASSWORD)

    result = exim("mx1", "-qff")
    assert result.returncode == 0, result.stderr

    wait_for_delivery(token)
    mx1_log.wait_for(rf"{message_id} {DELIVERED}")
    assert len(messages_with(token)) == 1
    assert message_id not in queued_ids()


def test_relay_down_queues_then_delivers_once(
    lab_full: list[NamespaceStatus],
) -> None:
    relay = site("relay")
    mx1_log = MainLog("mx1")
    try:
        assert configure.stop_daemon(relay)
        message_id = submit("relay down")
        token = message_token(message_id)
        deliver(message_id)

        deferred = mx1_log.wait_for(rf"{message_id} {DEFERRED}")
        assert "Connection refused" in deferred
        assert message_id in queued_ids()
        assert not messages_with(token, "mx1", "ann"), "bounce sent to ann"
        assert f"<= <> R={message_id}" not in mx1_log.text()
    finally:
        restore_host("relay")

    result = exim("mx1", "-qff")
    assert result.returncode == 0, result.stderr

    wait_for_delivery(token)
    assert len(messages_with(token)) == 1
    assert message_id not in queued_ids()


def test_wrong_relay_certificate_never_gets_password(
    lab_full: list[NamespaceStatus],
) -> None:
    relay = site("relay")
    certificate, key = certificate_paths(relay)
    ca = (LAB_CA_DIRECTORY / "ca.crt", LAB_CA_DIRECTORY / "ca.key")
    mx1_log, relay_log = MainLog("mx1"), MainLog("relay")
    message_id = ""
    try:
        issue_certificate(
            "wrong.relay.test", certificate, key, relay.build.group, ca=ca
        )
        reload_daemon("relay")
        relay_log = MainLog("relay")
        message_id = submit("wrong certificate")
        deliver(message_id)

        deferred = mx1_log.wait_for(rf"{message_id} {DEFERRED}")
        print(deferred)
        assert re.search(r"certificate|verif", deferred, re.IGNORECASE), deferred
        assert message_id in queued_ids()
        relay_text = relay_log.text()
        assert "authenticator" not in relay_text
        assert "A=" not in relay_text
        assert "<= " not in relay_text
    finally:
        restore_host("relay")
        if message_id:
            exim("mx1", "-Mrm", message_id)


def test_k11_port_465_delivers_over_smtps(lab_full: list[NamespaceStatus]) -> None:
    mx1 = site("mx1")
    text = mx1.path.read_text().replace("port = 587\n", "port = 465\n")
    variant = parse_site(text, mx1.path)
    rendered = render_configure(variant)
    assert "  port = 465\n  protocol = smtps\n" in rendered
    original = Path(mx1.configure_file).read_text()
    mx1_log, relay_log = MainLog("mx1"), MainLog("relay")
    try:
        # Command-line Exim processes read the file afresh, so no reload.
        Path(mx1.configure_file).write_text(rendered)
        send_and_deliver("port 465")

        delivered = mx1_log.wait_for(DELIVERED)
        assert f"H=smtp.relay.test [{RELAY_IP}]:465" in delivered
        assert "CV=yes" in delivered
        relay_log.wait_for(auth_line("PLAIN"))
    finally:
        Path(mx1.configure_file).write_text(original)


def test_no_bounces_reached_ann(lab_full: list[NamespaceStatus]) -> None:
    bounces = [m for m in mailbox_messages("mx1", "ann") if b"Mail delivery" in m]
    assert bounces == []
