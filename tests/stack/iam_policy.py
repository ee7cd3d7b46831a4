# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A small evaluator of AWS IAM policy documents, for the local stack's emulated STS.

moto's STS hands out credentials for any ``AssumeRole`` or ``AssumeRoleWithWebIdentity`` call, whatever the
role's trust policy says, so a wrong trust policy would pass every local test. The emulated STS asks this module
instead, which decides the way IAM's documentation describes. It is written from that documentation alone, never
from the collection's own evaluator under ``plugins/``, so that each checks the other.

Emulated:

- documents given as dicts, JSON text, or URL-encoded JSON text (as ``GetRole`` returns ``AssumeRolePolicyDocument``);
- ``Statement`` as one dict or a list; ``Effect``; ``Action`` / ``NotAction`` (case-insensitive, ``*`` and ``?``);
  ``Resource`` / ``NotResource`` (case-sensitive, ``*`` and ``?``); ``Principal`` / ``NotPrincipal`` with
  ``AWS`` (role ARN, assumed-role session ARN, ``arn:<partition>:iam::<account>:root`` or bare account id),
  ``Federated`` (exact) and ``Service`` (case-insensitive) principals and the lone ``"*"``;
- the condition operators ``String*``, ``Arn*``, ``Bool`` and ``Null``, with ``IfExists`` and the
  ``ForAnyValue:`` / ``ForAllValues:`` set qualifiers, condition keys matched case-insensitively;
- the decision: an explicit deny beats an allow, and no allow is an implicit deny.

Not emulated:

- policy variables (``${aws:username}``, ``${*}``...): values are compared literally, never substituted;
- the Numeric, Date, IpAddress and Binary operators: they raise :class:`PolicyError` like any unknown operator;
- the request context: the caller supplies every key (``aws:PrincipalArn``, ``sts:ExternalId``, ``<issuer>:sub``...),
  nothing is derived from the principal;
- checks IAM makes against the account (principals that must exist, condition keys that must be known), permission
  boundaries, SCPs, session policies, and anything but the one decision of a set of documents;
- IAM forbids ``NotPrincipal`` in role trust policies; this module accepts it (with ``Deny``, the only effect IAM
  supports it with), so that other resource policies can be evaluated too. It spares an AWS requester only when it
  names each of its identities (account, role, and session if any), as IAM documents.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import urllib.parse

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "allow", "explicit-deny", "implicit-deny"

_VERSIONS = ("2012-10-17", "2008-10-17")
_DOCUMENT_KEYS = frozenset(("Version", "Id", "Statement"))
_STATEMENT_KEYS = frozenset(("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                             "Resource", "NotResource", "Condition"))
_PRINCIPAL_KINDS = ("AWS", "Federated", "Service")
_ACCOUNT_ID = re.compile(r"\d{12}")


class PolicyError(ValueError):
    """A document IAM would not have accepted (unknown operator, bad shape); message says where."""


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who makes the request. kind: "AWS", "Federated" or "Service".

    For kind "AWS": arn is the role ARN (arn:aws:iam::111122223333:role/path/name), account the 12-digit account,
    session_arn the assumed-role ARN (arn:aws:sts::111122223333:assumed-role/name/session) or None.
    For "Federated": arn is the identity provider ARN (arn:aws:iam::111122223333:oidc-provider/host/path).
    For "Service": arn is the service principal, e.g. "pods.eks.amazonaws.com".
    """

    kind: str
    arn: str
    account: str | None = None
    session_arn: str | None = None


@dataclasses.dataclass(frozen=True)
class Request:
    """One request to decide: the action, what it acts on, who makes it and its condition context."""

    action: str                      # "sts:AssumeRoleWithWebIdentity"
    resource: str | None = None      # the ARN acted on (identity policies); None for trust policies
    principal: Principal | None = None   # required for resource (trust) policies
    context: dict = dataclasses.field(default_factory=dict)  # condition key -> str or list of str (multi-valued)


def evaluate(documents, request, resource_policy=False) -> str:
    """Decide ``request`` against ``documents`` the way IAM does; every document is checked whole first.

    documents: iterable of policy documents (dict, or JSON text, or URL-encoded JSON text as IAM returns it
    in GetRole's AssumeRolePolicyDocument through some clients: accept str and try urllib.parse.unquote when json
    fails); a single document is accepted too. resource_policy=True: documents are trust policies: a statement applies
    only when its Principal / NotPrincipal matches request.principal, Resource is not required. resource_policy=False:
    identity policies: Principal must be absent; Resource / NotResource must match request.resource.
    Returns EXPLICIT_DENY if any applicable Deny statement matches, else ALLOW if any Allow matches, else IMPLICIT_DENY.
    Raises PolicyError for a document IAM would reject, ValueError for a request that cannot be decided.
    """
    if isinstance(documents, (dict, str, bytes)):
        documents = [documents]
    _check_request(request, resource_policy)
    # Parse everything before deciding anything: IAM rejects a malformed document even when an earlier one denies.
    statements = []
    for index, document in enumerate(documents):
        where = "document %d" % index
        statements.extend(_statements(_load(document, where), where, resource_policy, request))
    context = _fold_context(request.context)
    effects = {statement.effect for statement in statements if statement.applies(request, context)}
    if "Deny" in effects:
        return EXPLICIT_DENY
    return ALLOW if "Allow" in effects else IMPLICIT_DENY


def _check_request(request, resource_policy):
    """Refuse requests that cannot be decided, rather than let them silently deny."""
    if not isinstance(request, Request):
        raise ValueError("request must be a Request, not %r" % (request,))
    if not isinstance(request.action, str) or not request.action:
        raise ValueError("request.action must be a non-empty string")
    if resource_policy:
        principal = request.principal
        if not isinstance(principal, Principal):
            raise ValueError("a resource (trust) policy needs request.principal")
        if principal.kind not in _PRINCIPAL_KINDS:
            raise ValueError("request.principal.kind must be one of %s, not %r" % (", ".join(_PRINCIPAL_KINDS), principal.kind))
    elif not isinstance(request.resource, str):
        raise ValueError("an identity policy needs request.resource")


def _load(document, where):
    """A document as a dict: JSON text is parsed, URL-encoded JSON text (GetRole's form) is decoded first."""
    if isinstance(document, bytes):
        document = document.decode("utf-8")
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            # unquote, not unquote_plus: IAM encodes spaces as %20, and a literal '+' may be part of a value.
            try:
                document = json.loads(urllib.parse.unquote(document))
            except ValueError as exc:
                raise PolicyError("%s: neither JSON nor URL-encoded JSON (%s)" % (where, exc)) from None
    if not isinstance(document, dict):
        raise PolicyError("%s: a policy document is a JSON object, not %s" % (where, type(document).__name__))
    unknown = sorted(set(document) - _DOCUMENT_KEYS)
    if unknown:
        raise PolicyError("%s: unknown element(s) %s" % (where, ", ".join(unknown)))
    if "Version" in document and document["Version"] not in _VERSIONS:
        raise PolicyError("%s: Version %r is not one of %s" % (where, document["Version"], ", ".join(_VERSIONS)))
    if "Statement" not in document:
        raise PolicyError("%s: no Statement" % where)
    return document


def _statements(document, where, resource_policy, request):
    """The document's statements, each checked and parsed."""
    statements = document["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise PolicyError("%s: Statement must be an object or a non-empty list of objects" % where)
    return [_Statement.parse(statement, "%s, statement %d" % (where, index), resource_policy, request)
            for index, statement in enumerate(statements)]


def _strings(value, where, name):
    """A str-or-list element as a non-empty tuple of str."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(item, str) and item for item in values):
        raise PolicyError("%s: %s must be a non-empty string or a non-empty list of non-empty strings" % (where, name))
    return tuple(values)


def _one_of(statement, where, positive, negative, required):
    """(values, negated) of an element that comes as X or NotX, never both."""
    if positive in statement and negative in statement:
        raise PolicyError("%s: has both %s and %s" % (where, positive, negative))
    if positive in statement:
        return statement[positive], False
    if negative in statement:
        return statement[negative], True
    if required:
        raise PolicyError("%s: needs %s or %s" % (where, positive, negative))
    return None, False


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern, ignore_case=False):
    """IAM's glob (``*`` any run of characters, ``?`` exactly one, nothing else special) as a compiled regex."""
    parts = (".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _glob(pattern, value, ignore_case=False):
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


@dataclasses.dataclass(frozen=True)
class _Statement:
    """A checked statement: every part already validated, so deciding cannot fail half-way."""

    effect: str
    actions: tuple
    not_action: bool
    resources: tuple | None
    not_resource: bool
    principals: object          # None, "*", or a dict kind -> tuple of values
    not_principal: bool
    conditions: tuple

    @classmethod
    def parse(cls, statement, where, resource_policy, request):
        if not isinstance(statement, dict):
            raise PolicyError("%s: a statement is a JSON object, not %s" % (where, type(statement).__name__))
        if "Sid" in statement:
            if not isinstance(statement["Sid"], str):
                raise PolicyError("%s: Sid must be a string" % where)
            where = "%s (Sid %r)" % (where, statement["Sid"])
        unknown = sorted(set(statement) - _STATEMENT_KEYS)
        if unknown:
            raise PolicyError("%s: unknown element(s) %s" % (where, ", ".join(unknown)))

        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError("%s: Effect must be \"Allow\" or \"Deny\", not %r" % (where, effect))

        actions, not_action = _one_of(statement, where, "Action", "NotAction", required=True)
        actions = _strings(actions, where, "NotAction" if not_action else "Action")
        for action in actions:
            if action != "*" and not re.fullmatch(r"[^:\s]+:\S+", action):
                raise PolicyError("%s: action %r is not \"*\" nor \"service:action\"" % (where, action))

        principals, not_principal = _one_of(statement, where, "Principal", "NotPrincipal", required=False)
        if not resource_policy and principals is not None:
            raise PolicyError("%s: an identity policy has no %s" % (where, "NotPrincipal" if not_principal else "Principal"))
        if resource_policy:
            if principals is None:
                raise PolicyError("%s: a resource (trust) policy needs Principal or NotPrincipal" % where)
            if not_principal and effect != "Deny":
                raise PolicyError("%s: NotPrincipal is only supported with Effect \"Deny\"" % where)
            principals = _parse_principals(principals, where, "NotPrincipal" if not_principal else "Principal")

        resources, not_resource = _one_of(statement, where, "Resource", "NotResource", required=not resource_policy)
        if resources is not None:
            name = "NotResource" if not_resource else "Resource"
            if resource_policy and request.resource is None:
                raise PolicyError("%s: a trust policy has no %s" % (where, name))
            resources = _strings(resources, where, name)
            for resource in resources:
                if resource != "*" and not resource.startswith("arn:"):
                    raise PolicyError("%s: %s %r is not \"*\" nor an ARN" % (where, name, resource))

        conditions = _parse_conditions(statement.get("Condition", {}), where)
        return cls(effect, actions, not_action, resources, not_resource, principals, not_principal, conditions)

    def applies(self, request, context):
        """Whether every element of the statement matches the request (its effect then counts)."""
        matched = any(_glob(pattern, request.action, ignore_case=True) for pattern in self.actions)
        if matched == self.not_action:
            return False
        if self.resources is not None:
            matched = any(_glob(pattern, request.resource) for pattern in self.resources)
            if matched == self.not_resource:
                return False
        if self.principals is not None:
            named = _named(self.principals, request.principal)
            # Principal: naming any identity is enough. NotPrincipal: the statement applies unless every one is named.
            if all(named) if self.not_principal else not any(named):
                return False
        return all(condition.holds(context) for condition in self.conditions)


def _parse_principals(value, where, name):
    """"*" or {kind: values}; wildcards are not allowed in principals beyond the lone "*"."""
    if value == "*":
        return "*"
    if not isinstance(value, dict) or not value:
        raise PolicyError("%s: %s must be \"*\" or a non-empty object" % (where, name))
    parsed = {}
    for kind, values in value.items():
        if kind not in _PRINCIPAL_KINDS + ("CanonicalUser",):
            raise PolicyError("%s: %s kind %r is not one of AWS, Federated, Service, CanonicalUser" % (where, name, kind))
        parsed[kind] = _strings(values, where, "%s %s" % (name, kind))
    # {"AWS": "*"} is documented as the same as "*".
    return "*" if "*" in parsed.get("AWS", ()) else parsed


def _identities(principal):
    """The names each identity of the requester goes by: one identity, or for an AWS role its account, role and session.

    IAM checks an assumed-role requester as its account, then its role, then its session, which is why a Deny with
    NotPrincipal must name all of them to spare it.
    """
    if principal.kind != "AWS":
        return [{principal.arn}]
    fields = principal.arn.split(":")
    partition = fields[1] if len(fields) > 1 and fields[1] else "aws"
    account = principal.account or (fields[4] if len(fields) > 4 else None)
    identities = [{principal.arn}]
    if account:
        identities.append({account, "arn:%s:iam::%s:root" % (partition, account)})
    if principal.session_arn:
        identities.append({principal.session_arn})
    return identities


def _named(principals, principal):
    """For each identity of the requester, whether the Principal / NotPrincipal element names it."""
    if principals == "*":
        return [True]
    values = principals.get(principal.kind, ())
    if principal.kind == "Service":
        values = {value.casefold() for value in values}
        return [principal.arn.casefold() in values]
    return [bool(names.intersection(values)) for names in _identities(principal)]


def _fold_context(context):
    """The request context keyed by lower-cased key (condition keys are case-insensitive), values as tuples of str."""
    if not isinstance(context, dict):
        raise ValueError("request.context must be a dict, not %s" % type(context).__name__)
    folded = {}
    for key, value in context.items():
        if not isinstance(key, str):
            raise ValueError("request.context key %r is not a string" % (key,))
        if key.lower() in folded:
            raise ValueError("request.context has key %r twice (condition keys are case-insensitive)" % key)
        values = value if isinstance(value, (list, tuple)) else [value]
        folded[key.lower()] = tuple(_as_string(item, "request.context %r" % key, ValueError) for item in values)
    return folded


def _as_string(value, where, error=PolicyError):
    """Policy and context values compare as strings; JSON booleans as IAM spells them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    raise error("%s: value %r is not a string, number or boolean" % (where, value))


def _arn_like(pattern, value):
    """ArnLike/ArnEquals: each of the 6 colon-separated parts matched on its own, so no wildcard spans a colon."""
    patterns, values = pattern.split(":", 5), value.split(":", 5)
    if len(patterns) != 6 or len(values) != 6:
        return False
    return all(_glob(part, field) for part, field in zip(patterns, values))


def _bool_equals(pattern, value):
    return pattern.lower() == value.lower()


# operator -> (compare(policy value, request value), negated)
_OPERATORS = {
    "StringEquals": (lambda pattern, value: pattern == value, False),
    "StringNotEquals": (lambda pattern, value: pattern == value, True),
    "StringEqualsIgnoreCase": (lambda pattern, value: pattern.casefold() == value.casefold(), False),
    "StringNotEqualsIgnoreCase": (lambda pattern, value: pattern.casefold() == value.casefold(), True),
    "StringLike": (_glob, False),
    "StringNotLike": (_glob, True),
    # IAM documents ArnEquals together with ArnLike: both take wildcards in each part.
    "ArnEquals": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnLike": (_arn_like, False),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool_equals, False),
}
_QUALIFIERS = ("ForAnyValue", "ForAllValues")


@dataclasses.dataclass(frozen=True)
class _Condition:
    """One key of one operator block: ``{operator: {key: values}}``."""

    operator: str               # the base operator, or "Null"
    qualifier: str | None       # None, "ForAnyValue" or "ForAllValues"
    if_exists: bool
    key: str                    # lower-cased
    values: tuple

    def holds(self, context):
        present = self.key in context
        if self.operator == "Null":
            return any((value == "true") != present for value in self.values)
        if not present and self.if_exists:
            return True
        compare, negated = _OPERATORS[self.operator]

        def matches(request_value):
            # Values of one key are ORed; for a negated operator that means "matches none of them" (a NOR).
            hit = any(compare(pattern, request_value) for pattern in self.values)
            return hit != negated

        if self.qualifier == "ForAnyValue":
            return present and any(matches(value) for value in context[self.key])
        if self.qualifier == "ForAllValues":
            return not present or all(matches(value) for value in context[self.key])
        if not present:
            return negated
        if negated:
            return all(matches(value) for value in context[self.key])
        return any(matches(value) for value in context[self.key])


def _parse_conditions(condition, where):
    if not isinstance(condition, dict):
        raise PolicyError("%s: Condition must be an object" % where)
    parsed = []
    for name, block in condition.items():
        here = "%s, Condition %s" % (where, name)
        qualifier, _colon, operator = name.rpartition(":")
        if qualifier and qualifier not in _QUALIFIERS:
            raise PolicyError("%s: unknown qualifier %r (known: %s)" % (here, qualifier, ", ".join(_QUALIFIERS)))
        if_exists = operator.endswith("IfExists")
        if if_exists:
            operator = operator[:-len("IfExists")]
        if operator == "Null":
            if if_exists or qualifier:
                raise PolicyError("%s: Null takes neither IfExists nor a set qualifier" % here)
        elif operator not in _OPERATORS:
            raise PolicyError("%s: unknown or unsupported condition operator %r" % (here, name))
        if not isinstance(block, dict) or not block:
            raise PolicyError("%s: the operator's block must be a non-empty object {key: value}" % here)
        for key, values in block.items():
            if not isinstance(key, str) or not key:
                raise PolicyError("%s: condition key %r is not a non-empty string" % (here, key))
            values = values if isinstance(values, list) else [values]
            if not values:
                raise PolicyError("%s: key %r has no value" % (here, key))
            values = tuple(_as_string(value, "%s, key %r" % (here, key)) for value in values)
            if operator == "Null":
                values = tuple(value.lower() for value in values)
                if not set(values) <= {"true", "false"}:
                    raise PolicyError("%s: key %r: Null takes \"true\" or \"false\"" % (here, key))
            parsed.append(_Condition(operator, qualifier or None, if_exists, key.lower(), values))
    return tuple(parsed)
