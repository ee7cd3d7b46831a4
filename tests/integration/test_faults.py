# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS misbehaving as it does at scale: a rollout over 5 target accounts still converges, exactly once.

The recording proxy in front of moto (tests/stack/aws_proxy.py) answers a seeded share of the AWS requests itself,
the way AWS does when it throttles or fails: IAM/STS ``Throttling`` (HTTP 400, XML), EKS
``TooManyRequestsException`` (429), ``ServiceUnavailable`` (503), and connections closed without an answer; or, in
the eventual-consistency run, ``NoSuchEntity`` for the first reads of every freshly created role.

Under faults the rollout must finish with no failed task (retries absorb every fault), reach the right end state
(one provider per account, one role per name trusting its ServiceAccount, each ServiceAccount annotated), create no
duplicate; and a second, unfaulted run must report changed=0 and send no mutating request. The faults the proxy
injected are counted, so the test cannot pass because nothing was faulted.
"""

from __future__ import annotations

import collections
import time

import pytest

from tests.integration.reliability import ROLE_ARN_ANNOTATION, ROLLOUT, Scenario, failures, mutating_aws_requests
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import ALLOW, evaluate_web_identity

pytestmark = pytest.mark.integration

# 20% of the requests: 10% throttled, 5% unavailable, 5% dropped connections.
MIXED_FAULTS = [{"mode": "throttle", "rate": 0.1}, {"mode": "unavailable", "rate": 0.05}, {"mode": "drop", "rate": 0.05}]
LAGGING_ROLES = [{"mode": "eventual_consistency", "reads": 2}]


def _scenario(stack, tmp_path, tag, first_account):
    accounts = [str(int(first_account) + index) for index in range(5)]
    return Scenario(stack, tmp_path, tag, accounts, roles=[{
        "name": f"rel-{tag}-runner", "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "inline_policies": {"pass-roles": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/deployed-by-torque/*"}]}},
        "max_session_duration": 7200,
    }])


@pytest.fixture
def made(local_stack):
    scenarios = []
    yield scenarios.append
    local_stack.clear_faults()
    for scenario in scenarios:
        scenario.purge()


def assert_converged(stack, scenario):
    service_accounts = scenario.service_accounts()
    for host, account in scenario.hosts.items():
        assert scenario.providers(account) == [scenario.provider_arn(account)], account
        assert scenario.role_names(account) == [scenario.runner], account
        iam = scenario.iam(account)
        role = iam.get_role(RoleName=scenario.runner)["Role"]
        assert role["MaxSessionDuration"] == 7200
        assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=scenario.runner)["AttachedPolicies"]] == \
            ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
        assert iam.list_role_policies(RoleName=scenario.runner)["PolicyNames"] == ["pass-roles"]
        policy = scenario.trust_policy(account, scenario.runner)
        subject = f"system:serviceaccount:{scenario.namespace}:{scenario.service_account(host)}"
        assert evaluate_web_identity(policy, account, stack.issuer, subject) == ALLOW
        annotations = service_accounts[scenario.service_account(host)]["metadata"]["annotations"]
        assert annotations[ROLE_ARN_ANNOTATION] == role["Arn"]
    assert sorted(service_accounts) == sorted(["default"] + [scenario.service_account(host) for host in scenario.hosts])


def rollout_under(stack, run_playbook, scenario, rules, seed):
    stack.reset_aws_requests()
    stack.set_faults(rules, seed=seed)
    started = time.monotonic()
    try:
        run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    finally:
        stack.clear_faults()
    faults = collections.Counter(r["fault"] for r in stack.aws_requests() if r["fault"])
    print(f"{scenario.tag}: {len(stack.aws_requests())} AWS requests, faults injected {dict(faults)}, rc={run.rc}, "
          f"{time.monotonic() - started:.0f} s")
    return run, faults


def assert_rerun_changes_nothing(stack, run_playbook, scenario):
    stack.reset_aws_requests()
    again = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert again.rc == 0, failures(again)
    assert again.changed_total() == 0, again.stats
    assert mutating_aws_requests(stack) == []


def test_rollout_over_five_accounts_with_a_fifth_of_aws_requests_faulted(local_stack, run_playbook, tmp_path, made):
    scenario = _scenario(local_stack, tmp_path, "flt", "555555555550")
    made(scenario)

    run, faults = rollout_under(local_stack, run_playbook, scenario, MIXED_FAULTS, seed=20261129)

    assert failures(run) == [] and run.rc == 0, failures(run)
    assert set(faults) == {"throttle", "unavailable", "drop"} and sum(faults.values()) >= 10, faults
    assert_converged(local_stack, scenario)
    assert_rerun_changes_nothing(local_stack, run_playbook, scenario)


def test_rollout_over_five_accounts_while_new_roles_are_not_yet_readable(local_stack, run_playbook, tmp_path, made):
    scenario = _scenario(local_stack, tmp_path, "lag", "555555555560")
    made(scenario)

    run, faults = rollout_under(local_stack, run_playbook, scenario, LAGGING_ROLES, seed=7)

    assert failures(run) == [] and run.rc == 0, failures(run)
    assert faults["eventual_consistency"] >= 5, faults  # every new role answered NoSuchEntity at least once
    assert_converged(local_stack, scenario)  # (the unfaulted re-run is the other test's: the lag leaves nothing behind)


# -- a listing's page throttled: that page is retried by the policy, alone ---------------------------------------------

PAGED_ACCOUNT = "555555555576"
HUB_ROLE = "flt-paged-hub"


def listing(stack, action, account):
    """``[(page_token, fault, sdk_attempt)]`` of the ``action`` requests in ``account``, in order."""
    return [(r["page_token"], r["fault"], r["sdk_attempt"]) for r in stack.aws_requests() if r["action"] == action and r["account"] == account]


def assert_only_the_throttled_page_was_sent_again(requests):
    """The first page once, the throttled page twice (the policy's retry, not botocore's: every request is its first
    attempt there), then the pages after it once each."""
    (first, _fault, _attempt), (throttled, fault, _second) = requests[:2]
    assert first is None and throttled is not None and fault == "throttle", requests
    assert requests[2][:2] == (throttled, None), requests
    tokens = [token for token, _fault, _attempt in requests]
    assert tokens.count(None) == 1 and len(set(tokens[2:])) == len(tokens) - 2, requests
    assert {attempt for _token, _fault, attempt in requests} == {1}, requests


def test_a_throttled_page_of_a_roles_attached_policies_is_retried_alone_and_verify_succeeds(local_stack, run_playbook):
    iam = local_stack.account_client("iam", PAGED_ACCOUNT)
    managed = [policy["Arn"] for policy in iam.list_policies(Scope="AWS", MaxItems=105)["Policies"]]
    assert len(managed) == 105  # more than one page: IAM (and moto) list 100 at most by default
    iam.create_role(RoleName=HUB_ROLE, AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}')
    try:
        for arn in managed:
            iam.attach_role_policy(RoleName=HUB_ROLE, PolicyArn=arn)
        local_stack.reset_aws_requests()
        local_stack.set_faults([{"mode": "throttle", "services": ["iam"], "actions": ["ListAttachedRolePolicies"],
                                 "continued": True, "limit": 1}])
        try:
            run = run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [{
                "name": "Verify the hub role", "torque.eks_irsa.irsa_verify": {
                    "account_id": PAGED_ACCOUNT, "assume_role_arn": f"arn:aws:iam::{PAGED_ACCOUNT}:role/irsa-deployer",
                    "hub": {"role_name": HUB_ROLE, "spoke_arns": ["arn:aws:iam::555555555577:role/spoke"]}}}]}])
        finally:
            local_stack.clear_faults()
        assert run.rc == 0, failures(run)
        assert_only_the_throttled_page_was_sent_again(listing(local_stack, "ListAttachedRolePolicies", PAGED_ACCOUNT))
        # Every attached policy was read, those of the re-sent page once.
        assert len([1 for _request in listing(local_stack, "GetPolicyVersion", PAGED_ACCOUNT)]) == len(managed)
    finally:
        for arn in managed:
            iam.detach_role_policy(RoleName=HUB_ROLE, PolicyArn=arn)
        iam.delete_role(RoleName=HUB_ROLE)
