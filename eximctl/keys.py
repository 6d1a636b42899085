"""DKIM keys and TLS certificates: the public interface of both modules.

The work is split by kind: dkim_keys (signing keys and their DNS record),
tls_certs (server certificates and the lab CA) and key_files (atomic writes
with owner and mode, and the check that the Exim group can read a key).
"""

from __future__ import annotations

from eximctl.dkim_keys import (
    bundled_lab_key,
    dkim_domains,
    dkim_key_for_record,
    dkim_key_path,
    dkim_txt_value,
    ensure_dkim_key,
    find_dkim_key,
    generate_dkim_key,
    load_dkim_key,
)
from eximctl.key_files import check_readable_by_group
from eximctl.tls_certs import (
    certificate_host_names,
    certificate_paths,
    create_ca,
    ensure_certificate,
    issue_certificate,
)

__all__ = [
    "bundled_lab_key",
    "certificate_host_names",
    "certificate_paths",
    "check_readable_by_group",
    "create_ca",
    "dkim_domains",
    "dkim_key_for_record",
    "dkim_key_path",
    "dkim_txt_value",
    "ensure_certificate",
    "ensure_dkim_key",
    "find_dkim_key",
    "generate_dkim_key",
    "issue_certificate",
    "load_dkim_key",
]
