"""A real Exim, built once per test session from Debian's signed source.

The build goes into a temporary prefix under /var/tmp, which is world
traversable, because local deliveries run as the recipient's account and
must reach the mailbox folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eximctl.build import build_site
from eximctl.configure import configure_site, stop_daemon
from eximctl.site import Site, load_site
from eximctl.source import obtain_source

SITE_TEMPLATE = """
accounts = ["mailtest"]

[aliases]
postmaster = "mailtest"
root = "mailtest"

[host]
name = "mail.e2e.test"

[source]
kind = "debian"
cache_directory = "{cache}"

[build]
prefix = "{root}/prefix"

[daemon]
ports = [2525, 2465]
tls_on_connect_ports = [2465]
interfaces = ["127.0.0.1"]
# Test clients connect from 127.0.0.1 and must be treated as outside hosts,
# so recipients are verified at RCPT as for any remote sender.
relay_from_hosts = []

# SPF would query the sender's domain in the machine's DNS; these tests
# stay on loopback.
[spf]
check = false

[delivery]
mail_directory = "{root}/mail"

[[domains]]
name = "e2e.test"

[[domains]]
name = "virt.e2e.test"
kind = "virtual"

[domains.aliases]
info = "mailtest"
"""


def write_site(root: Path, cache: Path) -> Site:
    path = root / "site.toml"
    path.write_text(SITE_TEMPLATE.format(root=root, cache=cache))
    return load_site(path)


@pytest.fixture(scope="session")
def exim_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="eximctl-test-", dir="/var/tmp"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def source_cache() -> Path:
    # Shared between runs so the Debian source is downloaded once per machine;
    # it is verified again on every use.
    cache = Path("/var/cache/eximctl-tests")
    cache.mkdir(parents=True, exist_ok=True)
    return cache


@pytest.fixture(scope="session")
def built_site(exim_root: Path, source_cache: Path) -> Iterator[Site]:
    """A site whose Exim was fetched, verified, built and installed for real."""
    site = write_site(exim_root, source_cache)
    verified = obtain_source(site)
    build_site(site, verified)
    yield site
    stop_daemon(site)


@pytest.fixture(scope="session")
def running_site(built_site: Site) -> Site:
    """The built site, configured, with its daemon listening on 127.0.0.1."""
    result = configure_site(built_site)
    assert result.daemon == "started" or result.daemon.startswith("reloaded")
    wait_for_port("127.0.0.1", built_site.daemon.ports[0])
    return built_site


def wait_for_port(address: str, port: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((address, port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {address}:{port} after {seconds} s")
