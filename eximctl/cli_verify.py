"""The 'verify' command: shipped checks against local, lab or ssh hosts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from eximctl.cli import Context
from eximctl.errors import LabError
from eximctl.verify import VerifyResult, run_checks


@click.command()
@click.option(
    "--hosts",
    default="local://",
    show_default=True,
    help="testinfra host specs, comma-separated (local://, ssh://root@HOST).",
)
@click.option(
    "--ssh-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ssh client configuration for ssh:// hosts.",
)
@click.option(
    "--lab",
    is_flag=True,
    help="Check every mail host of the running lab over ssh, each with its own site.",
)
@click.option(
    "-k", "selection", default="", help="Run only checks matching this -k expression."
)
@click.option(
    "--no-evidence", is_flag=True, help="Do not print the collected evidence."
)
@click.pass_obj
def verify(
    obj: Context,
    hosts: str,
    ssh_config: Path | None,
    lab: bool,
    selection: str,
    no_evidence: bool,
) -> None:
    """Check that Exim is built, configured and delivering, and show the evidence."""
    if lab:
        results = _verify_lab(selection)
    else:
        results = [run_checks(obj.site, hosts, selection, ssh_config)]

    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    if not no_evidence:
        for result in results:
            if result.evidence:
                click.echo("")
                click.echo(result.evidence.rstrip())
    click.echo("")
    click.echo(f"{passed} passed, {failed} failed")
    if failed or not passed:
        sys.exit(1)


def _verify_lab(selection: str) -> list[VerifyResult]:
    # Imported here: the lab modules need root-only tools only when used.
    from eximctl.lab.control import lab_status
    from eximctl.lab.hosts import mail_hosts
    from eximctl.lab.mail import lab_site
    from eximctl.lab.sshd import SSH_CONFIG

    running = {status.namespace for status in lab_status() if "sshd" in status.programs}
    missing = [h.name for h in mail_hosts() if h.namespace not in running]
    if missing:
        raise LabError(
            f"the lab is not running (no sshd in {', '.join(missing)}); "
            "run 'eximctl lab up' first"
        )
    results = []
    for host in mail_hosts():
        click.secho(f"-- lab host {host.name} ({host.fqdn})", bold=True)
        site = lab_site(host)
        results.append(run_checks(site, f"ssh://{host.name}", selection, SSH_CONFIG))
    if not selection:
        results.append(_verify_dkim_records())
        results.append(_verify_outbound())
    return results


def _verify_dkim_records() -> VerifyResult:
    from eximctl.lab.outbound import check_dkim_records

    checked, problems = check_dkim_records()
    name = "DKIM records in the lab DNS match the private keys"
    if problems:
        click.secho(f"FAIL  lab: {name}", fg="red")
        for problem in problems:
            click.echo(f"      {problem}")
    else:
        click.secho(f"PASS  lab: {name}", fg="green")
    evidence = "== lab: DKIM records compared with their keys\n" + "\n".join(checked)
    return VerifyResult(int(not problems), int(bool(problems)), evidence + "\n")


def _verify_outbound() -> VerifyResult:
    from eximctl.lab.outbound import RECIPIENT, SENDER, check_outbound

    click.secho("-- lab outbound chain: mx1 -> relay -> inbox", bold=True)
    outbound = check_outbound()
    name = f"{SENDER} to {RECIPIENT} via the smarthost, DKIM and SPF pass at inbox"
    if outbound.ok:
        click.secho(f"PASS  lab: {name}", fg="green")
    else:
        click.secho(
            f"FAIL  lab: {name}: delivered={outbound.delivered} "
            f"dkim={'pass' if outbound.dkim_pass else 'fail'} "
            f"spf={outbound.spf_result}; see the relay's and mx1's mainlog",
            fg="red",
        )
    evidence = f"== headers at inbox, judged by dkimpy and pyspf\n{outbound.report}\n"
    return VerifyResult(int(outbound.ok), int(not outbound.ok), evidence)


COMMANDS: list[click.Command] = [verify]
