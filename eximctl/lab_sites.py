"""The bundled lab: its four mail hosts and its name server."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from eximctl.site import Site, load_site

# The lab's authoritative NSD (host name, address), in the RFC 5737 range of
# the lab network.
LAB_NAMESERVER = ("ns.lab.test", "192.0.2.53")


def lab_site_paths() -> list[Path]:
    """Return the bundled lab site files, sorted by name."""
    directory = Path(str(resources.files("eximctl") / "sites" / "lab"))
    return sorted(directory.glob("*.toml"))


def is_bundled_lab_site(site: Site) -> bool:
    """Return True when ``site`` was loaded from a bundled lab site file."""
    directory = Path(str(resources.files("eximctl") / "sites" / "lab"))
    return site.path.resolve().parent == directory.resolve()


def lab_sites() -> list[Site]:
    """Load and validate every bundled lab site."""
    return [load_site(path) for path in lab_site_paths()]
