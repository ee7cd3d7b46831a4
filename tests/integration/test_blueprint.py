# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Torque blueprint snippets a rollout writes on request (``eks_irsa_blueprint_dir``).

Each file must parse as YAML, and every grain's ``spec.agent`` must name the agent, and a ServiceAccount that exists in
its ``runner-namespace`` (read with kubectl) annotated with the role of the account the snippet is for. The combined
snippet of each namespace offers exactly that namespace's ServiceAccounts as its input's allowed values. Check mode
writes no file; a second rollout rewrites none.
"""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

from tests.integration.reliability import ROLE_ARN_ANNOTATION, ROLLOUT, Scenario, failures

pytestmark = pytest.mark.integration

ACCOUNTS = ("777777777721", "777777777722")
TEAM = "rel-bp-team"
DEPLOYER = "rel-bp-deployer"
AGENT = "eu-agent"
HOST_FILE = re.compile(r"^accounts/(?P<host>.+)-(?P<account>\d{12})\.yaml$")


@pytest.fixture
def scenario(local_stack, tmp_path):
    blueprint_dir = str(tmp_path / "blueprints")
    scenario = Scenario(local_stack, tmp_path, "bp", ACCOUNTS, eks_irsa_blueprint_dir=blueprint_dir, eks_irsa_torque_agent=AGENT)
    document = scenario.document()
    # bp-1 also deploys with a role whose ServiceAccount lives in another namespace.
    document["all"]["children"]["eks_irsa_accounts"]["hosts"]["bp-1"]["eks_irsa_roles"] = scenario.roles + [
        {"name": DEPLOYER, "namespace": TEAM, "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}]
    scenario.write(document)
    scenario.blueprint_dir = blueprint_dir
    yield scenario
    scenario.roles = scenario.roles + [{"name": DEPLOYER}]
    scenario.purge()
    scenario.kubectl("delete", "namespace", TEAM, "--wait=false", check=False)


def written(directory):
    files = {}
    for root, _dirs, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as handle:
                files[os.path.relpath(path, directory)] = handle.read()
    return files


def annotated_role(scenario, namespace, name):
    """The role ARN the ServiceAccount carries, as kubectl reads it; None when it does not exist."""
    process = scenario.kubectl("-n", namespace, "get", "serviceaccount", name, "-o", "json", check=False)
    return json.loads(process.stdout)["metadata"]["annotations"][ROLE_ARN_ANNOTATION] if process.returncode == 0 else None


@pytest.mark.matrix  # Torque's own {{ .inputs.* }} templates must stay text on every ansible-core
def test_the_blueprint_snippets_name_service_accounts_that_exist_in_their_runner_namespace_with_their_accounts_role(
        run_playbook, scenario):
    check = run_playbook(ROLLOUT, inventory=scenario.inventory, check=True, diff=True)
    assert check.rc == 0, failures(check)
    assert not os.path.exists(scenario.blueprint_dir)  # check mode writes no file
    assert "Blueprint: the spec.agent of the grain that deploys into each account" in check.stdout

    run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert run.rc == 0, failures(run)
    files = written(scenario.blueprint_dir)
    account_files = {path: HOST_FILE.match(path) for path in files if path.startswith("accounts/")}
    assert sorted((m["host"], m["account"]) for m in account_files.values()) == sorted(scenario.hosts.items())
    assert sorted(path for path in files if not path.startswith("accounts/")) == sorted([
        f"all-accounts-{scenario.namespace}.yaml", f"all-accounts-{TEAM}.yaml"])

    agents = 0
    for path, match in account_files.items():
        document = yaml.safe_load(files[path])
        assert document["spec_version"] == 2 and "inputs" not in document  # the agent is named: no input needed
        for grain in document["grains"].values():
            agent = grain["spec"]["agent"]
            assert agent["name"] == AGENT
            role = annotated_role(scenario, agent["runner-namespace"], agent["service-account"])
            assert role is not None and role.startswith(f"arn:aws:iam::{match['account']}:role/"), (path, agent, role)
            agents += 1
    assert agents == 3  # bp-0: the runner; bp-1: the runner and the deployer in its own namespace

    for namespace in (scenario.namespace, TEAM):
        combined = yaml.safe_load(files[f"all-accounts-{namespace}.yaml"])
        agent = combined["grains"]["deploy"]["spec"]["agent"]
        assert agent == {"name": AGENT, "service-account": "{{ .inputs.service_account }}", "runner-namespace": namespace}
        choices = combined["inputs"]["service_account"]["allowed-values"]
        assert choices and all(annotated_role(scenario, namespace, name) for name in choices)
        expected = [scenario.service_account(host) for host in scenario.hosts] if namespace == scenario.namespace else [
            f"{DEPLOYER}-bp-1"]
        assert sorted(choices) == sorted(expected)

    # The summary shows every account's agent; a second run rewrites no file.
    assert f"role {DEPLOYER}: {{name: {AGENT}, service-account: {DEPLOYER}-bp-1, runner-namespace: {TEAM}}}" in run.stdout
    again = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert again.rc == 0 and again.changed_total() == 0, failures(again)
    assert written(scenario.blueprint_dir) == files

    # Without eks_irsa_torque_agent, each snippet asks for the agent (Torque's agent input): the text stays Torque's.
    document = yaml.safe_load(open(scenario.inventory, encoding="utf-8"))
    del document["all"]["children"]["eks_irsa_accounts"]["vars"]["eks_irsa_torque_agent"]
    scenario.write(document)
    unnamed = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert unnamed.rc == 0, failures(unnamed)
    assert "{name: '{{ .inputs.agent }}', service-account: " in unnamed.stdout
    for path, text in written(scenario.blueprint_dir).items():
        document = yaml.safe_load(text)
        assert document["inputs"]["agent"]["type"] == "agent", path
        assert {grain["spec"]["agent"]["name"] for grain in document["grains"].values()} == {"{{ .inputs.agent }}"}, path
