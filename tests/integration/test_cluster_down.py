# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Two clusters, and one's Kubernetes API goes down (issue 23): exactly the accounts whose ServiceAccounts live in it are
isolated, with one message naming the cluster, its API server, the kubeconfig and context used, and the fix.

Three accounts: cd-0's role serves the cluster that stays up only, cd-1's the one that goes down only, cd-2's both.
Rolled out while both answer; then the down cluster's kubeconfig points at a closed port and the tags change, so every
account has something to write. Check mode predicts it, then the run does it: cd-1 and cd-2 get no AWS or Kubernetes
write (the recording proxy's log), cd-0 converges (boto3, kubectl), the summary and set_stats say why, the run fails.
Verify reports the down cluster for its accounts and verifies the rest; teardown keeps cd-1's and cd-2's roles and
providers and removes cd-0's.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from tests.integration.reliability import KUBECTL, ROLE_ARN_ANNOTATION, ROLLOUT, Scenario, failures, kube_writes, mutating_aws_requests
from tests.stack.local_stack import free_port

pytestmark = pytest.mark.integration

TEARDOWN = "torque.eks_irsa.teardown"
VERIFY = "torque.eks_irsa.verify"
ACCOUNTS = ("555555555595", "555555555596", "555555555597")
DOWN = "rel-cd-down"
DOWN_CONTEXT = "down-admin"


@pytest.fixture(scope="module")
def down_cluster(local_stack):
    return local_stack.add_cluster(DOWN, "ap-northeast-1")


@pytest.fixture
def scenario(local_stack, tmp_path):
    scenario = Scenario(local_stack, tmp_path, "cd", ACCOUNTS)
    yield scenario
    scenario.purge()


def closed_kubeconfig(directory):
    """A kubeconfig whose only context points at a port nothing listens on: the cluster's API is down."""
    server = f"http://127.0.0.1:{free_port()}"
    path = os.path.join(str(directory), "kubeconfig-down")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": DOWN_CONTEXT,
                        "clusters": [{"name": "down", "cluster": {"server": server}}],
                        "users": [{"name": "down", "user": {"token": "kube-emulator"}}],
                        "contexts": [{"name": DOWN_CONTEXT, "context": {"cluster": "down", "user": "down"}}]}, handle)
    return path, server


def inventory(scenario, local_stack, down_kubeconfig, step):
    document = scenario.document()
    group = document["all"]["children"]["eks_irsa_accounts"]["vars"]
    del group["eks_irsa_cluster_name"]
    group["eks_irsa_clusters"] = [
        {"name": local_stack.cluster_name, "region": local_stack.region, "kubeconfig": local_stack.kubeconfig},
        {"name": DOWN, "region": "ap-northeast-1", "kubeconfig": down_kubeconfig}]
    group["eks_irsa_tags"] = {"test": "reliability-cd", "step": str(step)}
    hosts = document["all"]["children"]["eks_irsa_accounts"]["hosts"]
    runner = scenario.roles[0]
    hosts["cd-0"]["eks_irsa_roles"] = [dict(runner, clusters=[local_stack.cluster_name])]
    hosts["cd-1"]["eks_irsa_roles"] = [dict(runner, clusters=[DOWN])]
    return scenario.write(document)  # cd-2: the group's role, in both clusters


def published(run):
    return run.report["custom_stats"]["_run"]["eks_irsa_rollout"]


def role_tags(scenario, account):
    return {t["Key"]: t["Value"] for t in scenario.iam(account).list_role_tags(RoleName=scenario.runner)["Tags"]}


def service_account_in(kubeconfig, namespace, name):
    process = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "-n", namespace, "get", "serviceaccount", name, "-o", "json"],
                             capture_output=True, text=True, timeout=60, check=False)
    return json.loads(process.stdout) if process.returncode == 0 else None


def assert_names_the_cluster(text, kubeconfig, server):
    assert f"cluster {DOWN}: cannot connect to its Kubernetes API server {server}" in text, text
    assert f"kubeconfig {kubeconfig}, context {DOWN_CONTEXT} (its current context)" in text, text
    assert "connection refused" in text, text
    assert "Fix: make that API server reachable from here" in text and f"eks_irsa_clusters[1] ({DOWN})" in text, text
    assert "HTTPConnectionPool" not in text and "Max retries" not in text, text


def test_a_cluster_whose_api_is_down_isolates_exactly_the_accounts_whose_service_accounts_live_in_it(
        local_stack, run_playbook, scenario, down_cluster, tmp_path):
    up_name = local_stack.cluster_name
    blocked_hosts = ["cd-1", "cd-2"]
    blocked_accounts = [scenario.hosts[host] for host in blocked_hosts]

    # Both clusters answer: everything converges.
    inventory(scenario, local_stack, down_cluster["kubeconfig"], step=1)
    first = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert first.rc == 0, (failures(first), first.stdout[-3000:], first.stderr[-3000:])
    for host in ("cd-0", "cd-2"):
        assert service_account_in(local_stack.kubeconfig, scenario.namespace, scenario.service_account(host)) is not None

    # The second cluster's API goes down, and every account has a write to make (its tags).
    kubeconfig, server = closed_kubeconfig(tmp_path)
    inventory(scenario, local_stack, kubeconfig, step=2)

    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    check = run_playbook(ROLLOUT, inventory=scenario.inventory, check=True)
    assert check.rc != 0, check.stdout[-3000:]
    assert mutating_aws_requests(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
    predicted = published(check)
    assert predicted["failed"] == blocked_hosts, predicted["failed"]

    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert run.rc != 0, run.stdout[-3000:]
    summary = published(run)
    assert summary["failed"] == predicted["failed"] == blocked_hosts
    for host in blocked_hosts:
        error = summary["accounts"][host]["error"]
        assert_names_the_cluster(error, kubeconfig, server)
        assert "nothing was written for this account, in AWS or Kubernetes" in error
        assert predicted["accounts"][host]["error"] == error  # check mode said the same
        assert summary["accounts"][host]["roles"] == []
        assert f"FAILED {host} ({scenario.hosts[host]}): cluster {DOWN}: cannot connect" in run.stdout
        key = f"eks_irsa_rollout_account_{scenario.hosts[host]}_{host.replace('-', '_')}"
        assert run.report["custom_stats"]["_run"][key]["error"] == error
    # No write at all for the down cluster's accounts; the other converged (its tag updated, its ServiceAccount there).
    assert mutating_aws_requests(local_stack, blocked_accounts) == []
    assert mutating_aws_requests(local_stack, [ACCOUNTS[0]]) != []
    assert kube_writes(local_stack, kube_mark) == []  # cd-0's ServiceAccount was already right
    assert role_tags(scenario, ACCOUNTS[0])["step"] == "2"
    assert all(role_tags(scenario, account)["step"] == "1" for account in blocked_accounts)
    assert summary["accounts"]["cd-0"]["error"] is None and summary["accounts"]["cd-0"]["roles"][0]["status"] == "updated"
    assert predicted["accounts"]["cd-0"]["roles"] == summary["accounts"]["cd-0"]["roles"]
    found = service_account_in(local_stack.kubeconfig, scenario.namespace, scenario.service_account("cd-0"))
    assert found["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == f"arn:aws:iam::{ACCOUNTS[0]}:role/{scenario.runner}"
    # One failure, the run's own at the end: no raw connection error from a task.
    assert [task for _play, task, _host, _msg in failures(run)] == ["Fail the run when an account or the ServiceAccounts failed"]
    assert "HTTPConnectionPool" not in run.stdout

    # Verify: the down cluster is an error finding of cd-1 and cd-2; everything else is verified.
    verify = run_playbook(VERIFY, inventory=scenario.inventory)
    assert verify.rc != 0, verify.stdout[-3000:]
    report = verify.report["custom_stats"]["_run"]["eks_irsa_verify"]
    codes = {host: sorted((f.get("cluster"), f["code"]) for f in account["findings"]) for host, account in report["accounts"].items()}
    assert codes == {"cd-0": [(up_name, "ok")], "cd-1": [(DOWN, "cluster-unreachable")],
                     "cd-2": sorted([(DOWN, "cluster-unreachable"), (up_name, "ok")])}, codes
    unreachable = next(f for f in report["accounts"]["cd-1"]["findings"] if f["code"] == "cluster-unreachable")
    assert_names_the_cluster(f"{unreachable['message']}. Fix: {unreachable['fix']}", kubeconfig, server)
    assert sorted(report["failed"]) == blocked_hosts

    # Teardown: cd-0's ServiceAccount, role and provider go; cd-1 and cd-2 keep everything, each failing with the message.
    providers = {account: scenario.providers(account) for account in blocked_accounts}
    assert all(providers.values())
    local_stack.reset_aws_requests()
    down = run_playbook(TEARDOWN, inventory=scenario.inventory)
    assert down.rc != 0, down.stdout[-3000:]
    assert mutating_aws_requests(local_stack, blocked_accounts) == []
    assert scenario.runner not in scenario.role_names(ACCOUNTS[0]) and scenario.providers(ACCOUNTS[0]) == []
    assert service_account_in(local_stack.kubeconfig, scenario.namespace, scenario.service_account("cd-0")) is None
    for host, account in zip(blocked_hosts, blocked_accounts):
        assert scenario.runner in scenario.role_names(account) and scenario.providers(account) == providers[account], host
    assert service_account_in(local_stack.kubeconfig, scenario.namespace, scenario.service_account("cd-2")) is not None
    # Each blocked account fails in the teardown's summary (and its published entry) with the message; the run fails once.
    summary = down.report["custom_stats"]["_run"]["eks_irsa_teardown"]
    assert sorted(summary["failed"]) == blocked_hosts, summary
    assert summary["accounts"]["cd-0"]["error"] is None
    for host in blocked_hosts:
        text = summary["accounts"][host]["error"]
        assert_names_the_cluster(text, kubeconfig, server)
        assert "this account's roles and OIDC provider are kept" in text
        assert f"FAILED {host} (" in down.stdout
    # The blocked accounts' own tasks were rescued into the summary; the run fails once, naming them.
    (final,) = [failure for failure in failures(down) if failure[1] == "Fail the run when an account failed"]
    assert "The teardown failed for cd-1, cd-2" in final[3], failures(down)

    # The cluster answers again: the teardown finishes.
    inventory(scenario, local_stack, down_cluster["kubeconfig"], step=2)
    again = run_playbook(TEARDOWN, inventory=scenario.inventory)
    assert again.rc == 0, failures(again)
    for account in blocked_accounts:
        assert scenario.runner not in scenario.role_names(account) and scenario.providers(account) == []
