"""The lab DNS: NSD in namespace eximlab-dns, authoritative for the lab zones."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from eximctl.accounts import user_exists
from eximctl.errors import LabError
from eximctl.lab.command import run, start_daemon
from eximctl.lab.hosts import LAB_ROOT, NAMESERVER, find_host
from eximctl.lab.netns import kill_processes, runs_program, wait_for_socket
from eximctl.render import render

log = logging.getLogger(__name__)

DNS_ROOT = LAB_ROOT / "dns"
ZONES_DIRECTORY = DNS_ROOT / "zones"
RUN_DIRECTORY = DNS_ROOT / "run"
CONFIG_FILE = DNS_ROOT / "nsd.conf"
LOG_FILE = DNS_ROOT / "log" / "nsd.log"
NSD = "/usr/sbin/nsd"
_PROGRAM = "nsd"
_USER = "nsd"
_FIX = "install NSD with 'apt-get install nsd'"


@dataclass(frozen=True)
class ZoneFile:
    """A zone file and the zone (origin) it is loaded as."""

    name: str
    file: Path


def zone_name(path: Path) -> str:
    """Return the zone a file serves: its name without a ``.zone`` suffix."""
    return path.name.removesuffix(".zone")


def install_zones(source: Path) -> list[ZoneFile]:
    """Copy the zone files of ``source`` into the lab and check each with NSD.

    When ``source`` is the lab's zone folder itself, nothing is copied.

    Every regular file in ``source`` is one zone named after the file
    (``alpha.test.zone`` or ``alpha.test`` both serve alpha.test). Files
    whose name starts with a dot are skipped.
    """
    files = sorted(p for p in source.iterdir() if p.is_file() and p.name[0] != ".")
    if not files:
        raise LabError(
            f"no zone files in {source}; run 'eximctl zones' or pass --zones DIR"
        )
    in_place = source.resolve() == ZONES_DIRECTORY.resolve()
    if not in_place:
        if ZONES_DIRECTORY.exists():
            shutil.rmtree(ZONES_DIRECTORY)
        ZONES_DIRECTORY.mkdir(parents=True)

    zones = []
    for path in files:
        target = ZONES_DIRECTORY / path.name
        if not in_place:
            shutil.copyfile(path, target)
        target.chmod(0o644)
        name = zone_name(path)
        run(
            ["nsd-checkzone", name, str(target)],
            f"fix the zone file {path} (zone {name}) and run 'eximctl lab up' again",
        )
        zones.append(ZoneFile(name, target))
    return zones


def render_config(zones: list[ZoneFile]) -> str:
    return render(
        "lab/nsd.conf.j2",
        address=NAMESERVER,
        username=_USER if user_exists(_USER) else "",
        zones_directory=ZONES_DIRECTORY,
        run_directory=RUN_DIRECTORY,
        log_file=LOG_FILE,
        zones=zones,
    )


def write_config(zones: list[ZoneFile]) -> bool:
    """Write nsd.conf for ``zones`` and check it; return True if it changed."""
    text = render_config(zones)
    changed = not CONFIG_FILE.is_file() or CONFIG_FILE.read_text() != text
    if changed:
        CONFIG_FILE.parent.mkdir(parents=True, exist_ok=True)
        CONFIG_FILE.write_text(text)
    run(
        ["nsd-checkconf", str(CONFIG_FILE)],
        f"the generated {CONFIG_FILE} is invalid; check templates/lab/nsd.conf.j2",
    )
    return changed


def _prepare_directories() -> None:
    """Create the folders NSD writes to, owned by the user it runs as."""
    for directory in (RUN_DIRECTORY, LOG_FILE.parent):
        directory.mkdir(parents=True, exist_ok=True)
        if user_exists(_USER):
            entry = pwd.getpwnam(_USER)
            os.chown(directory, entry.pw_uid, entry.pw_gid)


def start_nsd(source: Path, restart: bool = False) -> str:
    """Serve the zones of ``source`` from NSD in the dns namespace.

    Starts NSD unless it runs already; restarts it when the zones or the
    configuration changed, or when ``restart``. Returns what it did.
    """
    namespace = find_host("dns").namespace
    old = _zone_contents()
    zones = install_zones(source)
    changed = write_config(zones) or old != _zone_contents()

    running = runs_program(namespace, _PROGRAM)
    if running and not (changed or restart):
        return "running"
    if running:
        log.info("restarting NSD because the zones or its configuration changed")
        kill_processes(namespace, {_PROGRAM})

    _prepare_directories()
    start_daemon(
        ["ip", "netns", "exec", namespace, NSD, "-c", str(CONFIG_FILE)],
        LOG_FILE,
        f"check {LOG_FILE} and {CONFIG_FILE}; {_FIX} if nsd is missing",
    )
    try:
        wait_for_socket(namespace, f"{NAMESERVER}:53", "udp")
    except LabError:
        raise LabError(
            f"NSD does not listen on {NAMESERVER} port 53; see {LOG_FILE}"
        ) from None
    return "restarted" if running else "started"


def _zone_contents() -> dict[str, bytes]:
    if not ZONES_DIRECTORY.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in ZONES_DIRECTORY.iterdir()}
