# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The hub topology (Torque's one-agent cross-account pattern), from the same inventory as IRSA roles.

The cluster's account holds the hub role, which one ServiceAccount assumes through IRSA and which may assume the spoke
roles; every account gets the spoke roles, trusting the hub role (``sts:AssumeRole``, pinned by ``aws:PrincipalArn``,
with an external ID). One account also keeps an IRSA role of its own, another has spoke roles only (and so no OIDC
provider). Each step is read back independently: the policies IAM holds (boto3) are evaluated with our IAM evaluator
for the hub (allowed) and its neighbours (denied), the ServiceAccount with kubectl, the blueprint files parsed.
Check mode predicts the run and writes nothing; a second run changes nothing; a pod of the ServiceAccount (the AWS SDK's
own credential chain, against the stack's checking STS) reaches every spoke with the external ID and none without;
verify finds what breaks the chain, the pod's real errors are the ones it names, and a rollout repairs it; teardown
removes it all.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import ALLOW
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_assume_role
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_permission
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_web_identity
from tests.integration.reliability import ROLE_ARN_ANNOTATION, ROLLOUT, Scenario, failures, kube_writes, mutating_aws_requests
from tests.stack.local_stack import CLUSTER_ACCOUNT

pytestmark = pytest.mark.integration

VERIFY, TEARDOWN = "torque.eks_irsa.verify", "torque.eks_irsa.teardown"
ACCOUNTS = (CLUSTER_ACCOUNT, "777777777731", "777777777732")  # the hub's, one with an IRSA role too, one with spokes only
HUB_ROLE = f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/agents/rel-hub-agent"
HUB_SA = "rel-hub-agent"
SPOKE, LONG_SPOKE = "rel-hub-deployer", "rel-hub-long"
EXTERNAL_ID = "rel-hub-2026"


@pytest.fixture
def scenario(local_stack, tmp_path):
    scenario = Scenario(local_stack, tmp_path, "hub", ACCOUNTS)
    document = scenario.document()
    group = document["all"]["children"]["eks_irsa_accounts"]
    del group["vars"]["eks_irsa_roles"]  # the spoke roles are every account's; one account has an IRSA role of its own
    group["hosts"]["hub-1"]["eks_irsa_roles"] = scenario.roles
    group["vars"].update(eks_irsa_blueprint_dir=str(tmp_path / "blueprints"), eks_irsa_torque_agent="eu-agent", eks_irsa_hub={
        "role_arn": HUB_ROLE, "service_account": HUB_SA, "external_id": EXTERNAL_ID,
        "spokes": [{"name": SPOKE, "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
                   {"name": LONG_SPOKE, "path": "/long/", "max_session_duration": 7200}]})
    scenario.write(document)
    scenario.blueprint_dir = str(tmp_path / "blueprints")
    yield scenario
    scenario.roles = scenario.roles + [{"name": "rel-hub-agent"}, {"name": SPOKE}, {"name": LONG_SPOKE}]
    scenario.purge()


def spoke_arn(account, name=SPOKE, path="/"):
    return f"arn:aws:iam::{account}:role{path}{name}"


def _spokes():
    return [arn for account in ACCOUNTS for arn in (spoke_arn(account), spoke_arn(account, LONG_SPOKE, "/long/"))]


def _pod(local_stack, scenario, tmp_path, name):
    """A new pod of the hub's ServiceAccount (the SDK's own credential chain, a token from the cluster)."""
    return local_stack.pod(scenario.namespace, HUB_SA, str(tmp_path / name))


def published(run):
    return run.report["custom_stats"]["_run"]["eks_irsa_rollout"]


def findings(run):
    report = run.report["custom_stats"]["_run"]["eks_irsa_verify"]
    return {(host, finding["role_name"], finding["code"]) for host, account in report["accounts"].items() for finding in account["findings"]}


@pytest.mark.matrix  # the spokes' trust, the provider overrides (Torque templates) on every ansible-core
def test_one_service_account_reaches_every_account_through_the_hub_role(local_stack, run_playbook, scenario, tmp_path):
    # Check mode: nothing written anywhere, and its prediction is the run's.
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    check = run_playbook(ROLLOUT, inventory=scenario.inventory, check=True)
    assert check.rc == 0, failures(check)
    assert mutating_aws_requests(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
    assert not os.path.exists(scenario.blueprint_dir)
    run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert run.rc == 0, failures(run)
    assert published(check)["accounts"] == published(run)["accounts"]
    roles = {host: {role["name"]: role for role in account["roles"]} for host, account in published(run)["accounts"].items()}
    assert sorted(roles["hub-0"]) == ["rel-hub-agent", SPOKE, LONG_SPOKE] and sorted(roles["hub-2"]) == [SPOKE, LONG_SPOKE]
    assert roles["hub-1"][SPOKE] == {"name": SPOKE, "arn": spoke_arn(ACCOUNTS[1]), "status": "created", "service_account": HUB_SA,
                                     "hub": HUB_ROLE, "service_account_status": "created"}

    # The hub role: trusted by its ServiceAccount through the cluster's issuer, allowed to assume every spoke role.
    hub = scenario.iam(CLUSTER_ACCOUNT)
    hub_trust = scenario.trust_policy(CLUSTER_ACCOUNT, "rel-hub-agent")
    assert evaluate_web_identity(hub_trust, CLUSTER_ACCOUNT, local_stack.issuer, f"system:serviceaccount:{scenario.namespace}:{HUB_SA}") == ALLOW
    assert evaluate_web_identity(hub_trust, CLUSTER_ACCOUNT, local_stack.issuer, f"system:serviceaccount:{scenario.namespace}:other") != ALLOW
    permission = hub.get_role_policy(RoleName="rel-hub-agent", PolicyName="eks-irsa-hub")["PolicyDocument"]
    for account in ACCOUNTS:
        for arn in (spoke_arn(account), spoke_arn(account, LONG_SPOKE, "/long/")):
            assert evaluate_permission([permission], "sts:AssumeRole", arn) == ALLOW
    assert evaluate_permission([permission], "sts:AssumeRole", spoke_arn(ACCOUNTS[1], "someone-elses")) != ALLOW

    # Each spoke role lets the hub role in with the external ID, and nobody else of the hub's account.
    for account in ACCOUNTS:
        trust = scenario.trust_policy(account, SPOKE)
        assert evaluate_assume_role(trust, HUB_ROLE, EXTERNAL_ID) == ALLOW
        assert evaluate_assume_role(trust, HUB_ROLE) != ALLOW  # without the external ID
        assert evaluate_assume_role(trust, f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/agents/other", EXTERNAL_ID) != ALLOW
        assert evaluate_assume_role(trust, f"arn:aws:iam::{ACCOUNTS[1]}:role/agents/rel-hub-agent", EXTERNAL_ID) != ALLOW
        attached = scenario.iam(account).list_attached_role_policies(RoleName=SPOKE)["AttachedPolicies"]
        assert [policy["PolicyArn"] for policy in attached] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    # Spoke roles need no OIDC provider: the account that has nothing else has none.
    assert scenario.providers(ACCOUNTS[2]) == [] and scenario.providers(ACCOUNTS[1]) == [scenario.provider_arn(ACCOUNTS[1])]

    # One ServiceAccount, carrying the hub role.
    agent = json.loads(scenario.kubectl("-n", scenario.namespace, "get", "serviceaccount", HUB_SA, "-o", "json").stdout)
    assert agent["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == HUB_ROLE

    # The blueprint: every grain runs as that ServiceAccount; its AWS provider assumes the account's spoke role.
    files = {name: yaml.safe_load(open(os.path.join(scenario.blueprint_dir, "accounts", name), encoding="utf-8"))
             for name in os.listdir(os.path.join(scenario.blueprint_dir, "accounts"))}
    for host, account in scenario.hosts.items():
        grains = files[f"{host}-{account}.yaml"]["grains"]
        spec = grains[SPOKE]["spec"]
        assert spec["agent"] == {"name": "eu-agent", "service-account": HUB_SA, "runner-namespace": scenario.namespace}
        assert spec["provider-overrides"][0]["attributes"]["assume_role"] == {"role_arn": spoke_arn(account), "external_id": EXTERNAL_ID}
    combined = yaml.safe_load(open(os.path.join(scenario.blueprint_dir, f"all-accounts-hub-{SPOKE}.yaml"), encoding="utf-8"))
    assert combined["inputs"]["target_account"]["allowed-values"] == sorted(ACCOUNTS)
    assume_role = combined["grains"]["deploy"]["spec"]["provider-overrides"][0]["attributes"]["assume_role"]
    assert assume_role["role_arn"] == f"arn:aws:iam::{{{{ .inputs.target_account }}}}:role/{SPOKE}"

    # A pod of the ServiceAccount, on the AWS SDK's own chain: the hub role through IRSA, then each spoke role with the
    # external ID (the chain the blueprint's provider override makes), and no spoke without it.
    steps = [["identity"]] + [["assume", arn, EXTERNAL_ID] for arn in _spokes()] + [["assume", arn] for arn in _spokes()]
    seen = _pod(local_stack, scenario, tmp_path, "pod-hub").sdk(*steps)
    assert seen[0]["arn"].startswith(f"arn:aws:sts::{CLUSTER_ACCOUNT}:assumed-role/rel-hub-agent/"), seen[0]
    chained = seen[1:1 + len(_spokes())]
    assert [result.get("arn", result).rsplit("/", 1)[0] for result in chained] == [
        arn.replace(":iam::", ":sts::").replace(":role/long/", ":assumed-role/").replace(":role/", ":assumed-role/") for arn in _spokes()]
    assert [result.get("error") for result in seen[1 + len(_spokes()):]] == ["AccessDenied"] * len(_spokes())

    # Again: nothing to do anywhere.
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    again = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert again.rc == 0 and again.changed_total() == 0, failures(again)
    assert mutating_aws_requests(local_stack) == [] and kube_writes(local_stack, kube_mark) == []

    # Verify: the chain holds; the spoke that allows two-hour sessions gets a warning (role chaining caps them at one).
    verify = run_playbook(VERIFY, inventory=scenario.inventory)
    assert verify.rc == 0, verify.stdout[-3000:]
    found = findings(verify)
    for host in scenario.hosts:
        assert (host, SPOKE, "ok") in found and (host, LONG_SPOKE, "spoke-session-over-chaining-limit") in found
    assert ("hub-0", "rel-hub-agent", "ok") in found

    # Broken links are found: a spoke that trusts the whole hub account, one that wants another external ID, a hub role
    # that lost its permission.
    root = f"arn:aws:iam::{CLUSTER_ACCOUNT}:root"
    broad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": root}, "Action": "sts:AssumeRole"}]}
    scenario.iam(ACCOUNTS[1]).update_assume_role_policy(RoleName=SPOKE, PolicyDocument=json.dumps(broad))
    other_id = json.loads(json.dumps(scenario.trust_policy(ACCOUNTS[2], SPOKE)).replace(EXTERNAL_ID, "another-id"))
    scenario.iam(ACCOUNTS[2]).update_assume_role_policy(RoleName=SPOKE, PolicyDocument=json.dumps(other_id))
    # What the pod sees now: the broad spoke lets it in even without the external ID, the other one refuses it.
    spokes = {"hub-1": spoke_arn(ACCOUNTS[1]), "hub-2": spoke_arn(ACCOUNTS[2])}
    before = _pod(local_stack, scenario, tmp_path, "pod-broken-spokes").sdk(
        ["assume", spokes["hub-1"]], ["assume", spokes["hub-2"], EXTERNAL_ID])
    assert before[0].get("arn", "").startswith(f"arn:aws:sts::{ACCOUNTS[1]}:assumed-role/{SPOKE}/"), before
    hub.delete_role_policy(RoleName="rel-hub-agent", PolicyName="eks-irsa-hub")
    after = _pod(local_stack, scenario, tmp_path, "pod-no-permission").sdk(*[["assume", arn, EXTERNAL_ID] for arn in _spokes()])
    broken = run_playbook(VERIFY, inventory=scenario.inventory)
    assert broken.rc != 0
    found = findings(broken)
    assert ("hub-1", SPOKE, "spoke-trust-broad") in found and ("hub-1", SPOKE, "ok") not in found
    assert ("hub-2", SPOKE, "spoke-trust-hub") in found
    assert ("hub-0", "rel-hub-agent", "hub-cannot-assume") in found
    # The pod's real errors are the ones verify gives (the warning's pod got in, as a warning says it can).
    report = broken.report["custom_stats"]["_run"]["eks_irsa_verify"]["accounts"]
    (wrong_id,) = [f for f in report["hub-2"]["findings"] if (f["role_name"], f["code"]) == (SPOKE, "spoke-trust-hub")]
    assert (before[1].get("error"), before[1].get("operation")) == (wrong_id["pod_error"], "AssumeRole"), before[1]
    (no_permission,) = [f for f in report["hub-0"]["findings"] if f["code"] == "hub-cannot-assume"]
    assert [result.get("error") for result in after] == [no_permission["pod_error"]] * len(_spokes()), after
    # A rollout repairs each one.
    repaired = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert repaired.rc == 0, failures(repaired)
    assert ("hub-2", SPOKE, "ok") in findings(run_playbook(VERIFY, inventory=scenario.inventory))

    # Teardown removes the roles of every account and the ServiceAccount.
    down = run_playbook(TEARDOWN, inventory=scenario.inventory)
    assert down.rc == 0, failures(down)
    for account in ACCOUNTS:
        names = scenario.role_names(account)
        assert not {"rel-hub-agent", SPOKE, LONG_SPOKE} & set(names), (account, names)
    assert scenario.kubectl("-n", scenario.namespace, "get", "serviceaccount", HUB_SA, check=False).returncode != 0
