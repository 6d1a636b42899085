"""Zone files on disk: text form, serial numbers and safe rewrites.

A zone file is rewritten only when its content apart from the serial
changed, and only then does the serial move, so secondaries and the lab's NSD
reload nothing when nothing changed.
"""

from __future__ import annotations

import datetime
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import dns.exception
import dns.name
import dns.rdataset
import dns.rdatatype
import dns.zone

from eximctl.errors import ZoneError
from eximctl.zone_checks import check_zones, read_zone_file
from eximctl.zones import first_serial

log = logging.getLogger(__name__)

WriteStatus = Literal["written", "unchanged"]
ZONE_FILE_MODE = 0o644
_HEADER = (
    "; Zone {origin}, written by 'eximctl zones' from the site files.\n"
    "; Edit the site files instead: eximctl rewrites this file.\n"
)


def zone_text(zone: dns.zone.Zone) -> str:
    """Return the zone file text: a header, then every record fully qualified."""
    origin = zone.origin.to_text(omit_final_dot=True) if zone.origin else "."
    body = zone.to_text(sorted=True, relativize=False, nl="\n")
    return _HEADER.format(origin=origin) + body


def zone_serial(zone: dns.zone.Zone) -> int:
    """Return the SOA serial of ``zone``."""
    serial: int = zone.get_soa().serial
    return serial


def set_serial(zone: dns.zone.Zone, serial: int) -> None:
    """Replace the SOA serial of ``zone`` in place."""
    # The SOA rdataset is replaced at its index so that it stays first in the
    # apex node, and so first in the file.
    node = zone.find_node(zone.origin or dns.name.root)
    soa = zone.get_soa().replace(serial=serial)
    for i, rdataset in enumerate(node.rdatasets):
        if rdataset.rdtype == dns.rdatatype.SOA:
            node.rdatasets[i] = dns.rdataset.from_rdata(rdataset.ttl, soa)


def next_serial(previous: int | None, today: datetime.date) -> int:
    """Return the serial after ``previous``: today's first, or previous + 1.

    The form is YYYYMMDDnn. After the 99th change of a day the number runs
    into the next day's range, which keeps it increasing.
    """
    first = first_serial(today)
    if previous is None or previous < first:
        return first
    return previous + 1


def write_zones(
    zones: Mapping[str, dns.zone.Zone],
    directory: Path,
    *,
    dkim_keys: Mapping[str, Path] | None = None,
    today: datetime.date | None = None,
) -> dict[str, WriteStatus]:
    """Check all zones, then write each as DIRECTORY/DOMAIN.zone if it changed.

    Raises the first ZoneError of check_zones before any file is written.
    The SOA serial of each zone object is set to the serial of its file.
    Returns 'written' or 'unchanged' per domain.
    """
    problems = check_zones(zones, dkim_keys)
    if problems:
        raise problems[0]
    directory.mkdir(parents=True, exist_ok=True)
    day = today or datetime.date.today()
    return {
        domain: write_zone(zones[domain], directory / f"{domain}.zone", day)
        for domain in sorted(zones)
    }


def write_zone(zone: dns.zone.Zone, path: Path, today: datetime.date) -> WriteStatus:
    """Write one zone file unless only its serial would change."""
    previous = _previous_serial(path)
    if previous is not None:
        set_serial(zone, previous)
        if path.read_text(encoding="utf-8") == zone_text(zone):
            log.debug("%s is unchanged", path)
            return "unchanged"
    set_serial(zone, next_serial(previous, today))
    _replace(path, zone_text(zone))
    log.info("wrote %s with serial %d", path, zone_serial(zone))
    return "written"


def _previous_serial(path: Path) -> int | None:
    if not path.exists():
        return None
    try:
        return zone_serial(read_zone_file(path))
    except (ZoneError, dns.exception.DNSException) as exc:
        log.warning("%s: cannot read its serial (%s); starting a new one", path, exc)
        return None


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, re-parsed first."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, ZONE_FILE_MODE)
        # The text must parse back before it replaces a working file.
        dns.zone.from_file(
            temporary, origin=path.name.removesuffix(".zone"), relativize=False
        )
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
