"""Helpers for tests that run the network-namespace lab.

The fixtures that bring the lab up and down are in lab_fixtures, which a test
module loads with ``pytest_plugins = ["lab_fixtures"]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra
from testinfra.host import Host

from eximctl.lab.hosts import find_host
from eximctl.lab.sshd import SSH_CONFIG

# A small zone that does not depend on the zone generator.
ALPHA_ZONE = """\
$ORIGIN alpha.test.
$TTL 300
@    IN SOA ns.lab.test. hostmaster.alpha.test. 2026010101 3600 600 86400 300
@    IN NS  ns.lab.test.
@    IN MX  10 mx1.alpha.test.
@    IN MX  20 mx2.beta.test.
mx1  IN A   192.0.2.11
"""

LAB_TEST = """\
$ORIGIN lab.test.
$TTL 300
@    IN SOA ns.lab.test. hostmaster.lab.test. 2026010101 3600 600 86400 300
@    IN NS  ns.lab.test.
ns   IN A   192.0.2.53
"""


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")


def write_test_zones(directory: Path) -> Path:
    """Write the test zones (alpha.test, lab.test) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "alpha.test.zone").write_text(ALPHA_ZONE)
    (directory / "lab.test.zone").write_text(LAB_TEST)
    return directory


def in_namespace(
    host: str, *command: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` inside lab host ``host``'s namespace and capture output."""
    namespace = find_host(host).namespace
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def python_in_namespace(host: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` inside lab host ``host``'s namespace."""
    return in_namespace(host, sys.executable, "-c", code)


def lab_ssh_host(host: str) -> Host:
    """Return a testinfra host that reaches lab host ``host`` over ssh as root."""
    return testinfra.get_host(f"ssh://{host}", ssh_config=str(SSH_CONFIG))
