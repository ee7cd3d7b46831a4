# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Two inventories sharing an account, and a role made by hand trusting the rollout's provider: the teardown of one
removes exactly its own roles, and keeps (and reports) a provider that roles outside it still trust.

Team A rolls out to accounts S and A, team B to S only; both trust the one cluster, so S has one provider. Team A's
teardown, previewed in check mode first, deletes its roles in both accounts, the provider in A, and keeps S's
(team B's role trusts it); a second run is a no-op. Then a hand-made role in S trusts the provider too: team B's
teardown deletes its role and keeps the provider, naming that role; once it is gone, the provider goes. What IAM
holds is read with boto3.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.reliability import Scenario, failures, mutating_aws_requests

pytestmark = pytest.mark.integration

TEARDOWN = "torque.eks_irsa.teardown"
ROLLOUT = "torque.eks_irsa.rollout"
SHARED, OWN = "555555555582", "555555555583"
HAND_MADE = "rel-sh-hand-made"


@pytest.fixture
def teams(local_stack, tmp_path):
    team_a = Scenario(local_stack, tmp_path, "sha", (SHARED, OWN))
    team_b = Scenario(local_stack, tmp_path, "shb", (SHARED,))
    yield team_a, team_b
    team_b.roles = team_b.roles + [{"name": HAND_MADE}]
    for team in (team_a, team_b):
        team.purge()


def published(run):
    return run.report["custom_stats"]["_run"]["eks_irsa_teardown"]


def statuses(summary):
    """What a teardown summary says per account: its providers' and its roles' statuses, its warnings, its error."""
    return {host: (account["providers"], {role["name"]: role["status"] for role in account["roles"]}, account["warnings"],
                   account["error"]) for host, account in summary["accounts"].items()}


def torn_down(local_stack, run_playbook, team):
    """The team's teardown, check mode first (no write, the same statuses), then the run; the run's summary."""
    local_stack.reset_aws_requests()
    check = run_playbook(TEARDOWN, inventory=team.inventory, check=True)
    assert check.rc == 0, failures(check)
    assert mutating_aws_requests(local_stack) == []
    run = run_playbook(TEARDOWN, inventory=team.inventory)
    assert run.rc == 0, failures(run)
    assert statuses(published(check)) == statuses(published(run))
    return run


def test_teardown_in_a_shared_account_removes_its_own_roles_and_keeps_the_provider_others_trust(local_stack, run_playbook, teams):
    team_a, team_b = teams
    for team in teams:
        assert run_playbook(ROLLOUT, inventory=team.inventory).rc == 0
    provider = team_a.provider_arn(SHARED)
    assert team_b.provider_arn(SHARED) == provider and team_a.providers(SHARED) == [provider]

    run = torn_down(local_stack, run_playbook, team_a)
    kept = f"OIDC provider {provider} kept: still trusted by {team_b.runner}"
    cluster = local_stack.cluster_name
    assert statuses(published(run)) == {
        "sha-0": ({cluster: "kept"}, {team_a.runner: "deleted"}, [kept], None),
        "sha-1": ({cluster: "deleted"}, {team_a.runner: "deleted"}, [], None),
    }
    assert published(run)["failed"] == []
    assert run.report["custom_stats"]["_run"][f"eks_irsa_teardown_account_{SHARED}_sha_0"]["warnings"] == [kept]
    assert f"WARNING sha-0 ({SHARED}): {kept}" in run.stdout, run.stdout[-3000:]
    assert team_a.runner not in team_a.role_names(SHARED) and team_a.runner not in team_a.role_names(OWN)
    assert team_a.providers(SHARED) == [provider] and team_a.providers(OWN) == []
    assert team_b.runner in team_b.role_names(SHARED)  # the other inventory's role, untouched
    assert team_b.trust_policy(SHARED, team_b.runner)["Statement"][0]["Principal"]["Federated"] == provider

    # Again: nothing left to delete, the provider still kept, not a write anywhere.
    local_stack.reset_aws_requests()
    again = run_playbook(TEARDOWN, inventory=team_a.inventory)
    assert again.rc == 0 and mutating_aws_requests(local_stack) == [], failures(again)
    assert statuses(published(again)) == {
        "sha-0": ({cluster: "kept"}, {team_a.runner: "ok"}, [kept], None),
        "sha-1": ({cluster: "ok"}, {team_a.runner: "ok"}, [], None),
    }

    # A role made by hand trusts the provider as well: team B's teardown removes its role and keeps the provider, naming it.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                                                     "Principal": {"Federated": provider}}]}
    team_b.iam(SHARED).create_role(RoleName=HAND_MADE, AssumeRolePolicyDocument=json.dumps(trust))
    run = torn_down(local_stack, run_playbook, team_b)
    (account,) = published(run)["accounts"].values()
    assert account["warnings"] == [f"OIDC provider {provider} kept: still trusted by {HAND_MADE}"]
    assert [role["status"] for role in account["roles"]] == ["deleted"] and team_b.runner not in team_b.role_names(SHARED)
    assert team_b.providers(SHARED) == [provider]

    team_b.iam(SHARED).delete_role(RoleName=HAND_MADE)
    run = torn_down(local_stack, run_playbook, team_b)
    (account,) = published(run)["accounts"].values()
    assert list(account["providers"].values()) == ["deleted"] and account["warnings"] == []
    assert team_b.providers(SHARED) == []
