# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A role with its own audience: its trust condition, its ServiceAccount's audience annotation and the provider's
client IDs agree, read back with boto3 and kubectl; the provider's other client IDs stay; verify passes."""

from __future__ import annotations

import json

import pytest

from tests.integration.reliability import ROLLOUT, Scenario, failures, kube_writes, mutating_aws_requests

pytestmark = pytest.mark.integration

VERIFY = "torque.eks_irsa.verify"
CREATED, EXISTING = "555555555592", "555555555593"  # the rollout creates the first's provider; the second's exists
AUDIENCE = "vault.example.com"
AUDIENCE_ANNOTATION = "eks.amazonaws.com/audience"
VAULT = {"name": "rel-aud-vault", "audience": AUDIENCE, "service_account": "vault-runner"}


@pytest.fixture
def scenario(local_stack, tmp_path):
    scenario = Scenario(local_stack, tmp_path, "aud", (CREATED, EXISTING))
    scenario.roles = scenario.roles + [dict(VAULT, service_account=None)]
    yield scenario
    scenario.purge()


def service_account(scenario, name):
    process = scenario.kubectl("-n", scenario.namespace, "get", "serviceaccount", name, "-o", "json", check=False)
    return json.loads(process.stdout) if process.returncode == 0 else None


def client_ids(scenario, account):
    arn = scenario.provider_arn(account)
    return sorted(scenario.iam(account).get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"])


def test_a_role_with_its_own_audience(local_stack, run_playbook, scenario):
    # The second account's provider exists (made by another tool) and accepts someone else's client ID as well.
    # (moto implements no AddClientIDToOpenIDConnectProvider: adding to an existing provider is covered by the unit tests.)
    existing = ["other.example.com", "sts.amazonaws.com", AUDIENCE]
    scenario.iam(EXISTING).create_open_id_connect_provider(Url=local_stack.issuer, ClientIDList=existing)
    document = scenario.document()
    for host in scenario.hosts:
        document["all"]["children"]["eks_irsa_accounts"]["hosts"][host]["eks_irsa_roles"] = scenario.roles[:1] + [
            dict(VAULT, service_account=f"vault-{host}")]
    scenario.write(document)

    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    check = run_playbook(ROLLOUT, inventory=scenario.inventory, check=True)
    assert check.rc == 0, failures(check)
    assert mutating_aws_requests(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
    run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert run.rc == 0, failures(run)
    predicted = check.report["custom_stats"]["_run"]["eks_irsa_rollout"]["accounts"]
    assert predicted == run.report["custom_stats"]["_run"]["eks_irsa_rollout"]["accounts"]
    assert not [r for r in mutating_aws_requests(local_stack) if "ClientID" in r["action"]]  # nothing to add or remove

    assert client_ids(scenario, CREATED) == ["sts.amazonaws.com", AUDIENCE]
    assert client_ids(scenario, EXISTING) == existing  # nothing of another tool's removed
    host_path = local_stack.issuer.removeprefix("https://").rstrip("/")
    for host, account in scenario.hosts.items():
        (statement,) = scenario.trust_policy(account, VAULT["name"])["Statement"]
        assert statement["Condition"]["StringEquals"] == {f"{host_path}:aud": AUDIENCE,
                                                          f"{host_path}:sub": f"system:serviceaccount:{scenario.namespace}:vault-{host}"}
        assert service_account(scenario, f"vault-{host}")["metadata"]["annotations"][AUDIENCE_ANNOTATION] == AUDIENCE
        assert AUDIENCE_ANNOTATION not in service_account(scenario, scenario.service_account(host))["metadata"]["annotations"]

    verify = run_playbook(VERIFY, inventory=scenario.inventory)
    assert verify.rc == 0, verify.stdout[-3000:]
    for host, account in verify.report["custom_stats"]["_run"]["eks_irsa_verify"]["accounts"].items():
        assert {(f["service_account"], f["code"]) for f in account["findings"]} == {
            (f"vault-{host}", "ok"), (scenario.service_account(host), "ok")}, account["findings"]
        assert any(f"with audience {AUDIENCE}" in f["message"] for f in account["findings"])

    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    again = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert again.rc == 0 and mutating_aws_requests(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
