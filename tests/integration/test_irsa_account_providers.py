# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""irsa_account with one provider per cluster: a blue/green move in one account, step by step, through ansible-playbook.

(1) blue only; (2) blue and green: both trusted, blue's statement byte for byte as it was; (3) green only, blue's
provider retired (``state: absent``): it goes after the role stops trusting it, in the same task. Check mode predicts
each step and writes nothing. A role of someone else's that still trusts blue keeps blue's provider: the role moves on
to green, the provider is kept and reported (``status: kept``, the role named), until ``force``. What IAM holds is read
with boto3; the two issuers are moto's clusters of two regions (moto gives every cluster of one region the same issuer).
"""

from __future__ import annotations

import json
import urllib.parse

import botocore.exceptions
import pytest
import yaml

pytestmark = pytest.mark.integration

MODULE = "torque.eks_irsa.irsa_account"
ACCOUNT = "310000000021"
ROLE = "bluegreen-runner"
SUBJECT = "torque-agents:runner"


@pytest.fixture(scope="module")
def green(local_stack):
    return local_stack.create_cluster("providers-green", "us-west-2")


def play(providers, trusted, check=False):
    """One irsa_account task in ACCOUNT: ``providers`` (issuer, state) and the role trusting the ``trusted`` issuers."""
    task = {"name": "account", MODULE: {
        "account_id": ACCOUNT, "assume_role_arn": f"arn:aws:iam::{ACCOUNT}:role/deployer",
        "providers": [{"url": issuer, "state": state, **({"force": True} if forced else {})} for issuer, state, *forced in providers],
        "roles": [{"name": ROLE, "trust": [{"issuer": issuer, "service_accounts": [SUBJECT]} for issuer in trusted]}]},
        "register": "account"}
    return yaml.safe_dump([{"name": "one account", "hosts": "localhost", "gather_facts": False, "tasks": [task]}])


def provider_arn(issuer):
    return f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer.removeprefix('https://')}"


def providers(stack):
    listed = stack.account_client("iam", ACCOUNT).list_open_id_connect_providers()["OpenIDConnectProviderList"]
    return sorted(p["Arn"] for p in listed)


def statements(stack):
    document = stack.account_client("iam", ACCOUNT).get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    document = document if isinstance(document, dict) else json.loads(urllib.parse.unquote(document))
    return {statement["Principal"]["Federated"]: statement for statement in document["Statement"]}


def mutating(stack):
    return [r["action"] for r in stack.aws_requests() if r["mutating"]]


def step(stack, run_playbook, providers_given, trusted):
    """Check mode first (no write, the same statuses), then the real run; the task's result."""
    stack.reset_aws_requests()
    check = run_playbook(play(providers_given, trusted), check=True)
    assert check.rc == 0, check.result("account").get("msg")
    assert mutating(stack) == []
    run = run_playbook(play(providers_given, trusted))
    assert run.rc == 0, run.result("account").get("msg")
    predicted, done = check.result("account"), run.result("account")
    assert [p["status"] for p in predicted["providers"]] == [p["status"] for p in done["providers"]]
    assert predicted["roles"][ROLE]["status"] == done["roles"][ROLE]["status"]
    return done


def test_blue_green_in_one_account(local_stack, run_playbook, green):
    blue = local_stack.issuer
    try:
        first = step(local_stack, run_playbook, [(blue, "present")], [blue])
        assert [p["status"] for p in first["providers"]] == ["created"] and first["roles"][ROLE]["status"] == "created"
        blue_statement = statements(local_stack)[provider_arn(blue)]

        both = step(local_stack, run_playbook, [(blue, "present"), (green, "present")], [blue, green])
        assert [p["status"] for p in both["providers"]] == ["ok", "created"]
        held = statements(local_stack)
        assert set(held) == {provider_arn(blue), provider_arn(green)}
        assert held[provider_arn(blue)] == blue_statement  # blue pods keep working, untouched

        last = step(local_stack, run_playbook, [(green, "present"), (blue, "absent")], [green])
        assert [(p["arn"], p["status"]) for p in last["providers"]] == [(provider_arn(green), "ok"), (provider_arn(blue), "deleted")]
        assert set(statements(local_stack)) == {provider_arn(green)}
        assert providers(local_stack) == [provider_arn(green)]
        # The role's trust was updated before the provider went: IAM never held a role trusting a missing provider.
        assert mutating(local_stack) == ["UpdateAssumeRolePolicy", "DeleteOpenIDConnectProvider"]
    finally:
        cleanup(local_stack)


def test_a_retired_provider_someone_else_still_trusts_is_kept_and_reported_while_the_role_moves_on(local_stack, run_playbook, green):
    blue = local_stack.issuer
    iam = local_stack.account_client("iam", ACCOUNT)
    try:
        assert run_playbook(play([(blue, "present"), (green, "present")], [blue, green])).rc == 0
        theirs = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": provider_arn(blue)},
                                                          "Action": "sts:AssumeRoleWithWebIdentity"}]}
        iam.create_role(RoleName="someone-elses", AssumeRolePolicyDocument=json.dumps(theirs))
        done = step(local_stack, run_playbook, [(green, "present"), (blue, "absent")], [green])
        kept = done["providers"][1]
        assert (kept["arn"], kept["status"], kept["changed"]) == (provider_arn(blue), "kept", False)
        assert kept["kept"] == "still trusted by someone-elses" and kept["trusted_by"] == ["someone-elses"]
        assert done["changed"] and done["roles"][ROLE]["status"] == "updated"
        assert any(provider_arn(blue) in warning and "kept: still trusted by someone-elses" in warning
                   for warning in done.get("warnings") or []), done.get("warnings")
        assert set(statements(local_stack)) == {provider_arn(green)}  # our role no longer trusts blue
        assert providers(local_stack) == sorted([provider_arn(blue), provider_arn(green)])
        assert mutating(local_stack) == ["UpdateAssumeRolePolicy"]

        # Again: nothing to write, the provider still kept. With force it goes, although that role still trusts it.
        again = step(local_stack, run_playbook, [(green, "present"), (blue, "absent")], [green])
        assert not again["changed"] and again["providers"][1]["status"] == "kept" and mutating(local_stack) == []
        forced = step(local_stack, run_playbook, [(green, "present"), (blue, "absent", True)], [green])
        assert forced["providers"][1]["status"] == "deleted" and "kept" not in forced["providers"][1]
        assert providers(local_stack) == [provider_arn(green)]
    finally:
        delete(iam, "someone-elses")
        cleanup(local_stack)


def delete(iam, role):
    try:
        iam.delete_role(RoleName=role)
    except botocore.exceptions.ClientError:
        pass


def cleanup(stack):
    iam = stack.account_client("iam", ACCOUNT)
    delete(iam, ROLE)
    for arn in providers(stack):
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
