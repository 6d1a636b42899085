"""Rendering of Local/Makefile and the runtime files: goldens and exim -bV."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from golden import assert_matches_golden

from eximctl.build import makefile_options, render_makefile
from eximctl.files import render_aliases, render_configure, rendered_files
from eximctl.render import exim_list
from eximctl.site import Site, bundled_site_path, load_site, parse_site

SITES = ["default", "lab/mx1", "lab/mx2", "lab/relay", "lab/inbox"]


def bundled(name: str) -> Site:
    return load_site(bundled_site_path(name))


@pytest.mark.parametrize("name", SITES)
def test_configure_matches_golden(name: str) -> None:
    text = render_configure(bundled(name))
    assert_matches_golden(text, f"configure/{name.replace('/', '-')}.conf")


def test_makefile_matches_golden() -> None:
    assert_matches_golden(render_makefile(bundled("default"), "4.96"), "Makefile-4.96")


def test_k01_makefile_spf_option() -> None:
    makefile = render_makefile(bundled("default"), "4.96")
    options = dict(makefile_options(makefile))
    assert options["SUPPORT_SPF"] == "yes"
    assert options["LDFLAGS +"] == "-lspf2"
    assert "EXPERIMENTAL_SPF" not in options


def test_k02_pcre_option_follows_version() -> None:
    new = dict(makefile_options(render_makefile(bundled("default"), "4.96")))
    old = dict(makefile_options(render_makefile(bundled("default"), "4.95")))
    assert new["PCRE2_CONFIG"] == "yes"
    assert "PCRE_CONFIG" not in new
    assert old["PCRE_CONFIG"] == "yes"
    assert "PCRE2_CONFIG" not in old


def test_makefile_paths_shared_by_sites() -> None:
    # One build serves every site with the same prefix: per-host paths live
    # in the runtime configuration, never in Local/Makefile.
    assert render_makefile(bundled("default"), "4.96") == render_makefile(
        bundled("lab/mx1"), "4.96"
    )


def test_k07_delivery_path_untainted() -> None:
    text = render_configure(bundled("default"))
    assert "file = /var/mail/$local_part_data\n" in text
    assert not re.search(
        r"\$local_part(?!_data)\b[^\n]*\n", _transport(text, "local_delivery")
    )


def test_k16_dkim_key_path_from_lookup() -> None:
    text = render_configure(bundled("lab/mx1"))
    key_line = next(line for line in text.splitlines() if "dkim_private_key" in line)
    assert (
        "${lookup{$dkim_domain}lsearch{/var/lib/eximctl/lab/mx1/etc/dkim/keys}"
        in key_line
    )
    assert "${dkim_domain}.pem" not in text


def test_k11_smarthost_protocol_never_empty() -> None:
    text = render_configure(bundled("lab/mx1"))
    assert "  protocol = smtp\n" in text
    assert re.search(r"protocol =\s*\n", text) is None


def test_k11_port_465_renders_smtps() -> None:
    site = parse_site(_smarthost_site(465))
    text = render_configure(site)
    assert "  port = 465\n  protocol = smtps\n" in text
    assert "  hosts_require_tls = *\n" in text


def test_k08_smarthost_requires_auth() -> None:
    text = render_configure(parse_site(_smarthost_site(587)))
    transport = _transport(text, "smarthost_smtp")
    assert "hosts_require_auth = *" in transport
    assert "tls_verify_cert_hostnames = *" in transport
    assert "eq{$host}{smtp.example.org}" in text


def test_k20_spf_after_authenticated_and_relay() -> None:
    text = render_configure(bundled("lab/inbox"))
    acl = text[text.index("acl_check_rcpt:") : text.index("acl_check_data:")]
    assert acl.index("hosts = +relay_from_hosts") < acl.index("spf = fail")
    assert acl.index("authenticated = *") < acl.index("spf = fail")
    assert "spf = fail : softfail" not in acl
    # Our other MX hosts are exempt: they relay mail for our own domains.
    assert "deny    !hosts = +peer_mx_hosts\n          spf = fail\n" in acl


def test_k20_no_spf_without_build_support() -> None:
    text = render_configure(parse_site(_minimal(features='["tls", "dkim"]')))
    assert "spf" not in text.split("begin acl")[1].split("begin routers")[0]


def test_k14_tls_required_enforced_at_rcpt() -> None:
    text = render_configure(bundled("lab/mx1"))
    mail_acl = text[text.index("acl_check_mail:") : text.index("acl_check_rcpt:")]
    rcpt_acl = text[text.index("acl_check_rcpt:") : text.index("acl_check_data:")]
    assert "encrypted" not in mail_acl
    assert "!encrypted = *" in rcpt_acl
    assert "${if inlist{$received_port}{587}}" in rcpt_acl
    assert "tls_advertise_hosts = *" in text


def test_k05_postmaster_alias_added() -> None:
    site = parse_site(_minimal())
    aliases = render_aliases(site)
    assert "postmaster: ann\n" in aliases
    assert "abuse: ann\n" in aliases


def test_k05_virtual_domain_gets_postmaster() -> None:
    files = {str(f.path): f.content for f in rendered_files(bundled("lab/mx1"))}
    virtual = files["/var/lib/eximctl/lab/mx1/etc/virtual/sub.alpha.test"]
    assert "postmaster: ann@alpha.test\n" in virtual
    assert "info: amy@alpha.test\n" in virtual
    assert "partner: bob@beta.test\n" in virtual


def test_k26_received_headers_max_configurable() -> None:
    site = parse_site(_minimal() + "\n[daemon]\nreceived_headers_max = 12\n")
    assert "received_headers_max = 12\n" in render_configure(site)


def test_exim_list_switches_separator_for_ipv6() -> None:
    assert exim_list(["127.0.0.1", "192.0.2.1"]) == "127.0.0.1 : 192.0.2.1"
    assert exim_list(["127.0.0.1", "::1"]) == "<; 127.0.0.1 ; ::1"


@pytest.mark.exim
@pytest.mark.parametrize("name", SITES)
def test_rendered_configure_accepted_by_exim(
    name: str, built_site: Site, tmp_path: Path
) -> None:
    config = tmp_path / "configure"
    config.write_text(render_configure(bundled(name)))
    result = subprocess.run(
        [built_site.exim_binary, "-bV", "-C", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _transport(text: str, name: str) -> str:
    start = text.index(f"\n{name}:\n")
    end = text.find("\n\n", start + 1)
    return text[start:end]


def _minimal(features: str = '["tls", "dkim", "spf"]') -> str:
    return f"""
accounts = ["ann"]
[host]
name = "mail.example.test"
[build]
features = {features}
[[domains]]
name = "example.test"
"""


def _smarthost_site(port: int) -> str:
    return (
        _minimal()
        + f"""
[smarthost]
host = "smtp.example.org"
port = {port}
user = "relay@example.org"
password_file = "/etc/eximctl/smarthost.password"
"""
    )
