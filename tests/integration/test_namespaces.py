# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Several namespaces in one run: a host's own namespace, a role's own, a role trusted by several ServiceAccounts.

Each is honoured exactly: the trust policy IAM holds (boto3) names the subjects the inventory asked for, and is
evaluated (our IAM evaluator) for them (allowed) and for their neighbours (denied); kubectl reads each ServiceAccount
in its own namespace with the role it should carry; a namespace that fails marks only the accounts whose
ServiceAccounts it holds; check mode predicts the run; verify passes; teardown removes every ServiceAccount.
"""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import ALLOW
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_web_identity
from tests.integration.reliability import ROLE_ARN_ANNOTATION, ROLLOUT, Scenario, failures, kube_writes, mutating_aws_requests

pytestmark = pytest.mark.integration

TEARDOWN = "torque.eks_irsa.teardown"
VERIFY = "torque.eks_irsa.verify"
TEAM_A, TEAM_B, TEAM_C = "rel-ns-team-a", "rel-ns-team-b", "rel-ns-team-c"
ACCOUNTS = ("555555555580", "555555555581")
DEPLOYER = "rel-ns-deployer"
PATTERN = "rel-ns-ci-*"  # a wildcard namespace: trusted, and no ServiceAccount is applied for it


def inventory(scenario, create_namespace=True, deployer=True):
    """Host ``ns-0`` in team-a (its own eks_irsa_namespace), ``ns-1`` in the group's; ns-1 also has a role trusted by
    three ServiceAccounts in two namespaces and by a pattern."""
    document = scenario.document()
    hosts = document["all"]["children"]["eks_irsa_accounts"]["hosts"]
    hosts["ns-0"]["eks_irsa_namespace"] = TEAM_A
    if deployer:
        hosts["ns-1"]["eks_irsa_roles"] = scenario.roles + [{
            "name": DEPLOYER, "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"], "allow_wildcard_subjects": True,
            "subjects": [f"{TEAM_B}:deployer", f"{TEAM_C}:deployer", f"{TEAM_C}:deployer-ci", f"{PATTERN}:deployer"]}]
    document["all"]["children"]["eks_irsa_accounts"]["vars"]["eks_irsa_create_namespace"] = create_namespace
    return scenario.write(document)


@pytest.fixture
def scenario(local_stack, tmp_path):
    scenario = Scenario(local_stack, tmp_path, "ns", ACCOUNTS)
    yield scenario
    scenario.roles = scenario.roles + [{"name": DEPLOYER}]  # what purge removes
    scenario.purge()
    for namespace in (TEAM_A, TEAM_B, TEAM_C):
        scenario.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def service_account(scenario, namespace, name):
    """The ServiceAccount as kubectl reads it, or None."""
    process = scenario.kubectl("-n", namespace, "get", "serviceaccount", name, "-o", "json", check=False)
    return json.loads(process.stdout) if process.returncode == 0 else None


def summary(run):
    return run.report["custom_stats"]["_run"]["eks_irsa_rollout"]


def test_each_service_account_goes_in_its_namespace_and_each_role_trusts_exactly_its_subjects(local_stack, run_playbook, scenario):
    inventory(scenario)
    runner_0, runner_1 = scenario.service_account("ns-0"), scenario.service_account("ns-1")
    expected = {(TEAM_A, runner_0): ACCOUNTS[0], (scenario.namespace, runner_1): ACCOUNTS[1],
                (TEAM_B, "deployer"): ACCOUNTS[1], (TEAM_C, "deployer"): ACCOUNTS[1], (TEAM_C, "deployer-ci"): ACCOUNTS[1]}

    # Check mode predicts every ServiceAccount, each in its namespace, and writes nothing.
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    check = run_playbook(ROLLOUT, inventory=scenario.inventory, check=True)
    assert check.rc == 0, failures(check)
    assert mutating_aws_requests(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
    predicted = {(role["namespace"], role["service_account"]): (role["status"], role["service_account_status"])
                 for account in summary(check)["accounts"].values() for role in account["roles"]}
    assert predicted == {**{key: ("created", "created") for key in expected}, (PATTERN, "deployer"): ("created", None)}
    assert re.search(rf"{re.escape(PATTERN)} +deployer +\(pattern\)", check.stdout), check.stdout[-3000:]

    run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert run.rc == 0, failures(run)
    assert summary(run)["namespaces"] == sorted({TEAM_A, TEAM_B, TEAM_C, scenario.namespace, PATTERN})
    for (namespace, name), account in expected.items():
        found = service_account(scenario, namespace, name)
        assert found is not None, (namespace, name)
        role = DEPLOYER if name.startswith("deployer") else scenario.runner
        assert found["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == f"arn:aws:iam::{account}:role/{role}"
    # Defect reproduced: ns-0's ServiceAccount was applied in the first host's namespace; now only in its own.
    assert service_account(scenario, scenario.namespace, runner_0) is None

    # The trust policies hold exactly the subjects asked for: they get in, their neighbours do not.
    issuer = local_stack.issuer
    deployer = scenario.trust_policy(ACCOUNTS[1], DEPLOYER)
    for namespace, name in [(TEAM_B, "deployer"), (TEAM_C, "deployer"), (TEAM_C, "deployer-ci")]:
        assert evaluate_web_identity(deployer, ACCOUNTS[1], issuer, f"system:serviceaccount:{namespace}:{name}") == ALLOW
    assert evaluate_web_identity(deployer, ACCOUNTS[1], issuer, "system:serviceaccount:rel-ns-ci-7:deployer") == ALLOW
    for namespace, name in [(TEAM_B, "deployer-ci"), (TEAM_A, "deployer"), (scenario.namespace, "deployer"), (TEAM_C, "deployer-c"),
                            ("rel-ns-ci-7", "runner")]:
        assert evaluate_web_identity(deployer, ACCOUNTS[1], issuer, f"system:serviceaccount:{namespace}:{name}") != ALLOW  # implicitly denied
    runner = scenario.trust_policy(ACCOUNTS[0], scenario.runner)
    assert evaluate_web_identity(runner, ACCOUNTS[0], issuer, f"system:serviceaccount:{TEAM_A}:{runner_0}") == ALLOW
    assert evaluate_web_identity(runner, ACCOUNTS[0], issuer, f"system:serviceaccount:{scenario.namespace}:{runner_0}") != ALLOW

    # Again: nothing to do; verify finds every ServiceAccount working; teardown removes them all.
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    again = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert again.rc == 0 and mutating_aws_requests(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
    verify = run_playbook(VERIFY, inventory=scenario.inventory)
    assert verify.rc == 0, verify.stdout[-3000:]
    report = verify.report["custom_stats"]["_run"]["eks_irsa_verify"]
    checked = {}
    for account in report["accounts"].values():
        for finding in account["findings"]:
            checked.setdefault((finding["namespace"], finding["service_account"]), set()).add(finding["code"])
    # The deployer's pattern lets other ServiceAccounts in: verify says so for each of its ServiceAccounts.
    assert checked == {key: {"trust-subject-broad"} if key[1].startswith("deployer") else {"ok"} for key in expected}
    down = run_playbook(TEARDOWN, inventory=scenario.inventory)
    assert down.rc == 0, failures(down)
    assert all(service_account(scenario, namespace, name) is None for namespace, name in expected)


def test_a_failing_namespace_marks_only_the_accounts_whose_service_accounts_it_holds(local_stack, run_playbook, scenario):
    # team-a does not exist and may not be created; the group's namespace may.
    inventory(scenario, create_namespace=[scenario.namespace], deployer=False)

    run = run_playbook(ROLLOUT, inventory=scenario.inventory)

    assert run.rc != 0
    published = summary(run)
    assert published["failed"] == [] and published["service_account_failed"] == ["ns-0"], published["service_account_error"]
    assert f"namespace {TEAM_A}: service_account_namespace: namespace '{TEAM_A}' does not exist" in published["service_account_error"]
    # The fix names the variable the rollout's user sets, not the service_account role's own.
    assert f"set eks_irsa_create_namespace: true (or list {TEAM_A} in it) to let the rollout create it" in published["service_account_error"]
    assert "service_account_create_namespace" not in published["service_account_error"]
    assert published["accounts"]["ns-0"]["roles"][0]["service_account_status"] is None
    assert published["accounts"]["ns-1"]["service_account_error"] is None
    assert published["accounts"]["ns-1"]["roles"][0]["service_account_status"] == "created"
    assert service_account(scenario, scenario.namespace, scenario.service_account("ns-1")) is not None
    # The namespace's own failure is recorded for its group by the task that applies every group, which goes on;
    # the run fails at its end.
    applied = run.results("Apply the ServiceAccounts of every account that succeeded")
    (groups,) = [result["results"] for result in applied.values()]
    assert groups[TEAM_A]["status"] == {} and f"namespace '{TEAM_A}' does not exist" in groups[TEAM_A]["error"]
    assert groups[scenario.namespace]["error"] is None
    failed = failures(run)
    assert [(task, host) for _play, task, host, _msg in failed] == [
        ("Fail the run when an account or the ServiceAccounts failed", "ns-0")]
    assert "The rollout failed for ns-0;" in failed[-1][3]
    assert f"FAILED ServiceAccounts in namespace {TEAM_A}" in run.stdout
