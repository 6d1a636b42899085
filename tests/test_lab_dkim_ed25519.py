"""DKIM signing with an ed25519 key (RFC 8463) on mx1, judged at inbox.

The module swaps mx1's RSA key for alpha.test, selector lab2026, for a new
ed25519 key, and serves zones that eximctl generates from the installed key,
so lab2026._domainkey.alpha.test publishes "k=ed25519". A message from
ann@alpha.test goes mx1 -> relay -> inbox. The signature is then checked
three ways: its tags, inbox's own Authentication-Results and dkimpy inside
the inbox namespace against the lab name server. dkimpy verifies ed25519
signatures only when PyNaCl is installed. The RSA key is put back, as
root:exim 0640, when the module ends.
"""

from __future__ import annotations

import grp
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lab_fixtures import ensure_lab_exim
from lab_helpers import python_in_namespace, require_root
from lab_outbound import (
    MainLog,
    deliver,
    exim,
    message_token,
    site,
    submit,
    wait_for_delivery,
)

from eximctl.accounts import ensure_exim_user
from eximctl.dkim_keys import dkim_key_path, dkim_txt_value, generate_dkim_key
from eximctl.key_files import PRIVATE_MODE, write_file
from eximctl.lab.control import lab_down, lab_up
from eximctl.lab.hosts import NAMESERVER
from eximctl.lab.zones import generate_zones
from eximctl.site import Site

pytestmark = [
    pytest.mark.lab,
    pytest.mark.exim,
]

DOMAIN = "alpha.test"
SELECTOR = "lab2026"

VERIFY = """
from pathlib import Path
from eximctl.mail_checks import mbox_messages, verify_dkim

token = {token!r}
messages = [m for m in mbox_messages(Path({mbox!r})) if token.encode() in m]
tampered = messages[0].replace(b"Test message", b"Test massage")
print(len(messages), verify_dkim(messages[0], {nameserver!r}))
print(verify_dkim(tampered, {nameserver!r}))
"""


@dataclass(frozen=True)
class Ed25519Lab:
    """The lab running with an ed25519 DKIM key for alpha.test on mx1."""

    key: Path
    txt_value: str
    zones: Path


def restore_key(path: Path, saved: bytes | None, mx1: Site) -> None:
    """Put the saved key back as root:exim 0640, or remove a key that was absent.

    The next configure of mx1 installs an absent key from the bundled lab key.
    """
    if saved is None:
        path.unlink(missing_ok=True)
        return
    write_file(path, saved, PRIVATE_MODE, mx1.build.group, overwrite=True)


@pytest.fixture(scope="module")
def ed25519_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ed25519Lab]:
    """Run the lab with mx1 signing alpha.test with a fresh ed25519 key."""
    require_root()
    ensure_lab_exim()
    mx1 = site("mx1")
    key = dkim_key_path(mx1, DOMAIN)
    lab_down()
    saved = key.read_bytes() if key.exists() else None
    try:
        ensure_exim_user(mx1.build.user, mx1.build.group)
        # The bits argument applies to RSA only, so any value does here.
        generate_dkim_key(key, "ed25519", 0, mx1.build.group, overwrite=True)
        zones = tmp_path_factory.mktemp("zones")
        # The zones take the DKIM record from the installed key, so this
        # publishes the public half of the ed25519 key just written.
        generate_zones(zones)
        lab_up(zones, with_mail=True)
        yield Ed25519Lab(key, dkim_txt_value(key), zones)
    finally:
        lab_down()
        restore_key(key, saved, mx1)


def delivered_signature(token: str) -> tuple[bytes, str]:
    """Return the message delivered to carol and its DKIM-Signature, unfolded."""
    message = wait_for_delivery(token)
    headers = message.split(b"\n\n", 1)[0].decode()
    unfolded = re.sub(r"\n[ \t]+", " ", headers)
    lines = [h for h in unfolded.splitlines() if h.startswith("DKIM-Signature:")]
    assert len(lines) == 1, headers
    return message, lines[0]


def signature_tags(header: str) -> dict[str, str]:
    value = header.split(":", 1)[1]
    tags = {}
    for part in value.split(";"):
        name, _, tag_value = part.strip().partition("=")
        if name:
            tags[name] = "".join(tag_value.split())
    return tags


def test_exim_built_with_ed25519_signing(ed25519_lab: Ed25519Lab) -> None:
    # Exim 4.96 defines this macro only when its crypto library can sign with
    # ed25519: OpenSSL 1.1.1 or later (not LibreSSL), or GnuTLS 3.6 or later
    # (src/pdkim/crypt_ver.h).
    result = exim("mx1", "-bP", "macro", "_CRYPTO_SIGN_ED25519")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "_CRYPTO_SIGN_ED25519=y"


def test_zone_publishes_ed25519_key(ed25519_lab: Ed25519Lab) -> None:
    zone = (ed25519_lab.zones / f"{DOMAIN}.zone").read_text()
    record = f"{SELECTOR}._domainkey"

    assert ed25519_lab.txt_value.startswith("v=DKIM1; k=ed25519; p=")
    assert record in zone
    assert "k=ed25519" in zone
    assert "k=rsa" not in zone


def test_served_key_matches_ed25519_key(ed25519_lab: Ed25519Lab) -> None:
    code = f"""
from pathlib import Path
from eximctl.mail_checks import dkim_dns_problem, txt_record
name = "{SELECTOR}._domainkey.{DOMAIN}"
print(txt_record(name, {NAMESERVER!r}).decode())
print(repr(dkim_dns_problem({DOMAIN!r}, {SELECTOR!r}, Path({str(ed25519_lab.key)!r}),
    {NAMESERVER!r})))
"""
    result = python_in_namespace("inbox", code)

    assert result.returncode == 0, result.stderr
    served, problem = result.stdout.splitlines()
    assert served == ed25519_lab.txt_value
    assert problem == "None"


def test_key_file_owned_root_exim_0640(ed25519_lab: Ed25519Lab) -> None:
    info = ed25519_lab.key.stat()
    mx1 = site("mx1")

    assert info.st_mode & 0o777 == 0o640
    assert info.st_uid == 0
    assert info.st_gid == grp.getgrnam(mx1.build.group).gr_gid


def test_mx1_signs_with_ed25519(ed25519_lab: Ed25519Lab) -> None:
    mx1_log = MainLog("mx1")
    inbox_log = MainLog("inbox")
    message_id = submit("ed25519 dkim")
    token = message_token(message_id)
    deliver(message_id)
    message, signature = delivered_signature(token)

    tags = signature_tags(signature)
    print(signature)
    assert tags["a"] == "ed25519-sha256"
    assert tags["d"] == DOMAIN
    assert tags["s"] == SELECTOR
    # An ed25519-sha256 signature is 64 bytes, so b= is 88 base64 characters.
    assert len(tags["b"]) == 88, tags["b"]

    headers = message.split(b"\n\n", 1)[0].decode()
    unfolded = re.sub(r"\n[ \t]+", " ", headers)
    results = [
        line
        for line in unfolded.splitlines()
        if line.startswith("Authentication-Results: mx.inbox.test;")
    ]
    assert len(results) == 1, headers
    assert f"dkim=pass header.d={DOMAIN} header.s={SELECTOR}" in results[0]
    assert "header.a=ed25519-sha256" in results[0]

    inbox_log.wait_for(rf"<= ann@alpha\.test .*DKIM={re.escape(DOMAIN)}")
    mx1_log.wait_for(r"=> carol@inbox\.test .*T=smarthost_smtp")
    # Exim 4.96 logs this line (src/dkim.c) when signing fails, and then
    # sends the message unsigned because the transport leaves dkim_strict unset.
    assert "DKIM: signing failed" not in mx1_log.text()

    code = VERIFY.format(
        token=token,
        mbox=str(Path(site("inbox").delivery.mail_directory) / "carol"),
        nameserver=NAMESERVER,
    )
    result = python_in_namespace("inbox", code)
    assert result.returncode == 0, result.stderr
    delivered, tampered = result.stdout.splitlines()
    assert delivered == "1 True"
    # The control: one changed body byte breaks the body hash.
    assert tampered == "False"
