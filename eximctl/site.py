"""The site file: one mail host described in TOML, validated once on load.

Every command reads the same :class:`Site`, so a value means the same thing
for the build, the runtime configuration, the zones and the checks.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from eximctl.errors import SiteError
from eximctl.schema import load_table

UPSTREAM_URL = "https://downloads.exim.org/exim4/"

Feature = Literal["tls", "dkim", "spf", "dane", "maildir"]
DomainKind = Literal["local", "virtual", "backup"]
SourceKind = Literal["upstream", "mirror", "debian", "file"]

# RFC 1035 labels, as host names use them (letters, digits, inner hyphens).
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_ACCOUNT = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class HostSection:
    """The host itself: its fully qualified name and its addresses."""

    name: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceSection:
    """The Exim source: its kind, location and pinned version."""

    kind: SourceKind = "upstream"
    url: str = UPSTREAM_URL
    version: str = ""
    tarball: str = ""
    signature: str = ""
    keyring: str = ""
    cache_directory: str = "/var/cache/eximctl"


@dataclass(frozen=True)
class BuildSection:
    """Compile-time options and the install layout."""

    prefix: str = "/opt/eximctl"
    user: str = "exim"
    group: str = "exim"
    features: tuple[Feature, ...] = ("tls", "dkim", "spf", "dane", "maildir")
    jobs: int = 0
    spool_directory: str = ""
    log_directory: str = ""
    config_directory: str = ""


@dataclass(frozen=True)
class DaemonSection:
    """The daemon's ports and interfaces, and the hosts it relays for."""

    ports: tuple[int, ...] = (25, 587)
    tls_on_connect_ports: tuple[int, ...] = ()
    interfaces: tuple[str, ...] = ()
    relay_from_hosts: tuple[str, ...] = ("127.0.0.1", "::1")
    received_headers_max: int = 30


@dataclass(frozen=True)
class DeliverySection:
    """The mailbox format and folder of local accounts."""

    mailbox: Literal["mbox", "maildir"] = "mbox"
    mail_directory: str = "/var/mail"


@dataclass(frozen=True)
class MxHost:
    """One MX record of a domain's zone."""

    host: str
    preference: int
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class DomainSection:
    """A domain the host serves: delivered locally, virtual, or as backup MX."""

    name: str
    kind: DomainKind = "local"
    primary: str = ""
    routing: Literal["mx", "manualroute"] = "mx"
    recipients: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    catch_all: str = ""
    postmaster: str = ""
    mx: tuple[MxHost, ...] = ()
    spf: str = ""
    dmarc: str = "v=DMARC1; p=none"
    zone: Literal["own", "parent"] = "own"


@dataclass(frozen=True)
class TlsSection:
    """Server certificate, protocol floor, where TLS is required, and DANE.

    ``dane`` verifies outbound TLS to MX hosts by their TLSA records (RFC
    7672) and publishes a TLSA record for this host. ``dns_trust_aa`` lists
    domain patterns whose authoritative answers Exim takes as
    DNSSEC-validated: only for a lab or a private zone whose authoritative
    server is the resolver that this host queries directly.
    """

    certificate: str = ""
    key: str = ""
    generate: bool = True
    ca_certificate: str = ""
    min_version: Literal["TLSv1.2", "TLSv1.3"] = "TLSv1.2"
    ciphers: str = ""
    required_ports: tuple[int, ...] = ()
    dane: bool = False
    dns_trust_aa: tuple[str, ...] = ()


@dataclass(frozen=True)
class SmarthostSection:
    """The relay that receives all mail for domains that are not ours."""

    host: str
    user: str
    password_file: str
    port: int = 587
    tls: bool = True
    allow_plaintext_auth: bool = False


@dataclass(frozen=True)
class AuthSection:
    """Server-side SMTP AUTH: users and passwords for submission."""

    passwords_file: str = ""
    require_tls: bool = True


@dataclass(frozen=True)
class DkimSection:
    """DKIM signing of outbound mail."""

    selector: str = "mail"
    key_type: Literal["rsa", "ed25519"] = "rsa"
    bits: int = 2048
    key_directory: str = ""
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpfSection:
    """SPF checks on inbound mail."""

    check: bool = True


@dataclass(frozen=True)
class SiteFile:
    """The raw site file, section by section, before cross-checks."""

    host: HostSection
    source: SourceSection = field(default_factory=SourceSection)
    build: BuildSection = field(default_factory=BuildSection)
    daemon: DaemonSection = field(default_factory=DaemonSection)
    delivery: DeliverySection = field(default_factory=DeliverySection)
    domains: tuple[DomainSection, ...] = ()
    accounts: tuple[str, ...] = ()
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tls: TlsSection = field(default_factory=TlsSection)
    smarthost: SmarthostSection | None = None
    auth: AuthSection = field(default_factory=AuthSection)
    dkim: DkimSection | None = None
    spf: SpfSection = field(default_factory=SpfSection)


@dataclass(frozen=True)
class Site(SiteFile):
    """A validated site, with the path it was loaded from."""

    path: Path = Path("<embedded>")

    @property
    def spool_directory(self) -> str:
        return self.build.spool_directory or f"{self.build.prefix}/spool"

    @property
    def log_directory(self) -> str:
        return self.build.log_directory or f"{self.build.prefix}/log"

    @property
    def bin_directory(self) -> str:
        return f"{self.build.prefix}/bin"

    @property
    def exim_binary(self) -> str:
        return f"{self.bin_directory}/exim"

    @property
    def etc_directory(self) -> str:
        return self.build.config_directory or f"{self.build.prefix}/etc"

    @property
    def trusted_config_list(self) -> str:
        """The compile-time list of configuration files that keep root."""
        return f"{self.build.prefix}/etc/trusted_configs"

    @property
    def configure_file(self) -> str:
        return f"{self.etc_directory}/configure"

    @property
    def aliases_file(self) -> str:
        return f"{self.etc_directory}/aliases"

    def domains_of_kind(self, kind: DomainKind) -> list[DomainSection]:
        return [d for d in self.domains if d.kind == kind]

    def resolve(self, value: str) -> Path:
        """Return a path from the site file, relative to the file's folder."""
        path = Path(value)
        if path.is_absolute() or self.path.name == "<embedded>":
            return path
        return self.path.parent / path


def bundled_site_path(name: str = "default") -> Path:
    """Return the path of a site file shipped inside the package."""
    path = Path(str(resources.files("eximctl") / "sites" / f"{name}.toml"))
    if not path.is_file():
        raise SiteError(name, "no bundled site of that name")
    return path


def load_site(path: Path | None = None) -> Site:
    """Load and validate a site file; the bundled default site when None."""
    path = path or bundled_site_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SiteError(str(path), f"cannot read the site file ({exc.strerror})")
    return parse_site(text, path)


def parse_site(text: str, path: Path = Path("<embedded>")) -> Site:
    """Parse TOML text into a validated :class:`Site`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SiteError(str(path), f"invalid TOML: {exc}") from exc

    aliases = data.get("aliases")
    if isinstance(aliases, dict):
        data["aliases"] = {
            k: [v] if isinstance(v, str) else v for k, v in aliases.items()
        }

    # Imported here because the rule modules import Site for their signatures.
    from eximctl.site_rules import check_site

    try:
        raw = load_table(SiteFile, data, "")
        site = Site(**{f: getattr(raw, f) for f in raw.__dataclass_fields__}, path=path)
        check_site(site)
    except SiteError as exc:
        if exc.path or path.name == "<embedded>":
            raise
        raise SiteError(exc.key, exc.message, str(path)) from None
    return site


def check_hostname(value: str, key: str) -> None:
    """Raise SiteError unless ``value`` is a fully qualified host name."""
    name = value.rstrip(".")
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 253 or not all(_LABEL.match(x) for x in labels):
        raise SiteError(
            key,
            f"invalid host name {value!r}; use a fully qualified name such as "
            "'mail.example.org'",
        )


def check_address(value: str, key: str) -> None:
    """Raise SiteError unless ``value`` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise SiteError(
            key,
            f"invalid IP address {value!r}; use a form like 192.0.2.25 or 2001:db8::25",
        ) from None


def check_local_part(value: str, key: str) -> None:
    """Raise SiteError unless ``value`` is a plain dot-atom local part."""
    if not _LOCAL_PART.match(value) or value.startswith(".") or ".." in value:
        raise SiteError(key, f"invalid local part {value!r}")


def check_account(value: str, key: str) -> None:
    """Raise SiteError unless ``value`` is a valid Unix account name."""
    if not _ACCOUNT.match(value):
        raise SiteError(
            key,
            f"invalid account name {value!r}; use lower-case letters, digits, "
            "'_' or '-', starting with a letter",
        )
