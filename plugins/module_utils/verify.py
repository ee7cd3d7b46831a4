# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Why a pod cannot get credentials through IRSA: pure diagnosis, no boto3 (the ``irsa_verify`` module reads AWS).

A pod's SDK sends its service account token to ``sts:AssumeRoleWithWebIdentity``. STS then needs, in order:
an OIDC provider in the role's account for the token's issuer accepting the token's audience (else the pod
sees ``InvalidIdentityToken``), then a role whose trust policy allows that provider, that action and the
token's ``sub`` and ``aud`` (else ``AccessDenied``). Before that, the pod only gets a token at all when its
ServiceAccount exists and carries the ``eks.amazonaws.com/role-arn`` annotation when the pod starts.

:func:`verify` walks that chain for each (role, service account) of one account and returns *findings*:
plain dicts with a stable ``code``, a ``severity`` (``error``, ``warning`` or ``ok``), a one-line
``message``, the ``pod_error`` the pod would see and a concrete ``fix``. The trust decision itself is made by
:mod:`trust_evaluation` (IAM's condition semantics) for the exact request; the codes then say why it fails.
"""

from __future__ import annotations

import copy
import re
from collections import namedtuple

from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import normalize_issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import MAX_TOKEN_EXPIRATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import MIN_TOKEN_EXPIRATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import LimitError
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import ROLE_CHAINING_MAX_SESSION
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_token_expiration
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import AUDIENCE_ANNOTATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import DEFAULT_AUDIENCE
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import EXPIRATION_ANNOTATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import REGIONAL_ANNOTATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import ROLE_ARN_ANNOTATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import SKIP_CONTAINERS_ANNOTATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import WEB_IDENTITY_ACTION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import provider_arn as provider_arn_text
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_provider_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_subject
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import subject
from ansible_collections.torque.eks_irsa.plugins.module_utils.subject_patterns import admitted_subjects
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import ALLOW
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import DENY
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import PolicyEvaluationError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import NOT_APPLICABLE
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import as_list
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import decode_policy
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_assume_role
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_permission
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_trust
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import matching_statements
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import positive_string_tests
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import statement_applies
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import statements
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import DEFAULT_SIZE_LIMIT
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import policy_size

ERROR, WARNING, OK = "error", "warning", "ok"
INVALID_TOKEN, ACCESS_DENIED = "InvalidIdentityToken", "AccessDenied"
ROLLOUT = "ansible-playbook torque.eks_irsa.rollout -i <inventory>"
NEAR_LIMIT_SHARE = 0.9


# The ServiceAccount object was not read (no Kubernetes access given): its checks are skipped.
NOT_READ = object()

Context = namedtuple("Context", ["issuer", "cluster_issuer", "audience", "account_id", "partition", "providers", "size_limit"])
Check = namedtuple("Check", ["role_name", "role_path", "namespace", "service_account", "role", "service_account_object", "pods",
                             "audience"], defaults=(None,))


def make_context(issuer, account_id, providers, audience=DEFAULT_AUDIENCE, cluster_issuer=None, partition="aws",
                 size_limit=DEFAULT_SIZE_LIMIT):
    """The facts shared by every check of one account; ``providers`` maps provider ARN -> ``{url, client_ids}`` or None (not read)."""
    return Context(issuer, cluster_issuer, audience or DEFAULT_AUDIENCE, account_id, partition, dict(providers or {}), size_limit)


def make_check(role_name, namespace, service_account, role=None, role_path="/", service_account_object=NOT_READ, pods=None,
               audience=None):
    """One (role, ServiceAccount) to verify: ``role`` is GetRole's ``Role`` or None, ``pods`` None when not listed,
    ``audience`` the ServiceAccount's own token audience (None: the context's)."""
    return Check(role_name, role_path or "/", namespace, service_account, role, service_account_object, pods, audience)


def verify(context, checks):
    """All findings for ``checks`` (a list of :class:`Check`) in one account, in check order."""
    findings = []
    for check in checks:
        findings.extend(verify_check(context._replace(audience=check.audience) if check.audience else context, check))
    return findings


def verify_check(context, check):
    """The findings for one (role, ServiceAccount); exactly one ``ok`` finding when nothing is wrong."""
    report = _Report(context, check)
    issuer = _check_issuer(report)
    if issuer is not None:
        _check_provider(report, issuer)
        if check.role is None:
            report.add("role-missing", ERROR, ACCESS_DENIED,
                       f"role {check.role_name} does not exist in account {context.account_id}",
                       f"create it: {ROLLOUT} (or fix the role name in the inventory)")
        else:
            _TrustDiagnosis(report, issuer, check.role).run()
    _check_service_account(report)
    if not report.findings:
        checked = "" if check.service_account_object is not NOT_READ else " (ServiceAccount not read: Kubernetes checks skipped)"
        report.add("ok", OK, None, f"{check.namespace}/{check.service_account} can assume {report.role_arn} with audience "
                                   f"{context.audience}{checked}", "nothing to do")
    return report.findings


class _Report:
    """Collects one check's findings, each stamped with the account, role and ServiceAccount."""

    def __init__(self, context, check):
        self.context, self.check = context, check
        self.findings = []
        if check.role and check.role.get("Arn"):
            self.role_arn = check.role["Arn"]
        else:
            self.role_arn = role_arn(context.partition, context.account_id, check.role_name, check.role_path)

    def add(self, code, severity, pod_error, message, fix):
        check = self.check
        self.findings.append(dict(
            account_id=self.context.account_id, role_name=check.role_name, role_arn=self.role_arn, namespace=check.namespace,
            service_account=check.service_account, code=code, severity=severity, message=message, pod_error=pod_error, fix=fix))

    def codes(self):
        return {finding["code"] for finding in self.findings}


# -- issuer and provider --------------------------------------------------------------------------------------


def _issuer_format_problems(value):
    text = (value or "").strip()
    problems = []
    if not text.lower().startswith("https://"):
        problems.append("it does not start with https://")
    if text.endswith("/"):
        problems.append("it ends with a slash")
    return problems


def _check_issuer(report):
    """The verified issuer (normalised) or None when it cannot be used at all; reports format and cluster mismatch."""
    context = report.context
    try:
        issuer = normalize_issuer(context.issuer, "issuer")
    except IssuerError as e:
        report.add("issuer-format", ERROR, INVALID_TOKEN, str(e),
                   "use the issuer URL exactly as `aws eks describe-cluster --query cluster.identity.oidc.issuer` prints it")
        return None
    problems = _issuer_format_problems(context.issuer)
    if problems:
        report.add("issuer-format", ERROR, INVALID_TOKEN, f"issuer {context.issuer!r} is malformed: {'; '.join(problems)}",
                   f"use {issuer.url}, exactly as `aws eks describe-cluster --query cluster.identity.oidc.issuer` prints it "
                   "(eks_irsa_issuer in the inventory, or leave it unset to look it up)")
    if context.cluster_issuer:
        try:
            current = normalize_issuer(context.cluster_issuer, "cluster_issuer")
        except IssuerError:
            current = None
        if current is not None and current.host_path != issuer.host_path:
            report.add("issuer-not-cluster", ERROR, INVALID_TOKEN,
                       f"issuer {issuer.url} is not the cluster's current issuer {current.url}: its pods' tokens come from the latter",
                       f"verify and roll out with the cluster's issuer: unset eks_irsa_issuer (or set it to {current.url}), then {ROLLOUT}")
    return issuer


def _provider_host_path(arn):
    parts = split_provider_arn(arn)
    return parts[2] if parts else None


def _check_provider(report, issuer):
    context = report.context
    wanted = provider_arn(context, issuer)
    found = {arn: details for arn, details in context.providers.items() if same_provider(arn, wanted)}
    if not found:
        others = sorted(_provider_host_path(arn) or arn for arn in context.providers)
        create = (f"aws iam create-open-id-connect-provider --url {issuer.url} --client-id-list {context.audience}")
        if others:
            report.add("provider-other-issuer", ERROR, INVALID_TOKEN,
                       f"account {context.account_id} has OIDC providers only for other issuers ({', '.join(others[:3])}), "
                       f"none for {issuer.host_path} (an old or another cluster?)",
                       f"create the provider for this cluster's issuer: {ROLLOUT}, or {create}")
        else:
            report.add("provider-missing", ERROR, INVALID_TOKEN,
                       f"account {context.account_id} has no IAM OIDC provider for {issuer.host_path}",
                       f"create it: {ROLLOUT}, or {create}")
        return
    arn, details = next(iter(found.items()))
    client_ids = (details or {}).get("client_ids")
    if client_ids is not None and context.audience not in client_ids:
        report.add("provider-audience-missing", ERROR, INVALID_TOKEN,
                   f"OIDC provider {arn} accepts the client IDs {sorted(client_ids) or '(none)'}, not the audience {context.audience}",
                   f"aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn {arn} --client-id {context.audience}")


def provider_arn(context, issuer):
    """The provider ARN IAM resolves a token of ``issuer`` to, for a role in the context's account."""
    return provider_arn_text(context.partition, context.account_id, issuer.host_path)


def same_provider(arn, wanted):
    """True when provider ``arn`` is ``wanted`` (same account and partition; the issuer compared as IAM does)."""
    host_path = _provider_host_path(arn)
    if host_path is None:
        return False
    try:
        return arn.rsplit("oidc-provider/", 1)[0] == wanted.rsplit("oidc-provider/", 1)[0] and \
            normalize_issuer(host_path).host_path == wanted.split("oidc-provider/", 1)[1]
    except IssuerError:
        return False


# -- the trust policy ---------------------------------------------------------------------------------------------


def _key_issuer_and_claim(key):
    """``(issuer part, claim)`` of a condition key such as ``oidc.eks.../id/X:sub``; claim None for other keys."""
    issuer_part, sep, claim = key.rpartition(":")
    if not sep or claim.lower() not in ("sub", "aud") or "/" not in issuer_part and "." not in issuer_part:
        return key, None
    return issuer_part, claim.lower()


def _repaired_key(key):
    """The key as IAM names it: without ``https://`` and without a slash before ``:claim``."""
    issuer_part, claim = _key_issuer_and_claim(key)
    if claim is None:
        return key
    return f"{re.sub(r'^https://', '', issuer_part, flags=re.IGNORECASE).rstrip('/')}:{claim}"


class _TrustDiagnosis:
    """Evaluates the role's trust policy for the pod's exact request and, when it is not allowed, says why."""

    def __init__(self, report, issuer, role):
        self.report, self.issuer = report, issuer
        context, check = report.context, report.check
        self.principal = provider_arn(context, issuer)
        self.subject = subject(check.namespace, check.service_account)
        self.sub_key, self.aud_key = f"{issuer.host_path}:sub", f"{issuer.host_path}:aud"
        self.role_name = check.role_name
        self.raw_document = role.get("AssumeRolePolicyDocument")

    def request(self, sub=None, aud=None):
        return {self.sub_key: sub or self.subject, self.aud_key: aud or self.report.context.audience}

    def decide(self, document, **request):
        return evaluate_trust(document, self.principal, WEB_IDENTITY_ACTION, self.request(**request))

    def run(self):
        try:
            document = decode_policy(self.raw_document)
        except PolicyEvaluationError as e:
            self._unreadable(e)
            return
        self._check_size(document)
        try:
            if self.decide(document) == ALLOW:
                self._warn_allowed(document)
            else:
                self._explain_denial(document)
        except PolicyEvaluationError as e:
            self._unreadable(e)

    def _unreadable(self, error):
        self.report.add("trust-policy-unsupported", WARNING, None,
                        f"the trust policy of role {self.role_name} could not be evaluated: {error}",
                        f"check it by hand: aws iam get-role --role-name {self.role_name} --query Role.AssumeRolePolicyDocument")

    def _check_size(self, document):
        limit = self.report.context.size_limit
        size = policy_size(document)
        where = f"the trust policy of role {self.role_name} is {size} characters (without whitespace, as IAM counts them)"
        if size > limit:
            self.report.add("trust-policy-too-large", ERROR, None,
                            f"{where}, over the limit of {limit}: under that quota IAM refuses every update of it (LimitExceeded)",
                            "trust fewer service accounts per role (one role per ServiceAccount, as the rollout makes them), or raise "
                            "the IAM quota 'Role trust policy length' (at most 4096) and set eks_irsa_trust_policy_size_limit "
                            "(the module's trust_policy_size_limit) to it")
        elif size >= NEAR_LIMIT_SHARE * limit:
            self.report.add("trust-policy-near-limit", WARNING, None,
                            f"{where}, {size * 100 // limit} % of the limit of {limit}: a few more subjects and IAM refuses updates",
                            "trust fewer service accounts per role, or raise the IAM quota 'Role trust policy length' (at most "
                            "4096) and set eks_irsa_trust_policy_size_limit (the module's trust_policy_size_limit) to it")

    # -- allowed: what it lets in besides --------------------------------------------------------------------

    def _allowing_statements(self, document):
        indices = [index for index, _sid, effect in
                   matching_statements(document, self.principal, WEB_IDENTITY_ACTION, self.request()) if effect == ALLOW]
        every = statements(document)
        return [every[index] for index in indices]

    def _warn_allowed(self, document):
        allowing = self._allowing_statements(document)
        aud_operators = [self._operators_for(statement, "aud") for statement in allowing]
        if any(not operators for operators in aud_operators):
            self.report.add("trust-audience-unchecked", WARNING, None,
                            f"the trust policy of role {self.role_name} does not test {self.aud_key}: tokens for any audience are accepted",
                            f"add \"StringEquals\": {{\"{self.aud_key}\": \"{self.report.context.audience}\"}} to the condition, or {ROLLOUT}")
        elif any(set(operators) != {"StringEquals"} for operators in aud_operators):
            loose = sorted({op for operators in aud_operators for op in operators if op != "StringEquals"})
            self.report.add("trust-audience-not-exact", WARNING, None,
                            f"the trust policy of role {self.role_name} tests {self.aud_key} with {', '.join(loose)}: it works only while the "
                            "value has no wildcard",
                            f"test it with StringEquals: \"StringEquals\": {{\"{self.aud_key}\": \"{self.report.context.audience}\"}}, "
                            f"or {ROLLOUT}")
        broad = next(filter(None, (self._broad_subject(statement) for statement in allowing)), None)
        if broad:
            self.report.add("trust-subject-broad", WARNING, None,
                            f"the trust policy of role {self.role_name} also lets other service accounts in: {broad}",
                            f"allow exactly \"StringEquals\": {{\"{self.sub_key}\": \"{self.subject}\"}}, or {ROLLOUT}")

    def _broad_subject(self, statement):
        """What in ``statement`` admits more than one service account (no sub test, or a pattern), with an example.

        Listing several exact subjects is not broad: each is a service account someone named. A pattern is broad when
        it admits two real subjects, wherever its wildcards are (:func:`.subject_patterns.admitted_subjects`).
        """
        tests = positive_string_tests(statement, self.sub_key)
        if not tests:
            other = next(s for s in admitted_subjects([]) if s != self.subject)
            return f"it does not test {self.sub_key}, so any service account of the cluster gets in (for example {other})"
        for index, (kind, values) in enumerate(tests):
            others = tests[:index] + tests[index + 1:]
            for pattern in values if kind == "like" else ():
                admitted = admitted_subjects([("like", [pattern])] + others)
                if len(admitted) > 1:
                    other = next(s for s in admitted if s != self.subject)
                    return f"the pattern {pattern!r} admits other service accounts too, for example {other}"
        return None

    def _operators_for(self, statement, claim):
        """The operators under which ``statement`` tests this issuer's ``claim`` key."""
        wanted = f"{self.issuer.host_path}:{claim}".lower()
        return [operator for operator, entries in (statement.get("Condition") or {}).items()
                if isinstance(entries, dict) and any(key.lower() == wanted for key in entries)]

    # -- denied: why -----------------------------------------------------------------------------------------

    def _explain_denial(self, document):
        before = len(self.report.findings)
        every = statements(document)
        if self.decide(document) == DENY:
            denying = [sid or f"Statement[{index}]" for index, sid, effect in
                       matching_statements(document, self.principal, WEB_IDENTITY_ACTION, self.request()) if effect == DENY]
            self.report.add("trust-denied", ERROR, ACCESS_DENIED,
                            f"the trust policy of role {self.role_name} explicitly denies {self.subject} ({', '.join(denying)})",
                            f"remove or narrow that Deny statement: aws iam get-role --role-name {self.role_name}")
            return
        allows = [s for s in every if isinstance(s, dict) and s.get("Effect") == ALLOW]
        with_action = [s for s in allows if statement_applies(_only(s, "Action", "NotAction"), self.principal, WEB_IDENTITY_ACTION, {})]
        if not with_action:
            self.report.add("trust-action-missing", ERROR, ACCESS_DENIED,
                            f"no Allow statement of role {self.role_name}'s trust policy allows {WEB_IDENTITY_ACTION}",
                            f"set \"Action\": \"{WEB_IDENTITY_ACTION}\" in the statement for the OIDC provider, or {ROLLOUT}")
            return
        candidates = [s for s in with_action
                      if statement_applies(_only(s, "Action", "NotAction", "Principal", "NotPrincipal"), self.principal, WEB_IDENTITY_ACTION, {})]
        if not candidates:
            self._explain_principal(with_action)
            return
        for statement in candidates:
            self._explain_conditions(statement)
        if len(self.report.findings) == before:
            self.report.add("trust-denied", ERROR, ACCESS_DENIED,
                            f"the trust policy of role {self.role_name} does not allow {self.subject} for a reason not diagnosed here",
                            f"compare it with what {ROLLOUT} writes: aws iam get-role --role-name {self.role_name}")

    def _explain_principal(self, statements):
        principals = [s.get("Principal") for s in statements if isinstance(s.get("Principal"), dict)]
        federated = [value for principal in principals for value in _as_list(principal.get("Federated")) if isinstance(value, str)]
        account = self.report.context.account_id
        other_accounts = [arn for arn in federated if (split_provider_arn(arn) or (None, account))[1] != account]
        other_issuers = [arn for arn in federated if arn not in other_accounts and _provider_host_path(arn) is not None]
        fix = f"set \"Principal\": {{\"Federated\": \"{self.principal}\"}}, or {ROLLOUT}"
        if other_accounts:
            self.report.add("trust-principal-other-account", ERROR, ACCESS_DENIED,
                            f"role {self.role_name} trusts the provider {other_accounts[0]} of another account: IAM only honours the "
                            f"provider in the role's own account {account}", fix)
        elif other_issuers:
            self.report.add("trust-principal-other-issuer", ERROR, ACCESS_DENIED,
                            f"role {self.role_name} trusts the provider {other_issuers[0]}, not the one for {self.issuer.host_path}", fix)
        else:
            self.report.add("trust-denied", ERROR, ACCESS_DENIED,
                            f"no statement of role {self.role_name}'s trust policy names the OIDC provider {self.principal} as principal",
                            fix)

    def _explain_conditions(self, statement):
        condition = statement.get("Condition") or {}
        repaired = self._report_malformed_keys(condition)
        aud = _entries_for(repaired, self.aud_key)
        sub = _entries_for(repaired, self.sub_key)
        request = {key.lower(): value for key, value in self.request().items()}
        other_issuer_keys = sorted({key for entries in repaired.values() if isinstance(entries, dict) for key in entries
                                    if _key_issuer_and_claim(key)[1] and key.lower() not in request})
        if other_issuer_keys:
            self.report.add("trust-condition-key-other-issuer", ERROR, ACCESS_DENIED,
                            f"role {self.role_name}'s trust condition tests {other_issuer_keys[0]}, a key of another issuer, not {self.issuer.host_path}",
                            f"use the keys {self.sub_key} and {self.aud_key}, or {ROLLOUT}")
        if aud and not _holds(aud, request):
            accepted = _values(aud)
            self.report.add("trust-audience-mismatch", ERROR, ACCESS_DENIED,
                            f"role {self.role_name}'s trust condition accepts the audience {', '.join(accepted) or '(none)'}, not "
                            f"{self.report.context.audience}",
                            f"set \"StringEquals\": {{\"{self.aud_key}\": \"{self.report.context.audience}\"}}, or {ROLLOUT}")
        if sub and not _holds(sub, request):
            self._explain_subject(_values(sub))
        rest = {operator: {key: value for key, value in entries.items() if key.lower() not in request}
                for operator, entries in repaired.items() if isinstance(entries, dict)}
        rest = {operator: entries for operator, entries in rest.items() if entries}
        if rest and not other_issuer_keys and not _holds(rest, request):
            keys = sorted({key for entries in rest.values() for key in entries})
            self.report.add("trust-denied", ERROR, ACCESS_DENIED,
                            f"role {self.role_name}'s trust condition also tests {', '.join(keys)}, which the pod's token does not satisfy",
                            f"remove that condition, or {ROLLOUT}")

    def _report_malformed_keys(self, condition):
        """Report keys written with ``https://`` or a trailing slash; return the condition with them repaired."""
        repaired = copy.deepcopy(condition) if isinstance(condition, dict) else {}
        malformed = {}  # code -> [(key, repaired key)]
        for entries in repaired.values():
            if not isinstance(entries, dict):
                continue
            for key in list(entries):
                fixed = _repaired_key(key)
                if fixed == key:
                    continue
                scheme = _key_issuer_and_claim(key)[0].lower().startswith("https://")
                malformed.setdefault("trust-condition-key-scheme" if scheme else "trust-condition-key-trailing-slash", []).append((key, fixed))
                entries[fixed] = entries.pop(key)
        for code, keys in malformed.items():
            if code in self.report.codes():
                continue
            what = "start with https://" if code == "trust-condition-key-scheme" else "have a slash before the claim"
            self.report.add(code, ERROR, ACCESS_DENIED,
                            f"role {self.role_name}'s trust condition keys {', '.join(key for key, _fixed in keys)} {what}: IAM names "
                            f"them {', '.join(fixed for _key, fixed in keys)}, so the condition never matches",
                            f"rename the keys to {', '.join(fixed for _key, fixed in keys)}, or {ROLLOUT}")
        return repaired

    def _explain_subject(self, accepted):
        check = self.report.check
        parsed = [split_subject(value) for value in accepted]
        fix = f"set \"StringEquals\": {{\"{self.sub_key}\": \"{self.subject}\"}}, or {ROLLOUT}"
        shown = ", ".join(accepted) or "(none)"
        if any(m and m[1] == check.service_account and m[0] != check.namespace for m in parsed):
            self.report.add("trust-subject-other-namespace", ERROR, ACCESS_DENIED,
                            f"role {self.role_name} trusts {shown}: the service account {check.service_account} of another namespace, "
                            f"not of {check.namespace}", fix)
        elif any(m and m[0] == check.namespace and m[1] != check.service_account for m in parsed):
            self.report.add("trust-subject-other-service-account", ERROR, ACCESS_DENIED,
                            f"role {self.role_name} trusts {shown}: another service account of namespace {check.namespace}, "
                            f"not {check.service_account}", fix)
        else:
            self.report.add("trust-subject-mismatch", ERROR, ACCESS_DENIED,
                            f"role {self.role_name} trusts the subject {shown}, not {self.subject}", fix)


def _as_list(value):
    return [] if value is None else as_list(value)


def _only(statement, *keys):
    """``statement`` reduced to ``keys`` (anyone, no condition otherwise): to test its action or principal alone."""
    reduced = {"Effect": ALLOW, **{key: statement[key] for key in keys if key in statement}}
    if "Principal" not in reduced and "NotPrincipal" not in reduced:
        reduced["Principal"] = "*"
    return reduced


def _entries_for(condition, key):
    """The part of ``condition`` that tests ``key`` (case-insensitively, as IAM compares key names)."""
    found = {}
    for operator, entries in condition.items():
        if isinstance(entries, dict):
            kept = {k: v for k, v in entries.items() if k.lower() == key.lower()}
            if kept:
                found[operator] = kept
    return found


def _values(condition):
    return [str(value) for entries in condition.values() for values in entries.values() for value in _as_list(values)]


def _holds(condition, request):
    """True when ``condition`` holds for ``request``, judged by the evaluator on a statement that has nothing else."""
    statement = {"Effect": ALLOW, "Principal": "*", "Action": WEB_IDENTITY_ACTION, "Condition": condition}
    return statement_applies(statement, "", WEB_IDENTITY_ACTION, request)


# -- the ServiceAccount and its pods ----------------------------------------------------------------------------


def _check_service_account(report):
    check = report.check
    obj = check.service_account_object
    if obj is NOT_READ:
        return
    where = f"ServiceAccount {check.namespace}/{check.service_account}"
    if obj is None:
        report.add("service-account-missing", ERROR, f'pods cannot start: serviceaccount "{check.service_account}" not found',
                   f"{where} does not exist", f"create it: {ROLLOUT} (applies the annotated ServiceAccount)")
        return
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    role_arn = annotations.get(ROLE_ARN_ANNOTATION)
    annotation_ok = _check_role_arn_annotation(report, where, role_arn)
    _check_optional_annotations(report, where, annotations)
    if annotation_ok and check.pods is not None:
        _check_pods(report, role_arn)


def _check_role_arn_annotation(report, where, role_arn):
    """Report a missing or wrong role-arn annotation; True when it names a role ARN (right or wrong) the pods can carry."""
    context, check = report.context, report.check
    set_it = (f"kubectl -n {check.namespace} annotate --overwrite serviceaccount {check.service_account} "
              f"{ROLE_ARN_ANNOTATION}={report.role_arn}, or {ROLLOUT}")
    if not role_arn:
        report.add("annotation-missing", ERROR, "no web identity token is injected: the AWS SDK falls back to the node role",
                   f"{where} has no {ROLE_ARN_ANNOTATION} annotation", set_it)
        return False
    parts = split_role_arn(str(role_arn))
    if not parts:
        report.add("annotation-malformed", ERROR, "ValidationError from STS: the role ARN is invalid",
                   f"{where}: {ROLE_ARN_ANNOTATION} {role_arn!r} is not an IAM role ARN", set_it)
        return False
    if parts[1] != context.account_id:
        # What the pod gets is decided by the other account's setup, which this check does not read.
        report.add("annotation-other-account", ERROR,
                   f"AccessDenied, or InvalidIdentityToken when account {parts[1]} has no OIDC provider for the issuer, or that "
                   "account's permissions",
                   f"{where}: {ROLE_ARN_ANNOTATION} names {role_arn}, a role in account {parts[1]}, not in {context.account_id}",
                   set_it)
    elif role_arn != report.role_arn:
        report.add("annotation-other-role", ERROR, "AccessDenied, or another role's permissions",
                   f"{where}: {ROLE_ARN_ANNOTATION} names {role_arn}, not {report.role_arn}", set_it)
    return True


def _check_optional_annotations(report, where, annotations):
    check, context = report.check, report.context

    def malformed(annotation, value, why, pod_error, fix):
        report.add("annotation-malformed", ERROR, pod_error, f"{where}: {annotation} {value!r} {why}",
                   f"{fix} (kubectl -n {check.namespace} annotate --overwrite serviceaccount {check.service_account} ...), or {ROLLOUT}")

    regional = annotations.get(REGIONAL_ANNOTATION)
    if regional is not None and str(regional) not in ("true", "false"):
        malformed(REGIONAL_ANNOTATION, regional, "is neither \"true\" nor \"false\": the webhook ignores it", None,
                  f"set {REGIONAL_ANNOTATION}=true (or false)")
    expiration = annotations.get(EXPIRATION_ANNOTATION)
    if expiration is not None:
        try:
            check_token_expiration(expiration, EXPIRATION_ANNOTATION)
        except LimitError:
            malformed(EXPIRATION_ANNOTATION, expiration, "is not a token lifetime the webhook uses as given", None,
                      f"set {EXPIRATION_ANNOTATION} to whole seconds from {MIN_TOKEN_EXPIRATION} to {MAX_TOKEN_EXPIRATION}, for example 86400")
    audience = annotations.get(AUDIENCE_ANNOTATION)
    if audience is not None and audience != context.audience:
        malformed(AUDIENCE_ANNOTATION, audience, f"differs from the audience {context.audience} the provider and role expect",
                  INVALID_TOKEN, f"remove {AUDIENCE_ANNOTATION} or set it to {context.audience}")


def _check_pods(report, role_arn):
    """Warn about pods of the ServiceAccount whose injected AWS_ROLE_ARN is missing or not the annotation's role."""
    check = report.check
    stale = [pod for pod in check.pods if pod_uses(pod, check.namespace, check.service_account) and _pod_role_arn_stale(pod, role_arn)]
    if not stale:
        return
    names = [pod["metadata"]["name"] for pod in stale]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    restarts = sorted({restart_command(pod, check.namespace) for pod in stale})
    report.add("pod-restart-needed", WARNING, "old credentials (or none) until the pod restarts",
               f"{len(names)} running pod(s) of ServiceAccount {check.namespace}/{check.service_account} started without "
               f"AWS_ROLE_ARN={role_arn}: {shown}",
               f"restart them: {'; '.join(restarts[:3])}")


def pod_uses(pod, namespace, service_account):
    metadata, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if metadata.get("namespace", namespace) != namespace:
        return False
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return (spec.get("serviceAccountName") or spec.get("serviceAccount") or "default") == service_account


def _pod_role_arn_stale(pod, role_arn):
    """True when a container the webhook would inject into lacks AWS_ROLE_ARN or has another value."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    skipped = {name.strip() for name in str(annotations.get(SKIP_CONTAINERS_ANNOTATION, "")).split(",") if name.strip()}
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") not in skipped]
    for container in containers:
        values = [env.get("value") for env in container.get("env") or [] if env.get("name") == "AWS_ROLE_ARN"]
        if values != [role_arn]:
            return True
    return False


def restart_command(pod, namespace):
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    name = pod["metadata"]["name"]
    if owners:
        kind, owner = owners[0].get("kind"), owners[0].get("name", "")
        if kind == "ReplicaSet" and "-" in owner:
            return f"kubectl -n {namespace} rollout restart deployment/{owner.rsplit('-', 1)[0]}"
        if kind in ("StatefulSet", "DaemonSet"):
            return f"kubectl -n {namespace} rollout restart {kind.lower()}/{owner}"
        return f"kubectl -n {namespace} delete pod {name} (its {kind} {owner} recreates it)"
    return f"kubectl -n {namespace} delete pod {name}, then create it again"


# -- the hub topology: the hub role's permission, each spoke role's trust ------------------------------------------

Spoke = namedtuple("Spoke", ["role_name", "role_path", "hub_role_arn", "external_id", "namespace", "service_account", "role"])


def _hub_finding(account_id, role_name, arn, namespace, service_account, code, severity, message, fix, pod_error=None, via_hub=None):
    """A finding of the hub topology; ``via_hub``: the hub role ARN, on a spoke's findings (the pod reaches the spoke role
    through the hub role, not with its token)."""
    return dict(account_id=account_id, role_name=role_name, role_arn=arn, namespace=namespace, service_account=service_account,
                code=code, severity=severity, message=message, pod_error=pod_error, fix=fix,
                **({"via_hub": via_hub} if via_hub else {}))


def _other_role_of(hub_arn):
    """A role of the hub role's account that is not the hub role: who a pinned trust must keep out."""
    partition, account_id, path, name = split_role_arn(hub_arn)
    return f"arn:{partition}:iam::{account_id}:role{path}not-{name}"


def verify_spoke(account_id, partition, spoke):
    """The findings for one spoke role: it exists, its trust lets the hub role in (with the external ID), and nobody
    else of the hub's account; its sessions, reached by role chaining, last at most an hour. One ``ok`` finding when
    nothing is wrong."""
    arn = spoke.role["Arn"] if spoke.role else role_arn(partition, account_id, spoke.role_name, spoke.role_path)
    hub = spoke.hub_role_arn

    def finding(code, severity, message, fix, pod_error=None):
        return _hub_finding(account_id, spoke.role_name, arn, spoke.namespace, spoke.service_account, code, severity, message, fix,
                            pod_error, via_hub=hub)

    if spoke.role is None:
        return [finding("spoke-missing", ERROR, f"spoke role {spoke.role_name} does not exist in account {account_id}, so the hub "
                        f"role {hub} cannot assume it", f"create it: {ROLLOUT}", ACCESS_DENIED)]
    trust = spoke.role.get("AssumeRolePolicyDocument")
    try:
        decision = evaluate_assume_role(trust, hub, spoke.external_id)
        others = evaluate_assume_role(trust, _other_role_of(hub), spoke.external_id)
        without_id = evaluate_assume_role(trust, hub) if spoke.external_id else NOT_APPLICABLE
    except PolicyEvaluationError as e:
        return [finding("trust-unparsable", ERROR, f"the trust policy of {arn} cannot be evaluated: {e}", f"let {ROLLOUT} rewrite it",
                        ACCESS_DENIED)]
    findings = []
    if decision != ALLOW:
        needs = f" with the external ID {spoke.external_id!r}" if spoke.external_id else ""
        findings.append(finding("spoke-trust-hub", ERROR,
                                f"the trust policy of {arn} does not let the hub role {hub} assume it (sts:AssumeRole{needs}): {decision}",
                                f"let {ROLLOUT} rewrite it (it trusts the hub's account, pinned to the hub role by aws:PrincipalArn)",
                                ACCESS_DENIED))
    if others == ALLOW or without_id == ALLOW:
        who = "other roles and users of the hub's account" if others == ALLOW else "the hub role without the external ID"
        findings.append(finding("spoke-trust-broad", WARNING, f"the trust policy of {arn} also lets in {who}",
                                f"pin it to the hub role with aws:PrincipalArn (and require the external ID): {ROLLOUT}"))
    duration = spoke.role.get("MaxSessionDuration") or ROLE_CHAINING_MAX_SESSION
    if duration > ROLE_CHAINING_MAX_SESSION:
        findings.append(finding("spoke-session-over-chaining-limit", WARNING,
                                f"{arn} allows sessions of {duration} s, but the hub reaches it by role chaining, which AWS caps at "
                                f"{ROLE_CHAINING_MAX_SESSION} s: a grain that asks for more is refused",
                                f"keep the duration of the grain's assume_role at most {ROLE_CHAINING_MAX_SESSION} s, or leave "
                                "max_session_duration out of the spoke role"))
    return findings or [finding("ok", OK, f"the hub role {hub} can assume {arn}", "nothing to do")]


def verify_hub_permissions(account_id, role_name, hub_arn, namespace, service_account, policies, spoke_arns):
    """The findings for the hub role's own permission to ``sts:AssumeRole`` each spoke role (``policies``: the documents of
    its inline and attached managed policies; None when the role does not exist, which its IRSA check reports)."""
    if policies is None:
        return []
    where = (account_id, role_name, hub_arn, namespace, service_account)
    refused = []
    for arn in spoke_arns:
        try:
            decision = evaluate_permission(policies, "sts:AssumeRole", arn)
        except PolicyEvaluationError as e:
            return [_hub_finding(*where, "hub-permission-unknown", WARNING,
                                 f"the policies of the hub role {hub_arn} could not be evaluated for sts:AssumeRole on {arn}: {e}",
                                 "check by hand that the hub role may assume every spoke role")]
        if decision != ALLOW:
            refused.append(arn)
    if refused:
        return [_hub_finding(*where, "hub-cannot-assume", ERROR,
                             f"the hub role {hub_arn} may not sts:AssumeRole {', '.join(refused)} (its policies do not allow it)",
                             f"let {ROLLOUT} rewrite its inline policy eks-irsa-hub", ACCESS_DENIED)]
    return []


def summarise(findings):
    """``(errors, warnings)`` counted over ``findings``."""
    return (sum(1 for f in findings if f["severity"] == ERROR), sum(1 for f in findings if f["severity"] == WARNING))


# -- the end-to-end proof (irsa_token_proof) ---------------------------------------------------------------------

# STS errors worth retrying: IAM is eventually consistent (a role or provider just made may be unknown for
# 10 to 30 s), and the issuer's keys are fetched by STS over the network.
PROOF_RETRY_CODES = frozenset(("AccessDenied", "InvalidIdentityToken", "IDPCommunicationError"))
# STS's answers about a token's times (exp, and nbf / iat in the future).
TOKEN_TIME_CODES = frozenset(("ExpiredTokenException", "IDPRejectedClaim"))


def token_proof_finding(namespace, service_account, role_arn, error_code=None, error_message=None, attempts=1):
    """The finding for one real ``AssumeRoleWithWebIdentity`` with a token of ``namespace/service_account``.

    ``error_code`` None means STS returned credentials (they are thrown away). Never given the token itself.
    """
    parts = split_role_arn(role_arn)
    account_id = parts[1] if parts else None
    role_name = parts[3] if parts else role_arn
    finding = dict(account_id=account_id, role_name=role_name, role_arn=role_arn, namespace=namespace,
                   service_account=service_account, pod_error=error_code)
    where = f"a token of ServiceAccount {namespace}/{service_account}"
    if error_code is None:
        return dict(finding, code="token-proof-ok", severity=OK, fix="nothing to do",
                    message=f"STS gave credentials for {role_arn} to {where} (attempt {attempts})")
    if error_code == "TokenRequestFailed":
        fix = (f"check that ServiceAccount {namespace}/{service_account} exists (torque.eks_irsa.verify) and that your Kubernetes user "
               f"may create serviceaccounts/token in namespace {namespace}")
    elif error_code == INVALID_TOKEN:
        fix = f"the OIDC provider is missing or wrong in account {account_id}: run torque.eks_irsa.verify for the codes, then {ROLLOUT}"
    elif error_code == ACCESS_DENIED:
        fix = f"the trust policy of {role_arn} does not let this ServiceAccount in: run torque.eks_irsa.verify for the codes, then {ROLLOUT}"
    elif error_code in TOKEN_TIME_CODES:  # a token just issued is expired, or not valid yet, for STS: the clocks disagree
        fix = ("STS judged the fresh token's times against its own clock: check that the cluster's API servers keep the right "
               "time (NTP), then run again")
    else:
        fix = "check the STS endpoint and the issuer's reachability, then run again; torque.eks_irsa.verify lists configuration problems"
    if error_code == "TokenRequestFailed":
        message = f"no token for ServiceAccount {namespace}/{service_account}, so {role_arn} was not tried: {error_message}"
    else:
        message = f"STS refused {where} for {role_arn} after {attempts} attempt(s): {error_code}: {error_message}"
    return dict(finding, code="token-proof-failed", severity=ERROR, fix=fix, message=message)
