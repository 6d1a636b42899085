"""Bring the whole lab up, tear it down, and report what runs in it.

``lab_up`` is idempotent: each step checks before it acts. ``lab_down``
finds everything by the ``eximlab-`` prefix, so it also cleans up after an
``up`` that stopped half-way.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from eximctl.errors import LabError
from eximctl.lab import mail, netns, nsd, sshd
from eximctl.lab.hosts import HOSTS, LAB_ROOT, SWITCH_NAMESPACE, find_host
from eximctl.lab.zones import generate_zones

log = logging.getLogger(__name__)

LOCK_FILE = Path("/run/eximctl-lab.lock")

# The files that 'lab down' keeps, relative to the lab root. At the top these
# are the lab CA and the ssh client key. Per host they are its configuration
# (with DKIM keys and passwords) and its ssh host key, so that known_hosts
# stays valid from one 'lab up' to the next.
KEEP_TOP = frozenset({"ca", "ssh"})
KEEP_PER_HOST = frozenset({"etc", "ssh"})


@dataclass
class NamespaceStatus:
    """One lab namespace: its host, addresses, processes and listening sockets."""

    namespace: str
    host: str = ""
    role: str = ""
    addresses: list[str] = field(default_factory=list)
    processes: dict[int, str] = field(default_factory=dict)
    tcp: list[str] = field(default_factory=list)
    udp: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def programs(self) -> list[str]:
        """The distinct names of the processes, in order of first appearance."""
        names = (name.split(":", 1)[0] for name in self.processes.values())
        return list(dict.fromkeys(names))


@dataclass
class DownReport:
    """The namespaces, process ids and paths that ``lab_down`` removed."""

    namespaces: list[str] = field(default_factory=list)
    killed: dict[str, list[int]] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)


@contextmanager
def _locked() -> Iterator[None]:
    """Hold an exclusive lock so two ``up``/``down`` runs do not interleave."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root; run 'eximctl lab' as root")
    with LOCK_FILE.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def build_network() -> None:
    """Create the switch, every host namespace, its link, address and /etc files."""
    netns.ensure_switch()
    for host in HOSTS:
        netns.attach_host(host)
        netns.write_netns_etc(host)
        host.root.mkdir(parents=True, exist_ok=True)


def start_dns(zones: Path | None) -> str:
    """Serve the zones of folder ``zones``, or the generated lab zones if None.

    Generated zones are written straight into the folder NSD serves, so their
    serials move only when their records change.
    """
    if zones is None:
        nsd.ZONES_DIRECTORY.mkdir(parents=True, exist_ok=True)
        generate_zones(nsd.ZONES_DIRECTORY)
        return nsd.start_nsd(nsd.ZONES_DIRECTORY)
    return nsd.start_nsd(zones)


def start_ssh() -> None:
    sshd.write_client_files()
    for host in HOSTS:
        sshd.start_sshd(host)


def start_mail() -> None:
    for host in HOSTS:
        if host.mail:
            mail.start_mail_host(mail.lab_site(host), host.namespace)


def lab_up(zones: Path | None = None, with_mail: bool = True) -> list[NamespaceStatus]:
    """Create the lab and start its daemons; return the status of every host.

    With ``with_mail`` the Exim binary must be installed (``eximctl build``)
    and every mail host gets its configuration and an Exim daemon.
    """
    if with_mail:
        mail.require_exim()
    with _locked():
        build_network()
        start_dns(zones)
        start_ssh()
        if with_mail:
            start_mail()
    return lab_status()


def lab_down(purge: bool = False) -> DownReport:
    """Stop every lab process and remove the namespaces and generated files.

    Keeps the files named by KEEP_TOP and KEEP_PER_HOST unless ``purge``,
    which removes the whole lab root.
    """
    report = DownReport()
    with _locked():
        namespaces = netns.list_namespaces()
        for namespace in namespaces:
            report.killed[namespace] = netns.kill_processes(namespace)
        for namespace in namespaces:
            netns.delete_namespace(namespace)
            report.namespaces.append(namespace)
        report.paths.extend(netns.remove_netns_etc())
        report.paths.extend(_remove_runtime_files(purge))
    return report


def _remove_runtime_files(purge: bool) -> list[Path]:
    if not LAB_ROOT.is_dir():
        return []
    if purge:
        shutil.rmtree(LAB_ROOT)
        return [LAB_ROOT]
    removed = []
    host_names = {h.name for h in HOSTS}
    for path in sorted(LAB_ROOT.iterdir()):
        if path.name in KEEP_TOP or path.name not in host_names:
            continue
        for child in sorted(path.iterdir()):
            if child.name not in KEEP_PER_HOST:
                _remove(child)
                removed.append(child)
    return removed


def _remove(path: Path) -> None:
    log.debug("removing %s", path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def lab_status() -> list[NamespaceStatus]:
    """Return what exists and runs in each lab namespace, switch included."""
    statuses = []
    for namespace in netns.list_namespaces():
        status = NamespaceStatus(namespace)
        if namespace != SWITCH_NAMESPACE:
            try:
                host = find_host(namespace)
            except LabError:
                host = None
            if host is not None:
                status.host = host.fqdn
                status.role = host.role
        try:
            status.addresses = netns.addresses(namespace)
            status.processes = netns.namespace_processes(namespace)
            status.tcp = netns.listening_sockets(namespace, "tcp")
            status.udp = netns.listening_sockets(namespace, "udp")
        except LabError as exc:
            # A namespace half-created by an interrupted 'lab up'.
            status.error = str(exc)
        statuses.append(status)
    return statuses
