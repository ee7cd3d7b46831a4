# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The pure trust-policy code: subjects, statements, merge by Sid, comparison, size, option checks.

moto neither evaluates trust policies nor limits their size, so what the policies mean is proven here.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils import trust_policy as tp
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import DesiredTrust
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import ServiceAccount
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustPolicyError

ACCOUNT = "222222222222"
HOST = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
OTHER_HOST = "oidc.eks.us-west-2.amazonaws.com/id/OTHER0123456789"
ISSUER = "https://" + HOST
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
OTHER_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OTHER_HOST}"
RUNNER = "system:serviceaccount:torque-agents:runner"


def trusted(entries, allow_wildcard=False):
    return tp.parse_trust(entries, "aws", ACCOUNT, allow_wildcard)


def document(entries, exclusive=True, current=None, limit=tp.DEFAULT_SIZE_LIMIT, allow_wildcard=False):
    return DesiredTrust(trusted(entries, allow_wildcard), "sts.amazonaws.com", exclusive, limit).document(current)


def options(**overrides):
    """Module options as AnsibleModule hands them over, valid unless overridden."""
    params = dict(
        name="runner", state="present", path="/", description=None,
        trust=[{"issuer": ISSUER, "provider_arn": None, "service_accounts": ["torque-agents:runner"]}],
        audience="sts.amazonaws.com", allow_wildcard_subjects=False, trust_policy_mode="exclusive",
        trust_policy_size_limit=2048, managed_policies=None, purge_managed_policies=True, managed_policy_quota=10, inline_policies=None,
        purge_inline_policies=True, permissions_boundary=None, max_session_duration=None, account_id=None,
        tags=None, purge_tags=True,
    )
    params.update(overrides)
    return params


# -- service accounts ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["torque-agents:runner", " torque-agents : runner ", {"namespace": "torque-agents", "name": "runner"}])
def test_service_account_spellings(value):
    assert tp.parse_service_account(value) == ServiceAccount("torque-agents", "runner")


def test_service_account_name_may_be_a_dotted_subdomain():
    assert tp.parse_service_account("ci:runner.v2").name == "runner.v2"


@pytest.mark.parametrize("value, message", [
    ("runner", "'runner' is not a service account: write it as 'namespace:name'"),
    ("a:b:c", "'a:b:c' is not a service account"),
    ({"namespace": "a", "name": "b", "kind": "x"}, "unknown key(s) kind"),
    ({"name": "b"}, "the namespace is empty"),
    (":runner", "the namespace is empty"),
    (42, "expected 'namespace:name' or {namespace: ..., name: ...}, got int"),
    ("Agents:runner", "the namespace 'Agents' is not a valid Kubernetes name: it must be a DNS-1123 label"),
    ("agents.v2:runner", "the namespace 'agents.v2' is not a valid Kubernetes name"),
    ("agents:-runner", "the service account name '-runner' is not a valid Kubernetes name: it must be a DNS-1123 subdomain"),
    ("agents:run_ner", "the service account name 'run_ner' is not a valid Kubernetes name"),
    ("a" * 64 + ":runner", "is 64 characters; Kubernetes allows at most 63"),
    ("agents:" + "r" * 254, "is 254 characters; Kubernetes allows at most 253"),
])
def test_bad_service_accounts_are_named(value, message):
    with pytest.raises(TrustPolicyError) as error:
        tp.parse_service_account(value, field="trust[0].service_accounts[3]")
    assert str(error.value).startswith("trust[0].service_accounts[3]: ")
    assert message in str(error.value)


def test_wildcards_need_the_opt_in():
    with pytest.raises(TrustPolicyError, match=r"contains the wildcard '\*'.*allow_wildcard_subjects=true"):
        tp.parse_service_account("agents:*")
    with pytest.raises(TrustPolicyError, match=r"the namespace 'env-\?' contains the wildcard '\?'"):
        tp.parse_service_account("env-?:runner")
    assert tp.parse_service_account("agents:*", allow_wildcard=True) == ServiceAccount("agents", "*")
    assert tp.parse_service_account("env-*:runner-?", allow_wildcard=True) == ServiceAccount("env-*", "runner-?")


def test_a_wildcard_does_not_excuse_invalid_characters():
    with pytest.raises(TrustPolicyError, match="the service account name 'Run\\*' is not a valid Kubernetes name"):
        tp.parse_service_account("agents:Run*", allow_wildcard=True)


# -- trust entries ------------------------------------------------------------------------------


def test_issuer_spellings_and_provider_arn_merge_into_one_issuer():
    result = trusted([
        {"issuer": ISSUER + "/", "service_accounts": ["torque-agents:runner", "b:x"]},
        {"issuer": HOST, "service_accounts": [{"namespace": "a", "name": "y"}, "torque-agents:runner"]},
        {"provider_arn": PROVIDER, "service_accounts": ["b:x"]},
    ])
    assert result == [tp.TrustedIssuer(HOST, PROVIDER, (ServiceAccount("a", "y"), ServiceAccount("b", "x"),
                                                        ServiceAccount("torque-agents", "runner")))]


def test_issuers_are_sorted_and_principals_are_in_the_roles_account():
    result = trusted([{"issuer": "https://" + OTHER_HOST, "service_accounts": ["a:b"]}, {"issuer": ISSUER, "service_accounts": ["a:b"]}])
    assert [(t.host_path, t.provider_arn) for t in result] == [(HOST, PROVIDER), (OTHER_HOST, OTHER_PROVIDER)]


def test_provider_of_another_account_is_refused_with_the_reason():
    foreign = f"arn:aws:iam::111111111111:oidc-provider/{HOST}"
    with pytest.raises(TrustPolicyError) as error:
        trusted([{"issuer": ISSUER, "service_accounts": ["a:b"]}, {"provider_arn": foreign, "service_accounts": ["a:b"]}])
    message = str(error.value)
    assert message.startswith(f"trust[1].provider_arn {foreign!r} is in account 111111111111 (aws), but the role is in account {ACCOUNT}")
    assert "IAM only honours an OIDC provider in the same account as the role" in message


def test_provider_of_another_partition_is_refused():
    with pytest.raises(TrustPolicyError, match="is in account 222222222222 \\(aws-cn\\)"):
        trusted([{"provider_arn": f"arn:aws-cn:iam::{ACCOUNT}:oidc-provider/{HOST}", "service_accounts": ["a:b"]}])


def test_without_the_account_entries_are_checked_but_no_arn_is_derived():
    assert tp.parse_trust([{"issuer": ISSUER, "service_accounts": ["a:b"]}], None, None)[0].provider_arn is None
    foreign = f"arn:aws:iam::111111111111:oidc-provider/{HOST}"
    assert tp.parse_trust([{"provider_arn": foreign, "service_accounts": ["a:b"]}], None, None)[0].host_path == HOST
    with pytest.raises(TrustPolicyError, match="is in account 111111111111"):
        tp.parse_trust([{"provider_arn": foreign, "service_accounts": ["a:b"]}], None, ACCOUNT)


@pytest.mark.parametrize("entries, message", [
    ([], "trust is empty"),
    ([{"issuer": ISSUER, "service_accounts": []}], "trust[0].service_accounts is empty"),
    ([{"service_accounts": ["a:b"]}], "trust[0]: give the cluster's issuer URL as 'issuer'"),
    ([{"issuer": "http://" + HOST, "service_accounts": ["a:b"]}], "trust[0].issuer 'http://"),
    ([{"provider_arn": "arn:aws:iam::222222222222:role/x", "service_accounts": ["a:b"]}], "trust[0].provider_arn 'arn:aws:iam::222222222222:role/x' is not"),
    ([{"issuer": ISSUER, "service_accounts": ["a:b", "nope"]}], "trust[0].service_accounts[1]: 'nope' is not a service account"),
])
def test_bad_trust_entries_name_the_entry(entries, message):
    with pytest.raises(TrustPolicyError) as error:
        trusted(entries)
    assert str(error.value).startswith(message)


# -- statements ---------------------------------------------------------------------------------


def test_statement_for_one_service_account():
    assert document([{"issuer": ISSUER, "service_accounts": ["torque-agents:runner"]}]) == {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": tp.statement_sid(HOST),
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": RUNNER}},
        }],
    }


def test_document_is_the_same_whatever_the_input_order():
    first = document([{"issuer": ISSUER, "service_accounts": ["b:x", "a:y"]}, {"issuer": "https://" + OTHER_HOST, "service_accounts": ["c:z"]}])
    second = document([{"issuer": OTHER_HOST + "/", "service_accounts": ["c:z"]}, {"provider_arn": PROVIDER, "service_accounts": ["a:y", "b:x", "a:y"]}])
    assert json.dumps(first) == json.dumps(second)
    assert first["Statement"][0]["Condition"]["StringEquals"][f"{HOST}:sub"] == ["system:serviceaccount:a:y", "system:serviceaccount:b:x"]


def test_sid_is_stable_alphanumeric_and_per_issuer():
    sid = tp.statement_sid(HOST)
    assert sid == tp.statement_sid(HOST) and sid.startswith("IrsaOidc") and sid.isalnum()
    assert sid != tp.statement_sid(OTHER_HOST)


def test_wildcard_moves_sub_alone_to_string_like():
    statement = document([{"issuer": ISSUER, "service_accounts": ["agents:*", "torque-agents:runner"]}], allow_wildcard=True)["Statement"][0]
    assert statement["Condition"] == {
        "StringEquals": {f"{HOST}:aud": "sts.amazonaws.com"},
        # Conditions are ANDed: exact names join the patterns under StringLike, where they match themselves.
        "StringLike": {f"{HOST}:sub": ["system:serviceaccount:agents:*", RUNNER]},
    }


def test_audience_is_always_string_equals():
    statement = DesiredTrust(trusted([{"issuer": ISSUER, "service_accounts": ["a:*"]}], True), "my-audience", True, 2048).statements()[0]
    assert statement["Condition"]["StringEquals"] == {f"{HOST}:aud": "my-audience"}
    assert "aud" not in json.dumps(statement["Condition"]["StringLike"])


# -- merge and compare --------------------------------------------------------------------------

FOREIGN = {"Sid": "CiDeployer", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "sts:AssumeRole"}


def test_exclusive_mode_drops_foreign_statements():
    current = {"Version": "2012-10-17", "Statement": [FOREIGN]}
    assert document([{"issuer": ISSUER, "service_accounts": ["a:b"]}], current=current)["Statement"][0]["Sid"] == tp.statement_sid(HOST)
    assert len(document([{"issuer": ISSUER, "service_accounts": ["a:b"]}], current=current)["Statement"]) == 1


def shared(entries, current=None):
    return document(entries, exclusive=False, current=current)


def test_shared_mode_replaces_ours_in_place_keeps_foreign_and_appends_new():
    old_ours = shared([{"issuer": ISSUER, "service_accounts": ["c:d", "a:b"]}])["Statement"][0]
    stale_ours = shared([{"issuer": "https://oidc.example.com/gone", "service_accounts": ["a:b"]}])["Statement"][0]
    current = {"Version": "2012-10-17", "Statement": [old_ours, FOREIGN, stale_ours]}
    merged = shared([{"issuer": ISSUER, "service_accounts": ["a:b", "c:d"]}, {"issuer": OTHER_HOST, "service_accounts": ["e:f"]}],
                    current=json.dumps(current))
    sids = [statement["Sid"] for statement in merged["Statement"]]
    assert sids == [old_ours["Sid"], "CiDeployer", stale_ours["Sid"], shared([{"issuer": OTHER_HOST, "service_accounts": ["e:f"]}])["Statement"][0]["Sid"]]
    assert merged["Statement"][:3] == current["Statement"]  # the same subjects, in any order: the same statement
    assert merged["Statement"][0]["Condition"]["StringEquals"][f"{HOST}:sub"] == ["system:serviceaccount:a:b", "system:serviceaccount:c:d"]


def test_shared_statements_are_identified_by_issuer_audience_and_subjects():
    sid = tp.statement_sid(HOST, ["system:serviceaccount:a:b"], "sts.amazonaws.com")
    assert sid.startswith("IrsaOidc") and sid.isalnum() and sid != tp.statement_sid(HOST)
    assert sid == tp.statement_sid(HOST, ["system:serviceaccount:a:b"])  # the default audience
    assert sid != tp.statement_sid(HOST, ["system:serviceaccount:a:c"], "sts.amazonaws.com")
    assert sid != tp.statement_sid(HOST, ["system:serviceaccount:a:b"], "other")
    assert sid != tp.statement_sid(OTHER_HOST, ["system:serviceaccount:a:b"], "sts.amazonaws.com")
    assert tp.statement_sid(HOST, ["x", "y"]) == tp.statement_sid(HOST, ["y", "x"])


def test_two_shared_writers_on_one_issuer_both_keep_their_statement():
    first = shared([{"issuer": ISSUER, "service_accounts": ["team-a:runner"]}])
    both = shared([{"issuer": ISSUER, "service_accounts": ["team-b:runner"]}], current=first)
    assert [s["Condition"]["StringEquals"][f"{HOST}:sub"] for s in both["Statement"]] == \
        ["system:serviceaccount:team-a:runner", "system:serviceaccount:team-b:runner"]
    assert shared([{"issuer": ISSUER, "service_accounts": ["team-a:runner"]}], current=both) == both  # a re-run changes nothing


def test_a_shared_writer_removes_only_its_own_statement():
    a = DesiredTrust(trusted([{"issuer": ISSUER, "service_accounts": ["team-a:runner"]}]), "sts.amazonaws.com", False, 2048)
    b = DesiredTrust(trusted([{"issuer": ISSUER, "service_accounts": ["team-b:runner"]}]), "sts.amazonaws.com", False, 2048)
    both = b.document(a.document({"Version": "2012-10-17", "Statement": [FOREIGN]}))
    left, removed = a.without_ours(json.dumps(both))
    assert removed == 1 and left == {"Version": "2012-10-17", "Statement": [FOREIGN] + b.statements()}
    assert a.without_ours(left) == (left, 0)


def test_shared_mode_accepts_a_single_statement_object_and_no_policy():
    merged = tp.merge_statements({"Version": "2012-10-17", "Statement": FOREIGN}, [], exclusive=False)
    assert merged["Statement"] == [FOREIGN]
    assert tp.merge_statements(None, [FOREIGN], exclusive=False) == {"Version": "2012-10-17", "Statement": [FOREIGN]}


def test_a_rerun_compares_equal_even_when_iam_reorders():
    built = document([{"issuer": ISSUER, "service_accounts": ["a:b", "c:d"]}, {"issuer": OTHER_HOST, "service_accounts": ["e:f"]}])
    reordered = json.loads(json.dumps(built))
    reordered["Statement"].reverse()
    reordered["Statement"][1]["Condition"]["StringEquals"][f"{HOST}:sub"].reverse()
    assert not tp.policies_differ(reordered, built)
    assert not tp.policies_differ(urllib.parse.quote(json.dumps(reordered)), built)
    assert tp.policies_differ(built, document([{"issuer": ISSUER, "service_accounts": ["a:b"]}, {"issuer": OTHER_HOST, "service_accounts": ["e:f"]}]))
    assert tp.policies_differ(None, built) and not tp.policies_differ(None, None)


def test_shared_mode_rerun_is_no_change():
    first = document([{"issuer": ISSUER, "service_accounts": ["a:b"]}], exclusive=False, current={"Version": "2012-10-17", "Statement": [FOREIGN]})
    second = document([{"issuer": ISSUER, "service_accounts": ["a:b"]}], exclusive=False, current=first)
    assert second == first


# -- size ---------------------------------------------------------------------------------------


def many(count, prefix="env"):
    return [f"{prefix}-{index:03d}:runner-with-a-long-name" for index in range(count)]


def test_size_is_counted_without_whitespace():
    built = document([{"issuer": ISSUER, "service_accounts": ["a:b"]}])
    assert tp.policy_size(built) == len(json.dumps(built, indent=4).replace(" ", "").replace("\n", ""))


def test_over_the_limit_says_how_big_and_what_grew_it():
    with pytest.raises(TrustPolicyError) as error:
        document([{"issuer": ISSUER, "service_accounts": many(40)}, {"issuer": OTHER_HOST, "service_accounts": ["a:b"]}])
    message = str(error.value)
    size = tp.policy_size(DesiredTrust(trusted([{"issuer": ISSUER, "service_accounts": many(40)},
                                                {"issuer": OTHER_HOST, "service_accounts": ["a:b"]}]), "sts.amazonaws.com", True, 4096).document())
    assert message.startswith(f"the trust policy would be {size} characters (without whitespace, as IAM counts them), over the limit of 2048")
    assert message.index(f"issuer {HOST} with 40 service account(s)") < message.index(f"issuer {OTHER_HOST} with 1 service account(s)")
    assert "longest: env-000:runner-with-a-long-name" in message
    assert "raise trust_policy_size_limit up to 4096" in message


def test_the_limit_can_be_raised_to_4096_and_then_no_raise_is_suggested():
    assert tp.policy_size(document([{"issuer": ISSUER, "service_accounts": many(40)}], limit=4096)) > 2048
    with pytest.raises(TrustPolicyError) as error:
        document([{"issuer": ISSUER, "service_accounts": many(90)}], limit=4096)
    assert "over the limit of 4096" in str(error.value) and "raise trust_policy_size_limit" not in str(error.value)


def test_shared_mode_counts_foreign_statements_too():
    big_foreign = dict(FOREIGN, Sid="Big", Condition={"StringEquals": {"aws:PrincipalTag/team": ["x" * 100] * 19}})
    with pytest.raises(TrustPolicyError, match="a statement not managed here \\(Sid 'Big'\\)"):
        document([{"issuer": ISSUER, "service_accounts": ["a:b"]}], exclusive=False, current={"Statement": [big_foreign]})


# -- reading trust policies ---------------------------------------------------------------------


def test_federated_principals_from_every_form_iam_returns():
    built = document([{"issuer": ISSUER, "service_accounts": ["a:b"]}, {"issuer": OTHER_HOST, "service_accounts": ["a:b"]}])
    expected = {PROVIDER, OTHER_PROVIDER}
    assert tp.federated_principals(built) == expected
    assert tp.federated_principals(json.dumps(built)) == expected
    assert tp.federated_principals(urllib.parse.quote(json.dumps(built))) == expected


def test_federated_principals_ignores_other_principals_and_reads_lists():
    policy = {"Statement": [FOREIGN, {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
                            {"Effect": "Deny", "Principal": {"Federated": [PROVIDER, "cognito-identity.amazonaws.com"]}, "Action": "*"}]}
    assert tp.federated_principals(policy) == {PROVIDER, "cognito-identity.amazonaws.com"}
    assert tp.federated_principals({"Statement": {"Principal": {"Federated": PROVIDER}}}) == {PROVIDER}
    assert tp.federated_principals(None) == set()


# -- permission policies and options ------------------------------------------------------------

STATE_BUCKET = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def test_inline_policies_accept_mappings_and_json_text():
    assert tp.parse_inline_policies({"a": STATE_BUCKET, "b": json.dumps(STATE_BUCKET)}) == {"a": STATE_BUCKET, "b": STATE_BUCKET}


@pytest.mark.parametrize("policies, message", [
    ({"broken": "{not json"}, "inline_policies['broken']: not valid JSON"),
    ({"list": "[1, 2]"}, "inline_policies['list']: a policy document must be a JSON object, got list"),
    ({"empty": ""}, "inline_policies['empty']: the policy document is empty"),
    ({"none": None}, "inline_policies['none']: the policy document is missing"),
    ({"no-statement": {"Version": "2012-10-17"}}, "inline_policies['no-statement']: a policy document needs a 'Statement'"),
    ({"bad name!": STATE_BUCKET}, "inline_policies: the policy name 'bad name!' is not valid"),
])
def test_bad_inline_policies_name_the_policy(policies, message):
    with pytest.raises(TrustPolicyError) as error:
        tp.parse_inline_policies(policies)
    assert str(error.value).startswith(message)


def test_options_are_normalised():
    checked = tp.check_role_options(options(account_id="012345678901", tags={"cost": 42}, inline_policies={"a": json.dumps(STATE_BUCKET)},
                                            managed_policies=["arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"],
                                            permissions_boundary="arn:aws:iam::222222222222:policy/boundary"))
    assert checked["account_id"] == "012345678901"
    assert checked["tags"] == {"cost": "42"}
    assert checked["inline_policies"] == {"a": STATE_BUCKET}
    assert tp.check_role_options(options(permissions_boundary=""))["permissions_boundary"] == ""


@pytest.mark.parametrize("overrides, message", [
    ({"name": ""}, "name '' is not a valid IAM role name: use 1 to 64 characters (this one has 0)"),
    ({"name": "x" * 65}, "name '" + "x" * 65 + "' is not a valid IAM role name: use 1 to 64 characters (this one has 65)"),
    ({"name": "röle"}, "name 'röle' is not a valid IAM role name"),
    ({"path": "/no-trailing-slash"}, "path '/no-trailing-slash': role path must begin and end with /"),
    ({"max_session_duration": 43201}, "max_session_duration 43201 is out of range: IAM accepts 3600 to 43200 seconds"),
    ({"trust_policy_size_limit": 0}, "trust_policy_size_limit 0 is out of range"),
    ({"audience": " "}, "audience is empty"),
    ({"account_id": "12345"}, "account_id '12345' is not an AWS account ID"),
    ({"managed_policies": ["arn:aws:iam::aws:role/x"]}, "managed_policies[0] 'arn:aws:iam::aws:role/x' is not an IAM policy ARN"),
    ({"permissions_boundary": "boundary"}, "permissions_boundary 'boundary' is not an IAM policy ARN"),
    ({"inline_policies": {"p": "nope"}}, "inline_policies['p']: not valid JSON"),
    ({"trust": [{"issuer": ISSUER, "provider_arn": None, "service_accounts": many(40)}]}, "the trust policy would be"),
])
def test_bad_options_are_named_before_any_call(overrides, message):
    with pytest.raises(TrustPolicyError) as error:
        tp.check_role_options(options(**overrides))
    assert str(error.value).startswith(message)


def test_absent_checks_only_the_name():
    assert tp.check_role_options(options(state="absent", trust=None, max_session_duration=1))["name"] == "runner"
    with pytest.raises(TrustPolicyError):
        tp.check_role_options(options(state="absent", name="bad/name"))


def test_desired_trust_follows_the_options():
    desired = tp.desired_trust(options(trust_policy_mode="shared", audience="aud-x"), "aws", ACCOUNT)
    assert desired.exclusive is False and desired.audience == "aud-x"
    assert desired.trusted_issuers[0].provider_arn == PROVIDER


# -- trusting a role (the hub topology's spokes) ---------------------------------------------------------------

HUB = "arn:aws:iam::111111111111:role/agents/torque-hub"


def test_a_spoke_trusts_the_hub_account_pinned_to_the_hub_role_and_its_external_id():
    statement = tp.hub_statement(HUB, "hub-2026")
    assert statement == {
        "Sid": statement["Sid"], "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": HUB}, "StringEquals": {"sts:ExternalId": "hub-2026"}}}
    assert statement["Sid"].startswith("IrsaHub") and statement["Sid"].isalnum()
    assert "StringEquals" not in tp.hub_statement(HUB)["Condition"]
    assert tp.hub_statement("arn:aws-cn:iam::111111111111:role/h")["Principal"] == {"AWS": "arn:aws-cn:iam::111111111111:root"}


def test_trusted_role_options_give_a_role_trust_that_replaces_or_shares_the_policy():
    checked = tp.check_role_options(options(trust=None, trusted_role={"arn": HUB, "external_id": None}))
    assert checked["trusted_role"] == {"arn": HUB, "external_id": None}
    desired = tp.desired_trust(checked, "aws", "222222222222")
    assert isinstance(desired, tp.DesiredRoleTrust)
    foreign = {"Sid": "Theirs", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    current = {"Version": "2012-10-17", "Statement": [foreign]}
    assert desired.document(current) == {"Version": "2012-10-17", "Statement": [tp.hub_statement(HUB)]}
    shared = tp.desired_trust(dict(checked, trust_policy_mode="shared"), "aws", "222222222222")
    document = shared.document(current)
    assert document["Statement"] == [foreign, tp.hub_statement(HUB)]
    assert shared.without_ours(document) == (current, 1)


@pytest.mark.parametrize("overrides, message", [
    ({"trusted_role": {"arn": "arn:aws:iam::111111111111:user/hub", "external_id": None}},
     "trusted_role.arn 'arn:aws:iam::111111111111:user/hub' is not an IAM role ARN"),
    ({"trusted_role": {"arn": HUB, "external_id": "x"}}, "trusted_role.external_id \"x\" is not an external ID STS accepts"),
])
def test_bad_trusted_role_options_are_named(overrides, message):
    with pytest.raises(TrustPolicyError) as error:
        tp.check_role_options(options(trust=None, **overrides))
    assert str(error.value).startswith(message), str(error.value)


def test_trust_and_trusted_role_exclude_each_other_and_one_is_needed():
    with pytest.raises(TrustPolicyError, match=r"parameters are mutually exclusive: trust\|trusted_role"):
        tp.validated_role_options({"name": "r", "trust": [{"issuer": ISSUER, "service_accounts": ["a:b"]}], "trusted_role": {"arn": HUB}})
    with pytest.raises(TrustPolicyError, match="any of the following are missing: trust, trusted_role"):
        tp.validated_role_options({"name": "r"})
