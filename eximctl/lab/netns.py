"""Network namespaces, the bridge between them, and the processes inside.

Every step checks before it creates, so running it again changes nothing.
Discovery goes by the ``eximlab-`` name prefix, never by a state file, so a
namespace left behind by an interrupted ``lab up`` is still found.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from pathlib import Path

from eximctl.errors import LabError
from eximctl.lab.command import run
from eximctl.lab.hosts import (
    BRIDGE,
    HOSTS,
    NAMESERVER,
    NETNS_ETC,
    PREFIX_LENGTH,
    SWITCH_NAMESPACE,
    LabHost,
    is_lab_namespace,
)

log = logging.getLogger(__name__)

RUN_NETNS = Path("/run/netns")
_FIX_ROOT = "the lab needs root and iproute2; run 'eximctl lab down' and retry as root"
_TERM_WAIT = 5.0


def list_namespaces() -> list[str]:
    """Return the lab namespaces that exist, including half-created ones."""
    names = set()
    output = run(["ip", "netns", "list"], _FIX_ROOT).stdout
    for line in output.splitlines():
        name = line.split(" ", 1)[0]
        if is_lab_namespace(name):
            names.add(name)
    if RUN_NETNS.is_dir():
        names.update(p.name for p in RUN_NETNS.iterdir() if is_lab_namespace(p.name))
    return sorted(names)


def ensure_namespace(name: str) -> bool:
    """Create namespace ``name`` unless it exists; bring its loopback up.

    Returns True when the namespace was created.
    """
    created = name not in list_namespaces()
    if created:
        run(["ip", "netns", "add", name], _FIX_ROOT)
    run(["ip", "-n", name, "link", "set", "lo", "up"], _FIX_ROOT)
    return created


def link_exists(namespace: str, link: str) -> bool:
    result = run(["ip", "-n", namespace, "link", "show", link], _FIX_ROOT, check=False)
    return result.returncode == 0


def ensure_switch() -> None:
    """Create the switch namespace and the bridge that joins every host."""
    ensure_namespace(SWITCH_NAMESPACE)
    if not link_exists(SWITCH_NAMESPACE, BRIDGE):
        run(
            ["ip", "-n", SWITCH_NAMESPACE, "link", "add", BRIDGE, "type", "bridge"],
            _FIX_ROOT,
        )
    run(["ip", "-n", SWITCH_NAMESPACE, "link", "set", BRIDGE, "up"], _FIX_ROOT)


def switch_port(host: LabHost) -> str:
    """Return the name of the host's veth end inside the switch namespace."""
    return f"v-{host.name}"


def attach_host(host: LabHost) -> None:
    """Create the host's namespace and wire it to the bridge with its address.

    The veth pair is created inside the switch namespace with its peer moved
    straight into the host namespace, so neither end ever sits in the root
    namespace. The host gets no default route: only 192.0.2.0/24 is reachable.
    """
    ensure_namespace(host.namespace)
    port = switch_port(host)
    if not link_exists(SWITCH_NAMESPACE, port):
        run(
            ["ip", "-n", SWITCH_NAMESPACE, "link", "add", port, "type", "veth"]
            + ["peer", "name", "eth0", "netns", host.namespace],
            _FIX_ROOT,
        )
    run(
        ["ip", "-n", SWITCH_NAMESPACE, "link", "set", port, "master", BRIDGE, "up"],
        _FIX_ROOT,
    )
    run(["ip", "-n", host.namespace, "link", "set", "eth0", "up"], _FIX_ROOT)
    address = f"{host.address}/{PREFIX_LENGTH}"
    run(
        ["ip", "-n", host.namespace, "addr", "replace", address, "dev", "eth0"],
        _FIX_ROOT,
    )


def write_netns_etc(host: LabHost) -> Path:
    """Write the files that ``ip netns exec`` mounts over /etc for the host.

    resolv.conf points at the lab DNS; hosts names only localhost and the host
    itself, so every other name is resolved through the lab DNS.
    """
    directory = NETNS_ETC / host.namespace
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "resolv.conf").write_text(
        f"nameserver {NAMESERVER}\noptions timeout:1 attempts:2\n"
    )
    short = host.fqdn.split(".", 1)[0]
    (directory / "hosts").write_text(
        f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{host.address}\t{host.fqdn} {short}\n"
    )
    return directory


def remove_netns_etc() -> list[Path]:
    """Remove every /etc/netns folder of the lab; return what was removed."""
    if not NETNS_ETC.is_dir():
        return []
    removed = [p for p in NETNS_ETC.iterdir() if is_lab_namespace(p.name)]
    for path in removed:
        log.debug("removing %s", path)
        shutil.rmtree(path)
    try:
        NETNS_ETC.rmdir()
    except OSError:
        pass  # The folder still contains folders of other namespaces.
    return removed


def namespace_pids(namespace: str) -> list[int]:
    """Return the ids of the processes whose network namespace is ``namespace``."""
    result = run(["ip", "netns", "pids", namespace], _FIX_ROOT, check=False)
    if result.returncode != 0:
        return []
    return [int(x) for x in result.stdout.split() if x.isdigit()]


def process_name(pid: int) -> str:
    """Return the command name of ``pid``, or '' once it has exited.

    A zombie counts as exited because it has no sockets and ignores signals.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The name is in brackets and may itself contain spaces or brackets.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    state = stat[stat.rindex(")") + 2 :].split(" ", 1)[0]
    return "" if state in ("Z", "X") else name


def namespace_processes(namespace: str) -> dict[int, str]:
    """Return the live processes of ``namespace`` as a map of id to name."""
    pids = namespace_pids(namespace)
    return {pid: name for pid in pids if (name := process_name(pid))}


def runs_program(namespace: str, program: str) -> bool:
    """Return True when a process named ``program`` runs in ``namespace``."""
    names = namespace_processes(namespace).values()
    return any(is_program(name, {program}) for name in names)


def is_program(name: str, programs: set[str]) -> bool:
    """Return True when process name ``name`` is one of ``programs``.

    Some daemons rename their processes after their role ("nsd: main",
    "nsd: xfrd"), so the part before a colon counts as the program.
    """
    return name.split(":", 1)[0] in programs


def kill_processes(namespace: str, names: set[str] | None = None) -> list[int]:
    """Stop the processes in ``namespace`` (only those in ``names`` if given).

    Sends SIGTERM, waits up to five seconds, then sends SIGKILL to the rest.
    Returns the ids that were signalled. Raises LabError when a process
    survives SIGKILL for another five seconds.
    """
    sent: dict[int, signal.Signals] = {}
    term_deadline = time.monotonic() + _TERM_WAIT
    kill_deadline = term_deadline + _TERM_WAIT
    while True:
        targets = [
            pid
            for pid, name in namespace_processes(namespace).items()
            if names is None or is_program(name, names)
        ]
        if not targets:
            _wait_for_exit(list(sent), kill_deadline)
            return list(sent)
        now = time.monotonic()
        if now > kill_deadline:
            raise LabError(
                f"processes {targets} in namespace {namespace} survived SIGKILL; "
                "check them with 'ps -o pid,stat,cmd -p PID' and retry "
                "'eximctl lab down'"
            )
        sig = signal.SIGKILL if now > term_deadline else signal.SIGTERM
        for pid in targets:
            if sent.get(pid) != sig:
                _signal(pid, sig)
                sent[pid] = sig
        time.sleep(0.1)


def _wait_for_exit(pids: list[int], deadline: float) -> None:
    """Wait until ``pids`` have exited.

    A dying process leaves its network namespace before it leaves the process
    table, so an empty ``ip netns pids`` alone does not mean it is gone.
    """
    while any(process_name(pid) for pid in pids):
        if time.monotonic() > deadline:
            alive = [pid for pid in pids if process_name(pid)]
            raise LabError(
                f"processes {alive} did not exit after SIGKILL; check them with "
                "'ps -o pid,stat,cmd -p PID' and retry 'eximctl lab down'"
            )
        time.sleep(0.05)


def _signal(pid: int, sig: signal.Signals) -> None:
    log.debug("sending %s to process %d", sig.name, pid)
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def addresses(namespace: str) -> list[str]:
    """Return the IPv4 addresses (with prefix length) configured in ``namespace``."""
    output = run(["ip", "-n", namespace, "-4", "-o", "addr", "show"], _FIX_ROOT).stdout
    fields = [line.split() for line in output.splitlines()]
    return [f[3] for f in fields if len(f) > 3 and f[1] != "lo"]


def listening_sockets(namespace: str, protocol: str = "tcp") -> list[str]:
    """Return the local ``address:port`` of each listening socket in ``namespace``.

    ``protocol`` is "tcp" or "udp".
    """
    flag = "-ltnH" if protocol == "tcp" else "-lunH"
    output = run(["ip", "netns", "exec", namespace, "ss", flag], _FIX_ROOT).stdout
    return [line.split()[3] for line in output.splitlines() if len(line.split()) > 3]


def wait_for_socket(
    namespace: str, socket: str, protocol: str = "tcp", timeout: float = 10.0
) -> None:
    """Wait until ``socket`` (``address:port``) listens inside ``namespace``."""
    deadline = time.monotonic() + timeout
    while socket not in listening_sockets(namespace, protocol):
        if time.monotonic() > deadline:
            raise LabError(
                f"nothing listens on {protocol} {socket} in {namespace} after "
                f"{timeout:.0f} s; check the daemon's log"
            )
        time.sleep(0.2)


def delete_namespace(namespace: str) -> None:
    """Delete ``namespace``; its veth ends and addresses go with it."""
    run(["ip", "netns", "delete", namespace], _FIX_ROOT)
    leftover = RUN_NETNS / namespace
    if leftover.exists():
        leftover.unlink()


def lab_hosts_present() -> list[LabHost]:
    present = set(list_namespaces())
    return [h for h in HOSTS if h.namespace in present]
