"""The Exim queue of a host: count it and run it, locally or in a lab namespace."""

from __future__ import annotations

import logging

from eximctl.errors import LabError
from eximctl.lab.hosts import find_host
from eximctl.runner import run
from eximctl.site import Site

log = logging.getLogger(__name__)


def exim_command(site: Site, *args: str, namespace: str = "") -> list[str]:
    """Return an Exim command line for ``site``, inside ``namespace`` if given."""
    command = [site.exim_binary, "-C", site.configure_file, *args]
    if namespace:
        return ["ip", "netns", "exec", namespace, *command]
    return command


def queue_count(site: Site, namespace: str = "") -> int:
    """Return the number of messages in the queue of ``site`` (exim -bpc)."""
    output = run(exim_command(site, "-bpc", namespace=namespace)).stdout
    return int(output.strip() or "0")


def run_queue(site: Site, namespace: str = "") -> None:
    """Try every queued message now, frozen ones too (exim -qff).

    The two f's make Exim ignore retry times and thaw frozen messages. The
    call returns when the queue runner has tried each message once.
    """
    log.info("running the queue of %s", site.host.name)
    run(exim_command(site, "-qff", namespace=namespace))


def lab_namespace(name: str) -> str:
    """Return the namespace of lab mail host ``name``; raise LabError otherwise."""
    host = find_host(name)
    if not host.mail:
        raise LabError(
            f"lab host {host.name} runs no Exim; use a mail host such as mx1 or mx2"
        )
    return host.namespace
