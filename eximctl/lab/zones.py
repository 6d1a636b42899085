"""The zone files of the lab, generated from the lab site files."""

from __future__ import annotations

import logging
from pathlib import Path

from eximctl.lab.hosts import NAMESERVER, NAMESERVER_NAME
from eximctl.lab_sites import lab_sites
from eximctl.zone_files import write_zones
from eximctl.zones import build_zones, dkim_key_files

log = logging.getLogger(__name__)


def generate_zones(directory: Path) -> list[Path]:
    """Write the zone file of every lab domain into ``directory``.

    A zone file is rewritten, with a new serial, only when its records
    changed. Any other file in ``directory`` is removed, so NSD serves
    exactly the generated zones. Returns the zone files.
    """
    sites = lab_sites()
    built = build_zones(sites, (NAMESERVER_NAME, NAMESERVER))
    statuses = write_zones(built, directory, dkim_keys=dkim_key_files(sites))
    written = {directory / f"{domain}.zone" for domain in statuses}
    for path in directory.iterdir():
        if path not in written:
            log.debug("removing %s, which is not a generated lab zone", path)
            path.unlink()
    return sorted(written)
