# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A ServiceAccount someone else made, with the name the rollout plans: never taken over, never deleted, unless adopted.

Made with kubectl before the rollout (its own labels, annotation and ``imagePullSecrets``), as eksctl, Helm or a
person would. Without ``adopt`` the rollout is refused before any write anywhere and teardown leaves it alone, byte
for byte (same resourceVersion). With ``adopt: true`` only the collection's annotation changes (server-side apply,
its own field manager), and teardown takes back exactly that, leaving the object as it was.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.integration.reliability import ROLE_ARN_ANNOTATION, ROLLOUT, Scenario, failures, kube_writes, mutating_aws_requests

pytestmark = pytest.mark.integration

TEARDOWN = "torque.eks_irsa.teardown"
ACCOUNT = "555555555570"
CHECK_PLAY = "Check the ServiceAccounts the rollout would write"


@pytest.fixture
def scenario(local_stack, tmp_path):
    scenario = Scenario(local_stack, tmp_path, "own", [ACCOUNT], roles=[{"name": "rel-own-runner"}])
    yield scenario
    scenario.purge()


def _theirs(scenario):
    """The ServiceAccount someone else made, with the name the rollout plans for the account."""
    name = scenario.service_account("own-0")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scenario.namespace}}
    manifest = {"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": scenario.namespace,
                             "labels": {"app.kubernetes.io/managed-by": "Helm", "team": "legacy"},
                             "annotations": {"owner": "legacy-pipeline"}},
                "imagePullSecrets": [{"name": "regcred"}]}
    path = scenario.inventory + ".sa.json"
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"apiVersion": "v1", "kind": "List", "items": [namespace, manifest]}, handle)
    scenario.kubectl("create", "--validate=false", "-f", path)
    return name


def _read(scenario, name):
    return json.loads(scenario.kubectl("-n", scenario.namespace, "get", "serviceaccount", name, "-o", "json",
                                       "--show-managed-fields").stdout)


def _without_our_fields(obj):
    """What of the object is not the collection's, to compare with the original: its own fields as they were."""
    metadata = obj["metadata"]
    return {"labels": metadata.get("labels"), "annotations": metadata.get("annotations"),
            "imagePullSecrets": obj.get("imagePullSecrets"), "uid": metadata["uid"]}


@pytest.mark.matrix
def test_without_adopt_the_rollout_is_refused_before_any_write_and_teardown_leaves_it(local_stack, run_playbook, scenario):
    name = _theirs(scenario)
    before = _read(scenario, name)
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())

    run = run_playbook(ROLLOUT, inventory=scenario.inventory)

    assert run.rc != 0, run.stdout[-3000:]
    failed = failures(run)
    assert len(failed) == 1, (run.rc, run.stdout[-3000:], run.stderr[-3000:])
    (failure,) = failed
    assert failure[0] == CHECK_PLAY, failure
    assert f"own-0: eks_irsa_roles[0] (rel-own-runner): ServiceAccount {scenario.namespace}/{name} exists and was not made by " \
           "torque.eks_irsa" in failure[3]
    assert "set adopt: true on its role" in failure[3] and "nothing was written" in failure[3]
    assert mutating_aws_requests(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
    assert _read(scenario, name) == before  # byte for byte: the same resourceVersion

    teardown = run_playbook(TEARDOWN, inventory=scenario.inventory)
    assert teardown.rc == 0, teardown.stdout[-3000:]
    assert _read(scenario, name) == before


def test_with_adopt_only_our_annotation_changes_and_teardown_takes_back_only_that(local_stack, run_playbook, scenario):
    name = _theirs(scenario)
    original = _without_our_fields(_read(scenario, name))
    document = scenario.document()
    document["all"]["children"]["eks_irsa_accounts"]["vars"]["eks_irsa_roles"] = [{"name": "rel-own-runner", "adopt": True}]
    inventory = scenario.write(document)

    predicted = run_playbook(ROLLOUT, inventory=inventory, check=True)
    assert predicted.rc == 0, predicted.stdout[-3000:]
    assert _without_our_fields(_read(scenario, name)) == original and ROLE_ARN_ANNOTATION not in original["annotations"]

    run = run_playbook(ROLLOUT, inventory=inventory)

    assert run.rc == 0, run.stdout[-3000:]
    adopted = _read(scenario, name)
    role_arn = scenario.iam(ACCOUNT).get_role(RoleName="rel-own-runner")["Role"]["Arn"]
    assert adopted["metadata"]["annotations"] == dict(original["annotations"], **{ROLE_ARN_ANNOTATION: role_arn})
    assert adopted["metadata"]["labels"] == original["labels"]  # no managed-by label of ours: it stays theirs
    assert adopted["imagePullSecrets"] == original["imagePullSecrets"] and adopted["metadata"]["uid"] == original["uid"]
    assert any(entry["manager"] == "torque.eks_irsa" and entry["operation"] == "Apply" for entry in adopted["metadata"]["managedFields"])

    kube_mark = len(local_stack.kube_requests())
    again = run_playbook(ROLLOUT, inventory=inventory)
    assert again.rc == 0 and kube_writes(local_stack, kube_mark) == []

    check_teardown = run_playbook(TEARDOWN, inventory=inventory, check=True)
    assert check_teardown.rc == 0 and _read(scenario, name)["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == role_arn

    teardown = run_playbook(TEARDOWN, inventory=inventory)

    assert teardown.rc == 0, teardown.stdout[-3000:]
    assert _without_our_fields(_read(scenario, name)) == original  # still there, as it was before the rollout


def test_the_role_s_check_existing_entry_point_refuses_the_same_service_account_unless_adopted(local_stack, run_playbook, scenario):
    """The service_account role used on its own: check_existing reads the namespace as apply does and refuses alike."""
    name = _theirs(scenario)
    before = _read(scenario, name)
    kube_mark = len(local_stack.kube_requests())

    def check(adopt):
        return run_playbook([{
            "name": "Check before applying", "hosts": "localhost", "gather_facts": False,
            "tasks": [{"name": "Refuse a takeover", "ansible.builtin.include_role": {
                "name": "torque.eks_irsa.service_account", "tasks_from": "check_existing"},
                "vars": {"service_account_namespace": scenario.namespace, "service_account_kubeconfig": local_stack.kubeconfig,
                         "service_account_items": [{"name": name, "role_arn": f"arn:aws:iam::{ACCOUNT}:role/rel-own-runner",
                                                    "adopt": adopt}]}}]}])

    refused = check(False)
    assert refused.rc != 0, refused.stdout[-3000:]
    assert f"ServiceAccount {scenario.namespace}/{name} exists and was not made by torque.eks_irsa" in refused.stdout, \
        refused.stdout[-3000:]
    adopted = check(True)
    assert adopted.rc == 0, adopted.stdout[-3000:]
    assert kube_writes(local_stack, kube_mark) == [] and _read(scenario, name) == before  # a check writes nothing


@pytest.mark.matrix  # the role hands null, omitted and typed values to the action: templating differs between ansible-core versions
def test_the_role_s_main_entry_point_predicts_applies_re_runs_without_a_write_renders_and_deletes(
        local_stack, run_playbook, scenario, tmp_path):
    """The service_account role used on its own, one namespace: what it predicts in check mode is what it does; kubectl
    sees the annotated ServiceAccount; a re-run writes nothing; render-only mode writes files and reaches no cluster;
    state absent deletes only what it made."""
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/rel-own-runner"
    name = "role-main-runner"
    render_dir = tmp_path / "rendered"

    def role(_check=False, **values):
        return run_playbook([{
            "name": "The role on its own", "hosts": "localhost", "gather_facts": False,
            "tasks": [{"name": "Apply the ServiceAccount", "ansible.builtin.include_role": {"name": "torque.eks_irsa.service_account"},
                       "vars": dict({"service_account_namespace": scenario.namespace, "service_account_create_namespace": True,
                                     "service_account_kubeconfig": local_stack.kubeconfig, "service_account_token_expiration": 3600,
                                     "service_account_items": [{"name": name, "role_arn": role_arn}]}, **values)},
                      {"name": "Show the status", "ansible.builtin.debug": {"var": "service_account_status"}}]}],
            check=_check)

    def status(run):
        assert run.rc == 0, run.stdout[-3000:]
        return run.results("Show the status")["localhost"]["service_account_status"]

    kube_mark = len(local_stack.kube_requests())
    assert status(role(_check=True)) == {name: "created"}
    assert kube_writes(local_stack, kube_mark) == []  # the namespace is new: predicted from the read alone
    assert status(role()) == {name: "created"}
    made = _read(scenario, name)["metadata"]
    assert made["annotations"][ROLE_ARN_ANNOTATION] == role_arn
    assert made["annotations"]["eks.amazonaws.com/token-expiration"] == "3600"
    assert made["labels"]["app.kubernetes.io/managed-by"] == "torque.eks_irsa"
    kube_mark = len(local_stack.kube_requests())
    assert status(role()) == {name: "ok"} and kube_writes(local_stack, kube_mark) == []

    assert status(role(service_account_render_dir=str(render_dir), service_account_kubeconfig="/nonexistent")) == {name: "rendered"}
    assert os.listdir(render_dir) == [f"{name}.yaml"] and kube_writes(local_stack, kube_mark) == []
    with open(render_dir / f"{name}.yaml", encoding="utf-8") as handle:
        assert yaml.safe_load(handle)["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == role_arn

    assert status(role(service_account_state="absent", _check=True)) == {name: "deleted"}
    assert _read(scenario, name)["metadata"]["name"] == name
    assert status(role(service_account_state="absent")) == {name: "deleted"}
    assert scenario.kubectl("-n", scenario.namespace, "get", "serviceaccount", name, check=False).returncode != 0
