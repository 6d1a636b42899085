"""Site file loading: the bundled sites load, and bad input names key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from eximctl.errors import SiteError
from eximctl.site import bundled_site_path, load_site, parse_site
from eximctl.site_rules import find_alias_cycle, site_warnings

MINIMAL = """
accounts = ["ann"]
[host]
name = "mail.example.test"
[[domains]]
name = "example.test"
"""


def site_with(extra: str, base: str = MINIMAL) -> str:
    return base + "\n" + extra


def test_default_site_loads() -> None:
    site = load_site()
    assert site.host.name == "mail.eximctl.test"
    assert site.source.kind == "debian"
    assert site.accounts == ("mailtest",)
    assert site.configure_file == "/opt/eximctl/etc/configure"


@pytest.mark.parametrize("name", ["mx1", "mx2", "relay", "inbox"])
def test_lab_sites_load(name: str) -> None:
    site = load_site(bundled_site_path(f"lab/{name}"))
    assert site.host.addresses, f"lab site {name} has no address"
    assert site.etc_directory == f"/var/lib/eximctl/lab/{name}/etc"


def test_minimal_site_defaults() -> None:
    site = parse_site(MINIMAL)
    assert site.source.kind == "upstream"
    assert site.source.url == "https://downloads.exim.org/exim4/"
    assert site.daemon.ports == (25, 587)
    assert site.daemon.received_headers_max == 30
    assert site.delivery.mailbox == "mbox"


# Each bad input, the key the error must name, and a phrase of the fix.
BAD_INPUTS = [
    ("[host]\nname = 'x'\n", "", "invalid TOML"),
    ('[build]\nfeatures = ["tls", "spff"]', "build.features[1]", "'spf'"),
    ("[daemon]\nports = [25, 70000]", "daemon.ports", "1 to 65535"),
    ('[daemon]\nports = ["25"]', "daemon.ports[0]", "expected an integer"),
    ("[daemon]\nport = 25", "daemon.port", "valid keys here are"),
    ("colour = 'blue'", "colour", "unknown key"),
    ("[delivery]\nmailbox = 'mh'", "delivery.mailbox", "'maildir'"),
    ("[build]\nprefix = 'opt/exim'", "build.prefix", "absolute path"),
    ("[daemon]\nreceived_headers_max = 1", "daemon.received_headers_max", "30"),
]


@pytest.mark.parametrize(("extra", "key", "fix"), BAD_INPUTS)
def test_bad_input_names_key(extra: str, key: str, fix: str) -> None:
    with pytest.raises(SiteError) as raised:
        parse_site(site_with(extra))
    assert key in str(raised.value)
    assert fix in str(raised.value)


def test_invalid_host_address() -> None:
    text = MINIMAL.replace("[host]", '[host]\naddresses = ["192.0.2.300"]')
    with pytest.raises(SiteError) as raised:
        parse_site(text)
    assert "host.addresses[0]" in str(raised.value)
    assert "192.0.2.25" in str(raised.value)


def test_missing_host_name() -> None:
    with pytest.raises(SiteError, match="host.name: missing required key"):
        parse_site('accounts = ["ann"]\n[host]\n')


def test_host_name_must_be_qualified() -> None:
    with pytest.raises(SiteError, match="host.name: invalid host name 'mail'"):
        parse_site(MINIMAL.replace("mail.example.test", "mail"))


def test_root_cannot_be_an_account() -> None:
    with pytest.raises(SiteError, match=r"accounts\[0\]: root cannot receive"):
        parse_site(MINIMAL.replace('["ann"]', '["root"]'))


def test_k06_alias_cycle_names_aliases() -> None:
    text = site_with('[aliases]\nroot = "admins"\nadmins = ["ann", "bob", "root"]')
    text = text.replace('["ann"]', '["ann", "bob"]', 1)
    with pytest.raises(SiteError) as raised:
        parse_site(text)
    message = str(raised.value)
    assert "cycle" in message
    assert "admins -> root -> admins" in message


def test_alias_cycle_finder_paths() -> None:
    assert find_alias_cycle({"a": ("b",), "b": ("c",), "c": ("a",)}) == [
        "a",
        "b",
        "c",
        "a",
    ]
    assert find_alias_cycle({"a": ("a",)}) == ["a", "a"]
    assert find_alias_cycle({"a": ("b", "ann"), "b": ("ann",)}) == []


def test_alias_target_must_exist() -> None:
    with pytest.raises(SiteError, match="aliases.root: target 'nobody'"):
        parse_site(site_with('[aliases]\nroot = "nobody"'))


def test_k12_tls_on_connect_port_not_a_daemon_port() -> None:
    text = site_with("[daemon]\nports = [25]\ntls_on_connect_ports = [465]")
    with pytest.raises(SiteError) as raised:
        parse_site(text)
    assert "daemon.tls_on_connect_ports" in str(raised.value)
    assert "port 465 is not in daemon.ports" in str(raised.value)


def test_k12_tls_on_connect_without_certificate() -> None:
    text = site_with(
        "[daemon]\nports = [25, 465]\ntls_on_connect_ports = [465]\n"
        "[tls]\ngenerate = false"
    )
    with pytest.raises(SiteError, match="tls.certificate: TLS-on-connect"):
        parse_site(text)


def test_k14_tls_required_on_25_warns() -> None:
    site = parse_site(site_with("[tls]\nrequired_ports = [25]"))
    warnings = site_warnings(site)
    assert len(warnings) == 1
    assert "RFC 3207" in warnings[0]


def test_k09_smarthost_without_tls_rejected() -> None:
    text = site_with(
        '[smarthost]\nhost = "smtp.example.org"\nuser = "u"\n'
        'password_file = "pw"\ntls = false'
    )
    with pytest.raises(SiteError) as raised:
        parse_site(text)
    assert "smarthost.tls" in str(raised.value)
    assert "allow_plaintext_auth" in str(raised.value)


def test_k09_plaintext_auth_allowed_explicitly() -> None:
    text = site_with(
        '[smarthost]\nhost = "smtp.example.org"\nuser = "u"\n'
        'password_file = "pw"\ntls = false\nallow_plaintext_auth = true'
    )
    site = parse_site(text)
    assert site.smarthost is not None
    assert site.smarthost.allow_plaintext_auth


BACKUP = """
[[domains]]
name = "partner.test"
kind = "backup"
primary = "mx.partner.test"
mx = [
  { host = "mx.partner.test", preference = PRIMARY },
  { host = "mail.example.test", preference = OURS },
]
"""


def test_k25_backup_that_is_best_mx_rejected() -> None:
    text = site_with(BACKUP.replace("PRIMARY", "20").replace("OURS", "10"))
    with pytest.raises(SiteError) as raised:
        parse_site(text)
    assert "domains[1].mx" in str(raised.value)
    assert "best MX preference (10)" in str(raised.value)


def test_k25_backup_with_equal_preference_rejected() -> None:
    text = site_with(BACKUP.replace("PRIMARY", "10").replace("OURS", "10"))
    with pytest.raises(SiteError, match="best MX preference"):
        parse_site(text)


def test_backup_with_higher_preference_loads() -> None:
    site = parse_site(site_with(BACKUP.replace("PRIMARY", "10").replace("OURS", "20")))
    assert [d.name for d in site.domains_of_kind("backup")] == ["partner.test"]


def test_backup_whose_primary_is_this_host_rejected() -> None:
    text = site_with(BACKUP.replace("mx.partner.test", "mail.example.test", 1))
    with pytest.raises(SiteError, match="make the domain kind 'local'"):
        parse_site(text.replace("PRIMARY", "10").replace("OURS", "20"))


def test_virtual_alias_to_unknown_account() -> None:
    text = site_with(
        '[[domains]]\nname = "v.example.test"\nkind = "virtual"\n'
        '[domains.aliases]\ninfo = "zed"'
    )
    with pytest.raises(SiteError, match="domains\\[1\\].aliases.info: 'zed'"):
        parse_site(text)


def test_aliases_only_for_virtual_domains() -> None:
    text = MINIMAL + '[domains.aliases]\ninfo = "ann"'
    with pytest.raises(SiteError, match="apply only to kind 'virtual'"):
        parse_site(text)


def test_unreadable_site_file(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="cannot read the site file"):
        load_site(tmp_path / "missing.toml")


def test_relative_mail_directory_rejected() -> None:
    with pytest.raises(SiteError) as raised:
        parse_site(site_with('[delivery]\nmail_directory = "mail"'))
    assert "delivery.mail_directory" in str(raised.value)
    assert "absolute path" in str(raised.value)
