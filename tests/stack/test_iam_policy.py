# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The stack's IAM policy evaluator decides trust and identity policies the way IAM documents it.

Every expected answer below is worked out by hand from IAM's documented rules and written literally.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.stack.iam_policy import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, PolicyError, Principal, Request, evaluate

ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"
PROVIDER = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
OTHER_PROVIDER = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/XYZ"
SUB = "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub"
AUD = "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud"
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"

HUB_ACCOUNT = "111122223333"
HUB_ROLE = "arn:aws:iam::111122223333:role/hub"
HUB_SESSION = "arn:aws:sts::111122223333:assumed-role/hub/deploy"
OTHER_ROLE = "arn:aws:iam::111122223333:role/other"
FOREIGN_ROLE = "arn:aws:iam::444455556666:role/hub"


def irsa_trust(operator="StringEquals", sub="system:serviceaccount:ns:sa"):
    """The trust policy EKS IRSA writes for one service account."""
    if operator == "StringEquals":
        condition = {"StringEquals": {SUB: sub, AUD: "sts.amazonaws.com"}}
    else:
        condition = {operator: {SUB: sub}, "StringEquals": {AUD: "sts.amazonaws.com"}}
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER},
        "Action": WEB_IDENTITY,
        "Condition": condition,
    }]}


def web_identity(sub="system:serviceaccount:ns:sa", aud="sts.amazonaws.com", provider=PROVIDER, action=WEB_IDENTITY,
                 sub_key=SUB, aud_key=AUD):
    context = {sub_key: sub}
    if aud is not None:
        context[aud_key] = aud
    return Request(action, principal=Principal("Federated", provider), context=context)


def spoke_trust(principal="arn:aws:iam::111122223333:root", arn_condition=("ArnEquals", HUB_ROLE)):
    """A cross-account role's trust policy: the hub account, narrowed to the hub role and an external id."""
    operator, value = arn_condition
    condition = {"StringEquals": {"sts:ExternalId": "ext-123"}}
    condition.setdefault(operator, {})["aws:PrincipalArn"] = value
    return {"Version": "2012-10-17", "Statement": {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "sts:AssumeRole",
        "Condition": condition,
    }}


def assume_role(role=HUB_ROLE, account=HUB_ACCOUNT, external_id="ext-123", session=None, action="sts:AssumeRole"):
    context = {"aws:PrincipalArn": role}
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    return Request(action, principal=Principal("AWS", role, account, session), context=context)


def open_trust(condition=None, action="sts:AssumeRole"):
    """Any principal, one condition: isolates a condition operator's behaviour."""
    statement = {"Effect": "Allow", "Principal": "*", "Action": action}
    if condition is not None:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def anyone(context=None, action="sts:AssumeRole"):
    return Request(action, principal=Principal("AWS", HUB_ROLE, HUB_ACCOUNT), context=context or {})


DENY_NS_SA = {"Statement": {"Effect": "Deny", "Principal": "*", "Action": "sts:*",
                            "Condition": {"StringLike": {SUB: "system:serviceaccount:ns:*"}}}}
NOT_ACTION = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*"},
                            {"Effect": "Deny", "Principal": "*", "NotAction": WEB_IDENTITY}]}
NOT_PRINCIPAL = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                "Action": "sts:AssumeRole"},
                               {"Effect": "Deny", "NotPrincipal": {"AWS": [HUB_ROLE, "arn:aws:iam::111122223333:root"]},
                                "Action": "sts:AssumeRole"}]}
NOT_PRINCIPAL_ROLE_ONLY = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
                                         {"Effect": "Deny", "NotPrincipal": {"AWS": HUB_ROLE}, "Action": "sts:AssumeRole"}]}
SERVICE_TRUST = {"Statement": {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                               "Action": ["sts:AssumeRole", "sts:TagSession"]}}


TRUST_CASES = [
    # EKS IRSA web identity.
    pytest.param([irsa_trust()], web_identity(), ALLOW, id="irsa-right-sub"),
    pytest.param([irsa_trust()], web_identity(sub="system:serviceaccount:other:sa"), IMPLICIT_DENY, id="irsa-other-namespace"),
    pytest.param([irsa_trust()], web_identity(sub="system:serviceaccount:ns:other"), IMPLICIT_DENY, id="irsa-other-sa"),
    pytest.param([irsa_trust()], web_identity(sub="system:serviceaccount:NS:sa"), IMPLICIT_DENY, id="irsa-values-case-sensitive"),
    pytest.param([irsa_trust()], web_identity(provider=OTHER_PROVIDER), IMPLICIT_DENY, id="irsa-other-provider"),
    pytest.param([irsa_trust()], web_identity(action="sts:AssumeRole"), IMPLICIT_DENY, id="irsa-other-action"),
    pytest.param([irsa_trust()], web_identity(aud=None), IMPLICIT_DENY, id="irsa-aud-missing"),
    pytest.param([irsa_trust()], web_identity(aud="https://kubernetes.default.svc"), IMPLICIT_DENY, id="irsa-wrong-aud"),
    pytest.param([irsa_trust()], web_identity(aud=["https://kubernetes.default.svc", "sts.amazonaws.com"]), ALLOW,
                 id="irsa-aud-list-one-matches"),
    pytest.param([irsa_trust()], web_identity(aud=["a", "b"]), IMPLICIT_DENY, id="irsa-aud-list-none-matches"),
    pytest.param([irsa_trust("StringLike", "system:serviceaccount:ns:*")], web_identity(sub="system:serviceaccount:ns:worker"),
                 ALLOW, id="irsa-like-matches"),
    pytest.param([irsa_trust("StringLike", "system:serviceaccount:ns:*")], web_identity(sub="system:serviceaccount:nsx:sa"),
                 IMPLICIT_DENY, id="irsa-like-other-namespace"),
    pytest.param([irsa_trust("StringLike", "system:serviceaccount:ns:s?")], web_identity(sub="system:serviceaccount:ns:sab"),
                 IMPLICIT_DENY, id="irsa-like-question-mark-is-one-char"),
    pytest.param([irsa_trust("StringEquals", "system:serviceaccount:ns:*")], web_identity(sub="system:serviceaccount:ns:worker"),
                 IMPLICIT_DENY, id="irsa-equals-star-is-literal"),
    pytest.param([irsa_trust()], web_identity(sub_key=SUB.upper(), aud_key="OIDC.eks.eu-west-1.amazonaws.com/id/abc:AUD"),
                 ALLOW, id="irsa-condition-keys-case-insensitive"),
    pytest.param([irsa_trust(), DENY_NS_SA], web_identity(), EXPLICIT_DENY, id="irsa-explicit-deny-overrides"),
    pytest.param([DENY_NS_SA, irsa_trust()], web_identity(sub="system:serviceaccount:ns:sa"), EXPLICIT_DENY,
                 id="irsa-explicit-deny-whatever-the-order"),
    pytest.param([irsa_trust(), DENY_NS_SA], web_identity(sub="system:serviceaccount:prod:sa"), IMPLICIT_DENY,
                 id="irsa-deny-not-matching-other-ns"),
    # Cross-account AssumeRole.
    pytest.param([spoke_trust()], assume_role(), ALLOW, id="xacct-right-external-id"),
    pytest.param([spoke_trust()], assume_role(external_id="ext-124"), IMPLICIT_DENY, id="xacct-wrong-external-id"),
    pytest.param([spoke_trust()], assume_role(external_id=None), IMPLICIT_DENY, id="xacct-missing-external-id"),
    pytest.param([spoke_trust()], assume_role(role=OTHER_ROLE), IMPLICIT_DENY, id="xacct-other-role-same-account"),
    pytest.param([spoke_trust()], assume_role(role=FOREIGN_ROLE, account="444455556666"), IMPLICIT_DENY,
                 id="xacct-other-account"),
    pytest.param([spoke_trust(principal="111122223333")], assume_role(), ALLOW, id="xacct-principal-bare-account"),
    pytest.param([spoke_trust(principal="444455556666")], assume_role(), IMPLICIT_DENY, id="xacct-principal-other-bare-account"),
    pytest.param([spoke_trust(principal=HUB_ROLE)], assume_role(), ALLOW, id="xacct-principal-role-arn"),
    pytest.param([spoke_trust(principal=OTHER_ROLE)], assume_role(), IMPLICIT_DENY, id="xacct-principal-other-role-arn"),
    pytest.param([spoke_trust(principal=HUB_SESSION)], assume_role(session=HUB_SESSION), ALLOW, id="xacct-principal-session-arn"),
    pytest.param([spoke_trust(principal="arn:aws:iam::111122223333:role/*")], assume_role(), IMPLICIT_DENY,
                 id="xacct-principal-no-wildcards"),
    pytest.param([spoke_trust(principal="arn:aws:iam::111122223333:root")], assume_role(account=None), ALLOW,
                 id="xacct-account-from-role-arn"),
    pytest.param([spoke_trust(arn_condition=("ArnLike", "arn:aws:iam::111122223333:role/h?b"))], assume_role(), ALLOW,
                 id="xacct-arn-like-matches"),
    pytest.param([spoke_trust(arn_condition=("ArnLike", "arn:aws:iam::*:role/hub"))], assume_role(role=OTHER_ROLE),
                 IMPLICIT_DENY, id="xacct-arn-like-other-role"),
    pytest.param([spoke_trust(arn_condition=("ArnLike", "arn:aws:iam::*"))], assume_role(), IMPLICIT_DENY,
                 id="xacct-arn-like-needs-six-parts"),
    pytest.param([spoke_trust(arn_condition=("ArnLike", "arn:*:role/hub"))], assume_role(), IMPLICIT_DENY,
                 id="xacct-arn-like-wildcard-spans-no-colon"),
    pytest.param([spoke_trust(arn_condition=("ArnEquals", "arn:aws:iam::111122223333:role/*"))], assume_role(), ALLOW,
                 id="xacct-arn-equals-takes-wildcards"),
    pytest.param([spoke_trust(arn_condition=("ArnEquals", "arn:aws:iam::111122223333:role/HUB"))], assume_role(), IMPLICIT_DENY,
                 id="xacct-arn-equals-case-sensitive"),
    pytest.param([spoke_trust(arn_condition=("StringEquals", HUB_ROLE))], assume_role(), ALLOW, id="xacct-string-equals-arn"),
    pytest.param([spoke_trust(arn_condition=("StringEquals", HUB_ROLE))], assume_role(role=OTHER_ROLE), IMPLICIT_DENY,
                 id="xacct-string-equals-other-arn"),
    # Condition operators on their own.
    pytest.param([open_trust({"StringNotEquals": {"aws:SourceAccount": "999988887777"}})], anyone(), ALLOW,
                 id="string-not-equals-key-absent"),
    pytest.param([open_trust({"StringNotEquals": {"aws:SourceAccount": "999988887777"}})],
                 anyone({"aws:SourceAccount": "999988887777"}), IMPLICIT_DENY, id="string-not-equals-equal"),
    pytest.param([open_trust({"StringNotEquals": {"aws:SourceAccount": ["999988887777", "111122223333"]}})],
                 anyone({"aws:SourceAccount": "111122223333"}), IMPLICIT_DENY, id="string-not-equals-values-are-nor"),
    pytest.param([open_trust({"StringNotEquals": {"aws:SourceAccount": ["999988887777", "444455556666"]}})],
                 anyone({"aws:SourceAccount": "111122223333"}), ALLOW, id="string-not-equals-matches-none"),
    pytest.param([open_trust({"ArnNotLike": {"aws:SourceArn": "arn:aws:eks:*:*:cluster/prod"}})], anyone(), ALLOW,
                 id="arn-not-like-key-absent"),
    pytest.param([open_trust({"StringEquals": {"aws:SourceAccount": "111122223333"}})], anyone(), IMPLICIT_DENY,
                 id="string-equals-key-absent"),
    pytest.param([open_trust({"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}})], anyone(), ALLOW,
                 id="if-exists-key-absent"),
    pytest.param([open_trust({"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}})],
                 anyone({"aws:SourceAccount": "444455556666"}), IMPLICIT_DENY, id="if-exists-key-present-wrong"),
    pytest.param([open_trust({"StringEqualsIgnoreCase": {"aws:RequestTag/team": "Platform"}})],
                 anyone({"aws:RequestTag/team": "PLATFORM"}), ALLOW, id="string-equals-ignore-case"),
    pytest.param([open_trust({"StringNotEqualsIgnoreCase": {"aws:RequestTag/team": "Platform"}})],
                 anyone({"aws:RequestTag/team": "platform"}), IMPLICIT_DENY, id="string-not-equals-ignore-case"),
    pytest.param([open_trust({"StringNotLike": {"aws:RequestTag/team": "plat*"}})],
                 anyone({"aws:RequestTag/team": "Platform"}), ALLOW, id="string-not-like-case-sensitive"),
    pytest.param([open_trust({"Null": {"sts:ExternalId": "true"}})], anyone(), ALLOW, id="null-true-key-absent"),
    pytest.param([open_trust({"Null": {"sts:ExternalId": "true"}})], anyone({"sts:ExternalId": "x"}), IMPLICIT_DENY,
                 id="null-true-key-present"),
    pytest.param([open_trust({"Null": {"sts:ExternalId": False}})], anyone({"sts:ExternalId": "x"}), ALLOW,
                 id="null-false-key-present"),
    pytest.param([open_trust({"Null": {"sts:ExternalId": "false"}})], anyone(), IMPLICIT_DENY, id="null-false-key-absent"),
    pytest.param([open_trust({"Bool": {"aws:SecureTransport": "true"}})], anyone({"aws:SecureTransport": "true"}), ALLOW,
                 id="bool-true"),
    pytest.param([open_trust({"Bool": {"aws:SecureTransport": True}})], anyone({"aws:SecureTransport": "false"}), IMPLICIT_DENY,
                 id="bool-python-true-vs-false"),
    pytest.param([open_trust({"Bool": {"aws:SecureTransport": "false"}})], anyone(), IMPLICIT_DENY, id="bool-key-absent"),
    pytest.param([open_trust({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}})], anyone({"aws:TagKeys": []}),
                 ALLOW, id="for-all-values-empty-list"),
    pytest.param([open_trust({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}})], anyone(), ALLOW,
                 id="for-all-values-key-absent"),
    pytest.param([open_trust({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}})],
                 anyone({"aws:TagKeys": ["env", "team"]}), ALLOW, id="for-all-values-subset"),
    pytest.param([open_trust({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}})],
                 anyone({"aws:TagKeys": ["team", "owner"]}), IMPLICIT_DENY, id="for-all-values-one-outside"),
    pytest.param([open_trust({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "env"]}})],
                 anyone({"aws:TagKeys": ["owner", "env"]}), ALLOW, id="for-any-value-one-matches"),
    pytest.param([open_trust({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "env"]}})],
                 anyone({"aws:TagKeys": ["owner"]}), IMPLICIT_DENY, id="for-any-value-none-matches"),
    pytest.param([open_trust({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "env"]}})], anyone(), IMPLICIT_DENY,
                 id="for-any-value-key-absent"),
    pytest.param([open_trust({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team", "env"]}})],
                 anyone({"aws:TagKeys": ["team", "owner"]}), ALLOW, id="for-any-value-negated"),
    pytest.param([open_trust({"StringNotEquals": {"aws:TagKeys": ["team", "env"]}})],
                 anyone({"aws:TagKeys": ["team", "owner"]}), IMPLICIT_DENY, id="negated-multi-valued-no-prefix"),
    pytest.param([open_trust({"StringEquals": {"aws:SourceAccount": 111122223333}})],
                 anyone({"aws:SourceAccount": "111122223333"}), ALLOW, id="int-policy-value-as-string"),
    # Actions, principals, NotAction, NotPrincipal.
    pytest.param([open_trust(action="sts:AssumeRole*")], anyone(action=WEB_IDENTITY), ALLOW, id="action-trailing-wildcard"),
    pytest.param([open_trust(action="sts:Assume?ole")], anyone(), ALLOW, id="action-question-mark"),
    pytest.param([open_trust(action="STS:assumerole")], anyone(), ALLOW, id="action-case-insensitive"),
    pytest.param([open_trust(action="sts:*")], anyone(action="iam:PassRole"), IMPLICIT_DENY, id="action-other-service"),
    pytest.param([NOT_ACTION], anyone(action=WEB_IDENTITY), ALLOW, id="not-action-excluded"),
    pytest.param([NOT_ACTION], anyone(), EXPLICIT_DENY, id="not-action-applies"),
    pytest.param([NOT_PRINCIPAL], assume_role(), ALLOW, id="not-principal-excluded"),
    pytest.param([NOT_PRINCIPAL], assume_role(role=OTHER_ROLE), EXPLICIT_DENY, id="not-principal-applies"),
    pytest.param([NOT_PRINCIPAL], assume_role(role=FOREIGN_ROLE, account="444455556666"), EXPLICIT_DENY,
                 id="not-principal-other-account"),
    pytest.param([NOT_PRINCIPAL], assume_role(session=HUB_SESSION), EXPLICIT_DENY, id="not-principal-session-not-named"),
    pytest.param([NOT_PRINCIPAL_ROLE_ONLY], assume_role(), EXPLICIT_DENY, id="not-principal-account-not-named"),
    pytest.param([{"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}}],
                 Request("sts:AssumeRole", principal=Principal("Service", "pods.eks.amazonaws.com")), ALLOW,
                 id="aws-star-is-everyone"),
    pytest.param([SERVICE_TRUST], Request("sts:TagSession", principal=Principal("Service", "Pods.EKS.amazonaws.com")), ALLOW,
                 id="service-case-insensitive"),
    pytest.param([SERVICE_TRUST], Request("sts:AssumeRole", principal=Principal("Service", "ec2.amazonaws.com")), IMPLICIT_DENY,
                 id="service-other"),
    pytest.param([SERVICE_TRUST], Request("sts:AssumeRole", principal=Principal("AWS", "pods.eks.amazonaws.com")), IMPLICIT_DENY,
                 id="service-needs-service-kind"),
    pytest.param([irsa_trust()], web_identity(provider=PROVIDER.upper()), IMPLICIT_DENY, id="federated-exact"),
]


@pytest.mark.parametrize("documents, request_, expected", TRUST_CASES)
def test_trust_policies(documents, request_, expected):
    assert evaluate(documents, request_, resource_policy=True) == expected


ASSUME_SPOKE = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/spoke"}]}
NOT_ADMIN = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "NotResource": "arn:aws:iam::*:role/admin*"}]}
DENY_PROD = {"Statement": {"Sid": "NoProd", "Effect": "Deny", "Action": "sts:*",
                           "Resource": ["arn:aws:iam::999988887777:role/*"]}}


def hub_request(resource, action="sts:AssumeRole"):
    return Request(action, resource=resource, context={"aws:PrincipalArn": HUB_ROLE})


IDENTITY_CASES = [
    pytest.param([ASSUME_SPOKE], hub_request("arn:aws:iam::444455556666:role/spoke"), ALLOW, id="resource-wildcard-account"),
    pytest.param([ASSUME_SPOKE], hub_request("arn:aws:iam::444455556666:role/other"), IMPLICIT_DENY, id="resource-other-role"),
    pytest.param([ASSUME_SPOKE], hub_request("arn:aws:iam::444455556666:role/Spoke"), IMPLICIT_DENY,
                 id="resource-case-sensitive"),
    pytest.param([ASSUME_SPOKE], hub_request("arn:aws:iam::444455556666:role/spoke", WEB_IDENTITY), IMPLICIT_DENY,
                 id="identity-other-action"),
    pytest.param([NOT_ADMIN], hub_request("arn:aws:iam::444455556666:role/spoke"), ALLOW, id="not-resource-outside"),
    pytest.param([NOT_ADMIN], hub_request("arn:aws:iam::444455556666:role/admin-break-glass"), IMPLICIT_DENY,
                 id="not-resource-inside"),
    pytest.param([ASSUME_SPOKE, DENY_PROD], hub_request("arn:aws:iam::999988887777:role/spoke"), EXPLICIT_DENY,
                 id="identity-deny"),
    pytest.param([ASSUME_SPOKE, DENY_PROD], hub_request("arn:aws:iam::444455556666:role/spoke"), ALLOW,
                 id="identity-deny-elsewhere"),
    pytest.param([], hub_request("arn:aws:iam::444455556666:role/spoke"), IMPLICIT_DENY, id="no-documents"),
]


@pytest.mark.parametrize("documents, request_, expected", IDENTITY_CASES)
def test_identity_policies(documents, request_, expected):
    assert evaluate(documents, request_) == expected


def test_json_text():
    text = json.dumps(irsa_trust())
    assert evaluate([text], web_identity(), resource_policy=True) == ALLOW
    assert evaluate([text], web_identity(sub="system:serviceaccount:other:sa"), resource_policy=True) == IMPLICIT_DENY


def test_url_encoded_json_as_get_role_returns_it():
    encoded = urllib.parse.quote(json.dumps(irsa_trust()))
    assert encoded.startswith("%7B%22Version%22%3A%20%222012-10-17%22")
    assert evaluate([encoded], web_identity(), resource_policy=True) == ALLOW
    assert evaluate([encoded], web_identity(provider=OTHER_PROVIDER), resource_policy=True) == IMPLICIT_DENY


def test_url_encoding_keeps_a_literal_plus():
    document = json.dumps(open_trust({"StringEquals": {"sts:ExternalId": "a+b c"}}))
    encoded = urllib.parse.quote(document, safe="+")
    assert evaluate([encoded], anyone({"sts:ExternalId": "a+b c"}), resource_policy=True) == ALLOW
    assert evaluate([encoded], anyone({"sts:ExternalId": "a b c"}), resource_policy=True) == IMPLICIT_DENY


def test_a_single_document_is_accepted():
    assert evaluate(irsa_trust(), web_identity(), resource_policy=True) == ALLOW


def test_policy_variables_are_not_substituted():
    policy = open_trust({"StringEquals": {"sts:RoleSessionName": "${aws:username}"}})
    assert evaluate([policy], anyone({"sts:RoleSessionName": "${aws:username}", "aws:username": "alice"}),
                    resource_policy=True) == ALLOW
    assert evaluate([policy], anyone({"sts:RoleSessionName": "alice", "aws:username": "alice"}),
                    resource_policy=True) == IMPLICIT_DENY


def statement(**elements):
    return {"Version": "2012-10-17", "Statement": [elements]}


TRUST_ERRORS = [
    pytest.param(open_trust({"NumericEquals": {"aws:MultiFactorAuthAge": "3600"}}), "NumericEquals", id="numeric-out-of-scope"),
    pytest.param(open_trust({"StringEqual": {SUB: "x"}}), "StringEqual", id="operator-typo"),
    pytest.param(open_trust({"ForSomeValues:StringEquals": {SUB: "x"}}), "ForSomeValues", id="unknown-qualifier"),
    pytest.param(open_trust({"NullIfExists": {SUB: "true"}}), "Null", id="null-if-exists"),
    pytest.param(open_trust({"Null": {SUB: "maybe"}}), "Null", id="null-not-a-boolean"),
    pytest.param(open_trust({"StringEquals": {SUB: []}}), "no value", id="condition-no-value"),
    pytest.param(open_trust({"StringEquals": {SUB: {"nested": "x"}}}), "not a string", id="condition-value-object"),
    pytest.param(open_trust({"StringEquals": "x"}), "block", id="condition-block-not-object"),
    pytest.param({"Version": "2012-10-17"}, "no Statement", id="no-statement"),
    pytest.param({"Version": "2012-10-17", "Statement": []}, "Statement", id="empty-statement-list"),
    pytest.param({"Version": "2021-01-01", "Statement": []}, "Version", id="unknown-version"),
    pytest.param({"Statement": [], "Policy": {}}, "Policy", id="unknown-document-element"),
    pytest.param(statement(Principal="*", Action="sts:AssumeRole"), "Effect", id="no-effect"),
    pytest.param(statement(Effect="allow", Principal="*", Action="sts:AssumeRole"), "Effect", id="effect-lower-case"),
    pytest.param(statement(Effect="Allow", Principal="*"), "Action", id="no-action"),
    pytest.param(statement(Effect="Allow", Principal="*", Action="sts:AssumeRole", NotAction="iam:*"), "both",
                 id="action-and-not-action"),
    pytest.param(statement(Effect="Allow", Principal="*", Action="AssumeRole"), "service:action", id="action-without-service"),
    pytest.param(statement(Effect="Allow", Action="sts:AssumeRole"), "Principal", id="trust-without-principal"),
    pytest.param(statement(Effect="Allow", Principal={"Federated": []}, Action="sts:AssumeRole"), "Federated",
                 id="empty-principal-list"),
    pytest.param(statement(Effect="Allow", Principal={"Role": HUB_ROLE}, Action="sts:AssumeRole"), "Role",
                 id="unknown-principal-kind"),
    pytest.param(statement(Effect="Allow", NotPrincipal={"AWS": HUB_ROLE}, Action="sts:AssumeRole"), "NotPrincipal",
                 id="not-principal-allow"),
    pytest.param(statement(Effect="Allow", Principal="*", Action="sts:AssumeRole", Resource="*"), "Resource",
                 id="trust-with-resource"),
    pytest.param(statement(Effect="Allow", Principal="*", Action="sts:AssumeRole", Condition=[]), "Condition",
                 id="condition-not-object"),
    pytest.param(statement(Effect="Allow", Principal="*", Action="sts:AssumeRole", Actions="sts:*"), "Actions",
                 id="unknown-element"),
    pytest.param("{not json", "JSON", id="not-json"),
    pytest.param("[]", "object", id="json-not-object"),
]


@pytest.mark.parametrize("document, message", TRUST_ERRORS)
def test_trust_policy_errors(document, message):
    with pytest.raises(PolicyError, match=message):
        evaluate([document], anyone(), resource_policy=True)


IDENTITY_ERRORS = [
    pytest.param(statement(Effect="Allow", Principal={"AWS": HUB_ROLE}, Action="sts:AssumeRole", Resource="*"), "Principal",
                 id="identity-with-principal"),
    pytest.param(statement(Effect="Allow", NotPrincipal={"AWS": HUB_ROLE}, Action="sts:AssumeRole", Resource="*"), "NotPrincipal",
                 id="identity-with-not-principal"),
    pytest.param(statement(Effect="Allow", Action="sts:AssumeRole"), "Resource", id="identity-without-resource"),
    pytest.param(statement(Effect="Allow", Action="sts:AssumeRole", Resource="role/spoke"), "ARN", id="resource-not-an-arn"),
    pytest.param(statement(Effect="Allow", Action="sts:AssumeRole", Resource="*", NotResource="arn:aws:iam::*:role/x"), "both",
                 id="resource-and-not-resource"),
]


@pytest.mark.parametrize("document, message", IDENTITY_ERRORS)
def test_identity_policy_errors(document, message):
    with pytest.raises(PolicyError, match=message):
        evaluate([document], hub_request("arn:aws:iam::444455556666:role/spoke"))


def test_a_bad_document_is_rejected_even_after_a_deny():
    bad = open_trust({"NumericEquals": {"aws:MultiFactorAuthAge": "3600"}})
    with pytest.raises(PolicyError, match="document 1, statement 0"):
        evaluate([DENY_NS_SA, bad], web_identity(), resource_policy=True)


def test_error_names_the_statement_sid():
    document = {"Statement": [{"Sid": "Irsa", "Effect": "Allow", "Principal": "*", "Action": WEB_IDENTITY,
                               "Condition": {"StringEqualz": {SUB: "x"}}}]}
    with pytest.raises(PolicyError, match=r"document 0, statement 0 \(Sid 'Irsa'\), Condition StringEqualz"):
        evaluate([document], web_identity(), resource_policy=True)


@pytest.mark.parametrize("request_, resource_policy", [
    pytest.param(Request("sts:AssumeRole"), True, id="trust-without-principal"),
    pytest.param(Request("sts:AssumeRole", principal=Principal("Human", "alice")), True, id="unknown-principal-kind"),
    pytest.param(Request("sts:AssumeRole"), False, id="identity-without-resource"),
    pytest.param(Request("sts:AssumeRole", principal=Principal("AWS", HUB_ROLE), context={"a:B": "1", "A:b": "2"}), True,
                 id="context-key-twice"),
])
def test_undecidable_requests(request_, resource_policy):
    with pytest.raises(ValueError) as raised:
        evaluate([open_trust()], request_, resource_policy=resource_policy)
    assert not isinstance(raised.value, PolicyError)
