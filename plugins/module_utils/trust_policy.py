# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure trust-policy logic for IRSA roles: no boto3 here.

A web identity role trusts ``system:serviceaccount:<namespace>:<name>`` subjects of one or more
cluster OIDC issuers. This module turns the user's (issuer, service accounts) pairs into the trust
policy IAM stores, in one deterministic form so that a re-run compares equal:

- one statement per issuer, with a stable ``Sid`` (``IrsaOidc`` + a short hash): in exclusive mode of the issuer
  alone, so the same issuer always lands in the same statement; in shared mode of the issuer, the audience and the
  subjects, so two writers trusting different service accounts of one cluster each keep their own statement;
- subjects sorted and de-duplicated; ``aud`` always under ``StringEquals``; ``sub`` under
  ``StringEquals``, or under ``StringLike`` when (and only when) a permitted wildcard is used;
- the ``Federated`` principal is the provider ARN in the role's own account, because IAM only
  honours an OIDC provider that lives in the same account as the role.

A role can instead trust one other role (the hub of Torque's one-agent cross-account pattern, option ``trusted_role``):
one ``sts:AssumeRole`` statement whose principal is the hub's account, pinned to the hub role by ``aws:PrincipalArn``
(``ArnEquals``), with ``sts:ExternalId`` under ``StringEquals`` when one is required (:class:`DesiredRoleTrust`).
Naming the account and pinning the ARN, rather than naming the role as the principal, keeps the statement valid while
the hub role does not exist yet and readable after it was recreated (IAM rewrites a role principal to the role's
unique ID, which a new role of the same name does not get).

Or EKS Pod Identity (option ``pod_identity``): per cluster, one statement letting ``pods.eks.amazonaws.com`` in with
``sts:AssumeRole`` and ``sts:TagSession``, pinned to that cluster by ``aws:SourceAccount`` and ``aws:SourceArn``, which
EKS sets on every request; where the entry lists ServiceAccounts, one statement per ServiceAccount, pinned also by the
``kubernetes-namespace`` and ``kubernetes-service-account`` session tags EKS sends (:class:`DesiredPodIdentityTrust`).

It also merges those statements into a shared role's existing policy (by ``Sid``), takes them out of it again
(:meth:`DesiredTrust.without_ours`), measures the
policy as IAM does, validates inline permission policies, and lists the providers a trust policy
references (:func:`federated_principals`, used by ``iam_oidc_provider``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import namedtuple

from ansible_collections.amazon.aws.plugins.module_utils.policy import compare_policies
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import normalize_issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import parse_provider_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import provider_arn as build_provider_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import LimitError
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import DEFAULT_MANAGED_POLICY_QUOTA
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_description
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_external_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_inline_policies_size
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_managed_policy_count
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_managed_policy_quota
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_policy_name
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_role_name
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_role_path
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_session_duration
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_tags
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import DEFAULT_AUDIENCE
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import POD_IDENTITY_PRINCIPAL
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import WEB_IDENTITY_ACTION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_cluster_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import subject as subject_text
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import OptionsError
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import validated_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import with_owner_tag
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import decode_policy as _decode_policy
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import statements

POLICY_VERSION = "2012-10-17"
SID_PREFIX = "IrsaOidc"
HUB_SID_PREFIX = "IrsaHub"
POD_IDENTITY_SID_PREFIX = "IrsaPodIdentity"
POD_IDENTITY_ACTIONS = ["sts:AssumeRole", "sts:TagSession"]  # TagSession: EKS sends the session tags with every request
ASSUME_ROLE_ACTION = "sts:AssumeRole"
DEFAULT_SIZE_LIMIT = 2048
MAX_SIZE_LIMIT = 4096

# Kubernetes object names: a namespace is a DNS-1123 label, a service account a DNS-1123 subdomain.
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAMESPACE_RE = re.compile(rf"^{_DNS1123_LABEL}$")
_SERVICE_ACCOUNT_RE = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
NAMESPACE_MAX_LENGTH = 63
SERVICE_ACCOUNT_MAX_LENGTH = 253
WILDCARDS = frozenset("*?")
FALLBACK_SERVICE_ACCOUNT = "default"  # what a pod runs as when its spec names no ServiceAccount

ServiceAccount = namedtuple("ServiceAccount", ["namespace", "name"])
SERVICE_ACCOUNT_KEYS = ServiceAccount._fields  # of a service account written as a mapping
# One issuer and the service accounts of that issuer the role trusts.
TrustedIssuer = namedtuple("TrustedIssuer", ["host_path", "provider_arn", "service_accounts"])


class TrustPolicyError(EksIrsaError):
    """Input or a policy that cannot be used; the message names the option and says how to fix it."""


# -- service accounts ---------------------------------------------------------------------------


def subject(service_account):
    """The ``sub`` claim EKS puts in a service account's token."""
    return subject_text(service_account.namespace, service_account.name)


def has_wildcard(service_account):
    return any(c in WILDCARDS for c in service_account.namespace + service_account.name)


def _check_k8s_name(value, kind, pattern, max_length, allow_wildcard, field):
    if not value:
        raise TrustPolicyError(f"{field}: the {kind} is empty")
    if len(value) > max_length:
        raise TrustPolicyError(f"{field}: the {kind} {value!r} is {len(value)} characters; Kubernetes allows at most {max_length}")
    wildcards = WILDCARDS.intersection(value)
    if wildcards and not allow_wildcard:
        raise TrustPolicyError(
            f"{field}: the {kind} {value!r} contains the wildcard {''.join(sorted(wildcards))!r}; a wildcard lets every matching "
            "service account assume the role, so it needs allow_wildcard_subjects=true (or list the service accounts one by one)")
    # A wildcard stands for name characters: check the rest of the pattern with a placeholder in its place.
    if not pattern.match(re.sub(r"[*?]", "x", value)):
        rule = "a DNS-1123 label" if pattern is _NAMESPACE_RE else "a DNS-1123 subdomain"
        raise TrustPolicyError(
            f"{field}: the {kind} {value!r} is not a valid Kubernetes name: it must be {rule} (lower-case letters, digits and '-'"
            f"{'' if pattern is _NAMESPACE_RE else ' or dot-separated such parts'}, starting and ending with a letter or digit)")


def parse_service_account(value, field="service_accounts", allow_wildcard=False):
    """Return the :class:`ServiceAccount` for ``"namespace:name"`` or ``{namespace: ..., name: ...}``."""
    if isinstance(value, str):
        namespace, colon, name = value.partition(":")
        if not colon or ":" in name:
            raise TrustPolicyError(f"{field}: {value!r} is not a service account: write it as 'namespace:name' "
                                   "(for example 'torque-agents:runner') or as {namespace: ..., name: ...}")
        namespace, name = namespace.strip(), name.strip()
    elif isinstance(value, dict):
        unknown = sorted(set(value) - set(SERVICE_ACCOUNT_KEYS))
        if unknown:
            raise TrustPolicyError(f"{field}: unknown key(s) {', '.join(unknown)}; a service account has only 'namespace' and 'name'")
        namespace, name = (str(value.get(key) or "").strip() for key in ("namespace", "name"))
    else:
        raise TrustPolicyError(f"{field}: expected 'namespace:name' or {{namespace: ..., name: ...}}, got {type(value).__name__}")
    _check_k8s_name(namespace, "namespace", _NAMESPACE_RE, NAMESPACE_MAX_LENGTH, allow_wildcard, field)
    _check_k8s_name(name, "service account name", _SERVICE_ACCOUNT_RE, SERVICE_ACCOUNT_MAX_LENGTH, allow_wildcard, field)
    if name == FALLBACK_SERVICE_ACCOUNT:
        raise TrustPolicyError(f"{field}: the service account 'default' of namespace {namespace!r} is what every pod of the "
                               "namespace runs as when it names no ServiceAccount: trusting it would give the role to all of "
                               "them. Give the pods that need the role their own ServiceAccount and trust that one")
    return ServiceAccount(namespace, name)


# -- trust entries ------------------------------------------------------------------------------


def _federated_arn(entry, partition, account_id, field):
    """``(issuer host path, provider ARN)`` for one trust entry; the ARN is always in the role's own account.

    While the role's ``account_id`` or ``partition`` is not known yet (None), the entry is checked
    as far as possible and the ARN is None.
    """
    try:
        if entry.get("provider_arn"):
            arn_partition, arn_account, issuer = parse_provider_arn(entry["provider_arn"], f"{field}.provider_arn")
            if (account_id or arn_account) != arn_account or (partition or arn_partition) != arn_partition:
                raise TrustPolicyError(
                    f"{field}.provider_arn {entry['provider_arn']!r} is in account {arn_account} ({arn_partition}), but the role is "
                    f"in account {account_id} ({partition or 'same partition'}): IAM only honours an OIDC provider in the same "
                    "account as the role that trusts it. Create the provider in the role's account "
                    "(torque.eks_irsa.iam_oidc_provider) and give the issuer URL here instead")
        elif entry.get("issuer"):
            issuer = normalize_issuer(entry["issuer"], f"{field}.issuer")
        else:
            raise TrustPolicyError(f"{field}: give the cluster's issuer URL as 'issuer' (or its provider ARN as 'provider_arn')")
        if account_id is None or partition is None:
            return issuer.host_path, None
        return issuer.host_path, build_provider_arn(partition, account_id, issuer.host_path)
    except IssuerError as e:
        raise TrustPolicyError(str(e)) from e


def parse_trust(entries, partition, account_id, allow_wildcard=False, field="trust"):
    """Resolve the ``trust`` option into :class:`TrustedIssuer` tuples, one per issuer, sorted by issuer.

    ``partition`` and ``account_id`` are the role's; None checks the input without deriving provider ARNs.

    Entries naming the same issuer (as URL or provider ARN) are merged; service accounts are
    de-duplicated and sorted, so the result does not depend on how the user ordered them.
    """
    if not entries:
        raise TrustPolicyError(f"{field} is empty: give at least one {{issuer, service_accounts}} pair the role should trust")
    by_issuer = {}
    for index, entry in enumerate(entries):
        where = f"{field}[{index}]"
        host_path, principal = _federated_arn(entry, partition, account_id, where)
        accounts = entry.get("service_accounts") or []
        if not accounts:
            raise TrustPolicyError(f"{where}.service_accounts is empty: list the 'namespace:name' service accounts to trust")
        parsed = {parse_service_account(sa, f"{where}.service_accounts[{i}]", allow_wildcard) for i, sa in enumerate(accounts)}
        by_issuer.setdefault(host_path, (principal, set()))[1].update(parsed)
    return [TrustedIssuer(host_path, principal, tuple(sorted(accounts))) for host_path, (principal, accounts) in sorted(by_issuer.items())]


# -- statements ---------------------------------------------------------------------------------


def statement_sid(host_path, subjects=None, audience=None):
    """Stable Sid of a statement of ours: IAM Sids are alphanumeric only, so what identifies it is hashed.

    The issuer's host path alone (exclusive mode: one statement per issuer), or with the audience and the sorted
    subjects (shared mode: the statement of one writer).
    """
    identity = host_path if subjects is None else "\n".join([host_path, audience or DEFAULT_AUDIENCE] + sorted(subjects))
    return SID_PREFIX + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


def _one_or_many(values):
    return values[0] if len(values) == 1 else list(values)


def build_statement(trusted, audience=DEFAULT_AUDIENCE, shared=False):
    """The statement letting ``trusted.service_accounts`` of one issuer assume the role (its Sid: :func:`statement_sid`)."""
    subjects = sorted({subject(sa) for sa in trusted.service_accounts})
    # Conditions in a statement are ANDed, so all subjects of an issuer share one operator:
    # StringLike when any of them is a pattern (exact names match themselves), else StringEquals.
    sub_operator = "StringLike" if any(has_wildcard(sa) for sa in trusted.service_accounts) else "StringEquals"
    conditions = {"StringEquals": {f"{trusted.host_path}:aud": audience}}
    conditions.setdefault(sub_operator, {})[f"{trusted.host_path}:sub"] = _one_or_many(subjects)
    return {
        "Sid": statement_sid(trusted.host_path, subjects if shared else None, audience),
        "Effect": "Allow",
        "Principal": {"Federated": trusted.provider_arn},
        "Action": WEB_IDENTITY_ACTION,
        "Condition": conditions,
    }


def build_statements(trusted_issuers, audience=DEFAULT_AUDIENCE, shared=False):
    return [build_statement(trusted, audience, shared) for trusted in trusted_issuers]


def policy_document(statements):
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def decode_policy(document, field="policy"):
    """A policy as a dict (see :func:`.trust_evaluation.decode_policy`); a bad one is a :class:`TrustPolicyError`."""
    return _decode_policy(document, field, TrustPolicyError)


def merge_statements(current, ours, exclusive=True):
    """The trust policy to store: only ``ours`` (exclusive), or ``current`` with ``ours`` replacing same-Sid statements.

    In shared mode foreign statements keep their place; statements of ours that are new go last.
    A statement of ours for an issuer no longer listed stays too: it may belong to another task
    sharing the role, and only exclusive mode may remove it.
    """
    if exclusive:
        return policy_document(ours)
    current = decode_policy(current, "current trust policy") or {}
    replacements = {statement["Sid"]: statement for statement in ours}
    merged = [replacements.pop(statement.get("Sid"), statement) if isinstance(statement, dict) else statement
              for statement in statements(current)]
    merged.extend(statement for statement in ours if statement["Sid"] in replacements)
    return {"Version": current.get("Version", POLICY_VERSION), "Statement": merged}


def policies_differ(current, desired):
    """True when two policy documents differ in meaning (order of statements and values does not count)."""
    if current is None or desired is None:
        return current is not desired
    return compare_policies(decode_policy(current), decode_policy(desired))


# -- size ---------------------------------------------------------------------------------------


def policy_size(document):
    """Characters IAM counts against the trust policy quota: the JSON without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))


def check_size(document, limit=DEFAULT_SIZE_LIMIT, ours=None, field="trust_policy_size_limit"):
    """Raise :class:`TrustPolicyError` when ``document`` is over ``limit``, saying what made it grow.

    ``ours`` maps the Sid of each statement of ours to its :class:`TrustedIssuer`, to name the issuer and subjects.
    """
    size = policy_size(document)
    if size <= limit:
        return size
    ours = ours or {}
    largest_first = sorted(statements(document), key=policy_size, reverse=True)
    advice = "trust fewer service accounts per role, or use one wildcard subject (allow_wildcard_subjects)"
    if limit < MAX_SIZE_LIMIT:
        advice += f", or raise {field} up to {MAX_SIZE_LIMIT} once the IAM quota 'Role trust policy length' of the account has been raised"
    raise TrustPolicyError(
        f"the trust policy would be {size} characters (without whitespace, as IAM counts them), over the limit of {limit} "
        f"({field}). Characters per statement: {'; '.join(_statement_share(s, ours) for s in largest_first)}. To fix: {advice}")


def _statement_share(statement, ours):
    """How one statement adds to the policy size, naming the issuer and its longest subjects when it is ours."""
    sid = statement.get("Sid") if isinstance(statement, dict) else None
    trusted = ours.get(sid)
    if trusted is None:
        return f"a statement not managed here (Sid {sid!r}): {policy_size(statement)}"
    longest = sorted(trusted.service_accounts, key=lambda sa: (-len(subject(sa)), sa))[:3]
    return (f"issuer {trusted.host_path} with {len(trusted.service_accounts)} service account(s): {policy_size(statement)} "
            f"(longest: {', '.join(f'{sa.namespace}:{sa.name}' for sa in longest)})")


class _OurStatements:
    """What both kinds of desired trust share: the policy a shared writer's removal leaves (their ``statements()``
    carry the Sids that say which statements are ours)."""

    __slots__ = ()

    def without_ours(self, current):
        """``(policy, removed)``: ``current`` without the statements of ours (by Sid), and how many were in it.

        What a shared writer's removal leaves: the other writers' statements, untouched and in their places.
        """
        current = decode_policy(current, "current trust policy") or {}
        ours = {statement["Sid"] for statement in self.statements()}
        every = statements(current)
        kept = [statement for statement in every if not (isinstance(statement, dict) and statement.get("Sid") in ours)]
        return {"Version": current.get("Version", POLICY_VERSION), "Statement": kept}, len(every) - len(kept)


class DesiredTrust(_OurStatements, namedtuple("DesiredTrust", ["trusted_issuers", "audience", "exclusive", "size_limit"])):
    """What the user asked the trust policy to hold; :meth:`document` applies it to the role's current policy."""

    __slots__ = ()

    def statements(self):
        return build_statements(self.trusted_issuers, self.audience, shared=not self.exclusive)

    def document(self, current=None):
        """The trust policy to store given the ``current`` one (``None`` for a new role), checked for size."""
        ours = self.statements()
        document = merge_statements(current, ours, self.exclusive)
        check_size(document, self.size_limit, {statement["Sid"]: trusted for statement, trusted in zip(ours, self.trusted_issuers)})
        return document


def hub_statement(role_arn, external_id=None):
    """The statement letting the role ``role_arn`` (the hub) assume this one: its account as the principal, pinned to the
    role by ``aws:PrincipalArn``; ``sts:ExternalId`` required when ``external_id`` is given. Its Sid: the hub's ARN, hashed."""
    partition, account_id = split_role_arn(role_arn)[:2]
    conditions = {"ArnEquals": {"aws:PrincipalArn": role_arn}}
    if external_id:
        conditions["StringEquals"] = {"sts:ExternalId": external_id}
    return {
        "Sid": HUB_SID_PREFIX + hashlib.sha256(role_arn.encode("utf-8")).hexdigest()[:16],
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
        "Action": ASSUME_ROLE_ACTION,
        "Condition": conditions,
    }


class DesiredRoleTrust(_OurStatements, namedtuple("DesiredRoleTrust", ["role_arn", "external_id", "exclusive", "size_limit"])):
    """A trust policy that lets one role (the hub) assume this one (a spoke), as :class:`DesiredTrust` does for issuers."""

    __slots__ = ()

    def statements(self):
        return [hub_statement(self.role_arn, self.external_id)]

    def document(self, current=None):
        document = merge_statements(current, self.statements(), self.exclusive)
        check_size(document, self.size_limit)
        return document


def pod_identity_statement(cluster_arn, service_account=None):
    """The statement letting EKS Pod Identity of the cluster ``cluster_arn`` in, for every ServiceAccount of the cluster or,
    given one, for that ServiceAccount alone (its session tags). Its Sid: the cluster's ARN (and the ServiceAccount), hashed."""
    account_id = split_cluster_arn(cluster_arn)[2]
    equals = {"aws:SourceAccount": account_id}
    key = cluster_arn
    if service_account is not None:
        equals.update({"aws:RequestTag/kubernetes-namespace": service_account.namespace,
                       "aws:RequestTag/kubernetes-service-account": service_account.name})
        key += f" {service_account.namespace}:{service_account.name}"
    return {
        "Sid": POD_IDENTITY_SID_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16],
        "Effect": "Allow",
        "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
        "Action": list(POD_IDENTITY_ACTIONS),
        "Condition": {"StringEquals": equals, "ArnEquals": {"aws:SourceArn": cluster_arn}},
    }


class DesiredPodIdentityTrust(_OurStatements, namedtuple("DesiredPodIdentityTrust", ["clusters", "exclusive", "size_limit"])):
    """A trust policy for EKS Pod Identity: ``clusters`` is ``[(cluster ARN, ServiceAccounts or None)]``, None meaning every
    ServiceAccount of that cluster that an association gives the role."""

    __slots__ = ()

    def statements(self):
        return [pod_identity_statement(arn, service_account) for arn, service_accounts in self.clusters
                for service_account in (service_accounts if service_accounts is not None else [None])]

    def document(self, current=None):
        document = merge_statements(current, self.statements(), self.exclusive)
        check_size(document, self.size_limit)
        return document


class CombinedTrust(_OurStatements, namedtuple("CombinedTrust", ["irsa", "pod_identity"])):
    """IRSA's statements (a :class:`DesiredTrust`) and EKS Pod Identity's together: a role both reach, as while its pods
    move from one to the other."""

    __slots__ = ()

    def statements(self):
        return self.irsa.statements() + self.pod_identity.statements()

    def document(self, current=None):
        ours = self.irsa.statements()
        document = merge_statements(current, self.statements(), self.irsa.exclusive)
        check_size(document, self.irsa.size_limit, {statement["Sid"]: trusted for statement, trusted in zip(ours, self.irsa.trusted_issuers)})
        return document


def has_pod_identity_statement(document):
    """Whether a trust policy holds a statement of ours for EKS Pod Identity (by its Sid)."""
    try:
        current = decode_policy(document, "current trust policy") or {}
    except TrustPolicyError:
        return False
    return any(isinstance(statement, dict) and str(statement.get("Sid", "")).startswith(POD_IDENTITY_SID_PREFIX)
               for statement in statements(current))


def parse_pod_identity(entries, account_id, field="pod_identity"):
    """``[(cluster ARN, [ServiceAccount] or None)]`` of the ``pod_identity`` option, each cluster ARN checked, and of the
    role's account when that is known (EKS takes only a role of the cluster's account)."""
    parsed, seen = [], set()
    for index, entry in enumerate(entries or []):
        where = f"{field}[{index}]"
        arn = entry.get("cluster_arn")
        parts = split_cluster_arn(arn)
        if parts is None:
            raise TrustPolicyError(f"{where}.cluster_arn {arn!r} is not an EKS cluster ARN: write "
                                   "arn:aws:eks:<region>:<account>:cluster/<name>")
        if account_id is not None and parts[2] != account_id:
            raise TrustPolicyError(f"{where}.cluster_arn {arn} is a cluster of account {parts[2]}, but the role is in account "
                                   f"{account_id}: EKS Pod Identity takes only a role of the cluster's account")
        if arn in seen:
            raise TrustPolicyError(f"{where}: cluster {arn} is listed twice: list each cluster once")
        seen.add(arn)
        given = entry.get("service_accounts")
        service_accounts = None if given is None else sorted(
            {parse_service_account(value, f"{where}.service_accounts[{position}]") for position, value in enumerate(given)})
        parsed.append((arn, service_accounts))
    if not parsed:
        raise TrustPolicyError(f"{field} is empty: list the clusters whose pods get the role, each with its cluster_arn")
    return parsed


# -- reading trust policies ---------------------------------------------------------------------


def federated_principals(document):
    """The ``Federated`` principal ARNs a trust policy references (``Allow`` and ``Deny`` alike).

    ``document`` is a dict, JSON text, or URL-encoded JSON as the IAM API returns it; ``None``
    gives an empty set.
    """
    found = set()
    for statement in statements(decode_policy(document, "trust policy")):
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        federated = principal.get("Federated") if isinstance(principal, dict) else None
        if isinstance(federated, str):
            found.add(federated)
        elif isinstance(federated, list):
            found.update(value for value in federated if isinstance(value, str))
    return found


# -- permission policies ------------------------------------------------------------------------


def parse_permission_policy(document, field):
    """An inline permission policy as a dict (from a mapping or JSON text), checked for shape."""
    if isinstance(document, str) and not document.strip():
        raise TrustPolicyError(f"{field}: the policy document is empty; give a JSON object with a 'Statement'")
    policy = decode_policy(document, field)
    if policy is None:
        raise TrustPolicyError(f"{field}: the policy document is missing; give a JSON object with a 'Statement'")
    statements = policy.get("Statement")
    if not statements or not isinstance(statements, (list, dict)):
        raise TrustPolicyError(f"{field}: a policy document needs a 'Statement' (a statement object or a list of them)")
    return policy


# -- role options -------------------------------------------------------------------------------


def validate_policy_arn(arn, field):
    """An IAM managed policy ARN (customer or AWS managed), else :class:`TrustPolicyError` naming ``field``."""
    parts = split_arn(arn)
    if not parts or parts["service"] != "iam" or parts["resource_type"] != "policy" or not re.match(r"^(\d{12}|aws)$", parts["account_id"]):
        raise TrustPolicyError(f"{field} {arn!r} is not an IAM policy ARN: expected arn:<partition>:iam::<account or aws>:policy/<path><name>, "
                               "for example arn:aws:iam::aws:policy/ReadOnlyAccess")
    return arn


def validate_size_limit(limit, field="trust_policy_size_limit"):
    if not 1 <= limit <= MAX_SIZE_LIMIT:
        raise TrustPolicyError(f"{field} {limit} is out of range: IAM allows a trust policy of at most {MAX_SIZE_LIMIT} characters "
                               f"(default quota {DEFAULT_SIZE_LIMIT}); give a number up to {MAX_SIZE_LIMIT}")


_PLACEHOLDER_ACCOUNT = "000000000000"


def parse_inline_policies(policies, field="inline_policies"):
    """``{name: document}`` with every document decoded and checked, and their size together; errors name the policy."""
    parsed = {}
    try:
        for name, document in (policies or {}).items():
            parsed[check_policy_name(name, field)] = parse_permission_policy(document, f"{field}[{name!r}]")
        return check_inline_policies_size(parsed, field)
    except LimitError as e:
        raise TrustPolicyError(str(e)) from None


# The options of iam_web_identity_role. They live here, beside check_role_options, so that the rollout's
# preflight validates inventory input exactly as the module will: a role entry of the inventory has these options
# (plugins/plugin_utils/inventory_schema.py), and its plan is checked with validated_role_options.
ROLE_ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True, aliases=["role_name"]),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    path=dict(type="str", default="/"),
    description=dict(type="str"),
    trust=dict(
        type="list",
        elements="dict",
        options=dict(
            issuer=dict(type="str"),
            provider_arn=dict(type="str"),
            service_accounts=dict(type="list", elements="raw", required=True),
        ),
        mutually_exclusive=[("issuer", "provider_arn")],
        required_one_of=[("issuer", "provider_arn")],
    ),
    trusted_role=dict(
        type="dict",
        options=dict(
            arn=dict(type="str", required=True),
            external_id=dict(type="str", no_log=False),  # an external ID is not a secret: AWS says so, and CloudTrail logs it
        ),
    ),
    pod_identity=dict(
        type="list",
        elements="dict",
        options=dict(
            cluster_arn=dict(type="str", required=True),
            service_accounts=dict(type="list", elements="raw"),
        ),
    ),
    audience=dict(type="str", default=DEFAULT_AUDIENCE),
    allow_wildcard_subjects=dict(type="bool", default=False),
    trust_policy_mode=dict(type="str", choices=["exclusive", "shared"], default="exclusive"),
    trust_policy_size_limit=dict(type="int", default=DEFAULT_SIZE_LIMIT),
    managed_policies=dict(type="list", elements="str"),
    purge_managed_policies=dict(type="bool", default=True),
    managed_policy_quota=dict(type="int", default=DEFAULT_MANAGED_POLICY_QUOTA),
    inline_policies=dict(type="dict"),
    purge_inline_policies=dict(type="bool", default=True),
    permissions_boundary=dict(type="str"),
    max_session_duration=dict(type="int"),
    account_id=dict(type="str"),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    adopt=dict(type="bool", default=False),
    force=dict(type="bool", default=False),
)
ROLE_REQUIRED_IF = [("state", "present", ["trust", "trusted_role", "pod_identity"], True)]
# trust and pod_identity together: a role that IRSA and EKS Pod Identity both reach (a migration's first step).
ROLE_MUTUALLY_EXCLUSIVE = [("trust", "trusted_role"), ("trusted_role", "pod_identity")]


def validated_role_options(given, fields=None):
    """An iam_web_identity_role task's options, given as a dict, checked as the module checks them (spec, then
    :func:`check_role_options`); raises :class:`TrustPolicyError` naming the option."""
    try:
        params = validated_options(ROLE_ARGUMENT_SPEC, given, ROLE_REQUIRED_IF, ROLE_MUTUALLY_EXCLUSIVE)
    except OptionsError as e:
        raise TrustPolicyError(str(e)) from None
    return check_role_options(params, fields)


def check_role_options(params, fields=None):
    """Check the module's options before any AWS call; return them normalised.

    Raises :class:`TrustPolicyError` naming the option, or the name ``fields`` gives it (the preflight names
    ``managed_policy_quota`` as the inventory sets it). The returned dict has ``inline_policies`` decoded, ``tags``
    values as strings and ``account_id`` as 12 digits (or None).
    """
    quota_field = (fields or {}).get("managed_policy_quota", "managed_policy_quota")
    try:
        check_role_name(params["name"])
        if params["state"] == "absent":
            return _checked_removal(params)
        check_role_path(params["path"])
        check_session_duration(params["max_session_duration"])
        check_managed_policy_quota(params["managed_policy_quota"], quota_field)
        check_managed_policy_count(params["managed_policies"] or [], params["managed_policy_quota"], quota_field=quota_field)
    except LimitError as e:
        raise TrustPolicyError(str(e)) from None
    checked = dict(params)
    validate_size_limit(params["trust_policy_size_limit"])
    if not (params["audience"] or "").strip():
        raise TrustPolicyError("audience is empty: give the aud claim of the service account tokens, sts.amazonaws.com for EKS")
    if params["account_id"] is not None:
        try:
            checked["account_id"] = validate_account_id(params["account_id"])
        except IssuerError as e:
            raise TrustPolicyError(str(e)) from e
    for index, arn in enumerate(params["managed_policies"] or []):
        validate_policy_arn(arn, f"managed_policies[{index}]")
    if params["permissions_boundary"]:
        validate_policy_arn(params["permissions_boundary"], "permissions_boundary")
    checked["inline_policies"] = parse_inline_policies(params["inline_policies"]) if params["inline_policies"] is not None else None
    if params["tags"] is not None:
        checked["tags"] = {str(key): str(value) for key, value in params["tags"].items()}
    if checked.get("trusted_role") is not None:
        checked["trusted_role"] = checked_trusted_role(checked["trusted_role"])
        desired_trust(checked, None, None).document()
    elif checked.get("pod_identity") is not None and checked.get("trust") is None:
        parse_pod_identity(checked["pod_identity"], checked["account_id"])
        desired_trust(checked, None, None).document()
    else:
        trusted = parse_trust(checked["trust"], None, checked["account_id"], checked["allow_wildcard_subjects"])
        # Measure now, so an oversized policy fails before any call; the role's partition and account
        # are not known yet, but any 12-digit account gives ARNs of the same length.
        measurable = _desired_trust([t._replace(provider_arn=build_provider_arn("aws", _PLACEHOLDER_ACCOUNT, t.host_path))
                                     for t in trusted], checked)
        if checked.get("pod_identity") is not None:
            clusters = parse_pod_identity(checked["pod_identity"], checked["account_id"])
            measurable = CombinedTrust(measurable, _desired_pod_identity(clusters, checked))
        measurable.document()
    try:
        check_description(params["description"])
        if checked["tags"] is not None:
            check_tags(with_owner_tag(checked["tags"]))
    except LimitError as e:
        raise TrustPolicyError(str(e)) from None
    return checked


def checked_trusted_role(trusted_role, field="trusted_role"):
    """``trusted_role`` (``{arn, external_id}``) with its ARN checked to be a role's and its external ID one STS accepts."""
    try:
        validate_role_arn(trusted_role["arn"], field=f"{field}.arn")
        external_id = check_external_id(trusted_role.get("external_id"), f"{field}.external_id")
    except (IssuerError, LimitError) as e:
        raise TrustPolicyError(str(e)) from None
    return {"arn": trusted_role["arn"], "external_id": external_id}


def _checked_removal(params):
    """The options of ``state=absent``: in shared mode, ``trust`` names the statements to remove, and must be given."""
    checked = dict(params)
    if params["trust_policy_mode"] == "shared":
        if not (params["trust"] or params.get("trusted_role") or params.get("pod_identity")):
            raise TrustPolicyError("trust (or trusted_role, or pod_identity) is required with state=absent and trust_policy_mode=shared: it names "
                                   "this task's statements, the only ones removed (the role is deleted only when no other "
                                   "statement is left)")
        if params.get("trusted_role"):
            checked["trusted_role"] = checked_trusted_role(params["trusted_role"])
        elif params.get("pod_identity"):
            parse_pod_identity(params["pod_identity"], None)
        else:
            parse_trust(params["trust"], None, None, params["allow_wildcard_subjects"])
    return checked


def desired_trust(options, partition, account_id):
    """The :class:`DesiredTrust` (or, with ``trusted_role``, :class:`DesiredRoleTrust`) for checked module options and the
    role's partition and account."""
    if options.get("pod_identity"):
        pod_identity = _desired_pod_identity(parse_pod_identity(options["pod_identity"], account_id), options)
        if not options.get("trust"):
            return pod_identity
        irsa = _desired_trust(parse_trust(options["trust"], partition, account_id, options["allow_wildcard_subjects"]), options)
        return CombinedTrust(irsa, pod_identity)
    if options.get("trusted_role"):
        return DesiredRoleTrust(options["trusted_role"]["arn"], options["trusted_role"].get("external_id"),
                                options["trust_policy_mode"] == "exclusive", options["trust_policy_size_limit"])
    return _desired_trust(parse_trust(options["trust"], partition, account_id, options["allow_wildcard_subjects"]), options)


def _desired_pod_identity(clusters, options):
    return DesiredPodIdentityTrust(clusters, options["trust_policy_mode"] == "exclusive", options["trust_policy_size_limit"])


def _desired_trust(trusted, options):
    return DesiredTrust(trusted, options["audience"], options["trust_policy_mode"] == "exclusive", options["trust_policy_size_limit"])
