# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure helpers for OIDC issuer URLs, account IDs and provider ARNs.

No boto3 here: these functions are shared by every module and unit-tested on their own.

IAM and STS use the issuer in two spellings:
- the URL EKS reports and IAM stores, ``https://oidc.eks.<region>.amazonaws.com/id/<ID>``;
- the *host path* (no scheme, no trailing slash) used in provider ARNs and in the trust
  policy condition keys ``<host path>:sub`` and ``<host path>:aud``.
"""

from __future__ import annotations

from collections import namedtuple

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import ACCOUNT_ID_RE
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import EKS_ISSUER_HOST_RE
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import EKS_ISSUER_PATH_RE
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import PARTITION_RE
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import provider_arn as provider_arn_text
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_provider_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_role_arn

Issuer = namedtuple("Issuer", ["url", "host_path", "issuer_id"])


class IssuerError(EksIrsaError):
    """An issuer, provider ARN or account ID that cannot be used; the message says why and how to fix it."""


def normalize_issuer(value, field="issuer"):
    """Return the :class:`Issuer` for an issuer given with or without ``https://`` and trailing slash.

    The host is lower-cased (DNS names are case-insensitive, and IAM stores them so); the path is
    kept exactly, because the EKS issuer ID in it is case-sensitive.
    """
    if not isinstance(value, str) or not value.strip():
        raise IssuerError(f"{field} is empty: give the cluster's OIDC issuer URL, for example "
                          "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE")
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        rest = text
    elif scheme.lower() != "https":
        raise IssuerError(f"{field} {value!r} uses the scheme {scheme!r}: IAM only trusts https issuers; "
                          "use the https:// URL that EKS reports as cluster.identity.oidc.issuer")
    rest = rest.rstrip("/")
    host, slash, path = rest.partition("/")
    if not host or any(c in host for c in " ?#@") or any(c in path for c in " ?#"):
        raise IssuerError(f"{field} {value!r} is not an issuer URL: expected https://<host>[/<path>] with no "
                          "query, fragment, user or spaces")
    if EKS_ISSUER_HOST_RE.match(host.lower()) and not EKS_ISSUER_PATH_RE.match(path):
        raise IssuerError(f"{field} {value!r} is an EKS issuer without its ID: an EKS cluster's issuer is "
                          f"https://{host.lower()}/id/<issuer ID>; use the URL exactly as `aws eks describe-cluster --query "
                          "cluster.identity.oidc.issuer` prints it")
    host_path = host.lower() + slash + path
    issuer_id = path.rsplit("/", 1)[-1] if path else ""
    return Issuer(url="https://" + host_path, host_path=host_path, issuer_id=issuer_id)


def validate_account_id(value, field="account_id"):
    """Return the account ID as a 12-digit string, or raise :class:`IssuerError` naming ``field``.

    A number is accepted only when it has 12 digits: YAML reads an unquoted ID with a leading zero as a number
    without it, or as octal (YAML 1.1 reads ``012345670123`` as 1402433619), so no number of fewer digits can be
    turned back into the ID the user meant.
    """
    text = str(value).strip() if value is not None else ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not ACCOUNT_ID_RE.match(text):
        octal = f"0{value:o}" if isinstance(value, int) and value >= 0 else None
        as_octal = f" (an unquoted {octal} is read so, as octal)" if octal and len(octal) <= 12 else ""
        raise IssuerError(f"{field} was read by YAML as the number {value}{as_octal}, not as the 12 digits of an account "
                          f"ID: quote the ID in the inventory, for example {field}: \"012345678901\"")
    if not ACCOUNT_ID_RE.match(text):
        raise IssuerError(f"{field} {value!r} is not an AWS account ID: it must be exactly 12 digits "
                          "(quote it in YAML so leading zeros are kept)")
    return text


def provider_arn(partition, account_id, issuer):
    """ARN of the IAM OIDC provider for ``issuer`` (URL or host path) in ``account_id``."""
    if not PARTITION_RE.match(partition or ""):
        raise IssuerError(f"partition {partition!r} is not an AWS partition (aws, aws-cn, aws-us-gov, ...)")
    return provider_arn_text(partition, validate_account_id(account_id), normalize_issuer(issuer).host_path)


def parse_provider_arn(arn, field="provider_arn"):
    """Split an OIDC provider ARN into ``(partition, account_id, Issuer)``."""
    parts = split_provider_arn(arn)
    if not parts or not PARTITION_RE.match(parts[0]):
        raise IssuerError(f"{field} {arn!r} is not an IAM OIDC provider ARN: expected "
                          "arn:<partition>:iam::<12-digit account>:oidc-provider/<issuer host and path>")
    partition, account_id, host_path = parts
    return partition, account_id, normalize_issuer(host_path, field)


def cluster_issuer_facts(cluster, account_id=None):
    """What IRSA needs to know about a cluster, from an ``eks:DescribeCluster`` ``cluster`` structure.

    ``account_id`` selects the account for ``provider_arn``; by default the cluster's own account.
    Raises :class:`IssuerError` when the cluster has no OIDC issuer yet.
    """
    arn_parts = split_arn(cluster["arn"])
    if not arn_parts:
        raise IssuerError(f"EKS cluster {cluster['name']!r} has the ARN {cluster['arn']!r}, which is not an ARN")
    partition, cluster_account = arn_parts["partition"], arn_parts["account_id"]
    raw = ((cluster.get("identity") or {}).get("oidc") or {}).get("issuer")
    if not raw:
        raise IssuerError(f"EKS cluster {cluster['name']!r} has no OIDC issuer yet (status {cluster.get('status', 'unknown')}): "
                          "wait until the cluster is ACTIVE, then run again")
    issuer = normalize_issuer(raw, field="cluster.identity.oidc.issuer")
    account_id = account_id or cluster_account
    return dict(
        issuer=raw,
        issuer_url=issuer.url,
        issuer_host_path=issuer.host_path,
        issuer_id=issuer.issuer_id,
        cluster_arn=cluster["arn"],
        partition=partition,
        account_id=account_id,
        provider_arn=provider_arn(partition, account_id, issuer.host_path),
    )


def validate_role_arn(arn, account_id=None, field="assume_role_arn"):
    """Return ``arn`` when it is an IAM role ARN (in ``account_id``, when given); else raise :class:`IssuerError` naming ``field``."""
    # Unlike split_role_arn (which reads ARNs IAM or a ServiceAccount holds), surrounding blanks are refused here.
    parts = split_role_arn(arn) if isinstance(arn, str) and arn == arn.strip() else None
    if not parts or not PARTITION_RE.match(parts[0]):
        raise IssuerError(f"{field} {arn!r} is not an IAM role ARN: write arn:aws:iam::{account_id or '<account ID>'}:role/<role name>")
    if account_id is not None and parts[1] != account_id:
        raise IssuerError(f"{field} {arn} is a role in account {parts[1]}, not in account {account_id}: "
                          "fix the account ID or the ARN so that both name the same account")
    return arn
