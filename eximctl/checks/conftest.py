"""Fixtures of the shipped checks: the site under test and the evidence log."""

from __future__ import annotations

from pathlib import Path

import pytest

from eximctl.checks.evidence import Evidence
from eximctl.site import Site, load_site


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--eximctl-site", default="", help="Site file of the hosts checked."
    )
    parser.addoption(
        "--eximctl-evidence", default="", help="File that collects evidence."
    )


@pytest.fixture(scope="session")
def site(request: pytest.FixtureRequest) -> Site:
    value = request.config.getoption("--eximctl-site")
    return load_site(Path(value) if value else None)


@pytest.fixture(scope="session")
def evidence(request: pytest.FixtureRequest, site: Site) -> Evidence:
    path = Path(request.config.getoption("--eximctl-evidence") or "/dev/null")
    return Evidence(path, site.host.name)
