# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The action torque.eks_irsa.service_account_apply (plugins/action/service_account_apply.py): its arguments, check and
diff mode, its failure, all in this process (never a module process), against the project's Kubernetes API emulator."""

import pytest
import yaml

from ansible_collections.torque.eks_irsa.plugins.action.service_account_apply import ActionModule
from ansible_collections.torque.eks_irsa.plugins.modules import service_account_apply as docs

FQCN = "torque.eks_irsa.service_account_apply"
ROLE_ARN = "eks.amazonaws.com/role-arn"


@pytest.fixture
def action(controller_action):
    """The action for one task, as the task executor makes it."""
    def made(args, check_mode=False, diff=False):
        return controller_action(ActionModule, FQCN, args, check_mode, diff)
    return made


def namespace(name="team"):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def service_account(name, role="arn:aws:iam::111111111111:role/runner"):
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": "team", "annotations": {ROLE_ARN: role}}}


def test_it_applies_in_the_controller_whatever_the_connection_and_changed_is_exact(action, emulator):
    args = {"definitions": [namespace(), service_account("a")], "kubeconfig": emulator.kubeconfig, "force_conflicts": True}
    first = action(args).run(task_vars={})
    assert first["changed"] is True and [r["method"] for r in first["result"]["results"]] == ["apply", "apply"]
    again = action(args).run(task_vars={})
    assert again["changed"] is False and "failed" not in again


def test_check_mode_is_the_api_server_s_dry_run_and_diff_mode_gives_before_and_after(action, emulator):
    action({"definitions": [namespace(), service_account("a")], "kubeconfig": emulator.kubeconfig}).run(task_vars={})
    emulator.reset_requests()
    args = {"definitions": [service_account("a", role="arn:aws:iam::111111111111:role/new")], "kubeconfig": emulator.kubeconfig}
    predicted = action(args, check_mode=True, diff=True).run(task_vars={})
    assert predicted["changed"] is True
    assert predicted["diff"]["after"]["metadata"]["annotations"] == {ROLE_ARN: "arn:aws:iam::111111111111:role/new"}
    assert [(r["method"], r["dry_run"]) for r in emulator.requests if r["mutating"]] == [("PATCH", True)]


def test_state_absent_deletes(action, emulator):
    action({"definitions": [namespace(), service_account("a")], "kubeconfig": emulator.kubeconfig}).run(task_vars={})
    ref = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a", "namespace": "team"}}
    deleted = action({"definitions": [ref], "state": "absent", "kubeconfig": emulator.kubeconfig}).run(task_vars={})
    assert deleted["changed"] is True and deleted["method"] == "delete"


@pytest.mark.parametrize("args, said", [
    ({"definitions": [], "state": "gone"}, "value of state must be one of: present, absent, got: gone"),
    ({}, "missing required arguments: definitions"),
    ({"definitions": [], "definition": {}}, f"Unsupported parameters for ({FQCN}) module: definition"),
])
def test_bad_arguments_are_refused_before_anything_is_sent(action, args, said):
    result = action(args).run(task_vars={})
    assert result["failed"] is True and result["changed"] is False and said in result["msg"], result


def test_a_cluster_that_cannot_be_reached_fails_the_task_with_the_message_and_its_details(action, tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "down",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}], "users": [{"name": "u", "user": {"token": "secret-token"}}],
        "contexts": [{"name": "down", "context": {"cluster": "c", "user": "u"}}]}))
    result = action({"definitions": [service_account("a")], "kubeconfig": str(path)}).run(task_vars={})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("the run's cluster: cannot connect to its Kubernetes API server http://127.0.0.1:9")
    assert result["host"] == "http://127.0.0.1:9" and result["fix"].startswith("make that API server reachable")
    assert "secret-token" not in repr(result)


def test_the_documented_options_are_the_argument_spec(documented_options):
    documented = documented_options(docs)
    assert set(documented) == set(docs.ARGUMENT_SPEC)
    for name, spec in docs.ARGUMENT_SPEC.items():
        option = documented[name]
        for key in ("type", "elements", "choices", "default", "required"):
            assert option.get(key, False if key == "required" else None) == spec.get(key, False if key == "required" else None), (name, key)
    yaml.safe_load(docs.EXAMPLES)
    yaml.safe_load(docs.RETURN)
