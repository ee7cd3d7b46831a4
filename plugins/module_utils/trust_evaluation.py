# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evaluate a role trust policy the way IAM does for ``AssumeRoleWithWebIdentity`` (and ``AssumeRole`` by a role, the hub
topology's chain), and a permission policy for one action on one resource: pure, no boto3.

IAM decides inside STS and only ever answers "AccessDenied", and moto stores trust policies without checking
them. This evaluator gives the decision and the statements behind it, so that the ``irsa_verify`` module can
say whether a pod's exact request would be let in (and ``module_utils/verify.py`` why not), and the tests can
prove that a role lets in exactly the intended service account. It is written from IAM's documented policy
semantics (the IAM User Guide: policy evaluation logic, the Condition element, condition operators,
conditions with multiple keys or values, single- vs multivalued context keys), not from this collection's
trust-policy builder, so that it can catch that builder's mistakes:

- the decision: any matching ``Deny`` statement gives ``"Deny"`` (an explicit deny always wins); else any
  matching ``Allow`` gives ``"Allow"``; else ``"NotApplicable"`` (IAM's implicit deny);
- a statement matches when its principal, its action and all of its conditions match;
- ``Principal``: ``"*"`` or ``{"AWS": "*"}`` is everyone; ``{"Federated": ...}`` (a string or a list)
  matches the request's identity provider ARN exactly, or ``"*"``; for a role's session (:class:`AwsPrincipal`),
  ``{"AWS": ...}`` matches the role's ARN, its account's ID or its account's root ARN; ``NotPrincipal`` inverts that;
- ``Action`` / ``NotAction``: case-insensitive, ``*`` and ``?`` wildcards (``sts:AssumeRole*``);
- ``Condition``: operators are ANDed, the keys under one operator are ANDed, the values of one key are
  ORed, and NORed for the negated operators (``StringNotEquals``: the request value equals none of them);
  condition key names are case-insensitive, values are not (except ``...IgnoreCase``);
- a key missing from the request makes a condition false, except for the negated operators (true),
  ``...IfExists`` (true) and ``Null`` (which tests exactly that); ``ForAllValues:`` on a missing or empty
  key is true (vacuously: IAM's documented trap), ``ForAnyValue:`` on one is false;
- a multivalued request key (a list) must be tested with ``ForAllValues:``/``ForAnyValue:``, as IAM requires.

Operators: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike,
StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike (each with an optional ``ForAnyValue:``/``ForAllValues:``
prefix and ``IfExists`` suffix; the ARN operators match each of an ARN's six colon-separated parts on its own, with
wildcards, ArnEquals as ArnLike, as IAM documents) and Null. Anything else in a policy (another operator, a policy
variable, a ``Resource`` element that a trust policy cannot have, a condition in a permission policy, whose request
context is not known here) raises :class:`PolicyEvaluationError`: neither a verification nor a test may pass because
the evaluator skipped what it did not understand.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections import namedtuple

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import normalize_issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import DEFAULT_AUDIENCE
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import POD_IDENTITY_PRINCIPAL
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import WEB_IDENTITY_ACTION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import provider_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_arn

ALLOW = "Allow"
DENY = "Deny"
NOT_APPLICABLE = "NotApplicable"

# operator -> (value test, negated); a negated operator's values are NORed and it holds on a missing key.
_STRING_OPERATORS = {
    "StringEquals": (lambda actual, expected: actual == expected, False),
    "StringNotEquals": (lambda actual, expected: actual == expected, True),
    "StringEqualsIgnoreCase": (lambda actual, expected: actual.casefold() == expected.casefold(), False),
    "StringNotEqualsIgnoreCase": (lambda actual, expected: actual.casefold() == expected.casefold(), True),
    "StringLike": (lambda actual, expected: _like(expected).fullmatch(actual) is not None, False),
    "StringNotLike": (lambda actual, expected: _like(expected).fullmatch(actual) is not None, True),
}
_SET_QUALIFIERS = ("ForAnyValue", "ForAllValues")
ASSUME_ROLE_ACTION = "sts:AssumeRole"
_PERMISSION_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource"}


class AwsPrincipal(namedtuple("AwsPrincipal", ["arn", "account_id", "partition"])):
    """A caller with AWS credentials, such as a session of a role (the request principal of ``sts:AssumeRole``)."""

    __slots__ = ()

    @classmethod
    def of_role(cls, role_arn):
        parts = split_arn(role_arn)
        if not parts:
            raise PolicyEvaluationError(f"{role_arn!r} is not an ARN")
        return cls(role_arn, parts["account_id"], parts["partition"])


class ServicePrincipal(namedtuple("ServicePrincipal", ["service"])):
    """An AWS service calling on its own behalf, such as EKS Pod Identity (``pods.eks.amazonaws.com``)."""

    __slots__ = ()


_STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Condition"}


class PolicyEvaluationError(EksIrsaError):
    """The policy or the request uses something this evaluator does not implement, or is malformed."""


def _like(pattern):
    """IAM's ``StringLike`` pattern as a regex: ``*`` any run of characters (``:`` and ``/`` too), ``?`` one."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def _arn_like(actual, pattern):
    """IAM's ArnLike: the six colon-separated parts of the ARN, each matched on its own (``*`` and ``?`` within it)."""
    actual_parts, pattern_parts = actual.split(":", 5), pattern.split(":", 5)
    return len(actual_parts) == len(pattern_parts) == 6 and all(
        _like(expected).fullmatch(part) is not None for part, expected in zip(actual_parts, pattern_parts))


# ArnEquals matches as ArnLike does (IAM's documentation), and the negated ones are their NOR.
_ARN_OPERATORS = {"ArnEquals": (_arn_like, False), "ArnLike": (_arn_like, False), "ArnNotEquals": (_arn_like, True),
                  "ArnNotLike": (_arn_like, True)}
_VALUE_OPERATORS = dict(_STRING_OPERATORS, **_ARN_OPERATORS)


def as_list(value):
    """A policy element IAM accepts as one value or a list of them, as a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def statements(document):
    """The statements of a decoded policy, as a list (IAM accepts a single statement object too)."""
    found = (document or {}).get("Statement") or []
    return [found] if isinstance(found, dict) else list(found)


def _as_policy_string(value, where):
    """A policy value as the string IAM compares (JSON true/false and numbers are written as text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise PolicyEvaluationError(f"{where}: condition values are strings, got {type(value).__name__}")
    if "${" in value:
        raise PolicyEvaluationError(f"{where}: policy variables such as {value!r} are not implemented here")
    return value


# -- the request context -------------------------------------------------------------------------


def normalise_context(context):
    """``{lower-case key: value or [values]}``, without the keys that are absent (None, or an empty list).

    A string value is a single-valued key; a list is a multivalued key (kept as a list, so that the
    operators can insist on a set qualifier). Keys differing only in case are refused: IAM would see one key.
    Normalising twice gives the same result.
    """
    normalised = {}
    for key, value in (context or {}).items():
        folded = key.lower()
        if folded in normalised:
            raise PolicyEvaluationError(f"context: {key!r} is given twice in different case; IAM treats condition keys case-insensitively")
        if value is None or value == []:
            continue
        if isinstance(value, (list, tuple)):
            normalised[folded] = [str(item) for item in value]
        else:
            normalised[folded] = str(value)
    return normalised


def web_identity_context(issuer, sub, aud=DEFAULT_AUDIENCE, **claims):
    """The condition keys IAM puts in an ``AssumeRoleWithWebIdentity`` request from an OIDC provider.

    ``issuer`` is the issuer URL or its host path; keys are ``<host path>:sub``, ``<host path>:aud`` and
    one ``<host path>:<claim>`` per extra keyword (``None`` leaves a claim out).
    """
    host_path = normalize_issuer(issuer).host_path
    claims = dict(claims, sub=sub, aud=aud)
    return {f"{host_path}:{claim}": value for claim, value in claims.items() if value is not None}


# -- conditions ----------------------------------------------------------------------------------


def _split_operator(operator):
    """``(set qualifier or None, base operator, if_exists)`` for an operator such as ``ForAnyValue:StringLikeIfExists``."""
    qualifier = None
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
        if qualifier not in _SET_QUALIFIERS:
            raise PolicyEvaluationError(f"condition operator {qualifier}:{operator}: the set qualifier must be ForAnyValue or ForAllValues")
    if_exists = operator.endswith("IfExists") and operator != "IfExists"
    base = operator[:-len("IfExists")] if if_exists else operator
    if base != "Null" and base not in _VALUE_OPERATORS:
        raise PolicyEvaluationError(f"condition operator {operator!r} is not implemented (only the String and Arn operators and "
                                    "Null are)")
    if base == "Null" and (qualifier or if_exists):
        raise PolicyEvaluationError(f"condition operator {operator!r}: Null takes no set qualifier and no IfExists")
    return qualifier, base, if_exists


def _value_matches(test, negated, actual, expected):
    """One request value against the policy values: OR of matches, or for a negated operator NOR."""
    hit = any(test(actual, value) for value in expected)
    return not hit if negated else hit


def evaluate_condition(operator, key, policy_values, context):
    """True when one ``operator: {key: policy_values}`` entry holds for ``context`` (already normalised)."""
    qualifier, base, if_exists = _split_operator(operator)
    where = f"Condition.{operator}.{key}"
    present = key.lower() in context
    actual = context.get(key.lower())
    if base == "Null":
        wanted = {_as_policy_string(value, where).lower() for value in as_list(policy_values)}
        if not wanted <= {"true", "false"}:
            raise PolicyEvaluationError(f"{where}: Null takes true or false, got {sorted(wanted)}")
        return ("true" if not present else "false") in wanted
    test, negated = _VALUE_OPERATORS[base]
    expected = [_as_policy_string(value, where) for value in as_list(policy_values)]
    if not present:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return negated
    if qualifier is None:
        if isinstance(actual, list):
            raise PolicyEvaluationError(f"{where}: the request key is multivalued ({actual}); IAM needs ForAnyValue: or ForAllValues: for it")
        return _value_matches(test, negated, actual, expected)
    # A set qualifier on a single-valued key treats it as a set of one, as IAM does (which the IAM docs warn
    # can make a policy more permissive than meant).
    values = actual if isinstance(actual, list) else [actual]
    results = [_value_matches(test, negated, value, expected) for value in values]
    return all(results) if qualifier == "ForAllValues" else any(results)


def evaluate_condition_block(condition, context):
    """True when every operator, and every key under it, of a ``Condition`` element holds (a missing block holds)."""
    if condition is None:
        return True
    if not isinstance(condition, dict):
        raise PolicyEvaluationError(f"Condition must be an object of operators, got {type(condition).__name__}")
    normalised = normalise_context(context)
    for operator, entries in condition.items():
        if not isinstance(entries, dict) or not entries:
            raise PolicyEvaluationError(f"Condition.{operator} must map condition keys to values")
        for key, values in entries.items():
            if not evaluate_condition(operator, key, values, normalised):
                return False
    return True


def positive_string_tests(statement, key):
    """``[(kind, values)]``: the tests a statement's condition puts a single-valued ``key`` to, ANDed.

    ``kind`` is ``"like"`` (glob values) or ``"equals"`` (literal values; the ignore-case operators give the values
    lower-cased, for keys such as ``sub`` whose values are lower case). Negated operators and ``Null`` are left
    out: they only narrow what the others admit, so what the tests admit is an upper bound, never an understatement.
    A set qualifier or ``IfExists`` changes nothing for a key every request has.
    """
    tests = []
    for operator, entries in ((statement or {}).get("Condition") or {}).items():
        if not isinstance(entries, dict):
            continue
        _qualifier, base, _if_exists = _split_operator(operator)
        if base not in ("StringEquals", "StringEqualsIgnoreCase", "StringLike"):
            continue
        for entry_key, values in entries.items():
            if entry_key.lower() == key.lower():
                texts = [_as_policy_string(value, f"Condition.{operator}.{entry_key}") for value in as_list(values)]
                if base == "StringEqualsIgnoreCase":
                    texts = [text.lower() for text in texts]
                tests.append(("like" if base == "StringLike" else "equals", texts))
    return tests


# -- statements ----------------------------------------------------------------------------------


def _principal_matches(principal, requester, where):
    """Whether a statement's principal names ``requester``: an identity provider's ARN (web identity), or an
    :class:`AwsPrincipal`."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        raise PolicyEvaluationError(f"{where}: expected \"*\" or an object such as {{\"Federated\": ...}}, got {principal!r}")
    aws = as_list(principal.get("AWS", []))
    if "*" in aws:
        return True  # {"AWS": "*"} is everyone, like "*"
    if isinstance(requester, AwsPrincipal):
        names = {requester.arn, requester.account_id, f"arn:{requester.partition}:iam::{requester.account_id}:root"}
        return any(value in names for value in aws)
    if isinstance(requester, ServicePrincipal):
        return requester.service in as_list(principal.get("Service", []))
    return any(value in ("*", requester) for value in as_list(principal.get("Federated", [])))


def _action_matches(patterns, action, where):
    patterns = as_list(patterns)
    if not all(isinstance(pattern, str) for pattern in patterns):
        raise PolicyEvaluationError(f"{where}: actions are strings such as \"sts:AssumeRoleWithWebIdentity\", got {patterns!r}")
    return any(_like(pattern.lower()).fullmatch(action.lower()) for pattern in patterns)


def statement_applies(statement, principal_arn_federated, action, context, where="Statement"):
    """True when a statement's principal, action and conditions all match the request."""
    if not isinstance(statement, dict):
        raise PolicyEvaluationError(f"{where}: a statement is an object, got {type(statement).__name__}")
    unknown = sorted(set(statement) - _STATEMENT_KEYS)
    if unknown:
        raise PolicyEvaluationError(f"{where}: {', '.join(unknown)} not implemented for trust policies (a trust policy has no Resource)")
    if statement.get("Effect") not in (ALLOW, DENY):
        raise PolicyEvaluationError(f"{where}.Effect must be Allow or Deny, got {statement.get('Effect')!r}")
    if ("Principal" in statement) == ("NotPrincipal" in statement):
        raise PolicyEvaluationError(f"{where}: a trust policy statement needs exactly one of Principal and NotPrincipal")
    if ("Action" in statement) == ("NotAction" in statement):
        raise PolicyEvaluationError(f"{where}: a statement needs exactly one of Action and NotAction")
    principal_ok = _element_matches(statement, "Principal", lambda value, at: _principal_matches(value, principal_arn_federated, at), where)
    action_ok = _element_matches(statement, "Action", lambda value, at: _action_matches(value, action, at), where)
    return principal_ok and action_ok and evaluate_condition_block(statement.get("Condition"), context)


def _element_matches(statement, name, matches, where):
    """Whether a statement's ``name`` element (Principal, Action, Resource) matches the request, or its ``Not<name>``
    form does not; ``matches(value, where)`` tests one element's value."""
    if name in statement:
        return matches(statement[name], f"{where}.{name}")
    return not matches(statement[f"Not{name}"], f"{where}.Not{name}")


def decode_policy(document, field="policy", error=PolicyEvaluationError):
    """A policy as a dict (None stays None), from a dict, JSON text, or the URL-encoded JSON the IAM API returns.

    A document that is none of these raises ``error`` (a ``ValueError``), its message starting with ``field``.
    """
    if document is None or isinstance(document, dict):
        return document
    if not isinstance(document, str):
        raise error(f"{field}: expected a policy document (mapping or JSON text), got {type(document).__name__}")
    text = document.strip()
    if text[:3].upper() == "%7B":
        text = urllib.parse.unquote(text)
    try:
        decoded = json.loads(text)
    except ValueError as e:
        raise error(f"{field}: not valid JSON ({e})") from e
    if not isinstance(decoded, dict):
        raise error(f"{field}: a policy document must be a JSON object, got {type(decoded).__name__}")
    return decoded


def matching_statements(policy_document, principal_arn_federated, action, context):
    """``[(index, Sid, Effect)]`` of the statements that apply to the request: what explains a decision."""
    policy = decode_policy(policy_document)
    if policy is None or policy.get("Statement") is None:
        raise PolicyEvaluationError("the policy has no Statement")
    normalised = normalise_context(context)
    return [(index, statement.get("Sid"), statement["Effect"]) for index, statement in enumerate(as_list(policy["Statement"]))
            if statement_applies(statement, principal_arn_federated, action, normalised, f"Statement[{index}]")]


def evaluate_trust(policy_document, principal_arn_federated, action, context):
    """IAM's decision on one request against a trust policy: ``"Allow"``, ``"Deny"`` or ``"NotApplicable"``.

    ``principal_arn_federated`` is the ARN of the identity provider that issued the token,
    ``action`` the STS action (``sts:AssumeRoleWithWebIdentity``), ``context`` the request's
    condition keys (see :func:`web_identity_context`); only "Allow" lets the caller in.
    """
    effects = {effect for _index, _sid, effect in matching_statements(policy_document, principal_arn_federated, action, context)}
    if DENY in effects:
        return DENY
    return ALLOW if ALLOW in effects else NOT_APPLICABLE


def evaluate_web_identity(policy_document, account_id, issuer, sub, aud=DEFAULT_AUDIENCE, **claims):
    """:func:`evaluate_trust` for a token from ``issuer`` presented to a role in ``account_id``.

    IAM resolves the token's issuer to the OIDC provider of that issuer in the role's account, so the
    principal is that provider's ARN and the condition keys are prefixed with the issuer's host path.
    """
    context = web_identity_context(issuer, sub, aud, **claims)
    return evaluate_trust(policy_document, provider_arn("aws", account_id, normalize_issuer(issuer).host_path), WEB_IDENTITY_ACTION, context)


def assume_role_context(role_arn, external_id=None):
    """The condition keys of ``sts:AssumeRole`` called by a session of the role ``role_arn``."""
    principal = AwsPrincipal.of_role(role_arn)
    return {"aws:PrincipalArn": role_arn, "aws:PrincipalAccount": principal.account_id, "sts:ExternalId": external_id}


def evaluate_assume_role(policy_document, role_arn, external_id=None):
    """:func:`evaluate_trust` for ``sts:AssumeRole`` by a session of the role ``role_arn`` (the hub topology's hop from the
    hub role to a spoke role), giving ``external_id`` (None: none given)."""
    return evaluate_trust(policy_document, AwsPrincipal.of_role(role_arn), ASSUME_ROLE_ACTION, assume_role_context(role_arn, external_id))


TAG_SESSION_ACTION = "sts:TagSession"


def pod_identity_context(cluster_arn, namespace, service_account, session_tags=True, pod_name="verify-pod",
                         pod_uid="00000000-0000-0000-0000-000000000000"):
    """The condition keys of the ``sts:AssumeRole`` (and ``sts:TagSession``) EKS Pod Identity makes for a pod of
    ``namespace/service_account`` in the cluster ``cluster_arn``: ``aws:SourceArn``, ``aws:SourceAccount`` and, unless the
    association disables them, its six session tags as ``aws:RequestTag/*`` with ``aws:TagKeys``."""
    parts = split_arn(cluster_arn)
    if not parts:
        raise PolicyEvaluationError(f"{cluster_arn!r} is not an ARN")
    context = {"aws:SourceArn": cluster_arn, "aws:SourceAccount": parts["account_id"]}
    if session_tags:
        tags = {"eks-cluster-arn": cluster_arn, "eks-cluster-name": parts["resource"].split("/", 1)[-1],
                "kubernetes-namespace": namespace, "kubernetes-service-account": service_account,
                "kubernetes-pod-name": pod_name, "kubernetes-pod-uid": pod_uid}
        context.update({f"aws:RequestTag/{key}": value for key, value in tags.items()})
        context["aws:TagKeys"] = sorted(tags)
    return context


def evaluate_pod_identity(policy_document, cluster_arn, namespace, service_account, session_tags=True):
    """:func:`evaluate_trust` for EKS Pod Identity assuming the role for a pod of ``namespace/service_account``: the
    decision on ``sts:AssumeRole`` and, when session tags are sent, on ``sts:TagSession`` too (both must be allowed)."""
    context = pod_identity_context(cluster_arn, namespace, service_account, session_tags)
    requester = ServicePrincipal(POD_IDENTITY_PRINCIPAL)
    decisions = [evaluate_trust(policy_document, requester, action, context)
                 for action in (ASSUME_ROLE_ACTION,) + ((TAG_SESSION_ACTION,) if session_tags else ())]
    if DENY in decisions:
        return DENY
    return ALLOW if all(decision == ALLOW for decision in decisions) else NOT_APPLICABLE


def _resource_matches(patterns, resource, where):
    patterns = as_list(patterns)
    if not all(isinstance(pattern, str) for pattern in patterns):
        raise PolicyEvaluationError(f"{where}: resources are ARN strings, got {patterns!r}")
    return any(pattern == "*" or _arn_like(resource, pattern) for pattern in patterns)


def permission_statement_applies(statement, action, resource, where="Statement"):
    """True when a permission policy statement's action and resource match (a condition cannot be evaluated here)."""
    if not isinstance(statement, dict):
        raise PolicyEvaluationError(f"{where}: a statement is an object, got {type(statement).__name__}")
    unknown = sorted(set(statement) - _PERMISSION_STATEMENT_KEYS)
    if unknown:
        raise PolicyEvaluationError(f"{where}: {', '.join(unknown)} cannot be evaluated here (a permission policy's Condition "
                                    "depends on the request, a Principal belongs in a resource policy)")
    if statement.get("Effect") not in (ALLOW, DENY):
        raise PolicyEvaluationError(f"{where}.Effect must be Allow or Deny, got {statement.get('Effect')!r}")
    if ("Action" in statement) == ("NotAction" in statement) or ("Resource" in statement) == ("NotResource" in statement):
        raise PolicyEvaluationError(f"{where}: a statement needs exactly one of Action and NotAction, and of Resource and NotResource")
    return (_element_matches(statement, "Action", lambda value, at: _action_matches(value, action, at), where)
            and _element_matches(statement, "Resource", lambda value, at: _resource_matches(value, resource, at), where))


def evaluate_permission(policy_documents, action, resource):
    """IAM's decision on ``action`` on ``resource`` by a principal whose identity policies are ``policy_documents``:
    ``"Deny"`` when a statement denies it, else ``"Allow"`` when one allows it, else ``"NotApplicable"``."""
    effects = set()
    for number, document in enumerate(policy_documents):
        policy = decode_policy(document, f"policy {number}")
        for index, statement in enumerate(as_list((policy or {}).get("Statement") or [])):
            if permission_statement_applies(statement, action, resource, f"policy {number} Statement[{index}]"):
                effects.add(statement["Effect"])
    if DENY in effects:
        return DENY
    return ALLOW if ALLOW in effects else NOT_APPLICABLE
