# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""iam_oidc_provider through real ansible-playbook runs against moto, in target accounts reached by assume-role.

Each inventory host is a target account (as in a rollout): the play assumes a role there with
``amazon.aws.sts_assume_role`` and hands the credentials to the module through the collection's action
group. Every test uses its own accounts, because the stack lives for the whole session.
AWS calls are counted at the recording proxy, so "no change" is proven by what was sent, not by ``changed``.
moto does not implement the client-ID calls; those are covered by the Stubber unit tests.

Every provider the module creates carries the ownership tag; one made here with boto3 stands for a provider eksctl
or a person made, which the module uses as it is and does not delete without ``force``.
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

MODULE = "torque.eks_irsa.iam_oidc_provider"
OWNER = {OWNER_TAG_KEY: OWNER_TAG_VALUE}
EKSCTL_TAGS = {"alpha.eksctl.io/cluster-name": "agents", "alpha.eksctl.io/eksctl-version": "0.190.0"}
ASSUME_ROLE = {
    "name": "assume a role in the target account",
    "amazon.aws.sts_assume_role": {"role_arn": "arn:aws:iam::{{ account_id }}:role/deployer", "role_session_name": "iam-oidc-provider-test"},
    "register": "assumed",
    "check_mode": False,  # read-only, and needed for the check-mode runs too
    "changed_when": False,
    "no_log": True,  # credentials are never printed
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


def provider_play(*tasks):
    """A playbook (YAML text) running ``(name, options)`` module tasks in each host's account, with assumed-role credentials."""
    return yaml.safe_dump([{
        "name": "iam_oidc_provider in target accounts",
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


def read_provider(stack, account, issuer):
    """What IAM holds, read with boto3 independently of the module; ``None`` when there is no provider."""
    iam = stack.account_client("iam", account)
    try:
        return iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn(account, issuer))
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchEntity":
            return None
        raise


def iam_calls(stack):
    return [(r["account"], r["action"]) for r in stack.aws_requests() if r["service"] == "iam"]


def mutating_calls(stack):
    return [(r["account"], r["service"], r["action"]) for r in stack.aws_requests() if r["mutating"]]


def tags_of(response):
    return {tag["Key"]: tag["Value"] for tag in response.get("Tags", [])}


def test_created_in_two_accounts_then_a_rerun_sends_no_mutating_call(local_stack, run_playbook):
    accounts = ("310000000001", "310000000002")
    play = provider_play(("provider", {"url": local_stack.issuer, "tags": {"owner": "platform"}}))

    run = run_playbook(play, inventory=inventory(*accounts))
    succeeded(run)
    for account in accounts:
        result = run.result("provider", f"account-{account}")
        assert result["changed"] is True
        assert result["status"] == "created"
        assert result["arn"] == provider_arn(account, local_stack.issuer)
        assert result["url"] == local_stack.issuer
        assert result["client_ids"] == ["sts.amazonaws.com"]
        assert result["thumbprints"] == []
        assert result["tags"] == dict(OWNER, owner="platform")
        assert result["create_date"]
        held = read_provider(local_stack, account, local_stack.issuer)
        assert held["Url"] == host_path(local_stack.issuer)
        assert held["ClientIDList"] == ["sts.amazonaws.com"]
        assert held["ThumbprintList"] == []
        assert tags_of(held) == dict(OWNER, owner="platform")

    local_stack.reset_aws_requests()
    rerun = run_playbook(play, inventory=inventory(*accounts))
    succeeded(rerun)
    assert all(not rerun.result("provider", f"account-{account}")["changed"] for account in accounts)
    assert all(rerun.result("provider", f"account-{account}")["status"] == "ok" for account in accounts)
    assert mutating_calls(local_stack) == []
    # One direct read per account; never a listing of the account's providers.
    assert sorted(iam_calls(local_stack)) == [(account, "GetOpenIDConnectProvider") for account in accounts]


def test_given_account_id_saves_the_caller_identity_call(local_stack, run_playbook):
    account = "310000000003"
    play = provider_play(("provider", {"url": local_stack.issuer, "account_id": "{{ account_id }}"}))
    succeeded(run_playbook(play, inventory=inventory(account)))

    local_stack.reset_aws_requests()
    run = run_playbook(play, inventory=inventory(account))
    succeeded(run)
    assert run.result("provider", f"account-{account}")["changed"] is False
    actions = [(r["service"], r["action"]) for r in local_stack.aws_requests()]
    assert actions == [("sts", "AssumeRole"), ("iam", "GetOpenIDConnectProvider")]


def test_wrong_account_id_is_caught_before_anything_is_created(local_stack, run_playbook):
    account, wrong = "310000000009", "310000000010"
    local_stack.reset_aws_requests()
    run = run_playbook(provider_play(("provider", {"url": local_stack.issuer, "account_id": wrong})), inventory=inventory(account))
    assert run.rc == 2
    assert run.result("provider", f"account-{account}")["msg"].startswith(
        f"account_id {wrong} is not the account the credentials act in ({account})")
    assert mutating_calls(local_stack) == []
    assert read_provider(local_stack, account, local_stack.issuer) is None


def test_check_mode_on_a_fresh_account_writes_nothing_and_predicts_the_real_run(local_stack, run_playbook):
    account = "310000000004"
    host = f"account-{account}"
    play = provider_play(("provider", {"url": local_stack.issuer, "thumbprints": ["9E99A48A9960B14926BB7F3B02E22DA2B0AB7280"],
                                       "tags": {"owner": "platform"}}))

    local_stack.reset_aws_requests()
    predicted = run_playbook(play, inventory=inventory(account), check=True, diff=True)
    succeeded(predicted)
    assert mutating_calls(local_stack) == []
    assert read_provider(local_stack, account, local_stack.issuer) is None
    prediction = predicted.result("provider", host)
    assert prediction["changed"] is True
    assert prediction["diff"]["before"] == {}
    assert prediction["diff"]["after"]["thumbprints"] == ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]

    real = run_playbook(play, inventory=inventory(account), diff=True)
    succeeded(real)
    outcome = real.result("provider", host)
    assert outcome["changed"] is True
    assert outcome["diff"] == prediction["diff"]
    for key in ("arn", "url", "client_ids", "thumbprints", "tags", "status"):
        assert outcome[key] == prediction[key], key
    assert outcome["tags"] == dict(OWNER, owner="platform")
    assert read_provider(local_stack, account, local_stack.issuer)["ThumbprintList"] == ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]

    again = run_playbook(play, inventory=inventory(account), check=True)
    assert again.result("provider", host)["changed"] is False


def test_url_spellings_converge_on_one_provider(local_stack, run_playbook):
    account = "310000000005"
    host = f"account-{account}"
    issuer = local_stack.issuer
    scheme_less_upper_host = host_path(issuer).replace("oidc.eks", "OIDC.EKS", 1)
    run = run_playbook(provider_play(
        ("with scheme", {"url": issuer}),
        ("with trailing slash", {"url": issuer + "/"}),
        ("without scheme", {"url": scheme_less_upper_host + "/"}),
    ), inventory=inventory(account))

    succeeded(run)
    assert run.result("with scheme", host)["changed"] is True
    for name in ("with trailing slash", "without scheme"):
        result = run.result(name, host)
        assert result["changed"] is False, name
        assert result["arn"] == provider_arn(account, issuer)
        assert result["url"] == issuer
    assert local_stack.account_client("iam", account).list_open_id_connect_providers()["OpenIDConnectProviderList"] == [
        {"Arn": provider_arn(account, issuer)}]


def test_tags_are_changed_and_purged(local_stack, run_playbook):
    account = "310000000006"
    host = f"account-{account}"
    url = local_stack.issuer
    run = run_playbook(provider_play(
        ("create", {"url": url, "tags": {"owner": "platform", "team": "a"}}),
        ("change without purge", {"url": url, "tags": {"owner": "agents"}, "purge_tags": False}),
        ("same again", {"url": url, "tags": {"owner": "agents"}, "purge_tags": False}),
        ("purge", {"url": url, "tags": {"owner": "agents"}}),
        ("tags left alone", {"url": url}),
    ), inventory=inventory(account), diff=True)

    succeeded(run)
    changed = run.result("change without purge", host)
    assert changed["changed"] is True and changed["tags"] == dict(OWNER, owner="agents", team="a")
    assert changed["status"] == "updated"
    assert changed["diff"]["before"]["tags"] == dict(OWNER, owner="platform", team="a")
    assert run.result("same again", host)["changed"] is False
    purged = run.result("purge", host)
    # Purging removes the user's other tags, never the ownership tag of a provider the module created.
    assert purged["changed"] is True and purged["tags"] == dict(OWNER, owner="agents")
    assert run.result("tags left alone", host)["changed"] is False
    assert tags_of(read_provider(local_stack, account, url)) == dict(OWNER, owner="agents")


def test_created_provider_carries_the_ownership_tag_whatever_the_tags_options(local_stack, run_playbook):
    account = "310000000011"
    host = f"account-{account}"
    url = local_stack.issuer
    run = run_playbook(provider_play(
        ("create without tags", {"url": url}),
        ("empty tags with purge", {"url": url, "tags": {}}),
        ("tags with purge", {"url": url, "tags": {"team": "a"}}),
    ), inventory=inventory(account))

    succeeded(run)
    assert run.result("create without tags", host)["tags"] == OWNER
    assert run.result("empty tags with purge", host)["changed"] is False
    assert run.result("tags with purge", host)["tags"] == dict(OWNER, team="a")
    assert tags_of(read_provider(local_stack, account, url)) == dict(OWNER, team="a")


def test_eksctl_provider_is_used_as_is_and_never_tagged_as_ours(local_stack, run_playbook):
    account = "310000000012"
    host = f"account-{account}"
    url = local_stack.issuer
    local_stack.account_client("iam", account).create_open_id_connect_provider(
        Url=url, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
        Tags=[{"Key": key, "Value": value} for key, value in EKSCTL_TAGS.items()])

    local_stack.reset_aws_requests()
    run = run_playbook(provider_play(
        ("use it", {"url": url}),
        ("as the oidc_provider role sends it", {"url": url, "tags": {}, "purge_tags": False}),
    ), inventory=inventory(account))
    succeeded(run)
    for task in ("use it", "as the oidc_provider role sends it"):
        assert run.result(task, host)["changed"] is False, task
        assert run.result(task, host)["status"] == "ok", task
        assert run.result(task, host)["tags"] == EKSCTL_TAGS, task
    assert mutating_calls(local_stack) == []

    # What the user explicitly asks for is applied, and only that: no ownership tag comes with it.
    run = run_playbook(provider_play(("add a tag", {"url": url, "tags": {"owner": "platform"}, "purge_tags": False})),
                       inventory=inventory(account))
    succeeded(run)
    assert run.result("add a tag", host)["status"] == "updated"
    assert run.result("add a tag", host)["tags"] == dict(EKSCTL_TAGS, owner="platform")
    held = read_provider(local_stack, account, url)
    assert tags_of(held) == dict(EKSCTL_TAGS, owner="platform")
    assert held["ThumbprintList"] == ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]


def test_provider_made_by_hand_is_not_deleted_without_force(local_stack, run_playbook):
    account = "310000000013"
    host = f"account-{account}"
    url = local_stack.issuer
    arn = provider_arn(account, url)
    local_stack.account_client("iam", account).create_open_id_connect_provider(Url=url, ClientIDList=["sts.amazonaws.com"])
    absent = {"url": url, "state": "absent"}

    local_stack.reset_aws_requests()
    for check in (True, False):
        refused = run_playbook(provider_play(("delete", absent)), inventory=inventory(account), check=check)
        assert refused.rc == 2, check
        result = refused.result("delete", host)
        assert result["msg"].startswith(not_owned("OIDC provider", arn)), result["msg"]
        assert "does not delete it" in result["msg"] and "force=true" in result["msg"]
        assert "trusted_by" not in result  # no role trusts it: the refusal is about ownership alone
    assert mutating_calls(local_stack) == []
    assert read_provider(local_stack, account, url) is not None

    # Present does not make it ours either: absent still refuses afterwards.
    succeeded(run_playbook(provider_play(("use it", {"url": url}), ("use it with tags", {"url": url, "tags": {"team": "a"}})),
                           inventory=inventory(account)))
    assert OWNER_TAG_KEY not in tags_of(read_provider(local_stack, account, url))
    assert run_playbook(provider_play(("delete", absent)), inventory=inventory(account)).rc == 2

    forced = run_playbook(provider_play(("delete", dict(absent, force=True))), inventory=inventory(account))
    succeeded(forced)
    assert forced.result("delete", host)["status"] == "deleted"
    assert read_provider(local_stack, account, url) is None


def test_deletion_is_refused_while_a_role_trusts_the_provider_then_forced(local_stack, run_playbook):
    account = "310000000007"
    host = f"account-{account}"
    url = local_stack.issuer
    arn = provider_arn(account, url)
    succeeded(run_playbook(provider_play(("create", {"url": url})), inventory=inventory(account)))
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host_path(url)}:aud": "sts.amazonaws.com"}}}]}
    local_stack.account_client("iam", account).create_role(RoleName="agents-deployer", AssumeRolePolicyDocument=json.dumps(trust))

    local_stack.reset_aws_requests()
    refused = run_playbook(provider_play(("delete", {"url": url, "state": "absent"})), inventory=inventory(account))
    assert refused.rc == 2
    result = refused.result("delete", host)
    assert result["failed"] is True
    assert "agents-deployer" in result["msg"] and "force=true" in result["msg"]
    assert result["trusted_by"] == ["agents-deployer"]
    assert mutating_calls(local_stack) == []
    assert read_provider(local_stack, account, url) is not None

    forced = provider_play(("delete", {"url": url, "state": "absent", "force": True}))
    checked = run_playbook(forced, inventory=inventory(account), check=True, diff=True)
    succeeded(checked)
    assert checked.result("delete", host)["changed"] is True
    assert checked.result("delete", host)["diff"]["after"] == {}
    assert read_provider(local_stack, account, url) is not None

    deleted = run_playbook(forced, inventory=inventory(account))
    succeeded(deleted)
    assert deleted.result("delete", host)["changed"] is True
    assert deleted.result("delete", host)["status"] == "deleted"
    assert read_provider(local_stack, account, url) is None

    local_stack.reset_aws_requests()
    gone = run_playbook(forced, inventory=inventory(account))
    succeeded(gone)
    assert gone.result("delete", host)["changed"] is False
    assert mutating_calls(local_stack) == []


def test_untrusted_provider_is_deleted_without_force(local_stack, run_playbook):
    account = "310000000008"
    play = provider_play(("create", {"url": local_stack.issuer}), ("delete", {"url": local_stack.issuer, "state": "absent"}))
    run = run_playbook(play, inventory=inventory(account))
    succeeded(run)
    assert run.result("delete", f"account-{account}")["changed"] is True
    assert read_provider(local_stack, account, local_stack.issuer) is None


@pytest.mark.parametrize("options, message", [
    ({"url": "http://oidc.example.com/id/X"}, "url 'http://oidc.example.com/id/X' uses the scheme 'http'"),
    ({"url": "https://oidc.example.com/id/X", "thumbprints": ["9e:99:a4"]}, "thumbprints: '9e:99:a4' is not a certificate thumbprint"),
    ({"url": "https://oidc.example.com/id/X", "account_id": "2222"}, "account_id '2222' is not an AWS account ID"),
])
def test_bad_input_fails_before_any_aws_request(local_stack, run_playbook, options, message):
    play = yaml.safe_dump([{"name": "bad input", "hosts": "localhost", "gather_facts": False,
                            "tasks": [{"name": "provider", MODULE: options}]}])
    local_stack.reset_aws_requests()
    run = run_playbook(play)
    assert run.rc == 2
    assert run.result("provider")["msg"].startswith(message)
    assert local_stack.aws_requests() == []


def test_ansible_doc_renders_the_module():
    ansible_doc = os.path.join(ANSIBLE_BIN, "ansible-doc")
    output = subprocess.run([ansible_doc, MODULE], capture_output=True, text=True, check=True,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1")).stdout
    for expected in ("client_ids", "thumbprints", "purge_tags", "force", "account_id", "create_date", "trusted_by",
                     "eks-irsa:managed-by"):
        assert expected in output
