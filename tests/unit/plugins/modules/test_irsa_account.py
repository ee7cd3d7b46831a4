# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""irsa_account checks every entry as the provider and role modules do, before any AWS call, naming the entry."""

from __future__ import annotations

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.modules import irsa_account

ACCOUNT = "222222222222"
ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


class Failed(Exception):
    pass


class FakeModule:
    """What checked_options uses of AnsibleModule: the params; and fail_json, which errors.reported turns an error into."""

    def __init__(self, provider, roles=(), account_id=ACCOUNT, state="present", providers=None):
        self.params = {"provider": provider, "providers": providers, "roles": list(roles), "account_id": account_id, "state": state}

    def fail_json(self, msg, **_kwargs):
        raise Failed(msg)


def role(name="torque-runner", **options):
    return dict({"name": name, "trust": [{"issuer": ISSUER, "service_accounts": ["envs:runner"]}]}, **options)


def test_the_account_id_reaches_the_provider_and_every_role_unless_an_entry_gives_its_own():
    module = FakeModule({"url": ISSUER}, [role(), role("other", account_id="333333333333"), {"name": "old", "state": "absent"}])
    (entry,), roles, _associations = irsa_account.checked_options(module)
    provider, wanted, provider_account = entry.options, entry.wanted, entry.account
    assert provider_account == ACCOUNT and provider["state"] == "present" and provider["purge_tags"] is True
    assert wanted.issuer.url == ISSUER and entry.where == "provider"
    assert [(r["name"], r["account_id"], r["state"]) for r in roles] == [
        ("torque-runner", ACCOUNT, "present"), ("other", "333333333333", "present"), ("old", ACCOUNT, "absent")]
    assert roles[0]["audience"] == "sts.amazonaws.com"  # the role module's defaults are filled in


@pytest.mark.parametrize("provider, roles, message", [
    ({}, [], "provider: missing required arguments: url"),
    ({"url": "http://example.com/id/X"}, [], "provider: "),
    ({"url": ISSUER, "state": "absent"}, [], "provider: state is absent but the task's state is present: set state on the task"),
    ({"url": ISSUER, "thumbprint": ["x"]}, [], "provider: unsupported parameters thumbprint. Supported parameters include: account_id, client_ids"),
    ({"url": ISSUER}, [role(), role("second", managed_policy=[])],
     "roles[1] (second): unsupported parameters managed_policy. Supported parameters include: account_id"),
    ({"url": ISSUER}, [role(path="irsa")], "roles[0] (torque-runner): path 'irsa': role path must begin and end with /"),
    ({"url": ISSUER}, [{"name": "no-trust"}], "roles[0] (no-trust): state is present but any of the following are missing: trust, trusted_role"),
])
def test_a_bad_entry_fails_naming_it_before_any_aws_call(provider, roles, message):
    with pytest.raises(Failed) as failed:
        reported(FakeModule(provider, roles), irsa_account.checked_options)
    assert str(failed.value).startswith(message), str(failed.value)


@pytest.mark.parametrize("provider", [{"url": ISSUER}, {"url": ISSUER, "state": "absent"}])
def test_state_absent_deletes_every_listed_role_and_the_provider(provider):
    module = FakeModule(provider, [role(), {"name": "old", "state": "absent"}], state="absent")
    (entry,), roles, _associations = irsa_account.checked_options(module)
    assert entry.options["state"] == "absent" and [(r["name"], r["state"]) for r in roles] == [("torque-runner", "absent"), ("old", "absent")]


@pytest.mark.parametrize("provider, roles, message", [
    ({"url": ISSUER}, [role(state="present")],
     "roles[0] (torque-runner): state is present but the task's state is absent, which deletes every role and then the provider"),
    ({"url": ISSUER, "state": "present"}, [], "provider: state is present but the task's state is absent"),
])
def test_state_absent_refuses_an_entry_that_says_present(provider, roles, message):
    with pytest.raises(Failed) as failed:
        reported(FakeModule(provider, roles, state="absent"), irsa_account.checked_options)
    assert str(failed.value).startswith(message), str(failed.value)


def test_the_result_names_each_role_with_the_service_accounts_it_trusts():
    options = role(trust=[{"issuer": ISSUER, "service_accounts": ["envs:runner", {"namespace": "ci", "name": "builder"}]}])
    assert irsa_account.trusted_service_accounts(options) == ["envs:runner", "ci:builder"]
    assert irsa_account.trusted_service_accounts({"name": "old", "trust": None}) == []
    wildcard = role(trust=[{"issuer": ISSUER, "service_accounts": ["ci-*:runner"]}], allow_wildcard_subjects=True)
    assert irsa_account.trusted_service_accounts(wildcard) == ["ci-*:runner"]


OTHER_ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/0THERC1USTER"


def test_providers_each_have_their_state_and_a_retired_one_may_go_in_a_present_task():
    module = FakeModule(None, [role()], providers=[{"url": ISSUER}, {"url": OTHER_ISSUER, "state": "absent", "force": True}])
    providers, _roles, _associations = irsa_account.checked_options(module)
    assert [(p.where, p.wanted.issuer.url, p.options["state"], p.options["force"], p.account) for p in providers] == [
        ("providers[0]", ISSUER, "present", False, ACCOUNT), ("providers[1]", OTHER_ISSUER, "absent", True, ACCOUNT)]


@pytest.mark.parametrize("providers, state, message", [
    ([{"url": ISSUER}, {"url": ISSUER + "/"}], "present",
     "providers[1]: the issuer oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE is already providers[0]"),
    ([{"url": ISSUER}, {"url": OTHER_ISSUER, "state": "present"}], "absent",
     "providers[1]: state is present but the task's state is absent, which deletes every provider"),
    ([{"url": ISSUER}, {"url": "http://x.example.com/id/X"}], "present", "providers[1]: "),
])
def test_bad_providers_are_refused_naming_the_entry(providers, state, message):
    with pytest.raises(Failed) as failed:
        reported(FakeModule(None, [], state=state, providers=providers), irsa_account.checked_options)
    assert str(failed.value).startswith(message), str(failed.value)


def test_an_account_needs_a_provider_only_for_roles_that_trust_a_cluster():
    trusting = {"name": "runner", "trust": [{"issuer": ISSUER, "service_accounts": ["envs:runner"]}]}
    spoke = {"name": "deployer", "trusted_role": {"arn": "arn:aws:iam::123456789012:role/hub"}}
    with pytest.raises(Failed) as failed:
        reported(FakeModule(None, [trusting, spoke], providers=[]), irsa_account.checked_options)
    assert str(failed.value).startswith("providers is empty, but roles trust a cluster's issuer: list the account's OIDC providers")
    providers, roles, _associations = irsa_account.checked_options(FakeModule(None, [spoke], providers=[]))
    assert providers == [] and roles[0]["trusted_role"] == {"arn": "arn:aws:iam::123456789012:role/hub", "external_id": None}


# -- EKS Pod Identity associations --------------------------------------------------------------------------------

CLUSTER_ARN = f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/agents"


def _pod_role(name="runner"):
    return {"name": name, "pod_identity": [{"cluster_arn": CLUSTER_ARN}]}


def _association(**options):
    """An entry naming the role ``runner``; an option given as None is left out."""
    entry = dict({"cluster_name": "agents", "namespace": "envs", "service_account": "runner", "role_name": "runner"}, **options)
    return {key: value for key, value in entry.items() if value is not None}


def _associations(roles, associations, state="present"):
    module = FakeModule(None, roles, providers=[], state=state)
    module.params["associations"] = associations
    return reported(module, irsa_account.checked_options)[2]


def test_an_association_names_a_pod_identity_role_of_the_task_or_gives_its_arn():
    (where, params, role), = _associations([_pod_role()], [_association()])
    assert where == "associations[0] (envs/runner)" and role["name"] == "runner" and params["role_arn"] is None
    (_where, params, role), = _associations([], [_association(role_name=None, role_arn=f"arn:aws:iam::{ACCOUNT}:role/other")])
    assert role is None and params["role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/other"
    # With the task's state absent every association goes, and the role it names is not looked for.
    (_where, params, role), = _associations([{"name": "runner"}], [_association()], state="absent")
    assert params["state"] == "absent" and role is None


@pytest.mark.parametrize("roles, associations, message", [
    ([role("runner")], [_association()], "associations[0] (envs/runner): role_name 'runner' is not a role of roles with pod_identity"),
    ([_pod_role()], [_association(role_name=None)], "role_name (a role of roles) or role_arn is required"),
    ([_pod_role()], [_association(), _association()], "associations[1] (envs/runner): the ServiceAccount is already associations[0]"),
    ([_pod_role()], [_association(namespace="Envs")], "namespace 'Envs' is not a Kubernetes namespace name"),
    ([_pod_role()], [_association(policy='{"Statement": []}')], "policy needs disable_session_tags: true"),
    ([_pod_role()], [_association(role_arn=f"arn:aws:iam::{ACCOUNT}:role/x")], "mutually exclusive: role_name|role_arn"),
])
def test_a_bad_association_is_refused_before_any_call(roles, associations, message):
    with pytest.raises(Failed) as failed:
        _associations(roles, associations)
    assert message in str(failed.value)


def test_an_absent_task_refuses_an_association_that_says_present():
    with pytest.raises(Failed, match=r"associations\[0\] \(envs/runner\): state is present but the task's state is absent"):
        _associations([], [_association(state="present")], state="absent")
