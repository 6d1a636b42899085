"""The rendered smarthost client: router, transport and authenticators."""

from __future__ import annotations

import pytest

from eximctl.errors import SiteError
from eximctl.files import render_configure
from eximctl.site import bundled_site_path, load_site, parse_site

PASSWORD_FILE = "/etc/eximctl/smarthost.password"


def site_text(user: str = "relay@example.org", port: int = 587) -> str:
    return f"""
accounts = ["ann"]
[host]
name = "mail.example.test"
[[domains]]
name = "example.test"
[smarthost]
host = "smtp.example.org"
port = {port}
user = "{user}"
password_file = "{PASSWORD_FILE}"
"""


def authenticator(text: str, name: str) -> str:
    start = text.index(f"\n{name}:\n")
    end = text.find("\n\n", start + 1)
    return text[start : end if end != -1 else len(text)]


def client_send(text: str, name: str) -> str:
    block = authenticator(text, name)
    return next(line for line in block.splitlines() if "client_send" in line)


def test_k10_plain_doubles_caret_of_user_and_password() -> None:
    line = client_send(render_configure(parse_site(site_text())), "smarthost_plain")

    assert line == (
        "  client_send = <| ^${sg{relay@example.org}{\\N\\^\\N}{^^}}"
        f"^${{sg{{${{readfile{{{PASSWORD_FILE}}}{{}}}}}}{{\\N\\^\\N}}{{^^}}}}"
    )


def test_k10_login_doubles_caret_of_user_and_password() -> None:
    line = client_send(render_configure(parse_site(site_text())), "smarthost_login")

    assert line == (
        "  client_send = <| | ${sg{relay@example.org}{\\N\\^\\N}{^^}} | "
        f"${{sg{{${{readfile{{{PASSWORD_FILE}}}{{}}}}}}{{\\N\\^\\N}}{{^^}}}}"
    )


def test_k10_user_escaped_for_list_and_expansion() -> None:
    text = render_configure(parse_site(site_text(user="a|b$c{d}\\\\e")))

    login = client_send(text, "smarthost_login")
    assert "${sg{a||b\\$c\\{d\\}\\\\e}{\\N\\^\\N}{^^}}" in login


def test_k10_user_starting_with_caret_rejected() -> None:
    with pytest.raises(SiteError) as raised:
        parse_site(site_text(user="^relay"))

    assert "smarthost.user" in str(raised.value)


def test_k08_credentials_bound_to_named_host() -> None:
    text = render_configure(parse_site(site_text()))

    for name in ("smarthost_plain", "smarthost_login"):
        block = authenticator(text, name)
        assert "{eq{$host}{smtp.example.org}}" in block
        assert "{def:tls_out_cipher}" in block
        assert "{bool{false}}" in block
    assert "  hosts_require_auth = *\n" in text
    assert "  route_list = * smtp.example.org byname\n" in text
    assert "  host_find_failed = defer\n" in text


def test_k11_default_port_is_starttls() -> None:
    text = render_configure(parse_site(site_text()))

    assert "  port = 587\n  protocol = smtp\n  hosts_require_tls = *\n" in text
    assert "  tls_verify_cert_hostnames = *\n" in text


def test_k11_port_465_is_smtps() -> None:
    text = render_configure(parse_site(site_text(port=465)))

    assert "  port = 465\n  protocol = smtps\n  hosts_require_tls = *\n" in text


def test_lab_mx1_verifies_relay_with_lab_ca() -> None:
    text = render_configure(load_site(bundled_site_path("lab/mx1")))

    assert "  tls_verify_certificates = /var/lib/eximctl/lab/ca/ca.crt\n" in text
    assert "{eq{$host}{smtp.relay.test}}" in text
