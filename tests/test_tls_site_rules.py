"""Site rules for TLS ports (K12, K14) and how the rendered ACL applies them."""

from __future__ import annotations

import pytest

from eximctl.errors import SiteError
from eximctl.files import render_configure
from eximctl.site import parse_site
from eximctl.site_rules import site_warnings

BASE = """
accounts = ["ann"]
[host]
name = "mail.example.test"
[[domains]]
name = "example.test"
"""

# Each invalid TLS setting, the key the error names, and a phrase of the fix.
INVALID = [
    (
        "[daemon]\nports = [25]\ntls_on_connect_ports = [465]",
        "daemon.tls_on_connect_ports",
        "add it there so the daemon listens on it",
    ),
    (
        (
            "[daemon]\nports = [25, 465]\ntls_on_connect_ports = [465]\n"
            "[tls]\ngenerate = false"
        ),
        "tls.certificate",
        "tls.generate = true",
    ),
    (
        "[daemon]\nports = [25, 587]\n[tls]\nrequired_ports = [587]\ngenerate = false",
        "tls.certificate",
        "TLS-on-connect or required-TLS ports need a certificate",
    ),
    (
        "[daemon]\nports = [25]\n[tls]\nrequired_ports = [587]",
        "tls.required_ports",
        "port 587 is not in daemon.ports",
    ),
    (
        '[tls]\ncertificate = "/etc/ssl/mail.crt"',
        "tls.key",
        "set both tls.certificate and tls.key",
    ),
    (
        (
            '[build]\nfeatures = ["dkim"]\n[daemon]\nports = [25, 465]\n'
            "tls_on_connect_ports = [465]"
        ),
        "build.features",
        '"tls" in build.features',
    ),
    ('[tls]\nmin_version = "TLSv1.1"', "tls.min_version", "TLSv1.2"),
]


@pytest.mark.parametrize(("extra", "key", "fix"), INVALID)
def test_invalid_tls_setting_names_key(extra: str, key: str, fix: str) -> None:
    with pytest.raises(SiteError) as caught:
        parse_site(BASE + extra)
    assert caught.value.key == key
    assert fix in str(caught.value)


def test_k12_tls_on_connect_with_generated_certificate() -> None:
    site = parse_site(
        BASE + "[daemon]\nports = [25, 465]\ntls_on_connect_ports = [465]"
    )
    text = render_configure(site)
    assert "tls_on_connect_ports = 465\n" in text
    assert "daemon_smtp_ports = 25 : 465\n" in text
    assert "tls_certificate = " in text


def test_k14_required_on_25_warns() -> None:
    site = parse_site(BASE + "[tls]\nrequired_ports = [25]")
    (warning,) = site_warnings(site)
    assert "tls.required_ports includes 25" in warning
    assert "RFC 3207 section 4" in warning


def test_k14_required_on_587_no_warning() -> None:
    site = parse_site(BASE + "[tls]\nrequired_ports = [587]")
    assert site_warnings(site) == []


def test_k14_required_ports_keep_starttls_advertised() -> None:
    site = parse_site(
        BASE + "[daemon]\nports = [25, 587]\n[tls]\nrequired_ports = [587]"
    )
    text = render_configure(site)
    assert "tls_advertise_hosts = *\n" in text
    assert "${if inlist{$received_port}{587}}" in text
    # Enforced at RCPT, after STARTTLS had its chance, never at connect.
    assert "acl_smtp_connect" not in text


def test_k14_no_required_ports_no_deny() -> None:
    text = render_configure(parse_site(BASE))
    assert "!encrypted" not in text


def test_auth_advertised_only_inside_tls() -> None:
    text = render_configure(parse_site(BASE + '[auth]\npasswords_file = "/etc/pw"'))
    assert "auth_advertise_hosts = ${if def:tls_in_cipher {*}{}}\n" in text
