"""A pytest plugin that prints one line per check, as eximctl verify shows it."""

from __future__ import annotations

import warnings
from typing import Any

import click
import pytest


class CheckReporter:
    """Prints PASS or FAIL per check, with the fix sentence on failure.

    A warning that a check raises (a certificate that expires soon) is
    printed as WARN and kept in ``warnings``; it does not fail the check.
    """

    def __init__(self) -> None:
        self.failed = 0
        self.passed = 0
        self.warnings: list[str] = []

    def pytest_warning_recorded(
        self, warning_message: warnings.WarningMessage, when: str, nodeid: str
    ) -> None:
        if when != "runtest":
            return
        message = str(warning_message.message)
        self.warnings.append(message)
        name, _, host = nodeid.rpartition("::")[2].partition("[")
        name = name.removeprefix("test_").replace("_", " ")
        click.secho(
            f"WARN  {host.rstrip(']') or 'local'}: {name}: {message}", fg="yellow"
        )

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Any:
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" or (report.when == "setup" and report.failed):
            self._print(item, report)

    def _print(self, item: pytest.Item, report: pytest.TestReport) -> None:
        name = getattr(item, "originalname", item.name)
        name = name.removeprefix("test_").replace("_", " ")
        callspec = getattr(item, "callspec", None)
        host = callspec.id if callspec is not None else "local"
        if report.passed:
            self.passed += 1
            click.secho(f"PASS  {host}: {name}", fg="green")
            return
        self.failed += 1
        doc = (getattr(getattr(item, "obj", None), "__doc__", None) or "").strip()
        detail = _last_line(report)
        click.secho(f"FAIL  {host}: {name}: {doc}", fg="red")
        if detail:
            click.echo(f"      {detail}")


def _last_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is None:
        return str(report.longrepr).strip().splitlines()[-1] if report.longrepr else ""
    # A message may carry a command's whole stderr; its last line names the
    # error (for example "ConnectionRefusedError: [Errno 111] ...").
    lines = [line.strip() for line in str(crash.message).splitlines() if line.strip()]
    return lines[-1] if lines else ""
