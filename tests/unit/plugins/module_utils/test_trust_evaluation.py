# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IAM trust-policy evaluator (module_utils/trust_evaluation.py) decides as IAM documents it, and so judges our trust policies.

Each operator and edge case gets a small hand-written policy; the expected answers come from the IAM
User Guide (condition operators; conditions with multiple keys or values; multivalued context keys).
The last part evaluates policies built by ``trust_policy.py`` for the IRSA cases issue 5 lists.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils import trust_evaluation as te
from ansible_collections.torque.eks_irsa.plugins.module_utils import trust_policy as tp
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import ALLOW, DENY, NOT_APPLICABLE, WEB_IDENTITY_ACTION
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import PolicyEvaluationError, evaluate_condition_block
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_trust, evaluate_web_identity
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import matching_statements, web_identity_context
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import provider_arn

ACCOUNT = "111122223333"
HOST = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ISSUER = "https://" + HOST
OTHER_HOST = "oidc.eks.us-east-1.amazonaws.com/id/0THER0000000000000000000000000000"
OTHER_ISSUER = "https://" + OTHER_HOST
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
SUB = "system:serviceaccount:ns:sa"


def holds(condition, **context):
    """Evaluate a condition block; keyword names use ``__`` for ``:`` (``aws__TagKeys`` is ``aws:TagKeys``)."""
    return evaluate_condition_block(condition, {key.replace("__", ":"): value for key, value in context.items()})


def statement(effect="Allow", action=WEB_IDENTITY_ACTION, principal=None, condition=None, **extra):
    found = {"Effect": effect, "Principal": principal or {"Federated": PROVIDER}, "Action": action, **extra}
    if condition is not None:
        found["Condition"] = condition
    return found


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def decide(document, sub=SUB, aud="sts.amazonaws.com", principal=PROVIDER, action=WEB_IDENTITY_ACTION, host=HOST):
    context = {f"{host}:sub": sub, f"{host}:aud": aud}
    return evaluate_trust(document, principal, action, context)


# -- decisions: Allow, explicit Deny, implicit deny ----------------------------------------------


def test_a_matching_allow_allows():
    assert decide(policy(statement())) == ALLOW


def test_no_matching_statement_is_not_applicable_the_implicit_deny():
    assert decide(policy(statement(action="sts:AssumeRole"))) == NOT_APPLICABLE
    assert decide(policy()) == NOT_APPLICABLE


def test_an_explicit_deny_wins_over_any_allow_in_either_order():
    allow, deny = statement(), statement(effect="Deny")
    assert decide(policy(allow, deny)) == DENY
    assert decide(policy(deny, allow)) == DENY


def test_a_deny_whose_condition_does_not_match_does_not_apply():
    deny = statement(effect="Deny", condition={"StringEquals": {f"{HOST}:sub": "system:serviceaccount:ns:other"}})
    assert decide(policy(statement(), deny)) == ALLOW
    assert decide(policy(statement(), deny), sub="system:serviceaccount:ns:other") == DENY


def test_a_single_statement_object_is_accepted_as_iam_accepts_it():
    assert decide({"Version": "2012-10-17", "Statement": statement()}) == ALLOW


def test_json_text_and_the_url_encoded_json_iam_returns_are_decoded():
    text = json.dumps(policy(statement()))
    assert decide(text) == ALLOW
    assert decide(urllib.parse.quote(text)) == ALLOW


def test_matching_statements_explain_the_decision():
    document = policy(dict(statement(), Sid="Mine"), dict(statement(action="sts:AssumeRole"), Sid="Other"),
                      dict(statement(effect="Deny", condition={"StringEquals": {f"{HOST}:aud": "x"}}), Sid="NoMatch"))
    assert matching_statements(document, PROVIDER, WEB_IDENTITY_ACTION, {f"{HOST}:sub": SUB, f"{HOST}:aud": "y"}) == [(0, "Mine", "Allow")]


# -- principals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("principal, expected", [
    ({"Federated": PROVIDER}, ALLOW),
    ({"Federated": [f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OTHER_HOST}", PROVIDER]}, ALLOW),
    ({"Federated": "*"}, ALLOW),
    ("*", ALLOW),
    ({"AWS": "*"}, ALLOW),
    ({"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OTHER_HOST}"}, NOT_APPLICABLE),
    ({"Federated": f"arn:aws:iam::999999999999:oidc-provider/{HOST}"}, NOT_APPLICABLE),  # same issuer, other account
    ({"Federated": PROVIDER.upper()}, NOT_APPLICABLE),  # ARNs compare exactly
    ({"Federated": PROVIDER.rsplit("/", 1)[0] + "/*"}, NOT_APPLICABLE),  # no wildcards inside a principal
    ({"Service": "eks.amazonaws.com"}, NOT_APPLICABLE),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, NOT_APPLICABLE),
])
def test_federated_principal_matching(principal, expected):
    assert decide(policy(statement(principal=principal))) == expected


def test_not_principal_applies_to_every_other_principal():
    document = policy(statement(), {"Effect": "Deny", "NotPrincipal": {"Federated": PROVIDER}, "Action": "sts:*"})
    assert decide(document) == ALLOW
    other = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OTHER_HOST}"
    assert decide(policy(statement(principal={"Federated": "*"}), document["Statement"][1]), principal=other) == DENY


# -- actions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("action, expected", [
    ("sts:AssumeRoleWithWebIdentity", ALLOW),
    ("STS:assumerolewithwebidentity", ALLOW),  # action names are case-insensitive
    ("sts:AssumeRole*", ALLOW),
    ("sts:*", ALLOW),
    ("*", ALLOW),
    ("sts:AssumeRoleWith?ebIdentity", ALLOW),
    (["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"], ALLOW),
    ("sts:AssumeRole", NOT_APPLICABLE),
    ("sts:AssumeRoleWithSAML", NOT_APPLICABLE),
    ("sts:AssumeRoleWith?", NOT_APPLICABLE),
    ("iam:*", NOT_APPLICABLE),
])
def test_action_matching_with_wildcards(action, expected):
    assert decide(policy(statement(action=action))) == expected


def test_not_action_applies_to_every_other_action():
    not_action = {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "NotAction": "sts:AssumeRole"}
    assert decide(policy(not_action)) == ALLOW
    assert decide(policy(dict(not_action, NotAction="sts:AssumeRoleWith*"))) == NOT_APPLICABLE


# -- string operators ----------------------------------------------------------------------------


@pytest.mark.parametrize("operator, policy_value, request_value, expected", [
    ("StringEquals", "abc", "abc", True),
    ("StringEquals", "abc", "ABC", False),
    ("StringEquals", "a*", "abc", False),  # no wildcards in StringEquals
    ("StringNotEquals", "abc", "abd", True),
    ("StringNotEquals", "abc", "abc", False),
    ("StringEqualsIgnoreCase", "ABC", "abc", True),
    ("StringEqualsIgnoreCase", "ABC", "abd", False),
    ("StringNotEqualsIgnoreCase", "ABC", "abc", False),
    ("StringNotEqualsIgnoreCase", "ABC", "abd", True),
    ("StringLike", "system:serviceaccount:ns:*", "system:serviceaccount:ns:sa", True),
    ("StringLike", "system:serviceaccount:ns:*", "system:serviceaccount:ns2:sa", False),
    ("StringLike", "*", "", True),
    ("StringLike", "a*c", "ac", True),  # * matches an empty run
    ("StringLike", "a*c", "a/b:c", True),  # and any characters, : and / included
    ("StringLike", "a?c", "abc", True),
    ("StringLike", "a?c", "ac", False),  # ? is exactly one character
    ("StringLike", "a?c", "abbc", False),
    ("StringLike", "a.c", "abc", False),  # other characters are literal, not regex
    ("StringLike", "ABC*", "abc", False),  # case-sensitive
    ("StringLike", "abc", "abcd", False),  # the whole value must match
    ("StringNotLike", "ns:*", "ns:sa", False),
    ("StringNotLike", "ns:*", "other:sa", True),
])
def test_string_operators(operator, policy_value, request_value, expected):
    assert holds({operator: {"k": policy_value}}, k=request_value) is expected


def test_policy_values_that_are_json_booleans_or_numbers_compare_as_text():
    assert holds({"StringEquals": {"k": True}}, k="true")
    assert holds({"StringEquals": {"k": 42}}, k="42")


# -- several keys, several values ----------------------------------------------------------------


def test_several_values_of_one_key_are_ored():
    condition = {"StringEquals": {"k": ["a", "b"]}}
    assert holds(condition, k="a") and holds(condition, k="b")
    assert not holds(condition, k="c")


def test_several_values_under_a_negated_operator_are_nored():
    condition = {"StringNotEquals": {"k": ["a", "b"]}}
    assert holds(condition, k="c")
    assert not holds(condition, k="a")
    assert not holds(condition, k="b")
    assert not holds({"StringNotLike": {"k": ["x*", "a*"]}}, k="abc")


def test_several_keys_and_several_operators_are_anded():
    condition = {"StringEquals": {"a": "1", "b": "2"}, "StringLike": {"c": "3*"}}
    assert holds(condition, a="1", b="2", c="33")
    assert not holds(condition, a="1", b="x", c="33")
    assert not holds(condition, a="1", b="2", c="x")
    assert not holds(condition, a="1", c="33")  # b missing


def test_condition_keys_are_case_insensitive_and_values_are_not():
    assert holds({"StringEquals": {"OIDC.example.com/ID/X:Sub": SUB}}, **{"oidc.example.com/id/x:sub": SUB})
    assert not holds({"StringEquals": {"k": SUB.upper()}}, K=SUB)


def test_an_empty_or_missing_condition_block_holds():
    assert decide(policy(statement(condition={}))) == ALLOW
    assert holds(None)


# -- missing keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("operator, expected", [
    ("StringEquals", False),
    ("StringEqualsIgnoreCase", False),
    ("StringLike", False),
    ("StringNotEquals", True),  # a negated operator holds when the key is not there
    ("StringNotEqualsIgnoreCase", True),
    ("StringNotLike", True),
    ("StringEqualsIfExists", True),
    ("StringLikeIfExists", True),
    ("StringNotEqualsIfExists", True),
    ("ForAllValues:StringEquals", True),  # vacuous truth: IAM's documented ForAllValues trap
    ("ForAllValues:StringNotLike", True),
    ("ForAnyValue:StringEquals", False),
    ("ForAnyValue:StringNotEquals", False),
    ("ForAnyValue:StringEqualsIfExists", True),
])
def test_a_missing_key(operator, expected):
    assert holds({operator: {"k": "v"}}, other="v") is expected
    assert holds({operator: {"k": "v"}}, k=None) is expected  # None is absent too


def test_if_exists_checks_the_key_when_it_is_there():
    assert holds({"StringEqualsIfExists": {"k": "v"}}, k="v")
    assert not holds({"StringEqualsIfExists": {"k": "v"}}, k="w")
    assert not holds({"StringNotLikeIfExists": {"k": "v*"}}, k="vv")


@pytest.mark.parametrize("value, present, expected", [
    ("true", False, True),
    ("true", True, False),
    ("false", True, True),
    ("false", False, False),
    (True, False, True),  # a JSON boolean works like the string
    (["true", "false"], True, True),
])
def test_null_checks_whether_the_key_is_there(value, present, expected):
    context = {"k": "v"} if present else {}
    assert holds({"Null": {"k": value}}, **context) is expected


def test_null_treats_an_empty_multivalued_key_as_absent():
    assert holds({"Null": {"aws:TagKeys": "true"}}, aws__TagKeys=[])


# -- set qualifiers on multivalued keys ----------------------------------------------------------


@pytest.mark.parametrize("operator, policy_values, request_values, expected", [
    # ForAnyValue: at least one request value matches at least one policy value
    ("ForAnyValue:StringEquals", ["a", "b"], ["x", "b"], True),
    ("ForAnyValue:StringEquals", ["a", "b"], ["x", "y"], False),
    ("ForAnyValue:StringLike", "key1*", ["key2:x", "key1:y"], True),
    ("ForAnyValue:StringNotEquals", ["a"], ["a", "b"], True),  # b equals none of the policy values
    ("ForAnyValue:StringNotEquals", ["a", "b"], ["a", "b"], False),
    # ForAllValues: every request value matches at least one policy value (the request set is a subset)
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "c"], False),
    ("ForAllValues:StringLike", "Created*", ["CreatedBy", "CreatedAt"], True),
    # ForAllValues with a negated operator: every request value matches none (the IAM guide's TagKeys table)
    ("ForAllValues:StringNotLike", "key1*", ["key1:legal"], False),
    ("ForAllValues:StringNotLike", "key1*", ["key1:hr", "key1:personnel"], False),
    ("ForAllValues:StringNotLike", "key1*", ["key2:audit"], True),
    ("ForAllValues:StringNotLike", "key1*", [], True),
    ("ForAnyValue:StringEquals", "a", [], False),
])
def test_set_qualifiers(operator, policy_values, request_values, expected):
    assert holds({operator: {"aws:TagKeys": policy_values}}, aws__TagKeys=request_values) is expected


def test_a_set_qualifier_on_a_single_valued_key_treats_it_as_a_set_of_one():
    assert holds({"ForAnyValue:StringEquals": {"k": ["a", "b"]}}, k="a")
    assert not holds({"ForAllValues:StringEquals": {"k": "a"}}, k="b")


def test_a_multivalued_key_without_a_set_qualifier_is_refused_as_iam_requires_one():
    with pytest.raises(PolicyEvaluationError, match="ForAnyValue: or ForAllValues:"):
        holds({"StringEquals": {"aws:TagKeys": "a"}}, aws__TagKeys=["a"])


# -- what the evaluator refuses rather than guess --------------------------------------------------


@pytest.mark.parametrize("document, message", [
    (policy(statement(condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})), "not implemented"),
    (policy(statement(condition={"ForSomeValues:StringEquals": {"k": "v"}})), "set qualifier"),
    (policy(statement(condition={"NullIfExists": {"k": "true"}})), "Null takes"),
    (policy(statement(condition={"Null": {"k": "maybe"}})), "Null takes true or false"),
    (policy(statement(condition={"StringEquals": {"k": "${aws:username}"}})), "policy variables"),
    (policy(statement(condition={"StringEquals": {"k": {"nested": 1}}})), "strings"),
    (policy(statement(condition={"StringEquals": "k"})), "must map"),
    (policy(statement(Resource="*")), "Resource"),
    (policy(statement(effect="allow")), "Effect"),
    (policy({"Effect": "Allow", "Action": "sts:*"}), "Principal"),
    (policy({"Effect": "Allow", "Principal": "*"}), "Action"),
    (policy(statement(action=["sts:*", 3])), "actions are strings"),
    (policy(statement(principal=["x"])), "Principal"),
    ({"Version": "2012-10-17"}, "no Statement"),
    ("{not json", "not valid JSON"),
])
def test_what_it_does_not_implement_or_cannot_read_is_an_error_not_a_guess(document, message):
    with pytest.raises(PolicyEvaluationError, match=message):
        decide(document)


def test_context_keys_given_twice_in_different_case_are_refused():
    with pytest.raises(PolicyEvaluationError, match="different case"):
        holds({"StringEquals": {"k": "v"}}, k="v", K="w")


# -- helpers -------------------------------------------------------------------------------------


def test_web_identity_context_uses_the_issuer_host_path_as_key_prefix():
    assert web_identity_context(ISSUER + "/", SUB, amr=None, azp="x") == {
        f"{HOST}:sub": SUB, f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:azp": "x"}
    assert provider_arn("aws", ACCOUNT, ISSUER) == PROVIDER


# -- the IRSA cases, on policies built by trust_policy.py ------------------------------------------


def irsa_policy(*service_accounts, issuer=ISSUER, allow_wildcard=False, extra_issuers=()):
    """The trust policy trust_policy.py builds for ``service_accounts`` of ``issuer`` (plus other issuers' entries)."""
    entries = [{"issuer": issuer, "service_accounts": list(service_accounts)}] + list(extra_issuers)
    trusted = tp.parse_trust(entries, "aws", ACCOUNT, allow_wildcard=allow_wildcard)
    return tp.policy_document(tp.build_statements(trusted))


def test_irsa_policy_allows_exactly_the_intended_service_account():
    document = irsa_policy("ns:sa")
    assert evaluate_web_identity(document, ACCOUNT, ISSUER, "system:serviceaccount:ns:sa") == ALLOW


@pytest.mark.parametrize("case, sub, aud", [
    ("another service account in the same namespace", "system:serviceaccount:ns:other", "sts.amazonaws.com"),
    ("the same name in another namespace", "system:serviceaccount:other:sa", "sts.amazonaws.com"),
    ("a namespace that only starts the same", "system:serviceaccount:ns2:sa", "sts.amazonaws.com"),
    ("another audience", "system:serviceaccount:ns:sa", "https://kubernetes.default.svc"),
    ("no audience claim", "system:serviceaccount:ns:sa", None),
    ("no subject claim", None, "sts.amazonaws.com"),
    ("a subject in other case", "system:serviceaccount:NS:SA", "sts.amazonaws.com"),
])
def test_irsa_policy_denies_every_other_token_of_the_same_issuer(case, sub, aud):
    assert evaluate_web_identity(irsa_policy("ns:sa"), ACCOUNT, ISSUER, sub, aud) == NOT_APPLICABLE, case


def test_irsa_policy_denies_a_token_from_another_issuer():
    # IAM resolves that token to the other issuer's provider, and its claims carry the other issuer's keys.
    assert evaluate_web_identity(irsa_policy("ns:sa"), ACCOUNT, OTHER_ISSUER, "system:serviceaccount:ns:sa") == NOT_APPLICABLE


def test_irsa_policy_denies_the_right_claims_through_another_provider_principal():
    context = web_identity_context(ISSUER, "system:serviceaccount:ns:sa")
    for principal in (provider_arn("aws", ACCOUNT, OTHER_ISSUER), provider_arn("aws", "999999999999", ISSUER)):
        assert evaluate_trust(irsa_policy("ns:sa"), principal, WEB_IDENTITY_ACTION, context) == NOT_APPLICABLE


def test_irsa_policy_allows_only_web_identity():
    context = web_identity_context(ISSUER, "system:serviceaccount:ns:sa")
    assert evaluate_trust(irsa_policy("ns:sa"), PROVIDER, "sts:AssumeRole", context) == NOT_APPLICABLE


def test_irsa_policy_with_several_issuers_keeps_each_issuers_service_accounts_apart():
    document = irsa_policy("ns:sa", extra_issuers=[{"issuer": OTHER_ISSUER, "service_accounts": ["other:runner"]}])
    assert evaluate_web_identity(document, ACCOUNT, ISSUER, "system:serviceaccount:ns:sa") == ALLOW
    assert evaluate_web_identity(document, ACCOUNT, OTHER_ISSUER, "system:serviceaccount:other:runner") == ALLOW
    assert evaluate_web_identity(document, ACCOUNT, ISSUER, "system:serviceaccount:other:runner") == NOT_APPLICABLE
    assert evaluate_web_identity(document, ACCOUNT, OTHER_ISSUER, "system:serviceaccount:ns:sa") == NOT_APPLICABLE


def test_irsa_policy_with_several_service_accounts_allows_each_and_no_other():
    document = irsa_policy("ns:a", "ns:b", "tools:c")
    for sub in ("ns:a", "ns:b", "tools:c"):
        assert evaluate_web_identity(document, ACCOUNT, ISSUER, "system:serviceaccount:" + sub) == ALLOW
    for sub in ("ns:c", "tools:a", "ns:ab"):
        assert evaluate_web_identity(document, ACCOUNT, ISSUER, "system:serviceaccount:" + sub) == NOT_APPLICABLE


def test_irsa_wildcard_needs_opt_in():
    with pytest.raises(tp.TrustPolicyError, match="allow_wildcard_subjects"):
        irsa_policy("ns:*")


@pytest.mark.parametrize("sub, expected", [
    ("system:serviceaccount:ns:sa", ALLOW),
    ("system:serviceaccount:ns:anything-else", ALLOW),
    ("system:serviceaccount:other:sa", NOT_APPLICABLE),
    ("system:serviceaccount:ns2:sa", NOT_APPLICABLE),
    ("system:serviceaccount:xns:sa", NOT_APPLICABLE),
    ("system:node:ns:sa", NOT_APPLICABLE),
])
def test_irsa_wildcard_with_opt_in_allows_any_service_account_of_the_namespace_only(sub, expected):
    document = irsa_policy("ns:*", allow_wildcard=True)
    assert evaluate_web_identity(document, ACCOUNT, ISSUER, sub) == expected
    assert evaluate_web_identity(document, ACCOUNT, ISSUER, sub, aud="other") == NOT_APPLICABLE  # aud stays exact


def test_irsa_wildcard_beside_exact_names_keeps_the_exact_names_exact():
    document = irsa_policy("ns:*", "tools:runner", allow_wildcard=True)
    assert evaluate_web_identity(document, ACCOUNT, ISSUER, "system:serviceaccount:tools:runner") == ALLOW
    assert evaluate_web_identity(document, ACCOUNT, ISSUER, "system:serviceaccount:tools:other") == NOT_APPLICABLE


# -- sts:AssumeRole by a role (the hub topology), and permission policies -----------------------------------------

HUB_ROLE = "arn:aws:iam::111111111111:role/agents/torque-hub"
PINNED = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole",
    "Condition": {"ArnEquals": {"aws:PrincipalArn": HUB_ROLE}, "StringEquals": {"sts:ExternalId": "hub-2026"}}}]}


def test_a_role_pinned_by_principal_arn_lets_only_that_role_in_and_only_with_the_external_id():
    assert te.evaluate_assume_role(PINNED, HUB_ROLE, "hub-2026") == te.ALLOW
    assert te.evaluate_assume_role(PINNED, HUB_ROLE) == te.NOT_APPLICABLE  # no external ID given
    assert te.evaluate_assume_role(PINNED, HUB_ROLE, "other") == te.NOT_APPLICABLE
    assert te.evaluate_assume_role(PINNED, "arn:aws:iam::111111111111:role/agents/other", "hub-2026") == te.NOT_APPLICABLE
    assert te.evaluate_assume_role(PINNED, "arn:aws:iam::999999999999:role/agents/torque-hub", "hub-2026") == te.NOT_APPLICABLE


@pytest.mark.parametrize("principal, caller, decision", [
    ({"AWS": "111111111111"}, HUB_ROLE, te.ALLOW),  # the account's ID, as IAM also writes it
    ({"AWS": HUB_ROLE}, HUB_ROLE, te.ALLOW),
    ({"AWS": ["arn:aws:iam::222222222222:root"]}, HUB_ROLE, te.NOT_APPLICABLE),
    ({"Federated": "arn:aws:iam::111111111111:oidc-provider/x"}, HUB_ROLE, te.NOT_APPLICABLE),
    ("*", HUB_ROLE, te.ALLOW),
])
def test_an_aws_principal_matches_the_role_its_account_or_everyone(principal, caller, decision):
    policy = {"Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]}
    assert te.evaluate_assume_role(policy, caller) == decision


@pytest.mark.parametrize("operator, pattern, decision", [
    ("ArnLike", "arn:aws:iam::111111111111:role/agents/*", te.ALLOW),
    ("ArnLike", "arn:aws:iam::*:role/agents/torque-hub", te.ALLOW),
    ("ArnEquals", "arn:aws:iam::111111111111:role/*", te.ALLOW),  # a * in the resource part spans its slashes
    ("ArnLike", "arn:aws:iam::1111111111*:role/agents/torque-hub", te.ALLOW),
    ("ArnLike", "arn:aws:*", te.NOT_APPLICABLE),  # not six parts: a * does not span the colons
    ("ArnNotEquals", HUB_ROLE, te.NOT_APPLICABLE),
    ("ArnNotLike", "arn:aws:iam::111111111111:role/other", te.ALLOW),
])
def test_arn_operators_match_each_part_of_the_arn(operator, pattern, decision):
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "sts:AssumeRole",
                             "Condition": {operator: {"aws:PrincipalArn": pattern}}}]}
    assert te.evaluate_assume_role(policy, HUB_ROLE) == decision


def test_a_permission_policy_allows_an_action_on_matching_resources_and_a_deny_wins():
    allow = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ["arn:aws:iam::*:role/ro/torque-reader"]}]}
    assert te.evaluate_permission([allow], "sts:AssumeRole", "arn:aws:iam::222222222222:role/ro/torque-reader") == te.ALLOW
    assert te.evaluate_permission([allow], "sts:AssumeRole", "arn:aws:iam::222222222222:role/torque-reader") == te.NOT_APPLICABLE
    assert te.evaluate_permission([allow], "sts:TagSession", "arn:aws:iam::222222222222:role/ro/torque-reader") == te.NOT_APPLICABLE
    deny = {"Statement": {"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:iam::333333333333:*"}}
    assert te.evaluate_permission([allow, deny], "sts:AssumeRole", "arn:aws:iam::222222222222:role/ro/torque-reader") == te.DENY
    everything = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    assert te.evaluate_permission([json.dumps(everything)], "sts:AssumeRole", "arn:aws:iam::2:role/x") == te.ALLOW
    with pytest.raises(te.PolicyEvaluationError, match="cannot be evaluated here"):
        te.evaluate_permission([{"Statement": [dict(allow["Statement"][0], Condition={"Bool": {"aws:SecureTransport": "true"}})]}],
                               "sts:AssumeRole", "arn:aws:iam::2:role/ro/torque-reader")
