"""eximctl verify over real ssh against every mail host of the lab."""

from __future__ import annotations

import pytest

from eximctl.lab.control import NamespaceStatus
from eximctl.lab.hosts import find_host, mail_hosts
from eximctl.lab.mail import lab_site
from eximctl.lab.outbound import check_dkim_records, check_outbound
from eximctl.lab.sshd import SSH_CONFIG
from eximctl.verify import run_checks

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("name", [h.name for h in mail_hosts()])
def test_checks_pass_over_ssh(name: str, lab_full: list[NamespaceStatus]) -> None:
    site = lab_site(find_host(name))
    result = run_checks(site, f"ssh://{name}", ssh_config=SSH_CONFIG)
    assert result.failed == 0
    assert result.passed >= 7
    assert f"by {site.host.name} with esmtps" in result.evidence
    assert "Support for:" in result.evidence


def test_outbound_chain_passes(lab_full: list[NamespaceStatus]) -> None:
    result = check_outbound()
    assert result.delivered
    assert result.dkim_pass
    assert result.spf_result == "pass"
    assert "dkim=pass header.d=alpha.test" in result.report
    assert "auth=pass (PLAIN) smtp.auth=relay@alpha.test" in result.report


def test_k18_dkim_records_match_keys(lab_full: list[NamespaceStatus]) -> None:
    checked, problems = check_dkim_records()
    assert "lab2026._domainkey.alpha.test" in checked
    assert "lab2026._domainkey.sub.alpha.test" in checked
    assert problems == []
