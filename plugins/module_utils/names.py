# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one place for the names IRSA is made of: ARNs, subjects, the audience and action, annotation and label keys.

Pure spelling, no validation and no AWS: :mod:`.issuer` validates user input into these forms, and every
other module builds and splits them here, so no two places can disagree on one. ARNs are taken apart by amazon.aws's
``parse_aws_arn``; the shapes here only add IAM's rules for the resource part.
"""

from __future__ import annotations

import re

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn

# What a pod's AWS SDK sends: the token's audience and the STS action IRSA authorises.
DEFAULT_AUDIENCE = "sts.amazonaws.com"
WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
# Partitions in which IAM OIDC providers exist.
PARTITION_RE = re.compile(r"^aws(-cn|-us-gov|-iso|-iso-b|-iso-e|-iso-f|-eusc)?$")
# IAM's patterns for a role's path (printable ASCII) and name: https://docs.aws.amazon.com/IAM/latest/APIReference/API_Role.html
_ROLE_RESOURCE_RE = re.compile(r"^role(?P<path>/(?:[\x21-\x7e]+/)?)(?P<name>[A-Za-z0-9_+=,.@-]{1,64})$")
_PROVIDER_RESOURCE_PREFIX = "oidc-provider/"

# An EKS cluster's issuer: https://oidc.eks.<region>.amazonaws.com[.cn]/id/<issuer ID>.
EKS_ISSUER_HOST_RE = re.compile(r"^oidc\.eks\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
EKS_ISSUER_PATH_RE = re.compile(r"^id/[A-Za-z0-9]+$")

SUBJECT_PREFIX = "system:serviceaccount:"
_SUBJECT_RE = re.compile(r"^system:serviceaccount:(?P<namespace>[^:]*):(?P<name>[^:]*)$")

# ServiceAccount annotations the EKS pod identity webhook reads.
ANNOTATION_PREFIX = "eks.amazonaws.com/"
ROLE_ARN_ANNOTATION = ANNOTATION_PREFIX + "role-arn"
AUDIENCE_ANNOTATION = ANNOTATION_PREFIX + "audience"
REGIONAL_ANNOTATION = ANNOTATION_PREFIX + "sts-regional-endpoints"
EXPIRATION_ANNOTATION = ANNOTATION_PREFIX + "token-expiration"
SKIP_CONTAINERS_ANNOTATION = ANNOTATION_PREFIX + "skip-containers"

# The prefix of the tags the collection sets itself on providers and roles (ownership, cluster).
TAG_PREFIX = "eks-irsa:"
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"  # the service EKS Pod Identity assumes a role as

# The label on every ServiceAccount the collection applies: what teardown and verify recognise as ours.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "torque.eks_irsa"
FIELD_MANAGER = MANAGED_BY  # the server-side apply field manager of every Kubernetes write of the collection


def split_arn(arn):
    """``parse_aws_arn``'s parts of ``arn`` (partition, service, region, account_id, resource, resource_type, resource_id),
    or None when ``arn`` is not one ARN. ``parse_aws_arn`` finds an ARN anywhere in a text, so the whole string must be it."""
    parts = parse_aws_arn(arn) if isinstance(arn, str) else None
    if not parts or arn != "arn:{partition}:{service}:{region}:{account_id}:{resource}".format(**parts):
        return None
    return parts


def arn_partition(arn):
    """The partition of an ARN (``aws``, ``aws-cn``, ``aws-us-gov``, ...), or None when ``arn`` is not one."""
    return (split_arn(arn) or {}).get("partition")


def arn_account_id(arn):
    """The account ID of an ARN (empty for ARNs without one, such as S3's), or None when ``arn`` is not one."""
    return (split_arn(arn) or {}).get("account_id")


def _iam_resource(arn):
    """The resource part of an IAM ARN of an account (no region, a 12-digit account) as ``(partition, account_id,
    resource)``, or None."""
    parts = split_arn(arn)
    if not parts or parts["service"] != "iam" or parts["region"] or not ACCOUNT_ID_RE.match(parts["account_id"]):
        return None
    return parts["partition"], parts["account_id"], parts["resource"]


def provider_arn(partition, account_id, host_path):
    """``arn:<partition>:iam::<account>:oidc-provider/<issuer host path>``."""
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{host_path}"


def split_provider_arn(arn):
    """``(partition, account_id, host_path)`` of a provider ARN, or None when ``arn`` is not one."""
    parts = _iam_resource(arn)
    if not parts or not parts[2].startswith(_PROVIDER_RESOURCE_PREFIX) or parts[2] == _PROVIDER_RESOURCE_PREFIX:
        return None
    return parts[0], parts[1], parts[2][len(_PROVIDER_RESOURCE_PREFIX):]


def role_arn(partition, account_id, name, path="/"):
    """``arn:<partition>:iam::<account>:role<path><name>``; ``path`` starts and ends with ``/``."""
    return f"arn:{partition}:iam::{account_id}:role{path}{name}"


def cluster_arn(partition, region, account_id, name):
    """``arn:<partition>:eks:<region>:<account>:cluster/<name>``: what EKS Pod Identity sends as ``aws:SourceArn``."""
    return f"arn:{partition}:eks:{region}:{account_id}:cluster/{name}"


def split_cluster_arn(arn):
    """``(partition, region, account_id, name)`` of an EKS cluster ARN, or None when ``arn`` is not one."""
    parts = split_arn(arn)
    if not parts or parts["service"] != "eks" or not parts["region"] or not ACCOUNT_ID_RE.match(parts["account_id"]) \
            or not parts["resource"].startswith("cluster/") or parts["resource"] == "cluster/" or "/" in parts["resource"][8:]:
        return None
    return parts["partition"], parts["region"], parts["account_id"], parts["resource"][8:]


def split_role_arn(arn):
    """``(partition, account_id, path, name)`` of a role ARN, or None when ``arn`` is not one."""
    parts = _iam_resource(arn.strip()) if isinstance(arn, str) else None
    match = _ROLE_RESOURCE_RE.match(parts[2]) if parts else None
    if not match:
        return None
    return parts[0], parts[1], match.group("path"), match.group("name")


def subject(namespace, name):
    """The ``sub`` claim of a ServiceAccount's tokens."""
    return f"{SUBJECT_PREFIX}{namespace}:{name}"


def split_subject(value):
    """``(namespace, name)`` of a ServiceAccount subject, or None when ``value`` is not one."""
    match = _SUBJECT_RE.match(value) if isinstance(value, str) else None
    return match.group("namespace", "name") if match else None
