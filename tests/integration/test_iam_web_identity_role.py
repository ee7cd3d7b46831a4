# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""iam_web_identity_role through real ansible-playbook runs against moto, in target accounts reached by assume-role.

Each inventory host is a target account: the play assumes a role there with ``amazon.aws.sts_assume_role`` and
hands the credentials to the module through the collection's action group. Every test uses its own accounts,
because the stack lives for the whole session. What IAM holds is read back with boto3, and "no change" is proven
by the calls the recording proxy saw, not by ``changed``. moto does not evaluate trust policies, so the
policies' meaning is covered by the unit tests; here we check what gets stored.

Every role the module creates carries the ownership tag; a role made here with boto3 is someone else's, and the
module only manages it with ``adopt: true`` (the documented way to take a role over).
"""

from __future__ import annotations

import json
import os
import subprocess

import botocore.exceptions
import pytest
import yaml

from tests.conftest import ANSIBLE_BIN
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import OWNER_TAG_KEY
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import OWNER_TAG_VALUE
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import not_owned

pytestmark = pytest.mark.integration

MODULE = "torque.eks_irsa.iam_web_identity_role"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
SECURITY_AUDIT = "arn:aws:iam::aws:policy/SecurityAudit"
VIEW_ONLY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
OWNER = {OWNER_TAG_KEY: OWNER_TAG_VALUE}
STATE_BUCKET = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::tf-state/*"}]}
ASSUME_ROLE = {
    "name": "assume a role in the target account",
    "amazon.aws.sts_assume_role": {"role_arn": "arn:aws:iam::{{ account_id }}:role/deployer", "role_session_name": "web-identity-role-test"},
    "register": "assumed",
    "check_mode": False,  # read-only, and needed for the check-mode runs too
    "changed_when": False,
}
ASSUMED_CREDENTIALS = {
    "access_key": "{{ assumed.sts_creds.access_key }}",
    "secret_key": "{{ assumed.sts_creds.secret_key }}",
    "session_token": "{{ assumed.sts_creds.session_token }}",
}


def inventory(*accounts):
    """One host per target account, named after it."""
    hosts = "\n".join(f'    account-{account}: {{account_id: "{account}"}}' for account in accounts)
    return f"all:\n  vars:\n    ansible_connection: local\n  hosts:\n{hosts}\n"


def role_play(*tasks):
    """A playbook (YAML text) running ``(name, options)`` module tasks in each host's account, with assumed-role credentials."""
    return yaml.safe_dump([{
        "name": "iam_web_identity_role in target accounts",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [ASSUME_ROLE, {
            "name": "in the target account",
            "module_defaults": {"group/torque.eks_irsa.aws": ASSUMED_CREDENTIALS},
            "block": [{"name": name, MODULE: options} for name, options in tasks],
        }],
    }], sort_keys=False)


def succeeded(run):
    """Assert the playbook run succeeded, showing the failed task results when it did not."""
    failures = [(task["task"]["name"], host, result.get("msg"))
                for play in run.report["plays"] for task in play["tasks"]
                for host, result in task["hosts"].items() if result.get("failed")]
    assert run.rc == 0, f"rc={run.rc} failures={failures} stderr={run.stderr[-2000:]}"
    return run


def host_path(url):
    return url.removeprefix("https://").rstrip("/")


def provider_arn(account, issuer):
    return f"arn:aws:iam::{account}:oidc-provider/{host_path(issuer)}"


def mutating_calls(stack):
    return [(r["account"], r["service"], r["action"]) for r in stack.aws_requests() if r["mutating"]]


def read_role(stack, account, name):
    """What IAM holds for the role, read with boto3 independently of the module; None when it does not exist."""
    iam = stack.account_client("iam", account)
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchEntity":
            return None
        raise
    return dict(
        role=role,
        managed=sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]),
        inline={n: iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"] for n in iam.list_role_policies(RoleName=name)["PolicyNames"]},
        tags={t["Key"]: t["Value"] for t in role.get("Tags", [])},
    )


def subjects_by_issuer(trust_policy):
    """``{issuer host path: (federated principal, [sub values], sub operator)}`` of a trust policy."""
    found = {}
    for statement in trust_policy["Statement"]:
        for operator, conditions in statement["Condition"].items():
            for key, value in conditions.items():
                if key.endswith(":sub"):
                    values = [value] if isinstance(value, str) else value
                    found[key[:-len(":sub")]] = (statement["Principal"]["Federated"], values, operator)
    return found


def runner_role(stack, **extra):
    return dict({
        "name": "torque-runner",
        "trust": [{"issuer": stack.issuer, "service_accounts": ["torque-agents:runner"]}],
        "managed_policies": [READ_ONLY],
        "inline_policies": {"state-bucket": STATE_BUCKET},
        "tags": {"owner": "platform"},
    }, **extra)


def test_created_in_two_accounts_then_a_rerun_sends_no_mutating_call(local_stack, run_playbook):
    accounts = ("320000000001", "320000000002")
    play = role_play(("role", runner_role(local_stack)))

    run = run_playbook(play, inventory=inventory(*accounts))
    succeeded(run)
    for account in accounts:
        result = run.result("role", f"account-{account}")
        assert result["changed"] is True
        assert result["status"] == "created"
        assert result["arn"] == f"arn:aws:iam::{account}:role/torque-runner"
        assert result["managed_policies"] == [READ_ONLY]
        assert result["inline_policies"] == ["state-bucket"]
        assert result["tags"] == dict(OWNER, owner="platform")
        assert result["max_session_duration"] == 3600
        assert result["role_id"] and result["create_date"]
        held = read_role(local_stack, account, "torque-runner")
        assert held["role"]["AssumeRolePolicyDocument"] == result["trust_policy"]
        statement, = held["role"]["AssumeRolePolicyDocument"]["Statement"]
        issuer = host_path(local_stack.issuer)
        # The principal is the provider of the role's own account, never the cluster account's.
        assert statement["Principal"] == {"Federated": provider_arn(account, local_stack.issuer)}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"] == {"StringEquals": {f"{issuer}:aud": "sts.amazonaws.com",
                                                           f"{issuer}:sub": "system:serviceaccount:torque-agents:runner"}}
        assert held["managed"] == [READ_ONLY]
        assert held["inline"] == {"state-bucket": STATE_BUCKET}
        assert held["tags"] == dict(OWNER, owner="platform")

    local_stack.reset_aws_requests()
    rerun = run_playbook(play, inventory=inventory(*accounts))
    succeeded(rerun)
    assert all(rerun.result("role", f"account-{account}")["changed"] is False for account in accounts)
    assert all(rerun.result("role", f"account-{account}")["status"] == "ok" for account in accounts)
    assert mutating_calls(local_stack) == []


def test_given_account_id_saves_the_caller_identity_call(local_stack, run_playbook):
    account = "320000000003"
    play = role_play(("role", runner_role(local_stack, account_id="{{ account_id }}")))
    succeeded(run_playbook(play, inventory=inventory(account)))

    local_stack.reset_aws_requests()
    succeeded(run_playbook(play, inventory=inventory(account)))
    actions = [(r["service"], r["action"]) for r in local_stack.aws_requests()]
    assert ("sts", "GetCallerIdentity") not in actions
    assert [a for a in actions if a[0] == "sts"] == [("sts", "AssumeRole")]
    assert mutating_calls(local_stack) == []


def test_check_mode_on_a_fresh_account_writes_nothing_and_predicts_the_real_run(local_stack, run_playbook):
    account = "320000000004"
    host = f"account-{account}"
    play = role_play(("role", runner_role(local_stack, description="runner pods", max_session_duration=7200)))

    local_stack.reset_aws_requests()
    predicted = run_playbook(play, inventory=inventory(account), check=True, diff=True)
    succeeded(predicted)
    assert mutating_calls(local_stack) == []
    assert read_role(local_stack, account, "torque-runner") is None
    prediction = predicted.result("role", host)
    assert prediction["changed"] is True
    assert prediction["diff"]["before"] == {}
    assert prediction["diff"]["after"]["managed_policies"] == [READ_ONLY]

    real = run_playbook(play, inventory=inventory(account), diff=True)
    succeeded(real)
    outcome = real.result("role", host)
    assert outcome["changed"] is True
    assert outcome["diff"] == prediction["diff"]
    for key in ("arn", "name", "path", "description", "trust_policy", "managed_policies", "inline_policies",
                "permissions_boundary", "max_session_duration", "tags"):
        assert outcome[key] == prediction[key], key

    local_stack.reset_aws_requests()
    again = run_playbook(play, inventory=inventory(account), check=True, diff=True)
    assert again.result("role", host)["changed"] is False
    assert mutating_calls(local_stack) == []


def test_second_service_account_and_second_cluster_join_one_role(local_stack, run_playbook):
    account = "320000000005"
    host = f"account-{account}"
    other_issuer = local_stack.create_cluster("other", "us-west-2")
    assert host_path(other_issuer) != host_path(local_stack.issuer)
    first = {"issuer": local_stack.issuer, "service_accounts": ["torque-agents:runner"]}
    succeeded(run_playbook(role_play(("role", {"name": "multi", "trust": [first]})), inventory=inventory(account)))

    widened = [
        {"issuer": local_stack.issuer + "/", "service_accounts": [{"namespace": "torque-agents", "name": "runner-dry-run"}, "torque-agents:runner"]},
        {"provider_arn": provider_arn(account, other_issuer), "service_accounts": ["torque-agents:runner"]},
    ]
    play = role_play(("role", {"name": "multi", "trust": widened}))
    run = run_playbook(play, inventory=inventory(account), diff=True)
    succeeded(run)
    result = run.result("role", host)
    assert result["changed"] is True
    assert set(result["diff"]["before"]) == {"trust_policy"}
    stored = read_role(local_stack, account, "multi")["role"]["AssumeRolePolicyDocument"]
    assert subjects_by_issuer(stored) == {
        host_path(local_stack.issuer): (provider_arn(account, local_stack.issuer), [
            "system:serviceaccount:torque-agents:runner", "system:serviceaccount:torque-agents:runner-dry-run"], "StringEquals"),
        host_path(other_issuer): (provider_arn(account, other_issuer), ["system:serviceaccount:torque-agents:runner"], "StringEquals"),
    }
    assert len({statement["Sid"] for statement in stored["Statement"]}) == 2

    # The same trust written in another order is the same policy.
    local_stack.reset_aws_requests()
    rerun = run_playbook(role_play(("role", {"name": "multi", "trust": list(reversed(widened))})), inventory=inventory(account))
    succeeded(rerun)
    assert rerun.result("role", host)["changed"] is False
    assert mutating_calls(local_stack) == []


def test_policies_change_and_purge(local_stack, run_playbook):
    account = "320000000006"
    host = f"account-{account}"
    trust = [{"issuer": local_stack.issuer, "service_accounts": ["torque-agents:runner"]}]
    reordered = {"Statement": [{"Resource": "arn:aws:s3:::tf-state/*", "Action": ["s3:PutObject", "s3:GetObject"], "Effect": "Allow"}],
                 "Version": "2012-10-17"}
    logs = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
    boundary = "arn:aws:iam::aws:policy/PowerUserAccess"
    run = run_playbook(role_play(
        ("create", {"name": "policies", "trust": trust, "managed_policies": [READ_ONLY, VIEW_ONLY],
                    "inline_policies": {"state-bucket": STATE_BUCKET, "logs": json.dumps(logs)}, "permissions_boundary": boundary}),
        ("reordered documents", {"name": "policies", "trust": trust, "managed_policies": [VIEW_ONLY, READ_ONLY],
                                 "inline_policies": {"state-bucket": reordered, "logs": logs}}),
        ("add without purge", {"name": "policies", "trust": trust, "managed_policies": [SECURITY_AUDIT], "purge_managed_policies": False,
                               "inline_policies": {"extra": logs}, "purge_inline_policies": False}),
        ("purge", {"name": "policies", "trust": trust, "managed_policies": [SECURITY_AUDIT], "inline_policies": {"logs": STATE_BUCKET}}),
        ("policies left alone", {"name": "policies", "trust": trust}),
        ("remove boundary", {"name": "policies", "trust": trust, "permissions_boundary": ""}),
        ("boundary already gone", {"name": "policies", "trust": trust, "permissions_boundary": ""}),
    ), inventory=inventory(account), diff=True)

    succeeded(run)
    assert run.result("create", host)["permissions_boundary"] == boundary
    assert run.result("reordered documents", host)["changed"] is False
    added = run.result("add without purge", host)
    assert added["changed"] is True
    assert added["managed_policies"] == sorted([READ_ONLY, SECURITY_AUDIT, VIEW_ONLY])
    assert added["inline_policies"] == ["extra", "logs", "state-bucket"]
    purged = run.result("purge", host)
    assert purged["managed_policies"] == [SECURITY_AUDIT]
    assert purged["inline_policies"] == ["logs"]
    assert purged["diff"]["after"]["inline_policies"] == {"logs": STATE_BUCKET}
    assert run.result("policies left alone", host)["changed"] is False
    assert run.result("remove boundary", host)["changed"] is True
    assert run.result("remove boundary", host)["permissions_boundary"] == ""
    assert run.result("boundary already gone", host)["changed"] is False

    held = read_role(local_stack, account, "policies")
    assert held["managed"] == [SECURITY_AUDIT]
    assert held["inline"] == {"logs": STATE_BUCKET}
    assert "PermissionsBoundary" not in held["role"]


def test_settings_and_tags_change_only_when_asked(local_stack, run_playbook):
    account = "320000000007"
    host = f"account-{account}"
    base = {"name": "settings", "trust": [{"issuer": local_stack.issuer, "service_accounts": ["torque-agents:runner"]}]}
    run = run_playbook(role_play(
        ("create", dict(base, description="first", tags={"owner": "platform", "team": "a"})),
        ("change", dict(base, description="second", max_session_duration=43200, tags={"owner": "agents"}, purge_tags=False)),
        ("left alone", base),
        ("purge tags", dict(base, tags={"owner": "agents"})),
    ), inventory=inventory(account), diff=True)

    succeeded(run)
    changed = run.result("change", host)
    assert changed["changed"] is True
    assert changed["diff"]["before"] == {"description": "first", "max_session_duration": 3600,
                                         "tags": dict(OWNER, owner="platform", team="a")}
    assert changed["diff"]["after"] == {"description": "second", "max_session_duration": 43200, "tags": dict(OWNER, owner="agents", team="a")}
    assert changed["status"] == "updated"
    assert run.result("left alone", host)["changed"] is False
    # Purging removes the user's other tags, never the ownership tag.
    assert run.result("purge tags", host)["tags"] == dict(OWNER, owner="agents")
    held = read_role(local_stack, account, "settings")
    assert held["role"]["Description"] == "second"
    assert held["role"]["MaxSessionDuration"] == 43200
    assert held["tags"] == dict(OWNER, owner="agents")


def test_shared_mode_keeps_a_foreign_statement(local_stack, run_playbook):
    account = "320000000008"
    host = f"account-{account}"
    foreign = {"Sid": "CiDeployer", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
    local_stack.account_client("iam", account).create_role(
        RoleName="shared", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [foreign]}))
    shared = {"name": "shared", "trust_policy_mode": "shared",
              "trust": [{"issuer": local_stack.issuer, "service_accounts": ["torque-agents:runner"]}]}

    # The role was made outside the collection: sharing it is an explicit adoption, once.
    run = run_playbook(role_play(("share", dict(shared, adopt=True))), inventory=inventory(account))
    succeeded(run)
    assert run.result("share", host)["changed"] is True
    assert run.result("share", host)["tags"] == OWNER
    statements = read_role(local_stack, account, "shared")["role"]["AssumeRolePolicyDocument"]["Statement"]
    assert statements[0] == foreign
    assert len(statements) == 2 and statements[1]["Sid"].startswith("IrsaOidc")

    # A shared statement is identified by its issuer and subjects: other subjects are another statement, added after
    # the others; the first stays until its writer removes it (state=absent with the same trust).
    local_stack.reset_aws_requests()
    widened = dict(shared, trust=[{"issuer": local_stack.issuer, "service_accounts": ["torque-agents:runner", "torque-agents:dry-run"]}])
    run = run_playbook(role_play(("share", shared), ("widen", widened), ("widen again", widened),
                                 ("remove the first", dict(shared, state="absent"))), inventory=inventory(account))
    succeeded(run)
    assert [run.result(task, host)["changed"] for task in ("share", "widen", "widen again", "remove the first")] == [False, True, False, True]
    assert [call[2] for call in mutating_calls(local_stack)] == ["UpdateAssumeRolePolicy"] * 2
    statements = read_role(local_stack, account, "shared")["role"]["AssumeRolePolicyDocument"]["Statement"]
    assert statements[0] == foreign and len(statements) == 2
    assert statements[1]["Condition"]["StringEquals"][f"{local_stack.issuer.removeprefix('https://')}:sub"] == [
        "system:serviceaccount:torque-agents:dry-run", "system:serviceaccount:torque-agents:runner"]

    run = run_playbook(role_play(("take over", dict(shared, trust_policy_mode="exclusive"))), inventory=inventory(account))
    succeeded(run)
    statements = read_role(local_stack, account, "shared")["role"]["AssumeRolePolicyDocument"]["Statement"]
    assert [statement["Sid"] for statement in statements] == [run.result("take over", host)["trust_policy"]["Statement"][0]["Sid"]]


def test_two_shared_writers_on_one_cluster_both_survive_and_each_removes_only_its_own(local_stack, run_playbook):
    account = "320000000013"
    host = f"account-{account}"
    team = {name: {"name": "shared-by-two", "trust_policy_mode": "shared",
                   "trust": [{"issuer": local_stack.issuer, "service_accounts": [f"{name}:runner"]}]} for name in ("team-a", "team-b")}

    def subjects():
        document = read_role(local_stack, account, "shared-by-two")["role"]["AssumeRolePolicyDocument"]
        return [statement["Condition"]["StringEquals"][f"{local_stack.issuer.removeprefix('https://')}:sub"] for statement in document["Statement"]]

    # Two writers (two playbooks, two inventories in real life) on one role and one issuer, then again: both stay.
    run = run_playbook(role_play(("a", team["team-a"]), ("b", team["team-b"]), ("a again", team["team-a"]), ("b again", team["team-b"])),
                       inventory=inventory(account))
    succeeded(run)
    assert [run.result(task, host)["status"] for task in ("a", "b", "a again", "b again")] == ["created", "updated", "ok", "ok"]
    assert subjects() == ["system:serviceaccount:team-a:runner", "system:serviceaccount:team-b:runner"]

    # Removal, predicted by check mode, takes only the writer's own statement; the last one's removal deletes the role.
    for check in (True, False):
        run = run_playbook(role_play(("a leaves", dict(team["team-a"], state="absent"))), inventory=inventory(account), check=check)
        succeeded(run)
        assert run.result("a leaves", host)["status"] == "updated"
    assert subjects() == ["system:serviceaccount:team-b:runner"]
    run = run_playbook(role_play(("a leaves again", dict(team["team-a"], state="absent")), ("b leaves", dict(team["team-b"], state="absent"))),
                       inventory=inventory(account))
    succeeded(run)
    assert [run.result(task, host)["status"] for task in ("a leaves again", "b leaves")] == ["ok", "deleted"]
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchEntity"):
        local_stack.account_client("iam", account).get_role(RoleName="shared-by-two")


def test_shared_removal_needs_the_trust_it_removes(local_stack, run_playbook):
    play = yaml.safe_dump([{"name": "no trust", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "role", MODULE: {"name": "r", "state": "absent", "trust_policy_mode": "shared"}}]}])
    local_stack.reset_aws_requests()
    run = run_playbook(play)
    assert run.rc == 2
    assert run.result("role")["msg"].startswith("trust (or trusted_role, or pod_identity) is required with state=absent and trust_policy_mode=shared")
    assert local_stack.aws_requests() == []


def test_role_made_by_hand_is_neither_changed_nor_deleted_until_adopted(local_stack, run_playbook):
    account = "320000000012"
    host = f"account-{account}"
    iam = local_stack.account_client("iam", account)
    ec2_trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="handmade", AssumeRolePolicyDocument=json.dumps(ec2_trust), Tags=[{"Key": "team", "Value": "data"}])
    iam.attach_role_policy(RoleName="handmade", PolicyArn=SECURITY_AUDIT)
    handmade = read_role(local_stack, account, "handmade")
    present = {"name": "handmade", "trust": [{"issuer": local_stack.issuer, "service_accounts": ["torque-agents:runner"]}],
               "managed_policies": [READ_ONLY]}
    absent = {"name": "handmade", "state": "absent"}

    # Neither present nor absent touches it, in check mode or for real: only reads are sent.
    local_stack.reset_aws_requests()
    for options, hint in ((present, "set adopt=true"), (absent, "set force=true")):
        for check in (True, False):
            run = run_playbook(role_play(("role", options)), inventory=inventory(account), check=check)
            assert run.rc == 2, (options, check)
            msg = run.result("role", host)["msg"]
            assert msg.startswith(not_owned("role", "handmade")) and hint in msg, msg
    assert mutating_calls(local_stack) == []
    assert read_role(local_stack, account, "handmade") == handmade

    # Adopting it is the explicit choice: then it converges like any other role and gets the ownership tag.
    adopted = run_playbook(role_play(("adopt", dict(present, adopt=True))), inventory=inventory(account), diff=True)
    succeeded(adopted)
    result = adopted.result("adopt", host)
    assert result["changed"] is True and result["status"] == "updated"
    assert result["diff"]["before"]["tags"] == {"team": "data"}
    assert result["tags"] == dict(OWNER, team="data")  # the user's tags are not managed here, so they stay
    held = read_role(local_stack, account, "handmade")
    assert held["tags"] == dict(OWNER, team="data")
    assert held["managed"] == [READ_ONLY]
    assert held["role"]["AssumeRolePolicyDocument"] == result["trust_policy"]

    # From now on it is ours: no adopt needed, and absent deletes it without force.
    local_stack.reset_aws_requests()
    again = run_playbook(role_play(("role", present), ("delete", absent)), inventory=inventory(account))
    succeeded(again)
    assert again.result("role", host)["status"] == "ok"
    assert again.result("delete", host)["status"] == "deleted"
    assert read_role(local_stack, account, "handmade") is None


def test_absent_deletes_the_role_and_a_missing_role_is_no_change(local_stack, run_playbook):
    account = "320000000009"
    host = f"account-{account}"
    succeeded(run_playbook(role_play(("create", runner_role(local_stack, name="doomed"))), inventory=inventory(account)))
    iam = local_stack.account_client("iam", account)
    iam.create_instance_profile(InstanceProfileName="doomed-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="doomed-profile", RoleName="doomed")
    absent = role_play(("delete", {"name": "doomed", "state": "absent"}))

    local_stack.reset_aws_requests()
    checked = run_playbook(absent, inventory=inventory(account), check=True, diff=True)
    succeeded(checked)
    assert checked.result("delete", host)["changed"] is True
    assert checked.result("delete", host)["diff"]["after"] == {}
    assert checked.result("delete", host)["diff"]["before"]["managed_policies"] == [READ_ONLY]
    assert mutating_calls(local_stack) == []
    assert read_role(local_stack, account, "doomed") is not None

    deleted = run_playbook(absent, inventory=inventory(account))
    succeeded(deleted)
    assert deleted.result("delete", host)["changed"] is True
    assert deleted.result("delete", host)["status"] == "deleted"
    assert read_role(local_stack, account, "doomed") is None
    assert iam.get_instance_profile(InstanceProfileName="doomed-profile")["InstanceProfile"]["Roles"] == []

    local_stack.reset_aws_requests()
    gone = run_playbook(absent, inventory=inventory(account))
    succeeded(gone)
    assert gone.result("delete", host)["changed"] is False
    assert gone.result("delete", host)["status"] == "ok"
    assert mutating_calls(local_stack) == []


def test_path_cannot_change_in_place(local_stack, run_playbook):
    account = "320000000010"
    host = f"account-{account}"
    base = {"name": "pathed", "path": "/irsa/", "trust": [{"issuer": local_stack.issuer, "service_accounts": ["torque-agents:runner"]}]}
    succeeded(run_playbook(role_play(("create", base)), inventory=inventory(account)))

    local_stack.reset_aws_requests()
    run = run_playbook(role_play(("move", dict(base, path="/other/"))), inventory=inventory(account))
    assert run.rc == 2
    assert "IAM cannot move a role to another path" in run.result("move", host)["msg"]
    assert mutating_calls(local_stack) == []


def test_provider_of_another_account_is_refused_before_any_iam_call(local_stack, run_playbook):
    account = "320000000011"
    host = f"account-{account}"
    play = role_play(("role", {"name": "cross", "trust": [
        {"provider_arn": provider_arn("123456789012", local_stack.issuer), "service_accounts": ["torque-agents:runner"]}]}))
    local_stack.reset_aws_requests()
    run = run_playbook(play, inventory=inventory(account))
    assert run.rc == 2
    msg = run.result("role", host)["msg"]
    assert "IAM only honours an OIDC provider in the same account as the role" in msg
    assert [r for r in local_stack.aws_requests() if r["service"] == "iam"] == []


def many_service_accounts(count):
    return [f"torque-environment-{index:03d}:runner-with-a-long-name" for index in range(count)]


@pytest.mark.parametrize("options, message", [
    ({"name": "r" * 65}, "name '" + "r" * 65 + "' is not a valid IAM role name"),
    ({"name": "bad/name"}, "name 'bad/name' is not a valid IAM role name"),
    ({"trust": [{"issuer": "http://oidc.example.com/id/X", "service_accounts": ["a:b"]}]},
     "trust[0].issuer 'http://oidc.example.com/id/X' uses the scheme 'http'"),
    ({"trust": [{"issuer": "https://oidc.example.com/id/X", "service_accounts": ["a:b", "Torque_Agents:runner"]}]},
     "trust[0].service_accounts[1]: the namespace 'Torque_Agents' is not a valid Kubernetes name"),
    ({"trust": [{"issuer": "https://oidc.example.com/id/X", "service_accounts": ["runner"]}]},
     "trust[0].service_accounts[0]: 'runner' is not a service account"),
    ({"trust": [{"issuer": "https://oidc.example.com/id/X", "service_accounts": ["agents:*"]}]},
     "trust[0].service_accounts[0]: the service account name '*' contains the wildcard '*'"),
    ({"account_id": "111111111111", "trust": [{"provider_arn": "arn:aws:iam::222222222222:oidc-provider/oidc.example.com/id/X",
                                               "service_accounts": ["a:b"]}]},
     "trust[0].provider_arn 'arn:aws:iam::222222222222:oidc-provider/oidc.example.com/id/X' is in account 222222222222"),
    ({"inline_policies": {"broken": "{not json"}}, "inline_policies['broken']: not valid JSON"),
    ({"inline_policies": {"empty": {"Version": "2012-10-17"}}}, "inline_policies['empty']: a policy document needs a 'Statement'"),
    ({"managed_policies": ["ReadOnlyAccess"]}, "managed_policies[0] 'ReadOnlyAccess' is not an IAM policy ARN"),
    ({"permissions_boundary": "arn:aws:s3:::bucket"}, "permissions_boundary 'arn:aws:s3:::bucket' is not an IAM policy ARN"),
    ({"max_session_duration": 60}, "max_session_duration 60 is out of range"),
    ({"trust_policy_size_limit": 10000}, "trust_policy_size_limit 10000 is out of range"),
    ({"path": "irsa"}, "path 'irsa': role path must begin and end with /"),
    ({"account_id": "2222"}, "account_id '2222' is not an AWS account ID"),
    ({"trust": [{"issuer": "https://oidc.example.com/id/X", "service_accounts": many_service_accounts(40)}]},
     "the trust policy would be "),
])
def test_bad_input_fails_before_any_aws_request(local_stack, run_playbook, options, message):
    task = dict({"name": "valid-name", "trust": [{"issuer": "https://oidc.example.com/id/X", "service_accounts": ["a:b"]}]}, **options)
    play = yaml.safe_dump([{"name": "bad input", "hosts": "localhost", "gather_facts": False, "tasks": [{"name": "role", MODULE: task}]}])
    local_stack.reset_aws_requests()
    run = run_playbook(play)
    assert run.rc == 2
    assert run.result("role")["msg"].startswith(message), run.result("role")["msg"]
    assert local_stack.aws_requests() == []


def test_oversized_trust_policy_names_what_made_it_grow(local_stack, run_playbook):
    task = {"name": "too-big", "trust": [
        {"issuer": "https://oidc.example.com/id/BIG", "service_accounts": many_service_accounts(40)},
        {"issuer": "https://oidc.example.com/id/SMALL", "service_accounts": ["a:b"]}]}
    play = yaml.safe_dump([{"name": "too big", "hosts": "localhost", "gather_facts": False, "tasks": [{"name": "role", MODULE: task}]}])
    run = run_playbook(play)
    msg = run.result("role")["msg"]
    assert "over the limit of 2048 (trust_policy_size_limit)" in msg
    assert msg.index("issuer oidc.example.com/id/BIG with 40 service account(s)") < msg.index("issuer oidc.example.com/id/SMALL")
    assert "raise trust_policy_size_limit up to 4096" in msg


def test_ansible_doc_renders_the_module():
    ansible_doc = os.path.join(ANSIBLE_BIN, "ansible-doc")
    output = subprocess.run([ansible_doc, MODULE], capture_output=True, text=True, check=True,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1")).stdout
    for expected in ("trust_policy_mode", "allow_wildcard_subjects", "service_accounts", "purge_inline_policies",
                     "permissions_boundary", "trust_policy_size_limit", "create_date", "role_id", "adopt", "force",
                     "eks-irsa:managed-by"):
        assert expected in output
