# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The whole-inventory preflight (plugins/filter/account_plans.py), called as the preflight play calls it."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.filter import account_plans as module
from ansible_collections.torque.eks_irsa.plugins.filter.account_plans import account_plans
from ansible_collections.torque.eks_irsa.plugins.filter.account_plans import checked_inventory
from ansible_collections.torque.eks_irsa.plugins.filter.web_identity_roles import web_identity_role_params

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
OTHER_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/OTHER"


def _account(account_id, **values):
    host_vars = {"eks_irsa_account_id": account_id, "eks_irsa_cluster_name": "agents", "eks_irsa_namespace": "torque",
                 "eks_irsa_roles": [{"name": "torque-runner"}]}
    host_vars.update(values)
    return host_vars


def _inventory(**hosts):
    return list(hosts), hosts


def test_filters_are_registered_under_their_function_names():
    filters = module.FilterModule().filters()
    assert filters == {"checked_inventory": checked_inventory, "account_plans": account_plans}


def test_checked_inventory_passes_complete_accounts_through():
    hosts, hostvars = _inventory(dev=_account("111111111111"), prod=_account("222222222222", eks_irsa_region="eu-west-1"))
    assert checked_inventory(hosts, hostvars) == ["dev", "prod"]


def test_checked_inventory_reports_every_account_at_once_naming_host_and_variable():
    missing_namespace = _account("111111111111")
    del missing_namespace["eks_irsa_namespace"]
    hosts, hostvars = _inventory(
        dev=missing_namespace,
        ok=_account("333333333333"),
        prod=_account("", eks_irsa_roles="torque-runner", eks_irsa_region="mars-1"),
    )
    with pytest.raises(AnsibleFilterError) as error:
        checked_inventory(hosts, hostvars)
    lines = error.value.message.splitlines()
    assert lines[0] == "The inventory has 4 problems; nothing was written. Fix and run again:"
    assert lines[1:] == [
        "dev: eks_irsa_namespace is not set: give the Kubernetes namespace the ServiceAccounts go in",
        "prod: eks_irsa_account_id is not set: give the 12-digit ID of the account as a host variable, quoted",
        'prod: eks_irsa_roles "torque-runner" is not a list of roles: write each role as a mapping, for example [{name: torque-runner}]',
        'prod: eks_irsa_region "mars-1" is not an AWS region name: write it like eu-west-1',
    ]


def test_checked_inventory_accepts_an_issuer_instead_of_a_cluster_name():
    without_cluster = _account("111111111111", eks_irsa_issuer=ISSUER)
    del without_cluster["eks_irsa_cluster_name"]
    assert checked_inventory(*_inventory(dev=without_cluster)) == ["dev"]
    del without_cluster["eks_irsa_issuer"]
    with pytest.raises(AnsibleFilterError, match="dev: eks_irsa_cluster_name is not set"):
        checked_inventory(*_inventory(dev=without_cluster))


def test_account_plans_gives_each_account_its_checked_values_and_role_plan():
    hosts, hostvars = _inventory(
        dev=_account(111111111111, eks_irsa_assume_role_arn="arn:aws:iam::111111111111:role/irsa-deployer",
                     eks_irsa_external_id="torque-ext", eks_irsa_tags={"team": "platform"}),
        prod=_account("222222222222", eks_irsa_issuer=OTHER_ISSUER + "/"),
    )
    plans = account_plans(hosts, hostvars, ISSUER)
    tags = {"eks-irsa:cluster": "agents", "team": "platform"}
    assert plans["dev"] == {
        "account_id": "111111111111",
        "assume_role_arn": "arn:aws:iam::111111111111:role/irsa-deployer",
        "external_id": "torque-ext",
        "issuer": ISSUER,
        "tags": tags,
        "roles": web_identity_role_params([{"name": "torque-runner"}], ISSUER, "torque", "111111111111",
                                          host="dev", service_account_suffix="dev", tags=tags),
    }
    # A host's own eks_irsa_issuer wins over the looked-up one, in IAM's form (no trailing slash).
    assert plans["prod"]["issuer"] == OTHER_ISSUER
    assert plans["prod"]["assume_role_arn"] is None and plans["prod"]["external_id"] is None
    assert [role["service_account"] for role in plans["prod"]["roles"]] == ["torque-runner-prod"]


def test_account_plans_reports_every_bad_account_with_the_roles_preflight_messages():
    hosts, hostvars = _inventory(
        dev=_account("11111111111"),
        ok=_account("333333333333"),
        prod=_account("222222222222", eks_irsa_assume_role_arn="arn:aws:iam::999999999999:role/irsa-deployer"),
        stage=_account("444444444444", eks_irsa_roles=[{"name": "r", "managed_policy": []}]),
    )
    with pytest.raises(AnsibleFilterError) as error:
        account_plans(hosts, hostvars, ISSUER)
    lines = error.value.message.splitlines()
    assert lines[0] == "The inventory has 3 problems; nothing was written. Fix and run again:"
    assert lines[1].startswith("dev: target_account_id '11111111111' is not an AWS account ID")
    assert lines[2].startswith("prod: target_account_assume_role_arn arn:aws:iam::999999999999:role/irsa-deployer is a role in "
                               "account 999999999999, not in account 222222222222")
    assert lines[3].startswith("stage: web_identity_role_roles[0] (r): unsupported parameters web_identity_role_roles.managed_policy")


def test_account_plans_refuses_one_service_account_claimed_by_two_accounts():
    shared = [{"name": "torque-runner", "service_account": "shared"}]
    hosts, hostvars = _inventory(dev=_account("111111111111", eks_irsa_roles=shared),
                                 prod=_account("222222222222", eks_irsa_roles=shared))
    with pytest.raises(AnsibleFilterError, match="prod: web_identity_role_roles\\[0\\] \\(torque-runner\\): service account "
                                                 "'shared' is already used by role 'torque-runner' of dev"):
        account_plans(hosts, hostvars, ISSUER)


def test_account_plans_of_an_issuer_iam_cannot_hold_names_the_host():
    with pytest.raises(AnsibleFilterError, match="dev: oidc_provider_issuer 'http://example.com' uses the scheme 'http'"):
        account_plans(*_inventory(dev=_account("111111111111")), "http://example.com")
