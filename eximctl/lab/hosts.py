"""The lab topology: which hosts exist, their addresses, roles and paths.

Every host is a network namespace named ``eximlab-HOST``. All hosts share one
layer-2 segment, 192.0.2.0/24 (TEST-NET-1, RFC 5737), through a bridge inside
the namespace ``eximlab-switch``, so the root namespace gets no lab address,
link or route.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eximctl.errors import LabError

PREFIX = "eximlab-"
SWITCH_NAMESPACE = f"{PREFIX}switch"
BRIDGE = "br0"
PREFIX_LENGTH = 24
LAB_ROOT = Path("/var/lib/eximctl/lab")
NETNS_ETC = Path("/etc/netns")
NAMESERVER = "192.0.2.53"
NAMESERVER_NAME = "ns.lab.test"


@dataclass(frozen=True)
class LabHost:
    """One lab host: its namespace, address and what it is for."""

    name: str
    address: str
    fqdn: str
    role: str
    mail: bool

    @property
    def namespace(self) -> str:
        return f"{PREFIX}{self.name}"

    @property
    def root(self) -> Path:
        """The per-host folder that contains its configuration and runtime files."""
        return LAB_ROOT / self.name

    @property
    def site_name(self) -> str:
        """The bundled site file of a mail host, as bundled_site_path takes it."""
        return f"lab/{self.name}"


HOSTS: tuple[LabHost, ...] = (
    LabHost(
        "dns", NAMESERVER, NAMESERVER_NAME, "NSD, authoritative for lab zones", False
    ),
    LabHost("mx1", "192.0.2.11", "mx1.alpha.test", "primary MX of alpha.test", True),
    LabHost("mx2", "192.0.2.12", "mx2.beta.test", "primary MX of beta.test", True),
    LabHost("relay", "192.0.2.25", "smtp.relay.test", "smarthost", True),
    LabHost("inbox", "192.0.2.30", "mx.inbox.test", "outside mail provider", True),
)


def find_host(name: str) -> LabHost:
    """Return the lab host called ``name`` (``mx1`` or ``eximlab-mx1``)."""
    short = name.removeprefix(PREFIX)
    for host in HOSTS:
        if short in (host.name, host.fqdn, host.address):
            return host
    known = ", ".join(h.name for h in HOSTS)
    raise LabError(f"unknown lab host {name!r}; use one of: {known}")


def mail_hosts() -> list[LabHost]:
    return [h for h in HOSTS if h.mail]


def is_lab_namespace(name: str) -> bool:
    return name.startswith(PREFIX)
