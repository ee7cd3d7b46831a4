# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Torque blueprint snippets (plugins/plugin_utils/blueprint.py), and how the summary shows them."""

import pytest
import yaml

from ansible_collections.torque.eks_irsa.plugins.filter.rollout import rollout_summary
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import blueprint
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import checked_torque_agents
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import PlanError


def entry(host, account, role, service_account, namespace="torque-envs", cluster="agents"):
    return {"host": host, "account_id": account, "role": role, "cluster": cluster, "namespace": namespace,
            "service_account": service_account}


ENTRIES = [entry("dev", "222222222222", "torque-runner", "torque-runner-dev"),
           entry("prod", "333333333333", "torque-runner", "torque-runner-prod"),
           entry("prod", "333333333333", "torque-reader", "torque-reader-prod")]


def parsed(files):
    assert all(text.startswith(blueprint.HEADER) for text in files.values())
    return {path: yaml.safe_load(text) for path, text in files.items()}


def test_each_account_gets_a_grain_per_service_account_and_the_namespace_a_file_whose_input_picks_it():
    files = parsed(blueprint.blueprint_files(ENTRIES, {"agents": "eu-agent"}, False))
    assert list(files) == ["accounts/dev-222222222222.yaml", "accounts/prod-333333333333.yaml", "all-accounts-torque-envs.yaml"]
    assert files["accounts/prod-333333333333.yaml"] == {
        "spec_version": 2,
        "description": "Deploys into AWS account 333333333333 (prod) with the roles torque-reader, torque-runner",
        "grains": {
            "torque-runner": {"kind": "terraform", "spec": {"agent": {
                "name": "eu-agent", "service-account": "torque-runner-prod", "runner-namespace": "torque-envs"}}},
            "torque-reader": {"kind": "terraform", "spec": {"agent": {
                "name": "eu-agent", "service-account": "torque-reader-prod", "runner-namespace": "torque-envs"}}},
        }}
    combined = files["all-accounts-torque-envs.yaml"]
    assert combined["inputs"]["service_account"]["type"] == "string"
    assert combined["inputs"]["service_account"]["allowed-values"] == ["torque-runner-dev", "torque-runner-prod", "torque-reader-prod"]
    assert "torque-runner-dev: account 222222222222 (dev), role torque-runner" in combined["inputs"]["service_account"]["description"]
    assert combined["grains"] == {"deploy": {"kind": "terraform", "spec": {"agent": {
        "name": "eu-agent", "service-account": "{{ .inputs.service_account }}", "runner-namespace": "torque-envs"}}}}


def test_an_agent_not_named_is_the_blueprints_agent_input_and_several_clusters_get_a_file_per_namespace_of_each():
    entries = [entry("dev", "222222222222", "runner", "runner-dev", cluster="blue"),
               entry("dev", "222222222222", "runner", "runner-dev", cluster="green"),
               entry("dev", "222222222222", "runner", "runner-dev", namespace="team-b", cluster="green")]
    files = parsed(blueprint.blueprint_files(entries, {"blue": "blue-agent", "green": None}, True))
    assert list(files) == ["accounts/dev-222222222222.yaml", "all-accounts-blue-torque-envs.yaml", "all-accounts-green-team-b.yaml",
                           "all-accounts-green-torque-envs.yaml"]
    account = files["accounts/dev-222222222222.yaml"]
    assert account["inputs"] == {"agent": {"type": "agent",
                                           "description": "The Torque agent on cluster green whose runner pods use these ServiceAccounts"}}
    assert [(name, grain["spec"]["agent"]["name"], grain["spec"]["agent"]["runner-namespace"])
            for name, grain in account["grains"].items()] == [
        ("runner", "blue-agent", "torque-envs"), ("runner-2", "{{ .inputs.agent }}", "torque-envs"),
        ("runner-3", "{{ .inputs.agent }}", "team-b")]
    assert "inputs" in files["all-accounts-green-team-b.yaml"] and list(files["all-accounts-blue-torque-envs.yaml"]["inputs"]) == [
        "service_account"]


@pytest.mark.parametrize("role, name", [("torque-runner", "torque-runner"), ("Team.Deployer@prod", "Team-Deployer-prod"),
                                        ("ab", "grain-ab"), ("x" * 64, "x" * 45)])
def test_grain_names_are_what_torque_accepts(role, name):
    assert blueprint.grain_name(role, set()) == name
    taken = {name}
    second = blueprint.grain_name(role, taken)
    assert second != name and len(second) <= 45 and second.endswith("-2") and second in taken


def test_the_torque_agent_is_one_name_or_one_per_cluster_and_anything_else_is_refused():
    assert checked_torque_agents(None, ["blue", "green"]) == {"blue": None, "green": None}
    assert checked_torque_agents("agent-1", ["blue", "green"]) == {"blue": "agent-1", "green": "agent-1"}
    assert checked_torque_agents({"green": "g"}, ["blue", "green"]) == {"blue": None, "green": "g"}
    with pytest.raises(PlanError, match=r"eks_irsa_torque_agent names the agent of purple, which is not a cluster of the run \(blue, green\)"):
        checked_torque_agents({"purple": "p"}, ["blue", "green"])
    with pytest.raises(PlanError, match=r"eks_irsa_torque_agent must be the name of the Torque agent, or a mapping .*; got \[\"a\"\]"):
        checked_torque_agents(["a"], ["blue"])


def test_the_summary_shows_each_agent_as_yaml_and_where_the_snippets_were_written():
    outcomes = [{"host": "dev", "account_id": "222222222222", "provider": "ok", "providers": {"agents": "ok"}, "error": None, "retired": [],
                 "roles": [{"name": "torque-runner", "arn": "arn:aws:iam::222222222222:role/torque-runner", "status": "ok",
                            "cluster": "agents", "namespace": "torque-envs", "service_account": "torque-runner-dev", "pattern": False}]}]
    summary = rollout_summary(outcomes, "torque-envs", {"torque-envs": {"status": {"torque-runner-dev": "ok"}, "error": None}},
                              [{"name": "agents"}], torque_agent="eu-agent", blueprint_dir="/srv/blueprints")
    shown = summary["lines"][-3:]
    assert shown[0] == "Blueprint: the spec.agent of the grain that deploys into each account, in namespace torque-envs:"
    prefix = "  account 222222222222 (dev), role torque-runner: "
    assert shown[1].startswith(prefix)
    agent = {"name": "eu-agent", "service-account": "torque-runner-dev", "runner-namespace": "torque-envs"}
    assert yaml.safe_load(shown[1][len(prefix):]) == agent
    assert shown[2] == ("Blueprint snippets in /srv/blueprints: accounts/<host>-<account id>.yaml for each account, and "
                        "all-accounts-torque-envs.yaml (its input service_account picks the account)")
    assert sorted(summary["blueprints"]) == ["accounts/dev-222222222222.yaml", "all-accounts-torque-envs.yaml"]


def test_a_spoke_role_is_reached_through_the_hubs_service_account_and_its_provider_override():
    spoke = dict(entry("dev", "222222222222", "torque-deployer", "torque-agent"), role_arn="arn:aws:iam::222222222222:role/ro/torque-deployer",
                 external_id="hub-2026")
    other = dict(entry("prod", "333333333333", "torque-deployer", "torque-agent"), role_arn="arn:aws:iam::333333333333:role/ro/torque-deployer",
                 external_id="hub-2026")
    files = parsed(blueprint.blueprint_files([spoke, other, ENTRIES[0]], {"agents": "eu-agent"}, False))
    assert sorted(files) == ["accounts/dev-222222222222.yaml", "accounts/prod-333333333333.yaml",
                             "all-accounts-hub-torque-deployer.yaml", "all-accounts-torque-envs.yaml"]
    dev = files["accounts/dev-222222222222.yaml"]["grains"]
    assert dev["torque-deployer"]["spec"] == {
        "agent": {"name": "eu-agent", "service-account": "torque-agent", "runner-namespace": "torque-envs"},
        "provider-overrides": [{"name": "aws", "source": "hashicorp/aws", "attributes": {"assume_role": {
            "role_arn": "arn:aws:iam::222222222222:role/ro/torque-deployer", "external_id": "hub-2026"}}}]}
    assert "provider-overrides" not in dev["torque-runner"]["spec"]  # the account's own IRSA role needs none
    hub = files["all-accounts-hub-torque-deployer.yaml"]
    assert hub["inputs"]["target_account"]["allowed-values"] == ["222222222222", "333333333333"]
    assume_role = hub["grains"]["deploy"]["spec"]["provider-overrides"][0]["attributes"]["assume_role"]
    assert assume_role == {"role_arn": "arn:aws:iam::{{ .inputs.target_account }}:role/ro/torque-deployer", "external_id": "hub-2026"}
    # The namespace's snippet offers the IRSA ServiceAccounts only: the hub's picks no account by itself.
    assert files["all-accounts-torque-envs.yaml"]["inputs"]["service_account"]["allowed-values"] == ["torque-runner-dev"]
