# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Several clusters in one run (eks_irsa_clusters), and the blue/green migration from one cluster to another.

Two EKS clusters in two regions (moto gives every cluster of one region the same issuer), each with its own
Kubernetes API and kubeconfig. Step by step, each previewed in check mode first (which must predict the step and
write nothing), then run, then read back independently (boto3 in each account, kubectl against each cluster), then
verified: (1) blue only; (2) blue and green, blue's statement untouched, a pod of every ServiceAccount in each cluster
getting credentials (the AWS SDK's own chain, the stack's checking STS); (3) blue retired, its statement, providers
and ServiceAccounts gone, blue's pods refused and green's unaffected, and a provider someone else's role still trusts
kept and reported until that role is gone.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import ALLOW
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_web_identity
from tests.integration.reliability import KUBECTL, ROLE_ARN_ANNOTATION, ROLLOUT, Scenario, failures, mutating_aws_requests

pytestmark = pytest.mark.integration

TEARDOWN = "torque.eks_irsa.teardown"
VERIFY = "torque.eks_irsa.verify"
ACCOUNTS = ("555555555590", "555555555591")
DEPLOYER = "rel-bg-deployer"
TEAM_A, TEAM_B = "rel-bg-team-a", "rel-bg-team-b"


class Cluster:
    """One of the test's clusters: its name, region, issuer and Kubernetes API, read with kubectl."""

    def __init__(self, stack, name, region):
        self.__dict__.update(stack.add_cluster(name, region))

    def entry(self, **values):
        return dict({"name": self.name, "region": self.region, "kubeconfig": self.kubeconfig}, **values)

    def service_account(self, namespace, name):
        process = subprocess.run([KUBECTL, "--kubeconfig", self.kubeconfig, "-n", namespace, "get", "serviceaccount", name, "-o", "json"],
                                 capture_output=True, text=True, timeout=60, check=False)
        return json.loads(process.stdout) if process.returncode == 0 else None

    def writes(self, since=0):
        with urllib.request.urlopen(self.kube_url + "/_emulator/requests", timeout=10) as response:
            return [r for r in json.load(response)[since:] if r["mutating"] and not r["dry_run"]]

    def mark(self):
        with urllib.request.urlopen(self.kube_url + "/_emulator/requests", timeout=10) as response:
            return len(json.load(response))


@pytest.fixture(scope="module")
def clusters(local_stack):
    return Cluster(local_stack, "rel-bg-blue", "eu-central-1"), Cluster(local_stack, "rel-bg-green", "ap-southeast-2")


@pytest.fixture
def scenario(local_stack, tmp_path):
    scenario = Scenario(local_stack, tmp_path, "bg", ACCOUNTS)
    yield scenario
    scenario.roles = scenario.roles + [{"name": DEPLOYER}, {"name": "rel-bg-foreign"}]  # what purge removes
    scenario.purge()


def inventory(scenario, entries, green=None):
    """The scenario's accounts with the run's clusters; bg-1 also has a deployer trusted by team-a's deployer in every
    cluster, and with ``green`` by team-b's in green only: three subjects in two namespaces and two clusters."""
    document = scenario.document()
    group = document["all"]["children"]["eks_irsa_accounts"]["vars"]
    del group["eks_irsa_cluster_name"]
    group["eks_irsa_clusters"] = entries
    hosts = document["all"]["children"]["eks_irsa_accounts"]["hosts"]
    hosts["bg-1"]["eks_irsa_roles"] = scenario.roles + [{
        "name": DEPLOYER, "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "subjects": [f"{TEAM_A}:deployer"] + ([{"namespace": TEAM_B, "name": "deployer", "cluster": green}] if green else [])}]
    return scenario.write(document)


def published(run):
    return run.report["custom_stats"]["_run"]["eks_irsa_rollout"]


def statements_by_issuer(scenario, account, role):
    """``{issuer host path: statement}`` of the role's trust policy, as IAM holds it."""
    return {s["Principal"]["Federated"].split("oidc-provider/", 1)[1]: s for s in scenario.trust_policy(account, role)["Statement"]}


def role_tags(scenario, account):
    return {tag["Key"]: tag["Value"] for tag in scenario.iam(account).list_role_tags(RoleName=scenario.runner)["Tags"]}


def service_accounts_of(scenario):
    """The (namespace, ServiceAccount, account) each cluster should hold while it is trusted."""
    return [(scenario.namespace, scenario.service_account(host), account) for host, account in scenario.hosts.items()] + [
        (TEAM_A, "deployer", ACCOUNTS[1])]


def previewed_then_run(run_playbook, local_stack, scenario, clusters):
    """Check mode first (nothing written anywhere), then the run; returns both."""
    local_stack.reset_aws_requests()
    marks = [cluster.mark() for cluster in clusters]
    check = run_playbook(ROLLOUT, inventory=scenario.inventory, check=True)
    assert check.rc == 0, failures(check)
    assert mutating_aws_requests(local_stack) == []
    assert [cluster.writes(mark) for cluster, mark in zip(clusters, marks)] == [[], []]
    run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert run.rc == 0, failures(run)
    return check, run


def predicted(summary):
    """What a summary says per (host, cluster, role, ServiceAccount): role status and ServiceAccount status."""
    rows = {}
    for host, account in summary["accounts"].items():
        for role in account["roles"]:
            rows[(host, role.get("cluster"), role["name"], role["service_account"])] = (role["status"], role["service_account_status"])
        for item in account.get("retired") or []:
            rows[(host, item["cluster"], item["role"], item["service_account"])] = ("-", item["service_account_status"])
    return rows


def verified(run_playbook, scenario):
    run = run_playbook(VERIFY, inventory=scenario.inventory)
    assert run.rc == 0, run.stdout[-4000:]
    report = run.report["custom_stats"]["_run"]["eks_irsa_verify"]
    return {(finding.get("cluster"), finding["namespace"], finding["service_account"]): finding["code"]
            for account in report["accounts"].values() for finding in account["findings"]}, run


def pods(local_stack, tmp_path, cluster, service_accounts):
    """A new pod of each ``(namespace, name, account)`` ServiceAccount in ``cluster``, keyed by ``(namespace, name)``."""
    where = {"name": cluster.name, "kube_url": cluster.kube_url, "region": cluster.region}
    return {(namespace, name): local_stack.pod(namespace, name, str(tmp_path / f"pod-{cluster.name}-{namespace}-{name}"), where)
            for namespace, name, _account in service_accounts}


def seen_by(started):
    """What each pod's SDK gets now: ``("arn", <the session ARN up to its name>)`` or ``("error", <STS code>)``."""
    seen = {}
    for key, pod in started.items():
        (result,) = pod.sdk(["identity"])
        seen[key] = ("arn", result["arn"].rsplit("/", 1)[0]) if "arn" in result else ("error", result["error"])
    return seen


def session(account, role):
    return ("arn", f"arn:aws:sts::{account}:assumed-role/{role}")


def test_blue_green_migration_step_by_step(local_stack, run_playbook, scenario, clusters, tmp_path):
    blue, green = clusters
    wanted = service_accounts_of(scenario)

    # (1) Blue only: one cluster listed is the one-cluster shape.
    inventory(scenario, [blue.entry()])
    check, run = previewed_then_run(run_playbook, local_stack, scenario, clusters)
    assert predicted(published(check)) == predicted(published(run))
    assert "clusters" not in published(run) and "CLUSTER" not in run.stdout
    for namespace, name, account in wanted:
        assert blue.service_account(namespace, name)["metadata"]["annotations"][ROLE_ARN_ANNOTATION].split(":")[4] == account
        assert green.service_account(namespace, name) is None
    for account in ACCOUNTS:
        assert scenario.providers(account) == [scenario.provider_arn(account, blue.issuer)]
        assert role_tags(scenario, account)["eks-irsa:cluster"] == blue.name
    blue_statements = {account: statements_by_issuer(scenario, account, scenario.runner) for account in ACCOUNTS}
    assert [len(statements) for statements in blue_statements.values()] == [1, 1]
    codes = verified(run_playbook, scenario)[0]
    assert codes == {(None, namespace, name): "ok" for namespace, name, _account in wanted}

    # (2) Add green: both trusted, blue's statement byte for byte unchanged, the ServiceAccounts in both clusters.
    inventory(scenario, [blue.entry(), green.entry()], green=green.name)
    check, run = previewed_then_run(run_playbook, local_stack, scenario, clusters)
    summary = published(run)
    assert predicted(published(check)) == predicted(summary)
    assert predicted(summary) == {
        **{(host, blue.name, scenario.runner, scenario.service_account(host)): ("updated", "ok") for host in scenario.hosts},
        **{(host, green.name, scenario.runner, scenario.service_account(host)): ("updated", "created") for host in scenario.hosts},
        ("bg-1", blue.name, DEPLOYER, "deployer"): ("updated", "ok"), ("bg-1", green.name, DEPLOYER, "deployer"): ("updated", "created")}
    assert summary["clusters"] == [blue.name, green.name]
    assert {host: account["providers"] for host, account in summary["accounts"].items()} == {
        host: {blue.name: "ok", green.name: "created"} for host in scenario.hosts}
    assert re.search(r"ACCOUNT +HOST +CLUSTER +PROVIDER +ROLE", run.stdout), run.stdout[-3000:]
    blue_path = blue.issuer.removeprefix("https://")
    green_path = green.issuer.removeprefix("https://")
    for account in ACCOUNTS:
        statements = statements_by_issuer(scenario, account, scenario.runner)
        assert statements[blue_path] == blue_statements[account][blue_path]  # untouched: blue's pods keep their credentials
        assert set(statements) == {blue_path, green_path}
        assert sorted(scenario.providers(account)) == sorted(scenario.provider_arn(account, c.issuer) for c in clusters)
        assert role_tags(scenario, account)["eks-irsa:cluster"] == f"{blue.name} {green.name}"
    for namespace, name, account in wanted + [(TEAM_B, "deployer", ACCOUNTS[1])]:
        in_green = green.service_account(namespace, name)
        assert in_green["metadata"]["annotations"][ROLE_ARN_ANNOTATION].split(":")[4] == account, (namespace, name)
        assert (blue.service_account(namespace, name) is None) == (namespace == TEAM_B), (namespace, name)
    # The deployer trusts three subjects in two namespaces and two clusters, and nothing next to them.
    deployer = scenario.trust_policy(ACCOUNTS[1], DEPLOYER)
    for cluster, namespace, name, allowed in [
            (blue, TEAM_A, "deployer", True), (green, TEAM_A, "deployer", True), (green, TEAM_B, "deployer", True),
            (blue, TEAM_B, "deployer", False), (green, TEAM_B, "deployer-2", False), (green, TEAM_A, "runner", False),
            (blue, scenario.namespace, "deployer", False)]:
        decision = evaluate_web_identity(deployer, ACCOUNTS[1], cluster.issuer, f"system:serviceaccount:{namespace}:{name}")
        assert (decision == ALLOW) == allowed, (cluster.name, namespace, name, decision)
    codes, verify = verified(run_playbook, scenario)
    assert codes == {**{(blue.name, namespace, name): "ok" for namespace, name, _account in wanted},
                     **{(green.name, namespace, name): "ok" for namespace, name, _account in wanted + [(TEAM_B, "deployer", None)]}}
    assert "CLUSTER" in verify.stdout
    # A new pod of every ServiceAccount in each cluster gets credentials for its role in its account, from the SDK's
    # own chain with a token of that cluster.
    roles = {scenario.namespace: scenario.runner, TEAM_A: DEPLOYER, TEAM_B: DEPLOYER}
    blue_pods = pods(local_stack, tmp_path, blue, wanted)
    green_pods = pods(local_stack, tmp_path, green, wanted + [(TEAM_B, "deployer", ACCOUNTS[1])])
    assert seen_by(blue_pods) == {(namespace, name): session(account, roles[namespace]) for namespace, name, account in wanted}
    assert seen_by(green_pods) == {(namespace, name): session(account, roles[namespace])
                                   for namespace, name, account in wanted + [(TEAM_B, "deployer", ACCOUNTS[1])]}

    # (3) Retire blue, while someone else's role in bg-0's account still trusts blue's provider: bg-0's roles stop
    # trusting blue and its ServiceAccounts leave blue all the same; only blue's provider stays there, kept and
    # reported (the run succeeds), until that role is gone. bg-1 is migrated entirely.
    trusts_blue = {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                   "Principal": {"Federated": scenario.provider_arn(ACCOUNTS[0], blue.issuer)}}
    foreign = {"Version": "2012-10-17", "Statement": [trusts_blue]}
    scenario.iam(ACCOUNTS[0]).create_role(RoleName="rel-bg-foreign", AssumeRolePolicyDocument=json.dumps(foreign))
    inventory(scenario, [blue.entry(state="absent"), green.entry()], green=green.name)
    check, run = previewed_then_run(run_playbook, local_stack, scenario, clusters)
    rows = predicted(published(run))
    assert predicted(published(check)) == rows
    assert rows[("bg-0", blue.name, scenario.runner, scenario.service_account("bg-0"))] == ("-", "deleted")
    kept = f"OIDC provider {scenario.provider_arn(ACCOUNTS[0], blue.issuer)} kept: still trusted by rel-bg-foreign"
    for summary in (published(check), published(run)):
        assert summary["failed"] == []
        assert summary["accounts"]["bg-0"]["providers"] == {green.name: "ok", blue.name: "kept"}
        assert summary["accounts"]["bg-0"]["warnings"] == [kept]
        assert summary["accounts"]["bg-1"]["providers"] == {green.name: "ok", blue.name: "deleted"}
        assert summary["accounts"]["bg-1"]["warnings"] == []
    assert f"WARNING bg-0 ({ACCOUNTS[0]}): {kept}" in run.stdout, run.stdout[-3000:]
    for account in ACCOUNTS:
        statements = statements_by_issuer(scenario, account, scenario.runner)
        assert set(statements) == {green_path}
    assert scenario.providers(ACCOUNTS[0]) == sorted(scenario.provider_arn(ACCOUNTS[0], c.issuer) for c in clusters)
    assert scenario.providers(ACCOUNTS[1]) == [scenario.provider_arn(ACCOUNTS[1], green.issuer)]
    for namespace, name, account in wanted + [(TEAM_B, "deployer", ACCOUNTS[1])]:
        assert blue.service_account(namespace, name) is None, (namespace, name)
        assert green.service_account(namespace, name)["metadata"]["annotations"][ROLE_ARN_ANNOTATION].split(":")[4] == account
    codes = verified(run_playbook, scenario)[0]
    assert codes == {(green.name, namespace, name): "ok" for namespace, name, _account in wanted + [(TEAM_B, "deployer", None)]}
    # Blue's pods, still holding their tokens, get nothing any more: where blue's provider is gone, STS does not know
    # the issuer; where it is kept for the foreign role, our role no longer trusts it. Green's pods are unaffected.
    assert seen_by(blue_pods) == {(namespace, name): ("error", "AccessDenied" if account == ACCOUNTS[0] else "InvalidIdentityToken")
                                  for namespace, name, account in wanted}
    assert seen_by(green_pods) == {(namespace, name): session(account, roles[namespace])
                                   for namespace, name, account in wanted + [(TEAM_B, "deployer", ACCOUNTS[1])]}

    # Once that role is gone, the same step deletes blue's provider in bg-0, and writes nothing else anywhere.
    scenario.iam(ACCOUNTS[0]).delete_role(RoleName="rel-bg-foreign")
    check, run = previewed_then_run(run_playbook, local_stack, scenario, clusters)
    assert [(r["account"], r["action"]) for r in mutating_aws_requests(local_stack)] == [(ACCOUNTS[0], "DeleteOpenIDConnectProvider")]
    for summary in (published(check), published(run)):
        assert summary["accounts"]["bg-0"]["providers"] == {green.name: "ok", blue.name: "deleted"}
        assert summary["accounts"]["bg-0"]["warnings"] == []
    for account in ACCOUNTS:
        assert scenario.providers(account) == [scenario.provider_arn(account, green.issuer)]

    # Again: nothing to do anywhere. Then the teardown removes green's ServiceAccounts, the roles and the providers.
    local_stack.reset_aws_requests()
    marks = [cluster.mark() for cluster in clusters]
    again = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert again.rc == 0 and mutating_aws_requests(local_stack) == [], failures(again)
    assert [cluster.writes(mark) for cluster, mark in zip(clusters, marks)] == [[], []]
    down = run_playbook(TEARDOWN, inventory=scenario.inventory)
    assert down.rc == 0, failures(down)
    for account in ACCOUNTS:
        assert scenario.providers(account) == []
        assert scenario.runner not in scenario.role_names(account)
    assert all(green.service_account(namespace, name) is None for namespace, name, _account in wanted)
