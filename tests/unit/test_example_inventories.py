# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every example inventory passes the preflight's checks, read as Ansible reads it, and plans what its comments say."""

import glob
import hashlib
import os

import pytest
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from ansible_collections.torque.eks_irsa.plugins.plugin_utils import inventory_checks
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import plan

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
ISSUERS = {name: f"https://oidc.eks.eu-west-1.amazonaws.com/id/{hashlib.md5(name.encode()).hexdigest().upper()}" for name in
           ("agents", "agents-eu", "agents-us", "agents-blue", "agents-green")}


def planned(path):
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[path])
    variables = VariableManager(loader=loader, inventory=inventory)
    hosts = [host.name for host in inventory.get_hosts("eks_irsa_accounts")]
    hostvars = {host: variables.get_vars(host=inventory.get_host(host)) for host in hosts}
    inventory_checks.checked_inventory(hosts, hostvars)
    return plan.account_plans(hosts, hostvars, ISSUERS)


# examples/organization is an inventory plugin's configuration and its group_vars: tests/integration/test_aws_accounts_inventory.py
# lists it from an organization and runs the preflight with it. examples/awx is an AWX project's files, no inventory:
# tests/integration/test_awx_slicing.py runs its playbook.
NOT_INVENTORIES = ("organization", "awx")


@pytest.mark.parametrize("path", sorted(path for path in glob.glob(os.path.join(EXAMPLES, "**", "*.yml"), recursive=True)
                                        if os.path.relpath(path, EXAMPLES).split(os.sep)[0] not in NOT_INVENTORIES),
                         ids=lambda path: os.path.relpath(path, EXAMPLES))
def test_every_example_inventory_passes_the_preflight_checks(path):
    assert planned(path)


def test_the_blue_green_steps_plan_the_migration():
    one, two, three = (planned(os.path.join(EXAMPLES, "shapes", f"blue-green-{step}.yml")) for step in (1, 2, 3))
    assert [p["state"] for p in one["dev"]["providers"]] == ["present"]
    assert [len(role["params"]["trust"]) for role in two["dev"]["roles"]] == [2]
    assert two["dev"]["roles"][0]["params"]["trust"][0] == one["dev"]["roles"][0]["params"]["trust"][0]  # blue's, unchanged
    assert [(p["cluster"], p["state"]) for p in three["dev"]["providers"]] == [("agents-green", "present"), ("agents-blue", "absent")]
    assert three["dev"]["roles"][0]["retired_service_accounts"] == [
        {"cluster": "agents-blue", "namespace": "torque-envs", "name": "torque-runner-dev"}]


def test_the_shapes_plan_what_their_comments_say():
    two = planned(os.path.join(EXAMPLES, "shapes", "two-clusters.yml"))
    assert [role["clusters"] for role in two["prod"]["roles"]] == [["agents-eu", "agents-us"], ["agents-eu"]]
    spaces = planned(os.path.join(EXAMPLES, "shapes", "namespaces.yml"))
    assert spaces["dev"]["roles"][0]["service_accounts"] == [{"cluster": "agents", "namespace": "team-a", "name": "torque-runner-dev"}]
    assert [sa["namespace"] for sa in spaces["prod"]["roles"][1]["service_accounts"]] == ["team-a", "team-b", "team-b"]


def test_the_hub_example_plans_the_hub_role_once_and_a_spoke_in_every_account():
    plans = planned(os.path.join(EXAMPLES, "shapes", "hub.yml"))
    assert [role["params"]["name"] for role in plans["tools"]["roles"]] == ["torque-agent-hub", "torque-deployer"]
    assert [role["params"]["name"] for role in plans["dev"]["roles"]] == ["torque-runner", "torque-deployer"]
    assert plans["prod"]["providers"] == [] and plans["prod"]["roles"][0]["hub"]["service_account"] == "torque-agent"
    assert plans["tools"]["roles"][0]["spoke_arns"] == [f"arn:aws:iam::{account}:role/torque-deployer"
                                                        for account in ("123456789012", "222222222222", "333333333333")]


def test_the_pod_identity_example_plans_associations_and_no_provider_in_the_clusters_account():
    plans = planned(os.path.join(EXAMPLES, "shapes", "pod-identity.yml"))
    assert [(p["cluster"], p["state"]) for p in plans["tools"]["providers"]] == [("agents", "absent")]  # none made, one made goes
    assert [(p["cluster"], p["state"]) for p in plans["dev"]["providers"]] == [("agents", "present")]
    assert [(a["service_account"], a["role_name"], a.get("disable_session_tags")) for a in plans["tools"]["associations"]] == [
        ("torque-runner-tools", "torque-runner", None), ("torque-reports-tools", "torque-reports", True)]
    runner, reports = plans["tools"]["roles"]
    assert runner["params"]["pod_identity"] == [{"cluster_arn": "arn:aws:eks:eu-west-1:123456789012:cluster/agents",
                                                 "service_accounts": ["torque-envs:torque-runner-tools"]}]
    assert reports["params"]["pod_identity"] == [{"cluster_arn": "arn:aws:eks:eu-west-1:123456789012:cluster/agents"}]
    assert "trust" in plans["dev"]["roles"][0]["params"]
    assert [a.get("when_role_leaves_pod_identity") for a in plans["dev"]["associations"]] == [True]  # read only if it had one
