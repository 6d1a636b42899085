"""The zone files of the lab, generated from the lab site files."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType

from eximctl.errors import LabError
from eximctl.lab.hosts import HOSTS, NAMESERVER, NAMESERVER_NAME
from eximctl.site import Site, bundled_site_path, load_site

log = logging.getLogger(__name__)


def lab_sites() -> list[Site]:
    """Load the bundled site file of every lab mail host."""
    return [load_site(bundled_site_path(h.site_name)) for h in HOSTS if h.mail]


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise LabError(
            f"cannot generate the lab zones: {name} is not available in this "
            "installation; pass a folder of zone files with --zones DIR"
        ) from None


def generate_zones(directory: Path) -> list[Path]:
    """Write the zone file of every lab domain into ``directory``.

    A zone file is rewritten, with a new serial, only when its records
    changed. Any other file in ``directory`` is removed, so NSD serves
    exactly the generated zones. Returns the zone files.
    """
    zones = _import("eximctl.zones")
    zone_files = _import("eximctl.zone_files")
    sites = lab_sites()
    built = zones.build_zones(sites, (NAMESERVER_NAME, NAMESERVER))
    statuses = zone_files.write_zones(
        built, directory, dkim_keys=zones.dkim_key_files(sites)
    )
    written = {directory / f"{domain}.zone" for domain in statuses}
    for path in directory.iterdir():
        if path not in written:
            log.debug("removing %s, which is not a generated lab zone", path)
            path.unlink()
    return sorted(written)
