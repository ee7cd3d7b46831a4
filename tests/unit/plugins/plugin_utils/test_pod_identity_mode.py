# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rollout's mode pod_identity, unit by unit: the trust statements, IAM's decision on EKS's request, the plan of a
role (its trust, its associations, what it refuses), the ServiceAccount without IRSA's annotation, and verify's
findings for each broken link."""

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils.names import ROLE_ARN_ANNOTATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import ALLOW
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import DENY
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import NOT_APPLICABLE
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_pod_identity
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import ServiceAccount
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustPolicyError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import desired_trust
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import has_pod_identity_statement
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import pod_identity_statement
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validated_role_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import NOT_READ
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify_pod_identity import PodIdentityCheck
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify_pod_identity import PodIdentityState
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify_pod_identity import verify_pod_identity
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import PlanError
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.plan import account_plans
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import role_plans
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_accounts import service_account_manifests
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_accounts import service_account_status

ACCOUNT = "111111111111"
ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
CLUSTER_ARN = f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/agents"
AGENTS = [{"name": "agents", "region": "eu-west-1", "issuer": ISSUER, "kubeconfig": None, "context": None, "state": "present"}]
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/runner"


def _trust(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


# -- the trust -------------------------------------------------------------------------------------------


def test_a_statement_per_cluster_or_per_service_account_each_with_a_stable_sid():
    whole = pod_identity_statement(CLUSTER_ARN)
    assert whole["Principal"] == {"Service": "pods.eks.amazonaws.com"} and whole["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert whole["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnEquals": {"aws:SourceArn": CLUSTER_ARN}}
    pinned = pod_identity_statement(CLUSTER_ARN, ServiceAccount("envs", "runner"))
    assert pinned["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT, "aws:RequestTag/kubernetes-namespace": "envs",
                                                   "aws:RequestTag/kubernetes-service-account": "runner"}
    assert pinned["Sid"].startswith("IrsaPodIdentity") and pinned["Sid"] != whole["Sid"]
    assert pod_identity_statement(CLUSTER_ARN)["Sid"] == whole["Sid"]  # a re-run writes the same policy
    options = validated_role_options({"name": "runner", "account_id": ACCOUNT, "pod_identity": [
        {"cluster_arn": CLUSTER_ARN, "service_accounts": ["envs:b", "envs:a"]}]})
    document = desired_trust(options, "aws", ACCOUNT).document()
    assert [s["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] for s in document["Statement"]] == ["a", "b"]


@pytest.mark.parametrize("entries, message", [
    ([{"cluster_arn": "arn:aws:eks:eu-west-1:111111111111:agents"}], "is not an EKS cluster ARN"),
    ([{"cluster_arn": "arn:aws:eks:eu-west-1:999999999999:cluster/agents"}],
     "is a cluster of account 999999999999, but the role is in account 111111111111"),
    ([{"cluster_arn": CLUSTER_ARN}, {"cluster_arn": CLUSTER_ARN}], "pod_identity[1]: cluster " + CLUSTER_ARN + " is listed twice"),
    ([{"cluster_arn": CLUSTER_ARN, "service_accounts": ["envs:run*"]}], "pod_identity[0].service_accounts[0]"),
])
def test_the_role_module_refuses_what_eks_pod_identity_cannot_take(entries, message):
    with pytest.raises(TrustPolicyError) as error:
        validated_role_options({"name": "runner", "account_id": ACCOUNT, "pod_identity": entries})
    assert message in str(error.value)


def test_pod_identity_goes_with_irsa_trust_but_not_with_a_trusted_role():
    options = validated_role_options({"name": "runner", "account_id": ACCOUNT, "pod_identity": [{"cluster_arn": CLUSTER_ARN}],
                                      "trust": [{"issuer": ISSUER, "service_accounts": ["envs:runner"]}]})
    document = desired_trust(options, "aws", ACCOUNT).document()
    irsa, pod_identity = document["Statement"]
    assert irsa["Sid"].startswith("IrsaOidc") and pod_identity["Sid"].startswith("IrsaPodIdentity")
    assert irsa["Action"] == "sts:AssumeRoleWithWebIdentity" and pod_identity["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    with pytest.raises(TrustPolicyError, match=r"mutually exclusive: trusted_role\|pod_identity"):
        validated_role_options({"name": "runner", "pod_identity": [{"cluster_arn": CLUSTER_ARN}],
                                "trusted_role": {"arn": f"arn:aws:iam::{ACCOUNT}:role/hub"}})


# -- IAM's decision on EKS's request ------------------------------------------------------------------------


def test_the_trust_is_evaluated_for_the_request_eks_makes():
    pinned = _trust(pod_identity_statement(CLUSTER_ARN, ServiceAccount("envs", "runner")))
    assert evaluate_pod_identity(pinned, CLUSTER_ARN, "envs", "runner") == ALLOW
    assert evaluate_pod_identity(pinned, CLUSTER_ARN, "envs", "other") == NOT_APPLICABLE
    assert evaluate_pod_identity(pinned, CLUSTER_ARN.replace("agents", "green"), "envs", "runner") == NOT_APPLICABLE
    # Without session tags the pinned statement cannot match; the whole-cluster one still does, for sts:AssumeRole alone.
    assert evaluate_pod_identity(pinned, CLUSTER_ARN, "envs", "runner", session_tags=False) == NOT_APPLICABLE
    assert evaluate_pod_identity(_trust(pod_identity_statement(CLUSTER_ARN)), CLUSTER_ARN, "envs", "x", session_tags=False) == ALLOW
    # sts:TagSession is needed too when tags are sent; an explicit Deny wins.
    assume_only = _trust(dict(pod_identity_statement(CLUSTER_ARN), Action="sts:AssumeRole"))
    assert evaluate_pod_identity(assume_only, CLUSTER_ARN, "envs", "runner") == NOT_APPLICABLE
    denied = _trust(pod_identity_statement(CLUSTER_ARN), {"Effect": "Deny", "Principal": "*", "Action": "sts:*",
                                                          "Condition": {"StringEquals": {"aws:RequestTag/kubernetes-namespace": "envs"}}})
    assert evaluate_pod_identity(denied, CLUSTER_ARN, "envs", "runner") == DENY
    # Another service or a federated principal is not EKS Pod Identity.
    other = _trust({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]})
    assert evaluate_pod_identity(other, CLUSTER_ARN, "envs", "runner") == NOT_APPLICABLE


# -- the plan ---------------------------------------------------------------------------------------------


def _plan(role, region="eu-west-1", cluster_arns=None, clusters=None, mode=None):
    (planned,) = role_plans([role], clusters or AGENTS, "envs", ACCOUNT, suffix="dev", tags={"team": "a"}, mode=mode, region=region,
                            cluster_arns=cluster_arns)
    return planned


def test_a_pod_identity_role_trusts_its_cluster_and_gets_an_association_per_service_account():
    planned = _plan({"name": "runner", "mode": "pod_identity", "subjects": ["envs:a", "ops:b"], "pin_service_accounts": True})
    assert "trust" not in planned["params"]
    assert planned["params"]["pod_identity"] == [{"cluster_arn": CLUSTER_ARN, "service_accounts": ["envs:a", "ops:b"]}]
    assert planned["mode"] == "pod_identity" and planned["service_accounts"] == [
        {"cluster": "agents", "namespace": "envs", "name": "a"}, {"cluster": "agents", "namespace": "ops", "name": "b"}]
    tags = {"team": "a", "eks-irsa:cluster": "agents"}
    assert planned["associations"] == [
        {"cluster_name": "agents", "namespace": "envs", "service_account": "a", "role_name": "runner", "target_role_arn": "", "tags": tags,
         "purge_tags": False},
        {"cluster_name": "agents", "namespace": "ops", "service_account": "b", "role_name": "runner", "target_role_arn": "", "tags": tags,
         "purge_tags": False}]
    # The host's eks_irsa_mode is the default; a session policy is passed on as compact JSON, with the tags disabled.
    planned = _plan({"name": "runner", "disable_session_tags": True, "session_policy": {"Version": "2012-10-17", "Statement": []}},
                    mode="pod_identity")
    assert planned["params"]["pod_identity"] == [{"cluster_arn": CLUSTER_ARN}]
    (association,) = planned["associations"]
    assert association["disable_session_tags"] is True and association["policy"] == '{"Statement":[],"Version":"2012-10-17"}'


def test_a_retired_cluster_loses_the_associations_of_the_role():
    clusters = AGENTS + [dict(AGENTS[0], name="blue", issuer=ISSUER + "BLUE", state="absent")]
    planned = _plan({"name": "runner", "mode": "pod_identity"}, clusters=clusters)
    assert planned["retired_associations"] == [{"cluster_name": "blue", "namespace": "envs", "service_account": "runner-dev",
                                                "state": "absent"}]


def test_an_account_plan_holds_the_associations_and_no_provider_for_pod_identity_roles():
    host = {"eks_irsa_account_id": ACCOUNT, "eks_irsa_cluster_name": "agents", "eks_irsa_namespace": "envs", "eks_irsa_region": "eu-west-1",
            "eks_irsa_roles": [{"name": "runner", "mode": "pod_identity"}]}
    plans = account_plans(["dev"], {"dev": host}, {"agents": ISSUER}, {"agents": CLUSTER_ARN})
    # The cluster's provider is asked to go (a migration's last step): irsa_account keeps it while anything else trusts it.
    assert plans["dev"]["providers"] == [{"cluster": "agents", "url": ISSUER, "state": "absent"}]
    assert plans["dev"]["provider_arguments"]["present"] == {"providers": [{"url": ISSUER, "state": "absent"}]}
    assert [a["service_account"] for a in plans["dev"]["associations"]] == ["runner-dev"]
    host["eks_irsa_roles"].append({"name": "irsa-runner"})
    assert [p["cluster"] for p in account_plans(["dev"], {"dev": host}, {"agents": ISSUER})["dev"]["providers"]] == ["agents"]


@pytest.mark.parametrize("role, kwargs, message", [
    ({"audience": "vault"}, {}, "audience is IRSA's, and this role's mode is pod_identity"),
    ({"allow_wildcard_subjects": True, "subjects": ["envs:ci-*"]}, {}, "allow_wildcard_subjects is IRSA's"),
    ({"pin_service_accounts": True, "disable_session_tags": True}, {}, "pin_service_accounts needs the session tags"),
    ({"session_policy": {"Statement": []}}, {}, "session_policy needs disable_session_tags: true"),
    ({"session_policy": 3, "disable_session_tags": True}, {}, "session_policy 3 is neither a policy mapping nor JSON text"),
    ({"session_policy": "{not json", "disable_session_tags": True}, {}, "policy is not JSON"),
    ({"session_policy": {"Version": "2012-10-17", "Statement": [{"Sid": "x" * 2100}]}, "disable_session_tags": True}, {},
     "over the 2048 STS allows for a session policy"),
    ({}, {"cluster_arns": {"agents": "arn:aws:eks:eu-west-1:333333333333:cluster/agents"}},
     "cluster 'agents' is in account 333333333333 (arn:aws:eks:eu-west-1:333333333333:cluster/agents), not this account 111111111111"),
    ({}, {"region": "us-east-1"}, "eks_irsa_region is us-east-1, but cluster 'agents' is in eu-west-1"),
    ({}, {"clusters": [dict(AGENTS[0], region=None)], "region": None}, "set eks_irsa_region (or the region of its eks_irsa_clusters entry)"),
    ({}, {"clusters": [dict(AGENTS[0], name=None)]}, "set eks_irsa_cluster_name"),
])
def test_what_pod_identity_cannot_do_is_refused_naming_the_entry(role, kwargs, message):
    with pytest.raises(PlanError) as error:
        _plan(dict({"name": "runner", "mode": "pod_identity"}, **role), **kwargs)
    assert str(error.value).startswith("eks_irsa_roles[0] (runner): ") and message in str(error.value)


def test_pod_identity_keys_on_an_irsa_role_are_refused():
    with pytest.raises(PlanError, match=r"disable_session_tags only applies to a role of EKS Pod Identity, and this role's mode is irsa"):
        _plan({"name": "runner", "disable_session_tags": True})
    with pytest.raises(PlanError, match="mode \"pod\" is none of irsa, pod_identity, irsa_and_pod_identity"):
        _plan({"name": "runner"}, mode="pod")


# -- the ServiceAccount ------------------------------------------------------------------------------------


def test_a_pod_identity_service_account_carries_no_irsa_annotation_and_loses_the_one_it_had():
    items = [{"name": "runner", "role_arn": ROLE_ARN, "pod_identity": True}, {"name": "irsa", "role_arn": ROLE_ARN}]
    pod, irsa = service_account_manifests(items, "envs", sts_regional_endpoints=True, token_expiration=3600)
    assert "annotations" not in pod["metadata"] and irsa["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == ROLE_ARN
    labels = {"app.kubernetes.io/managed-by": "torque.eks_irsa"}
    ours = {"metadata": {"name": "runner", "namespace": "envs", "labels": labels, "annotations": {ROLE_ARN_ANNOTATION: ROLE_ARN}}}
    assert service_account_status([pod], [ours]) == {"runner": "updated"}  # the apply drops our annotation: a change
    assert service_account_status([pod], [dict(ours, metadata=dict(ours["metadata"], annotations={}))]) == {"runner": "ok"}


# -- verify ---------------------------------------------------------------------------------------------------


CHECK = PodIdentityCheck("runner", "/", "agents", CLUSTER_ARN, "envs", "runner")
GOOD_ROLE = {"Arn": ROLE_ARN, "AssumeRolePolicyDocument": _trust(pod_identity_statement(CLUSTER_ARN, ServiceAccount("envs", "runner")))}
GOOD_ASSOCIATION = {"roleArn": ROLE_ARN, "namespace": "envs", "serviceAccount": "runner"}
GOOD_SA = {"metadata": {"name": "runner", "namespace": "envs"}}


def _codes(**changes):
    state = PodIdentityState(**dict({"agent": True, "association": GOOD_ASSOCIATION, "role": GOOD_ROLE, "service_account_object": GOOD_SA},
                                    **changes))
    findings = verify_pod_identity(ACCOUNT, "aws", CHECK, state)
    assert all(f["role_arn"] == ROLE_ARN and f["mode"] == "pod_identity" and f["fix"] for f in findings)
    return [f["code"] for f in findings]


def test_verify_names_each_broken_link_of_the_chain():
    assert _codes() == ["ok"]
    assert _codes(service_account_object=NOT_READ) == ["ok"]
    assert _codes(agent=False) == ["pod-identity-agent-missing"]
    assert _codes(association=None) == ["association-missing"]
    assert _codes(association=dict(GOOD_ASSOCIATION, roleArn=f"arn:aws:iam::{ACCOUNT}:role/other")) == ["association-other-role"]
    assert _codes(association=dict(GOOD_ASSOCIATION, targetRoleArn="arn:aws:iam::222222222222:role/t")) == ["association-target-role"]
    assert _codes(role=None) == ["role-missing"]
    assert _codes(role=dict(GOOD_ROLE, AssumeRolePolicyDocument=_trust(pod_identity_statement(CLUSTER_ARN.replace("agents", "b"))))) == [
        "pod-identity-trust-denied"]
    # The association turns the session tags off, so a trust pinned by them lets no pod in.
    assert _codes(association=dict(GOOD_ASSOCIATION, disableSessionTags=True)) == ["pod-identity-trust-denied"]
    assert _codes(role=dict(GOOD_ROLE, AssumeRolePolicyDocument="{not json")) == ["pod-identity-trust-denied"]
    assert _codes(service_account_object=None) == ["service-account-missing"]
    annotated = {"metadata": {"name": "runner", "annotations": {ROLE_ARN_ANNOTATION: "arn:aws:iam::111111111111:role/old"}}}
    assert _codes(service_account_object=annotated) == ["irsa-annotation-conflict"]


def test_an_irsa_role_plans_the_removal_of_its_associations_only_in_a_cluster_of_its_account():
    back = _plan({"name": "runner"})
    assert back["associations"] == [{"cluster_name": "agents", "namespace": "envs", "service_account": "runner-dev", "role_name": "runner",
                                     "state": "absent", "when_role_leaves_pod_identity": True}]
    elsewhere = _plan({"name": "runner"}, cluster_arns={"agents": "arn:aws:eks:eu-west-1:333333333333:cluster/agents"})
    assert "associations" not in elsewhere  # its cluster is another account's: the role never had an association


def test_a_pod_identity_statement_of_ours_is_found_by_its_sid():
    assert has_pod_identity_statement(_trust(pod_identity_statement(CLUSTER_ARN)))
    assert not has_pod_identity_statement(_trust(dict(pod_identity_statement(CLUSTER_ARN), Sid="TheirOwn")))
    assert not has_pod_identity_statement(None) and not has_pod_identity_statement("{not json")


def _pod(name, *env, service_account="runner"):
    return {"metadata": {"name": name, "namespace": "envs", "ownerReferences": [{"kind": "ReplicaSet", "name": "runner-5d8f"}]},
            "spec": {"serviceAccountName": service_account, "containers": [{"name": "c", "env": [{"name": e, "value": "x"} for e in env]}]},
            "status": {"phase": "Running"}}


def test_verify_warns_of_running_pods_that_still_hold_old_credentials():
    fresh = _pod("fresh", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    assert _codes(pods=[fresh, _pod("other", service_account="other")]) == ["ok"]
    state = PodIdentityState(True, GOOD_ASSOCIATION, GOOD_ROLE, GOOD_SA,
                             [fresh, _pod("before"), _pod("irsa", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ROLE_ARN")])
    (finding,) = verify_pod_identity(ACCOUNT, "aws", CHECK, state)
    assert finding["code"] == "pod-restart-needed" and finding["severity"] == "warning"
    assert finding["message"].endswith(": before, irsa") and finding["fix"] == "restart them: kubectl -n envs rollout restart deployment/runner"
    # While the migration's first step keeps IRSA on purpose, those pods are what pods-use-irsa already says.
    assert [f["code"] for f in verify_pod_identity(ACCOUNT, "aws", CHECK._replace(irsa_too=True), state)] == ["ok"]
