# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rollout's mode pod_identity, beside IRSA roles in the same inventory, through ansible-playbook on the local stack.

The cluster's account gets a Pod Identity role (trusting ``pods.eks.amazonaws.com`` of that cluster, pinned to its
ServiceAccount by the session tags), its association, and its ServiceAccount without IRSA's annotation; an IRSA role
of the same account and one of another account are rolled out as before. Check mode on a fresh stack writes nothing
and predicts the run; a re-run sends no write; a pod of each ServiceAccount gets its role through the SDK's own chain
(the container provider and the stack's Pod Identity Agent, or web identity), another ServiceAccount gets nothing;
teardown removes the association with the rest. What EKS Pod Identity cannot do is refused before any write.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.reliability import KUBECTL, ROLE_ARN_ANNOTATION, ROLLOUT, Scenario, failures, kube_writes, mutating_aws_requests
from tests.stack.local_stack import CLUSTER_ACCOUNT

pytestmark = pytest.mark.integration

TEARDOWN, VERIFY = "torque.eks_irsa.teardown", "torque.eks_irsa.verify"
OTHER_ACCOUNT = "777777777741"
POD_ROLE, IRSA_ROLE = "rel-pid-runner", "rel-pid-irsa"


@pytest.fixture
def scenario(local_stack, tmp_path):
    scenario = Scenario(local_stack, tmp_path, "pid", (CLUSTER_ACCOUNT, OTHER_ACCOUNT))
    document = scenario.document()
    hosts = document["all"]["children"]["eks_irsa_accounts"]["hosts"]
    hosts["pid-0"]["eks_irsa_roles"] = [
        {"name": POD_ROLE, "mode": "pod_identity", "pin_service_accounts": True,
         "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
        {"name": IRSA_ROLE}]
    scenario.write(document)
    yield scenario
    eks = local_stack.client("eks")
    if "eks-pod-identity-agent" in eks.list_addons(clusterName=local_stack.cluster_name)["addons"]:
        eks.delete_addon(clusterName=local_stack.cluster_name, addonName="eks-pod-identity-agent")
    scenario.roles = scenario.roles + [{"name": POD_ROLE}, {"name": IRSA_ROLE}]
    scenario.purge()


def associations(local_stack, namespace):
    eks = local_stack.client("eks")
    listed = eks.list_pod_identity_associations(clusterName=local_stack.cluster_name, namespace=namespace)["associations"]
    return [eks.describe_pod_identity_association(clusterName=local_stack.cluster_name, associationId=summary["associationId"])["association"]
            for summary in listed]


def _kube_apply(local_stack, document):
    process = subprocess.run([KUBECTL, "--kubeconfig", local_stack.kubeconfig, "apply", "-f", "-"], input=json.dumps(document),
                             capture_output=True, text=True, timeout=60, check=False)
    assert process.returncode == 0, process.stderr


def verified(run):
    """``{host: {(role, ServiceAccount, code)}}`` of the verify report."""
    report = run.report["custom_stats"]["_run"]["eks_irsa_verify"]
    return {host: {(f["role_name"], f["service_account"], f["code"]) for f in account["findings"]}
            for host, account in report["accounts"].items()}


def published(run):
    return run.report["custom_stats"]["_run"]["eks_irsa_rollout"]


@pytest.mark.matrix  # the mode's trust, association and ServiceAccount on every ansible-core
def test_pod_identity_role_beside_irsa_roles(local_stack, run_playbook, scenario, tmp_path):
    pod_sa, irsa_sa = f"{POD_ROLE}-pid-0", f"{IRSA_ROLE}-pid-0"
    # Check mode on a fresh stack: nothing written, in AWS, EKS or Kubernetes; the prediction is the run's.
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    check = run_playbook(ROLLOUT, inventory=scenario.inventory, check=True, diff=True)
    assert check.rc == 0, failures(check)
    assert mutating_aws_requests(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
    assert associations(local_stack, scenario.namespace) == []
    assert "association_id, association_arn, created_at, modified_at: made by EKS when it creates the association" in check.stdout
    run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert run.rc == 0, failures(run)
    assert published(check)["accounts"] == published(run)["accounts"]
    rows = {role["name"]: role for role in published(run)["accounts"]["pid-0"]["roles"]}
    assert rows[POD_ROLE] == {"name": POD_ROLE, "arn": f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/{POD_ROLE}", "status": "created",
                              "service_account": pod_sa, "mode": "pod_identity", "association_status": "created",
                              "service_account_status": "created"}
    assert "mode" not in rows[IRSA_ROLE] and "ASSOCIATION" in run.stdout

    # IAM holds the Pod Identity trust: the service principal, the cluster, and the ServiceAccount's session tags.
    trust = scenario.trust_policy(CLUSTER_ACCOUNT, POD_ROLE)
    (statement,) = trust["Statement"]
    cluster_arn = f"arn:aws:eks:{local_stack.region}:{CLUSTER_ACCOUNT}:cluster/{local_stack.cluster_name}"
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": cluster_arn}, "StringEquals": {
        "aws:SourceAccount": CLUSTER_ACCOUNT, "aws:RequestTag/kubernetes-namespace": scenario.namespace,
        "aws:RequestTag/kubernetes-service-account": pod_sa}}
    # EKS holds the association, tagged as ours; the ServiceAccount has no IRSA annotation, the IRSA one has its own.
    (association,) = associations(local_stack, scenario.namespace)
    assert (association["serviceAccount"], association["roleArn"]) == (pod_sa, f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/{POD_ROLE}")
    assert association["tags"]["eks-irsa:managed-by"] == "torque.eks_irsa"
    service_accounts = scenario.service_accounts()
    assert ROLE_ARN_ANNOTATION not in (service_accounts[pod_sa]["metadata"].get("annotations") or {})
    assert service_accounts[irsa_sa]["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/{IRSA_ROLE}"

    # Again: nothing to do, and no write anywhere.
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    again = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert again.rc == 0, failures(again)
    assert mutating_aws_requests(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
    assert all(role["status"] == "ok" for account in published(again)["accounts"].values() for role in account["roles"])
    # A tag someone else put on the association stays, as on the roles: the re-run writes nothing.
    eks = local_stack.client("eks")
    eks.tag_resource(resourceArn=association["associationArn"], tags={"cost-center": "agents"})
    local_stack.reset_aws_requests()
    assert run_playbook(ROLLOUT, inventory=scenario.inventory).rc == 0 and mutating_aws_requests(local_stack) == []
    assert associations(local_stack, scenario.namespace)[0]["tags"]["cost-center"] == "agents"

    # Pods, with the SDK's own chain: the Pod Identity one through the agent, the IRSA ones through web identity.
    pod = local_stack.pod(scenario.namespace, pod_sa, str(tmp_path / "pod"))
    assert pod.pod_identity and pod.role_arn is None
    (seen,) = pod.sdk(["identity"])
    assert seen.get("arn", "").startswith(f"arn:aws:sts::{CLUSTER_ACCOUNT}:assumed-role/{POD_ROLE}/"), seen
    (seen,) = local_stack.pod(scenario.namespace, irsa_sa, str(tmp_path / "irsa")).sdk(["identity"])
    assert seen.get("arn", "").startswith(f"arn:aws:sts::{CLUSTER_ACCOUNT}:assumed-role/{IRSA_ROLE}/"), seen
    (seen,) = local_stack.pod(scenario.namespace, scenario.service_account("pid-1"), str(tmp_path / "other")).sdk(["identity"])
    assert seen.get("arn", "").startswith(f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/{scenario.runner}/"), seen
    # An association of another ServiceAccount to the role (made by hand): EKS accepts it, the pinned trust refuses its pods.
    _kube_apply(local_stack, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "intruder", "namespace": scenario.namespace}})
    eks.create_pod_identity_association(clusterName=local_stack.cluster_name, namespace=scenario.namespace, serviceAccount="intruder",
                                        roleArn=f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/{POD_ROLE}")
    intruder = local_stack.pod(scenario.namespace, "intruder", str(tmp_path / "intruder"))
    assert intruder.pod_identity
    (refused,) = intruder.sdk(["identity"])
    assert "arn" not in refused, refused

    # Verify: without the Pod Identity Agent add-on (this stack's agent answers all the same: EKS's would not run)...
    missing = run_playbook(VERIFY, inventory=scenario.inventory)
    assert missing.rc != 0 and verified(missing)["pid-0"] == {(POD_ROLE, pod_sa, "pod-identity-agent-missing"), (IRSA_ROLE, irsa_sa, "ok")}
    # ... and with it, the chain holds for each ServiceAccount, of either mode.
    eks.create_addon(clusterName=local_stack.cluster_name, addonName="eks-pod-identity-agent")
    verify = run_playbook(VERIFY, inventory=scenario.inventory)
    assert verify.rc == 0, verified(verify)
    assert verified(verify)["pid-0"] == {(POD_ROLE, pod_sa, "ok"), (IRSA_ROLE, irsa_sa, "ok")}
    # Broken three ways: each finding names what a new pod sees, and a pod sees it.
    own = associations(local_stack, scenario.namespace)
    eks.delete_pod_identity_association(clusterName=local_stack.cluster_name,
                                        associationId=next(a["associationId"] for a in own if a["serviceAccount"] == pod_sa))
    broken = run_playbook(VERIFY, inventory=scenario.inventory)
    assert broken.rc != 0 and (POD_ROLE, pod_sa, "association-missing") in verified(broken)["pid-0"]
    (seen,) = local_stack.pod(scenario.namespace, pod_sa, str(tmp_path / "unassociated")).sdk(["identity"])
    assert seen.get("error") == "NoCredentialsError", seen
    run_playbook(ROLLOUT, inventory=scenario.inventory)  # repairs it
    iam = scenario.iam(CLUSTER_ACCOUNT)
    wrong = dict(trust, Statement=[dict(statement, Condition=dict(statement["Condition"], StringEquals=dict(
        statement["Condition"]["StringEquals"], **{"aws:RequestTag/kubernetes-service-account": "someone-else"})))])
    iam.update_assume_role_policy(RoleName=POD_ROLE, PolicyDocument=json.dumps(wrong))
    broken = run_playbook(VERIFY, inventory=scenario.inventory)
    assert (POD_ROLE, pod_sa, "pod-identity-trust-denied") in verified(broken)["pid-0"], verified(broken)
    (seen,) = local_stack.pod(scenario.namespace, pod_sa, str(tmp_path / "denied")).sdk(["identity"])
    assert "arn" not in seen and seen.get("error") == "CredentialRetrievalError", seen
    run_playbook(ROLLOUT, inventory=scenario.inventory)
    scenario.kubectl("annotate", "serviceaccount", pod_sa, "-n", scenario.namespace,
                     f"{ROLE_ARN_ANNOTATION}=arn:aws:iam::{CLUSTER_ACCOUNT}:role/{IRSA_ROLE}")
    broken = run_playbook(VERIFY, inventory=scenario.inventory)
    assert (POD_ROLE, pod_sa, "irsa-annotation-conflict") in verified(broken)["pid-0"], verified(broken)
    (seen,) = local_stack.pod(scenario.namespace, pod_sa, str(tmp_path / "annotated")).sdk(["identity"])
    # The web identity came first: the IRSA role trusts its own ServiceAccount only, so STS refuses the pod.
    assert (seen.get("operation"), seen.get("error")) == ("AssumeRoleWithWebIdentity", "AccessDenied"), seen
    scenario.kubectl("annotate", "serviceaccount", pod_sa, "-n", scenario.namespace, f"{ROLE_ARN_ANNOTATION}-")
    assert verified(run_playbook(VERIFY, inventory=scenario.inventory))["pid-0"] == {(POD_ROLE, pod_sa, "ok"), (IRSA_ROLE, irsa_sa, "ok")}

    # Teardown: the association goes with the roles and ServiceAccounts; the one made by hand is not ours and stays.
    down = run_playbook(TEARDOWN, inventory=scenario.inventory)
    assert down.rc == 0, failures(down)
    assert [a["serviceAccount"] for a in associations(local_stack, scenario.namespace)] == ["intruder"]
    assert POD_ROLE not in scenario.role_names(CLUSTER_ACCOUNT) and pod_sa not in scenario.service_accounts()


@pytest.mark.parametrize("role, expected", [
    ({"name": POD_ROLE, "mode": "pod_identity"},
     f"pid-1: eks_irsa_roles[0] ({POD_ROLE}): the role uses EKS Pod Identity, but cluster 'agents' is in account {CLUSTER_ACCOUNT}"),
    ({"name": POD_ROLE, "mode": "pod_identity", "audience": "vault"}, "audience is IRSA's, and this role's mode is pod_identity"),
    ({"name": POD_ROLE, "mode": "pod_identity", "pin_service_accounts": True, "disable_session_tags": True},
     "pin_service_accounts needs the session tags that disable_session_tags turns off"),
    ({"name": POD_ROLE, "mode": "pod_identity", "session_policy": {"Version": "2012-10-17", "Statement": []}},
     "session_policy needs disable_session_tags: true"),
    ({"name": POD_ROLE, "disable_session_tags": True}, "disable_session_tags only applies to a role of EKS Pod Identity"),
    ({"name": POD_ROLE, "mode": "pod-identity"}, "(rel-pid-runner): mode \\\"pod-identity\\\" is none of irsa, pod_identity, irsa_and_pod_identity"),
])
def test_what_pod_identity_cannot_do_is_refused_before_any_write(local_stack, run_playbook, scenario, role, expected):
    document = scenario.document()
    document["all"]["children"]["eks_irsa_accounts"]["hosts"]["pid-1"]["eks_irsa_roles"] = [role]
    scenario.write(document)
    local_stack.reset_aws_requests()
    run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert run.rc != 0 and expected in run.stdout, run.stdout[-3000:]
    assert "nothing was written" in run.stdout
    assert mutating_aws_requests(local_stack) == []


# -- the migration from IRSA ----------------------------------------------------------------------------------------

MIGRATING = "rel-mig-runner"


@pytest.fixture
def migration(local_stack, tmp_path):
    scenario = Scenario(local_stack, tmp_path, "mig", (CLUSTER_ACCOUNT,), roles=[{"name": MIGRATING}])
    eks = local_stack.client("eks")
    eks.create_addon(clusterName=local_stack.cluster_name, addonName="eks-pod-identity-agent")
    yield scenario
    eks.delete_addon(clusterName=local_stack.cluster_name, addonName="eks-pod-identity-agent")
    for association in associations(local_stack, scenario.namespace):
        eks.delete_pod_identity_association(clusterName=local_stack.cluster_name, associationId=association["associationId"])
    scenario.purge()


def _with_mode(scenario, mode):
    document = scenario.document()
    document["all"]["children"]["eks_irsa_accounts"]["vars"]["eks_irsa_roles"] = [{"name": MIGRATING, "mode": mode}]
    return scenario.write(document)


def _step(local_stack, run_playbook, scenario, mode):
    """One step of the migration: the role's mode set, check mode writing nothing and predicting the run; the run."""
    _with_mode(scenario, mode)
    local_stack.reset_aws_requests()
    check = run_playbook(ROLLOUT, inventory=scenario.inventory, check=True, diff=True)
    assert check.rc == 0 and mutating_aws_requests(local_stack) == [], failures(check)
    run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert run.rc == 0, failures(run)
    assert published(check)["accounts"] == published(run)["accounts"]
    return check, run


def test_a_role_moves_from_irsa_to_pod_identity_step_by_step(local_stack, run_playbook, migration, tmp_path):
    scenario, sa = migration, f"{MIGRATING}-mig-0"
    role_arn = f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/{MIGRATING}"
    assert run_playbook(ROLLOUT, inventory=scenario.inventory).rc == 0  # IRSA, as it was
    (seen,) = local_stack.pod(scenario.namespace, sa, str(tmp_path / "irsa")).sdk(["identity"])
    assert f"assumed-role/{MIGRATING}/" in seen.get("arn", ""), seen

    # Step 1, both ways: the Pod Identity statement beside IRSA's, the association; the annotation stays, so pods keep IRSA.
    _check, step1 = _step(local_stack, run_playbook, scenario, "irsa_and_pod_identity")
    (role,) = published(step1)["accounts"]["mig-0"]["roles"]
    assert (role["status"], role["mode"], role["association_status"], role["service_account_status"]) == (
        "updated", "irsa_and_pod_identity", "created", "ok")
    statements = scenario.trust_policy(CLUSTER_ACCOUNT, MIGRATING)["Statement"]
    assert [s["Sid"][:8] for s in statements] == ["IrsaOidc", "IrsaPodI"]
    assert scenario.service_accounts()[sa]["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == role_arn
    local_stack.reset_aws_requests()
    assert run_playbook(ROLLOUT, inventory=scenario.inventory).rc == 0 and mutating_aws_requests(local_stack) == []  # idempotent
    verify = run_playbook(VERIFY, inventory=scenario.inventory)
    assert verify.rc == 0 and verified(verify)["mig-0"] == {(MIGRATING, sa, "ok"), (MIGRATING, sa, "pods-use-irsa")}
    pod = local_stack.pod(scenario.namespace, sa, str(tmp_path / "both"))
    assert pod.pod_identity and pod.role_arn == role_arn  # both injected; the SDK takes the web identity first
    (seen,) = pod.sdk(["identity"])
    assert f"assumed-role/{MIGRATING}/" in seen.get("arn", ""), seen

    # Reversible: back to IRSA, the Pod Identity statement and the association go (predicted first); a re-run reads no EKS.
    back, _run = _step(local_stack, run_playbook, scenario, "irsa")
    assert "pod identity association" in back.stdout  # the diff of its deletion, predicted
    assert associations(local_stack, scenario.namespace) == []
    assert [s["Sid"][:8] for s in scenario.trust_policy(CLUSTER_ACCOUNT, MIGRATING)["Statement"]] == ["IrsaOidc"]
    local_stack.reset_aws_requests()
    assert run_playbook(ROLLOUT, inventory=scenario.inventory).rc == 0
    assert [r for r in local_stack.aws_requests() if r["service"] == "eks" and r["account"] == CLUSTER_ACCOUNT
            and "pod-identity" in r["action"]] == []
    _with_mode(scenario, "irsa_and_pod_identity")
    assert run_playbook(ROLLOUT, inventory=scenario.inventory).rc == 0 and len(associations(local_stack, scenario.namespace)) == 1

    # Step 2, Pod Identity alone: IRSA's statement and annotation go, and the provider where nothing else trusts it.
    _check, step2 = _step(local_stack, run_playbook, scenario, "pod_identity")
    (role,) = published(step2)["accounts"]["mig-0"]["roles"]
    assert (role["status"], role["association_status"], role["service_account_status"]) == ("updated", "ok", "updated")
    assert [s["Sid"][:8] for s in scenario.trust_policy(CLUSTER_ACCOUNT, MIGRATING)["Statement"]] == ["IrsaPodI"]
    assert ROLE_ARN_ANNOTATION not in (scenario.service_accounts()[sa]["metadata"].get("annotations") or {})
    provider = published(step2)["accounts"]["mig-0"]["provider"]
    if scenario.provider_arn(CLUSTER_ACCOUNT) in scenario.providers(CLUSTER_ACCOUNT):  # kept: another role still trusts it
        assert provider == "kept" and published(step2)["accounts"]["mig-0"]["warnings"], published(step2)
    else:
        assert provider == "deleted"
    verify = run_playbook(VERIFY, inventory=scenario.inventory)
    assert verify.rc == 0 and verified(verify)["mig-0"] == {(MIGRATING, sa, "ok")}
    pod = local_stack.pod(scenario.namespace, sa, str(tmp_path / "pod-identity"))
    assert pod.pod_identity and pod.role_arn is None
    (seen,) = pod.sdk(["identity"])
    assert f"assumed-role/{MIGRATING}/" in seen.get("arn", ""), seen
    local_stack.reset_aws_requests()
    assert run_playbook(ROLLOUT, inventory=scenario.inventory).rc == 0 and mutating_aws_requests(local_stack) == []
