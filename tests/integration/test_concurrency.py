# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Two operators start the same rollout at the same moment.

Two ``ansible-playbook torque.eks_irsa.rollout`` processes on one inventory race each other for every
``CreateOpenIDConnectProvider``, ``CreateRole``, policy attachment and ServiceAccount apply. Both must succeed,
or one may fail cleanly (an Ansible failure with a message, no traceback) as long as a re-run converges. Afterwards
each account holds exactly one provider and one role per name, each ServiceAccount carries its role's ARN, and a
third run changes nothing and sends no mutating request.
"""

from __future__ import annotations

import collections
import json
import subprocess

import pytest

from tests.conftest import PlaybookRun, ansible_env
from tests.integration.reliability import ANSIBLE_PLAYBOOK, ROLE_ARN_ANNOTATION, ROLLOUT, Scenario, failures
from tests.integration.reliability import mutating_aws_requests
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import ALLOW, evaluate_web_identity

pytestmark = pytest.mark.integration

ACCOUNTS = ("555555555540", "555555555541", "555555555542")


@pytest.fixture
def scenario(local_stack, tmp_path):
    made = Scenario(local_stack, tmp_path, "race", ACCOUNTS, roles=None)
    made.reader = "rel-race-reader"
    made.roles = made.roles + [{"name": made.reader, "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
                                "inline_policies": {"read-state": {"Version": "2012-10-17", "Statement": [
                                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}}]
    made.write()
    yield made
    made.purge()


def start(local_stack, inventory):
    return subprocess.Popen([ANSIBLE_PLAYBOOK, ROLLOUT, "-i", inventory], env=ansible_env(local_stack),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process):
    stdout, stderr = process.communicate(timeout=900)
    process.stdout, process.stderr = stdout, stderr
    return PlaybookRun(process)


def test_two_simultaneous_rollouts_leave_one_provider_and_one_role_per_account(local_stack, run_playbook, scenario):
    local_stack.reset_aws_requests()
    first, second = start(local_stack, scenario.inventory), start(local_stack, scenario.inventory)
    runs = [finish(first), finish(second)]
    creates = collections.Counter((r["account"], r["action"]) for r in local_stack.aws_requests()
                                  if r["action"] in ("CreateOpenIDConnectProvider", "CreateRole") and not r["fault"])
    # More creates than resources means the two runs did collide (the loser got EntityAlreadyExists).
    print(f"simultaneous rollouts: rc={[run.rc for run in runs]}, creates sent={sum(creates.values())} "
          f"for {len(scenario.accounts) * 3} resources, failures={[failures(run) for run in runs]}")

    for run in runs:
        # Both succeed: a create that loses the race to the other run finds the resource there (IAM's
        # EntityAlreadyExists) and converges it, and the ServiceAccounts go out by server-side apply, which
        # creates or updates in one request (a read-then-create would fail with AlreadyExists).
        assert "Traceback" not in run.stderr, run.stderr[-3000:]
        assert run.report["plays"], f"no JSON report: {run.stdout[-2000:]} {run.stderr[-2000:]}"
        assert run.rc == 0, failures(run)

    # Exactly one provider per account and one role per name, each trusting its ServiceAccount; nothing else.
    role_names = sorted([scenario.runner, scenario.reader])
    service_accounts = scenario.service_accounts()
    for host, account in scenario.hosts.items():
        assert scenario.providers(account) == [scenario.provider_arn(account)]
        assert scenario.role_names(account) == role_names
        for role_name in role_names:
            service_account = f"{role_name}-{host}"
            policy = scenario.trust_policy(account, role_name)
            assert len(policy["Statement"]) == 1, json.dumps(policy)
            assert evaluate_web_identity(policy, account, local_stack.issuer,
                                         f"system:serviceaccount:{scenario.namespace}:{service_account}") == ALLOW
            annotations = service_accounts[service_account]["metadata"]["annotations"]
            assert annotations[ROLE_ARN_ANNOTATION] == f"arn:aws:iam::{account}:role/{role_name}"
        iam = scenario.iam(account)
        assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=scenario.reader)["AttachedPolicies"]] == \
            ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
        assert iam.list_role_policies(RoleName=scenario.reader)["PolicyNames"] == ["read-state"]
    assert sorted(service_accounts) == sorted(["default"] + [f"{role}-{host}" for host in scenario.hosts for role in role_names])

    # A third run: nothing to do, and nothing sent.
    local_stack.reset_aws_requests()
    third = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert third.rc == 0, failures(third)
    assert third.changed_total() == 0, third.stats
    assert mutating_aws_requests(local_stack) == []
