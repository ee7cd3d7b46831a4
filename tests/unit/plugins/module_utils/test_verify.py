# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""verify.py: each finding code from a setup broken the way users break it, the clean case, and combinations."""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import normalize_issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils import verify as v
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustedIssuer
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import ServiceAccount
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import build_statements
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import policy_document

ACCOUNT = "222222222222"
OTHER_ACCOUNT = "333333333333"
HOST = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ISSUER = "https://" + HOST
OLD_HOST = "oidc.eks.eu-west-1.amazonaws.com/id/0LD00000000000000000000000000000"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
OLD_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OLD_HOST}"
NS, SA, ROLE = "torque-envs", "torque-runner-dev", "torque-runner"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
SUB = f"system:serviceaccount:{NS}:{SA}"


def trust(sub=SUB, aud="sts.amazonaws.com", principal=PROVIDER, host=HOST, aud_operator="StringEquals",
          sub_operator="StringEquals", action="sts:AssumeRoleWithWebIdentity"):
    condition = {}
    if aud is not None:
        condition.setdefault(aud_operator, {})[f"{host}:aud"] = aud
    if sub is not None:
        condition.setdefault(sub_operator, {})[f"{host}:sub"] = sub
    statement = {"Effect": "Allow", "Principal": {"Federated": principal}, "Action": action}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def role(document=None, arn=ROLE_ARN):
    return {"RoleName": ROLE, "Arn": arn, "Path": "/", "AssumeRolePolicyDocument": document or trust()}


def service_account(role_arn=ROLE_ARN, **annotations):
    if role_arn is not None:
        annotations[v.ROLE_ARN_ANNOTATION] = role_arn
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA, "namespace": NS, "annotations": annotations}}


def pod(name, env_role_arn=ROLE_ARN, sa=SA, phase="Running", owner=None, containers=1):
    env = [{"name": "AWS_ROLE_ARN", "value": env_role_arn}] if env_role_arn else []
    metadata = {"name": name, "namespace": NS}
    if owner:
        metadata["ownerReferences"] = [{"kind": owner[0], "name": owner[1]}]
    return {"metadata": metadata, "status": {"phase": phase},
            "spec": {"serviceAccountName": sa, "containers": [{"name": f"c{i}", "env": env} for i in range(containers)]}}


def run(issuer=ISSUER, providers=None, the_role="default", sa_object="default", pods=None, cluster_issuer=None,
        audience="sts.amazonaws.com", size_limit=2048):
    providers = {PROVIDER: {"url": HOST, "client_ids": ["sts.amazonaws.com"]}} if providers is None else providers
    context = v.make_context(issuer, ACCOUNT, providers, audience=audience, cluster_issuer=cluster_issuer, size_limit=size_limit)
    check = v.make_check(ROLE, NS, SA, role=role() if the_role == "default" else the_role,
                         service_account_object=service_account() if sa_object == "default" else sa_object, pods=pods)
    return v.verify(context, [check])


def codes(findings):
    return [f["code"] for f in findings]


def only(findings, code):
    found = [f for f in findings if f["code"] == code]
    assert len(found) == 1, findings
    return found[0]


def assert_well_formed(findings):
    for finding in findings:
        assert set(finding) == {"account_id", "role_name", "role_arn", "namespace", "service_account", "code", "severity",
                                "message", "pod_error", "fix"}
        assert finding["severity"] in ("error", "warning", "ok")
        assert finding["message"] and "\n" not in finding["message"]
        assert finding["fix"] and "\n" not in finding["fix"]
        assert (finding["account_id"], finding["role_name"], finding["namespace"], finding["service_account"]) == (ACCOUNT, ROLE, NS, SA)


# -- the clean case -----------------------------------------------------------------------------------------------


def test_a_correct_setup_gives_one_ok_finding():
    findings = run(pods=[pod("runner-1")])
    assert_well_formed(findings)
    assert codes(findings) == ["ok"]
    assert findings[0]["severity"] == "ok" and findings[0]["pod_error"] is None
    assert ROLE_ARN in findings[0]["message"] and f"{NS}/{SA}" in findings[0]["message"]


def test_the_policy_the_collection_builds_verifies_clean():
    trusted = TrustedIssuer(HOST, PROVIDER, [ServiceAccount(NS, SA)])
    document = policy_document(build_statements([trusted]))
    assert codes(run(the_role=role(document))) == ["ok"]


def test_a_url_encoded_trust_policy_as_the_iam_api_returns_it_is_decoded():
    from urllib.parse import quote
    assert codes(run(the_role=role(quote(json.dumps(trust()))))) == ["ok"]


def test_without_the_service_account_object_the_kubernetes_checks_are_skipped_and_said_so():
    findings = run(sa_object=v.NOT_READ)
    assert codes(findings) == ["ok"] and "not read" in findings[0]["message"]


def test_several_checks_give_findings_in_order():
    context = v.make_context(ISSUER, ACCOUNT, {PROVIDER: {"client_ids": ["sts.amazonaws.com"]}})
    checks = [v.make_check(ROLE, NS, SA, role=role(), service_account_object=service_account()),
              v.make_check("reader", NS, "reader-sa", role=None, service_account_object=None)]
    findings = v.verify(context, checks)
    assert [(f["role_name"], f["code"]) for f in findings] == [
        (ROLE, "ok"), ("reader", "role-missing"), ("reader", "service-account-missing")]
    assert findings[1]["role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/reader"
    assert v.summarise(findings) == (2, 0)


# -- the issuer ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("issuer, why, advice", [
    (HOST, "https://", ISSUER),
    (ISSUER + "/", "slash", ISSUER),
])
def test_issuer_format(issuer, why, advice):
    finding = only(run(issuer=issuer), "issuer-format")
    assert finding["severity"] == "error" and finding["pod_error"] == "InvalidIdentityToken"
    assert why in finding["message"] and f"use {advice}," in finding["fix"]


@pytest.mark.parametrize("issuer", ["https://oidc.eks.eu-west-1.amazonaws.com/EXAMPLED539D4633E53DE1B71EXAMPLE",
                                    "https://oidc.eks.eu-west-1.amazonaws.com", "oidc.eks.cn-north-1.amazonaws.com.cn/id/"])
def test_an_eks_issuer_without_its_id_is_the_rule_the_rollout_refuses_by(issuer):
    finding = only(run(issuer=issuer), "issuer-format")
    with pytest.raises(IssuerError) as refused:  # the rollout's own check: one rule for both
        normalize_issuer(issuer, "issuer")
    assert finding["message"] == str(refused.value)
    assert "is an EKS issuer without its ID" in finding["message"] and "/id/<issuer ID>" in finding["message"]
    assert "aws eks describe-cluster" in finding["fix"]


def test_an_issuer_that_cannot_be_parsed_stops_the_aws_checks_but_not_the_kubernetes_ones():
    findings = run(issuer="http://" + HOST, sa_object=None)
    assert codes(findings) == ["issuer-format", "service-account-missing"]


def test_issuer_not_the_clusters():
    finding = only(run(cluster_issuer="https://" + OLD_HOST), "issuer-not-cluster")
    assert OLD_HOST in finding["message"] and OLD_HOST in finding["fix"]


def test_the_same_issuer_spelt_differently_is_the_clusters():
    assert codes(run(cluster_issuer=HOST + "/")) == ["ok"]


# -- the provider -------------------------------------------------------------------------------------------------


def test_provider_missing():
    finding = only(run(providers={}), "provider-missing")
    assert finding["pod_error"] == "InvalidIdentityToken" and ACCOUNT in finding["message"]
    assert "torque.eks_irsa.rollout" in finding["fix"] and "create-open-id-connect-provider" in finding["fix"]


def test_provider_for_another_issuer_only():
    finding = only(run(providers={OLD_PROVIDER: None}), "provider-other-issuer")
    assert OLD_HOST in finding["message"] and HOST in finding["message"]


def test_a_provider_in_another_account_does_not_count():
    other = PROVIDER.replace(ACCOUNT, OTHER_ACCOUNT)
    assert "provider-other-issuer" in codes(run(providers={other: None}))


def test_provider_audience_missing():
    finding = only(run(providers={PROVIDER: {"client_ids": ["sts.amazon.com"]}}), "provider-audience-missing")
    assert "add-client-id-to-open-id-connect-provider" in finding["fix"] and PROVIDER in finding["fix"]


def test_a_provider_not_read_in_detail_is_not_judged_on_its_client_ids():
    assert codes(run(providers={PROVIDER: None})) == ["ok"]


# -- the role and its trust policy --------------------------------------------------------------------------------


def test_role_missing():
    finding = only(run(the_role=None), "role-missing")
    assert finding["pod_error"] == "AccessDenied" and finding["role_arn"] == ROLE_ARN


def test_trust_action_missing():
    finding = only(run(the_role=role(trust(action="sts:AssumeRole"))), "trust-action-missing")
    assert finding["pod_error"] == "AccessDenied"


def test_trust_principal_other_account():
    finding = only(run(the_role=role(trust(principal=PROVIDER.replace(ACCOUNT, OTHER_ACCOUNT)))), "trust-principal-other-account")
    assert OTHER_ACCOUNT in finding["message"] and PROVIDER in finding["fix"]


def test_trust_principal_other_issuer():
    finding = only(run(the_role=role(trust(principal=OLD_PROVIDER, host=OLD_HOST))), "trust-principal-other-issuer")
    assert OLD_PROVIDER in finding["message"]


def test_a_non_federated_principal_is_denied_with_the_provider_to_name():
    document = trust()
    document["Statement"][0]["Principal"] = {"Service": "ec2.amazonaws.com"}
    finding = only(run(the_role=role(document)), "trust-denied")
    assert PROVIDER in finding["fix"]


def test_condition_key_with_scheme():
    document = json.loads(json.dumps(trust()).replace(f'"{HOST}:', f'"https://{HOST}:'))
    findings = run(the_role=role(document))
    assert codes(findings) == ["trust-condition-key-scheme"]  # reported once, and nothing else is wrong
    assert f"https://{HOST}:sub" in findings[0]["message"] and f"https://{HOST}:aud" in findings[0]["message"]
    assert findings[0]["fix"] == f"rename the keys to {HOST}:aud, {HOST}:sub, or {v.ROLLOUT}"


def test_condition_key_with_trailing_slash():
    document = json.loads(json.dumps(trust()).replace(f'"{HOST}:', f'"{HOST}/:'))
    finding = only(run(the_role=role(document)), "trust-condition-key-trailing-slash")
    assert finding["pod_error"] == "AccessDenied"


def test_a_repaired_key_is_diagnosed_further():
    document = json.loads(json.dumps(trust(sub=f"system:serviceaccount:other:{SA}")).replace(f'"{HOST}:', f'"https://{HOST}:'))
    assert sorted(codes(run(the_role=role(document)))) == ["trust-condition-key-scheme", "trust-subject-other-namespace"]


def test_condition_keys_of_another_issuer():
    document = trust()
    document["Statement"][0]["Condition"] = trust(host=OLD_HOST)["Statement"][0]["Condition"]
    assert "trust-condition-key-other-issuer" in codes(run(the_role=role(document)))


def test_audience_mismatch():
    finding = only(run(the_role=role(trust(aud="sts.amazon.com"))), "trust-audience-mismatch")
    assert "sts.amazon.com" in finding["message"] and '"sts.amazonaws.com"' in finding["fix"]


def test_audience_under_string_like_that_matches_is_a_warning():
    findings = run(the_role=role(trust(aud_operator="StringLike")))
    assert codes(findings) == ["trust-audience-not-exact"]
    assert findings[0]["severity"] == "warning" and "StringEquals" in findings[0]["fix"]


def test_audience_under_string_like_that_does_not_match_is_a_mismatch():
    assert codes(run(the_role=role(trust(aud="sts.amazon.com", aud_operator="StringLike")))) == ["trust-audience-mismatch"]


def test_audience_unchecked():
    finding = only(run(the_role=role(trust(aud=None))), "trust-audience-unchecked")
    assert finding["severity"] == "warning"


def test_subject_other_namespace():
    finding = only(run(the_role=role(trust(sub=f"system:serviceaccount:default:{SA}"))), "trust-subject-other-namespace")
    assert SUB in finding["fix"]


def test_subject_other_service_account():
    only(run(the_role=role(trust(sub=f"system:serviceaccount:{NS}:someone-else"))), "trust-subject-other-service-account")


def test_subject_mismatch():
    only(run(the_role=role(trust(sub="system:serviceaccount:other:someone-else"))), "trust-subject-mismatch")


@pytest.mark.parametrize("sub, operator, example", [
    (f"system:serviceaccount:{NS}:*", "StringLike", f"system:serviceaccount:{NS}:a"),
    (f"system:serviceaccount:*:{SA}", "StringLike", f"system:serviceaccount:a:{SA}"),
    (f"system:serviceaccount:{NS}:{SA[:-1]}?", "StringLike", f"system:serviceaccount:{NS}:{SA[:-1]}a"),  # one name character
    (f"system:serviceaccount:{NS[:-1]}?:{SA}", "StringLike", f"system:serviceaccount:{NS[:-1]}a:{SA}"),  # one namespace character
    (f"system:serviceaccount:{NS}:{SA}*", "StringLike", f"system:serviceaccount:{NS}:{SA}a"),  # a suffix
    (f"system:serviceaccount:{NS}*", "StringLike", f"system:serviceaccount:{NS}:a"),  # across the separator
    ([SUB, f"system:serviceaccount:{NS}:x*"], "StringLike", f"system:serviceaccount:{NS}:x"),  # one broad value of two
    (None, None, "system:serviceaccount:a:a"),
])
def test_subject_broad(sub, operator, example):
    findings = run(the_role=role(trust(sub=sub, sub_operator=operator or "StringEquals")))
    assert codes(findings) == ["trust-subject-broad"]
    assert findings[0]["severity"] == "warning" and SUB in findings[0]["fix"]
    assert f"for example {example}" in findings[0]["message"]


@pytest.mark.parametrize("sub, operator", [
    ("system:serviceaccoun?:" + f"{NS}:{SA}", "StringLike"),  # the wildcard can only be the prefix's own letter
    (f"*:{NS}:{SA}", "StringLike"),  # a name holds no ':', so the star can only be the prefix
    (SUB, "StringLike"),  # a pattern without a wildcard
    ([SUB, f"system:serviceaccount:{NS}:other", "system:serviceaccount:ci:deployer"], "StringEquals"),  # names, listed
    ([SUB, f"system:serviceaccount:{NS}:x?-Upper"], "StringLike"),  # a pattern that admits no real subject
])
def test_subject_not_broad_when_no_pattern_admits_two_service_accounts(sub, operator):
    assert codes(run(the_role=role(trust(sub=sub, sub_operator=operator)))) == ["ok"]


def test_a_pattern_narrowed_by_another_test_of_sub_is_judged_with_it():
    document = trust(sub=f"system:serviceaccount:{NS}:*", sub_operator="StringLike")
    document["Statement"][0]["Condition"]["StringEquals"][f"{HOST}:sub"] = SUB  # ANDed: only SUB passes both
    assert codes(run(the_role=role(document))) == ["ok"]


def test_an_explicit_deny_is_trust_denied():
    document = trust()
    document["Statement"].append({"Sid": "NoRunners", "Effect": "Deny", "Principal": "*", "Action": "sts:*"})
    finding = only(run(the_role=role(document)), "trust-denied")
    assert "NoRunners" in finding["message"]


def test_another_failing_condition_is_trust_denied_naming_the_key():
    document = trust()
    document["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalTag/team"] = "x"
    assert "aws:PrincipalTag/team" in only(run(the_role=role(document)), "trust-denied")["message"]


def test_a_policy_the_evaluator_cannot_read_is_a_warning_not_a_pass():
    document = trust()
    document["Statement"][0]["Condition"]["DateGreaterThan"] = {"aws:CurrentTime": "2020-01-01T00:00:00Z"}
    finding = only(run(the_role=role(document)), "trust-policy-unsupported")
    assert finding["severity"] == "warning" and "get-role" in finding["fix"]


def test_trust_policy_too_large_and_near_limit():
    size = v.policy_size(trust())
    assert only(run(size_limit=size - 1), "trust-policy-too-large")["severity"] == "error"
    assert only(run(size_limit=size + 1), "trust-policy-near-limit")["severity"] == "warning"
    assert codes(run(size_limit=size * 2)) == ["ok"]


# -- the ServiceAccount -------------------------------------------------------------------------------------------


def test_service_account_missing():
    finding = only(run(sa_object=None), "service-account-missing")
    assert "not found" in finding["pod_error"] and f"{NS}/{SA}" in finding["message"]


def test_annotation_missing():
    finding = only(run(sa_object=service_account(role_arn=None)), "annotation-missing")
    assert "node role" in finding["pod_error"] and f"role-arn={ROLE_ARN}" in finding["fix"] and "kubectl" in finding["fix"]


def test_annotation_other_account():
    other = ROLE_ARN.replace(ACCOUNT, OTHER_ACCOUNT)
    finding = only(run(sa_object=service_account(role_arn=other)), "annotation-other-account")
    assert other in finding["message"] and ROLE_ARN in finding["fix"]


def test_annotation_other_role():
    finding = only(run(sa_object=service_account(role_arn=f"arn:aws:iam::{ACCOUNT}:role/another")), "annotation-other-role")
    assert ROLE_ARN in finding["fix"]


def test_annotation_compared_with_the_roles_real_arn_path_included():
    with_path = f"arn:aws:iam::{ACCOUNT}:role/irsa/{ROLE}"
    assert codes(run(the_role=role(arn=with_path), sa_object=service_account(role_arn=with_path))) == ["ok"]
    assert codes(run(the_role=role(arn=with_path))) == ["annotation-other-role"]


@pytest.mark.parametrize("annotations", [
    {v.ROLE_ARN_ANNOTATION: "torque-runner"},
    {v.REGIONAL_ANNOTATION: "yes"},
    {v.EXPIRATION_ANNOTATION: "599"},
    {v.EXPIRATION_ANNOTATION: "86401"},
    {v.EXPIRATION_ANNOTATION: "1h"},
    {v.AUDIENCE_ANNOTATION: "sts.amazon.com"},
])
def test_annotation_malformed(annotations):
    sa_object = service_account()
    sa_object["metadata"]["annotations"].update(annotations)
    finding = only(run(sa_object=sa_object), "annotation-malformed")
    assert list(annotations)[0] in finding["message"]


def test_well_formed_optional_annotations_are_fine():
    sa_object = service_account(**{v.REGIONAL_ANNOTATION: "true", v.EXPIRATION_ANNOTATION: "600", v.AUDIENCE_ANNOTATION: "sts.amazonaws.com"})
    assert codes(run(sa_object=sa_object)) == ["ok"]


# -- pods ---------------------------------------------------------------------------------------------------------


def test_pods_without_or_with_an_old_role_arn_need_a_restart():
    pods = [pod("fresh"), pod("web-7d4b9-abcde", env_role_arn=None, owner=("ReplicaSet", "web-7d4b9")),
            pod("old", env_role_arn=f"arn:aws:iam::{ACCOUNT}:role/old", owner=("StatefulSet", "db")),
            pod("bare", env_role_arn=None)]
    finding = only(run(pods=pods), "pod-restart-needed")
    assert finding["severity"] == "warning" and "3 running pod(s)" in finding["message"]
    assert "fresh" not in finding["message"]
    assert "rollout restart deployment/web" in finding["fix"] and "statefulset/db" in finding["fix"]


def test_pods_of_other_service_accounts_finished_pods_and_skipped_containers_do_not_count():
    skipped = pod("sidecar-only", env_role_arn=None)
    skipped["metadata"]["annotations"] = {v.SKIP_CONTAINERS_ANNOTATION: "c0"}
    pods = [pod("other", env_role_arn=None, sa="other"), pod("done", env_role_arn=None, phase="Succeeded"), skipped]
    assert codes(run(pods=pods)) == ["ok"]


def test_no_pod_check_without_a_usable_annotation():
    assert codes(run(sa_object=service_account(role_arn=None), pods=[pod("p", env_role_arn=None)])) == ["annotation-missing"]


# -- combinations -------------------------------------------------------------------------------------------------


def test_a_fresh_account_reports_every_missing_piece():
    findings = run(providers={}, the_role=None, sa_object=None)
    assert codes(findings) == ["provider-missing", "role-missing", "service-account-missing"]
    assert_well_formed(findings)


def test_the_old_cluster_case_provider_principal_and_keys_of_the_old_issuer():
    findings = run(providers={OLD_PROVIDER: None}, the_role=role(trust(principal=OLD_PROVIDER, host=OLD_HOST)))
    assert codes(findings) == ["provider-other-issuer", "trust-principal-other-issuer"]


def test_wrong_audience_and_subject_and_annotation_together():
    document = trust(aud="sts.amazon.com", sub=f"system:serviceaccount:{NS}:x")
    findings = run(the_role=role(document), sa_object=service_account(role_arn=None))
    assert sorted(codes(findings)) == ["annotation-missing", "trust-audience-mismatch", "trust-subject-other-service-account"]
    assert_well_formed(findings)


def test_inputs_are_not_modified():
    document = json.loads(json.dumps(trust()).replace(f'"{HOST}:', f'"https://{HOST}:'))
    kept = copy.deepcopy(document)
    run(the_role=role(document))
    assert document == kept


def test_a_check_with_its_own_audience_is_verified_for_that_audience_only():
    providers = {PROVIDER: {"url": HOST, "client_ids": ["sts.amazonaws.com", "vault.example.com"]}}
    context = v.make_context(ISSUER, ACCOUNT, providers)
    annotated = service_account(**{v.AUDIENCE_ANNOTATION: "vault.example.com"})
    vault = v.make_check(ROLE, NS, SA, role=role(trust(aud="vault.example.com")), service_account_object=annotated,
                         audience="vault.example.com")
    assert codes(v.verify(context, [vault])) == ["ok"]
    assert "with audience vault.example.com" in v.verify(context, [vault])[0]["message"]
    # The same role and ServiceAccount judged for the run's audience are wrong on both counts.
    plain = vault._replace(audience=None)
    assert set(codes(v.verify(context, [plain]))) >= {"trust-audience-mismatch"}
    narrow = v.make_context(ISSUER, ACCOUNT, {PROVIDER: {"url": HOST, "client_ids": ["sts.amazonaws.com"]}})
    assert "provider-audience-missing" in codes(v.verify(narrow, [vault]))
