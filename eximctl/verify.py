"""Run the shipped testinfra checks against one or more hosts."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from eximctl.checks.report import CheckReporter
from eximctl.site import Site

CHECKS = Path(__file__).resolve().parent / "checks"


@dataclass(frozen=True)
class VerifyResult:
    """Counts of the checks run, and the evidence they collected."""

    passed: int
    failed: int
    evidence: str

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.passed > 0


def run_checks(
    site: Site,
    hosts: str = "local://",
    selection: str = "",
    ssh_config: Path | None = None,
) -> VerifyResult:
    """Run every shipped check of ``site`` against ``hosts`` (testinfra specs)."""
    reporter = CheckReporter()
    with tempfile.NamedTemporaryFile("r", suffix=".evidence") as evidence:
        args = [
            str(CHECKS),
            f"--hosts={hosts}",
            f"--eximctl-site={site.path if site.path.name != '<embedded>' else ''}",
            f"--eximctl-evidence={evidence.name}",
            "-o",
            "python_files=check_*.py",
            "-o",
            "addopts=",
            f"--rootdir={CHECKS}",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:terminal",
        ]
        if selection:
            args += ["-k", selection]
        if ssh_config is not None:
            args.append(f"--ssh-config={ssh_config}")
        pytest.main(args, plugins=[reporter])
        text = Path(evidence.name).read_text()
    return VerifyResult(reporter.passed, reporter.failed, text)
