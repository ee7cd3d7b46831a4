# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module torque.eks_irsa.eks_pod_identity_association through ansible-playbook, against the local stack's EKS Pod
Identity API (the proxy serves it: moto has none): check mode predicts each step and sends no write, a re-run sends no
write, updates and tags send what differs, a foreign association is not deleted without force, and bad input is
refused before any call. boto3 reads back what EKS holds."""

from __future__ import annotations

import json
import subprocess
import urllib.parse

import pytest

from tests.integration.reliability import KUBECTL, delete_role
from tests.stack.local_stack import CLUSTER_ACCOUNT

pytestmark = pytest.mark.integration

MODULE = "torque.eks_irsa.eks_pod_identity_association"
NAMESPACE = "pia-envs"
POD_ROLE = f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/pia-runner"
TARGET_ACCOUNT = "777777777751"
TARGET_ROLE = f"arn:aws:iam::{TARGET_ACCOUNT}:role/pia-deployer"
POD_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                                                     "Action": ["sts:AssumeRole", "sts:TagSession"]}]}


@pytest.fixture
def eks(local_stack):
    iam = local_stack.client("iam")
    iam.create_role(RoleName="pia-runner", AssumeRolePolicyDocument=json.dumps(POD_TRUST))
    client = local_stack.client("eks")
    yield client
    for summary in client.list_pod_identity_associations(clusterName=local_stack.cluster_name, namespace=NAMESPACE)["associations"]:
        client.delete_pod_identity_association(clusterName=local_stack.cluster_name, associationId=summary["associationId"])
    delete_role(iam, "pia-runner")


def task(local_stack, service_account="runner", **options):
    return {"name": "Associate", "register": "association",
            MODULE: dict({"cluster_name": local_stack.cluster_name, "namespace": NAMESPACE, "service_account": service_account}, **options)}


def play(*tasks):
    return [{"name": "Pod Identity", "hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}]


def eks_writes(local_stack):
    return [r["action"] for r in local_stack.aws_requests() if r["service"] == "eks" and r["mutating"]]


@pytest.mark.matrix  # the new module, through the controller action, on every ansible-core claimed
def test_create_update_tag_and_delete_as_predicted(local_stack, run_playbook, eks):
    options = {"role_arn": POD_ROLE, "target_role_arn": TARGET_ROLE, "tags": {"owner": "platform"}}
    # Check mode on nothing: created, with what only EKS makes listed, and no write.
    local_stack.reset_aws_requests()
    check = run_playbook(play(task(local_stack, **options)), check=True, diff=True)
    predicted = check.result("Associate")
    assert check.rc == 0 and predicted["changed"] and predicted["status"] == "created", predicted
    assert predicted["learnt_later"] == ["association_id", "association_arn", "external_id", "created_at", "modified_at"]
    assert predicted["association"]["association_id"] is None and predicted["association"]["target_role_arn"] == TARGET_ROLE
    assert "not known before" in check.stdout or predicted["diff"]["after_header"].endswith("not known before)")
    assert eks_writes(local_stack) == []
    assert eks.list_pod_identity_associations(clusterName=local_stack.cluster_name, namespace=NAMESPACE)["associations"] == []

    # The run makes what check mode said, and EKS holds it.
    run = run_playbook(play(task(local_stack, **options)))
    made = run.result("Associate")
    assert run.rc == 0 and made["status"] == "created" and made["learnt_later"] == [], made
    held = eks.describe_pod_identity_association(clusterName=local_stack.cluster_name,
                                                 associationId=made["association"]["association_id"])["association"]
    assert (held["roleArn"], held["targetRoleArn"], held["externalId"]) == (POD_ROLE, TARGET_ROLE, made["association"]["external_id"])
    assert held["tags"] == {"owner": "platform", "eks-irsa:managed-by": "torque.eks_irsa"}
    expected = {key: value for key, value in made["association"].items() if key not in predicted["learnt_later"]}
    assert {key: value for key, value in predicted["association"].items() if key not in predicted["learnt_later"]} == expected

    # Again: nothing to do, no write.
    local_stack.reset_aws_requests()
    again = run_playbook(play(task(local_stack, **options)))
    assert again.rc == 0 and again.result("Associate")["changed"] is False and eks_writes(local_stack) == []

    # Another tag set and no target role: check mode predicts it exactly, the run does it.
    changed = {"role_arn": POD_ROLE, "target_role_arn": "", "tags": {"team": "agents"}}
    local_stack.reset_aws_requests()
    check = run_playbook(play(task(local_stack, **changed)), check=True)
    predicted = check.result("Associate")
    assert predicted["status"] == "updated" and eks_writes(local_stack) == []
    run = run_playbook(play(task(local_stack, **changed)))
    done = run.result("Associate")
    assert done["status"] == "updated" and done["association"] == dict(predicted["association"], modified_at=done["association"]["modified_at"])
    held = eks.describe_pod_identity_association(clusterName=local_stack.cluster_name,
                                                 associationId=made["association"]["association_id"])["association"]
    assert "targetRoleArn" not in held and held["tags"] == {"team": "agents", "eks-irsa:managed-by": "torque.eks_irsa"}
    quoted = urllib.parse.quote(made["association"]["association_arn"], safe="")  # as botocore puts the ARN in the path
    assert sorted(eks_writes(local_stack)) == sorted([
        f"POST /clusters/{local_stack.cluster_name}/pod-identity-associations/{made['association']['association_id']}",
        f"DELETE /tags/{quoted}", f"POST /tags/{quoted}"])

    # Absent: check mode says deleted and deletes nothing, the run deletes it, a re-run finds nothing.
    absent = task(local_stack, state="absent")
    assert run_playbook(play(absent), check=True).result("Associate")["status"] == "deleted"
    assert eks.list_pod_identity_associations(clusterName=local_stack.cluster_name, namespace=NAMESPACE)["associations"]
    assert run_playbook(play(absent)).result("Associate")["status"] == "deleted"
    assert run_playbook(play(absent)).result("Associate")["status"] == "ok"
    assert eks.list_pod_identity_associations(clusterName=local_stack.cluster_name, namespace=NAMESPACE)["associations"] == []


def test_an_association_someone_else_made_is_kept_unless_forced(local_stack, run_playbook, eks):
    theirs = eks.create_pod_identity_association(clusterName=local_stack.cluster_name, namespace=NAMESPACE, serviceAccount="theirs",
                                                 roleArn=POD_ROLE)["association"]
    refused = run_playbook(play(task(local_stack, "theirs", state="absent")))
    result = refused.result("Associate")
    assert refused.rc != 0 and "was not created by torque.eks_irsa" in result["msg"] and "force: true" in result["msg"]
    assert eks.describe_pod_identity_association(clusterName=local_stack.cluster_name, associationId=theirs["associationId"])
    # Converging it leaves what the task does not give (no tags given: its tags stay as they are, no ownership tag added).
    kept = run_playbook(play(task(local_stack, "theirs", disable_session_tags=True)))
    assert kept.result("Associate")["status"] == "updated" and kept.result("Associate")["association"]["tags"] == {}
    forced = run_playbook(play(task(local_stack, "theirs", state="absent", force=True)))
    assert forced.rc == 0 and forced.result("Associate")["status"] == "deleted"


@pytest.mark.parametrize("options, named", [
    ({"role_arn": "pia-runner"}, "role_arn 'pia-runner' is not an IAM role ARN"),
    ({"role_arn": POD_ROLE, "policy": {"Version": "2012-10-17", "Statement": []}}, "disable_session_tags: true"),
    ({"role_arn": POD_ROLE, "service_account": "Runner"}, "service_account 'Runner'"),
    ({}, "role_arn is required to create"),
    ({"role_arn": TARGET_ROLE}, f"is a role of account {TARGET_ACCOUNT}, but cluster"),
    ({"role_arn": f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/pia-nobody"}, "does not exist"),
    ({"role_arn": f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/pia-irsa-only"}, "its trust policy does not let EKS Pod Identity in"),
    ({"role_arn": POD_ROLE, "cluster_name": "pia-no-such-cluster"}, "EKS cluster 'pia-no-such-cluster' was not found"),
])
def test_bad_input_is_refused_before_any_write(local_stack, run_playbook, eks, options, named):
    service_account = options.pop("service_account", "runner")
    irsa_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                         "Action": "sts:AssumeRole"}]}
    local_stack.client("iam").create_role(RoleName="pia-irsa-only", AssumeRolePolicyDocument=json.dumps(irsa_only))
    local_stack.reset_aws_requests()
    try:
        definition = task(local_stack, service_account, **options)
        run = run_playbook(play(definition))
    finally:
        local_stack.client("iam").delete_role(RoleName="pia-irsa-only")
    assert run.rc != 0 and named in run.result("Associate")["msg"], run.result("Associate")
    assert eks_writes(local_stack) == []


def test_a_pod_of_the_service_account_gets_the_target_role_through_the_agent(local_stack, run_playbook, eks, tmp_path):
    """The association the module made is what a pod's SDK gets credentials through: its container credential provider
    asks the cluster's Pod Identity Agent, which asks eks-auth; the target role trusts the Pod Identity role with the
    external ID the module returned."""
    local_stack.client("iam").put_role_policy(RoleName="pia-runner", PolicyName="chain", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": TARGET_ROLE}]}))
    _kube_apply(local_stack, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    _kube_apply(local_stack, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner", "namespace": NAMESPACE}})
    target_iam = local_stack.account_client("iam", TARGET_ACCOUNT)
    try:
        run = run_playbook(play(task(local_stack, role_arn=POD_ROLE, target_role_arn=TARGET_ROLE)))
        external_id = run.result("Associate")["association"]["external_id"]
        assert run.rc == 0 and external_id
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": POD_ROLE}, "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]}
        target_iam.create_role(RoleName="pia-deployer", AssumeRolePolicyDocument=json.dumps(trust))
        pod = local_stack.pod(NAMESPACE, "runner", str(tmp_path / "pod"))
        assert pod.pod_identity and pod.role_arn is None
        (seen,) = pod.sdk(["identity"])
        assert seen.get("arn", "").startswith(f"arn:aws:sts::{TARGET_ACCOUNT}:assumed-role/pia-deployer/"), seen
        # Another ServiceAccount of the namespace has no association: the webhook injects nothing, the SDK finds nothing.
        _kube_apply(local_stack, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "other", "namespace": NAMESPACE}})
        other = local_stack.pod(NAMESPACE, "other", str(tmp_path / "other"))
        assert not other.pod_identity and [r["error"] for r in other.sdk(["identity"])] == ["NoCredentialsError"]
    finally:
        if "pia-deployer" in [role["RoleName"] for role in target_iam.list_roles()["Roles"]]:
            target_iam.delete_role(RoleName="pia-deployer")
        local_stack.client("iam").delete_role_policy(RoleName="pia-runner", PolicyName="chain")
        _kube_delete_namespace(local_stack)


def _kube_apply(local_stack, document):
    process = subprocess.run([KUBECTL, "--kubeconfig", local_stack.kubeconfig, "apply", "-f", "-"], input=json.dumps(document),
                             capture_output=True, text=True, timeout=60, check=False)
    assert process.returncode == 0, process.stderr


def _kube_delete_namespace(local_stack):
    subprocess.run([KUBECTL, "--kubeconfig", local_stack.kubeconfig, "delete", "namespace", NAMESPACE, "--wait=false",
                    "--ignore-not-found"], capture_output=True, text=True, timeout=60, check=False)
