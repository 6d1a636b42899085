"""The zone files of the lab, generated from the lab site files."""

from __future__ import annotations

import importlib
from pathlib import Path

from eximctl.errors import LabError
from eximctl.lab.hosts import HOSTS, NAMESERVER, NAMESERVER_NAME
from eximctl.site import Site, bundled_site_path, load_site


def lab_sites() -> list[Site]:
    """Load the bundled site file of every lab mail host."""
    return [load_site(bundled_site_path(h.site_name)) for h in HOSTS if h.mail]


def generate_zones(directory: Path) -> None:
    """Write the zone files of every lab domain into ``directory``."""
    try:
        zones = importlib.import_module("eximctl.zones")
    except ModuleNotFoundError:
        raise LabError(
            "cannot generate the lab zones: eximctl.zones is not available in "
            "this installation; pass a folder of zone files with --zones DIR"
        ) from None
    # TODO: confirm the nameserver argument once eximctl.zones settles.
    built = zones.build_zones(lab_sites(), (NAMESERVER_NAME, NAMESERVER))
    zones.write_zones(built, directory)
