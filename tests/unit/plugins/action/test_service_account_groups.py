# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The action torque.eks_irsa.service_account_groups (plugins/action/service_account_groups.py and
plugins/plugin_utils/service_account_writes.py): each namespace's ServiceAccounts read once, written only where they
differ, deleted or released, or rendered, each group on its own, in this process, against the project's Kubernetes API
emulator."""

import json
import os
import urllib.request

import pytest
import yaml

from ansible_collections.torque.eks_irsa.plugins.action.service_account_groups import ActionModule
from ansible_collections.torque.eks_irsa.plugins.modules import service_account_groups as docs

FQCN = "torque.eks_irsa.service_account_groups"
ROLE_ARN = "eks.amazonaws.com/role-arn"
MANAGED = {"app.kubernetes.io/managed-by": "torque.eks_irsa"}


@pytest.fixture
def run(controller_action):
    """One task of the action, run as the task executor runs it."""
    def task(args, check_mode=False, diff=False):
        return controller_action(ActionModule, FQCN, args, check_mode, diff).run(task_vars={})
    return task


def item(name, account="111111111111", **extra):
    return dict({"name": name, "role_arn": f"arn:aws:iam::{account}:role/runner"}, **extra)


def group(namespace, *items, **extra):
    return dict({"namespace": namespace, "service_accounts": list(items)}, **extra)


def stored(emu, kind, name):
    found = [obj for obj in emu.objects() if obj["kind"] == kind and obj["metadata"]["name"] == name]
    return found[0] if found else None


def writes(emu):
    return [(r["method"], r["path"], r["dry_run"]) for r in emu.requests if r["mutating"]]


def create(emu, obj):
    """An object someone else made, created as kubectl would (a plain POST), not by this collection."""
    path = f"/api/v1/namespaces/{obj['metadata']['namespace']}/serviceaccounts"
    request = urllib.request.Request(emu.url + path, data=json.dumps(obj).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": "Bearer kube-emulator"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201


def make_namespace(run, emu, name):
    assert run({"groups": [group(name, create_namespace=True)], "kubeconfig": emu.kubeconfig})["changed"] is True


def test_a_group_is_read_once_written_once_and_a_re_run_sends_no_write(run, emulator):
    args = {"groups": [group("team", item("a"), item("b"), create_namespace=True)], "kubeconfig": emulator.kubeconfig,
            "labels": {"team": "platform"}, "token_expiration": 3600}
    first = run(args)
    assert first["changed"] is True and "failed" not in first, first
    assert first["results"] == {"team": {"status": {"a": "created", "b": "created"}, "error": None}}
    assert [method for method, _path, _dry in writes(emulator)] == ["PATCH", "PATCH", "PATCH"]  # namespace, a, b
    made = stored(emulator, "ServiceAccount", "a")["metadata"]
    assert made["annotations"][ROLE_ARN] == "arn:aws:iam::111111111111:role/runner"
    assert made["annotations"]["eks.amazonaws.com/token-expiration"] == "3600"
    assert made["labels"] == dict(MANAGED, team="platform")
    assert stored(emulator, "Namespace", "team")["metadata"]["labels"].items() >= MANAGED.items()

    emulator.reset_requests()
    again = run(args)
    assert again["changed"] is False and again["results"]["team"]["status"] == {"a": "ok", "b": "ok"}
    assert writes(emulator) == []


def test_check_mode_predicts_exactly_and_writes_nothing(run, emulator):
    make_namespace(run, emulator, "team")
    run({"groups": [group("team", item("a"))], "kubeconfig": emulator.kubeconfig})
    emulator.reset_requests()
    args = {"groups": [group("team", item("a", account="222222222222"), item("b")), group("fresh", item("c"), create_namespace=True)],
            "kubeconfig": emulator.kubeconfig}

    predicted = run(args, check_mode=True, diff=True)

    assert predicted["changed"] is True
    assert predicted["results"] == {"team": {"status": {"a": "updated", "b": "created"}, "error": None},
                                    "fresh": {"status": {"c": "created"}, "error": None}}
    assert all(dry for _method, _path, dry in writes(emulator)) and writes(emulator)
    assert stored(emulator, "Namespace", "fresh") is None and stored(emulator, "ServiceAccount", "b") is None
    after = [entry["after"]["metadata"].get("annotations", {}).get(ROLE_ARN) for entry in predicted["diff"]]
    assert "arn:aws:iam::222222222222:role/runner" in after
    done = run(args)
    assert done["results"] == predicted["results"]


def test_a_failing_group_is_recorded_and_the_next_one_is_done_with_keep_going(run, emulator):
    make_namespace(run, emulator, "ok")
    args = {"groups": [group("missing", item("a"), label="blue/missing", create_namespace_fix="set X: true"),
                       group("ok", item("b"), label="blue/ok")], "kubeconfig": emulator.kubeconfig, "keep_going": True}

    result = run(args)

    assert "failed" not in result and result["changed"] is True
    assert result["results"]["blue/missing"] == {
        "status": {}, "error": "service_account_namespace: namespace 'missing' does not exist in the cluster. Create it, or set X: true."}
    assert result["results"]["blue/ok"] == {"status": {"b": "created"}, "error": None}


def test_without_keep_going_the_first_failing_group_fails_the_task_and_the_later_ones_are_not_done(run, emulator):
    make_namespace(run, emulator, "ok")
    emulator.reset_requests()
    result = run({"groups": [group("missing", item("a")), group("ok", item("b"))], "kubeconfig": emulator.kubeconfig})
    assert result["failed"] is True and result["group"] == "missing" and result["changed"] is False
    assert "set service_account_create_namespace: true to let this role create it" in result["msg"]
    assert writes(emulator) == [] and stored(emulator, "ServiceAccount", "b") is None


def test_a_service_account_someone_else_made_is_refused_before_the_group_writes(run, emulator):
    make_namespace(run, emulator, "team")
    create(emulator, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "theirs", "namespace": "team"}})
    emulator.reset_requests()
    result = run({"groups": [group("team", item("mine"), item("theirs"))], "kubeconfig": emulator.kubeconfig, "keep_going": True})
    assert "ServiceAccount team/theirs exists and was not made by torque.eks_irsa" in result["results"]["team"]["error"]
    assert writes(emulator) == []
    adopted = run({"groups": [group("team", item("theirs", adopt=True))], "kubeconfig": emulator.kubeconfig})
    assert adopted["results"]["team"]["status"] == {"theirs": "adopted"}
    assert "app.kubernetes.io/managed-by" not in (stored(emulator, "ServiceAccount", "theirs")["metadata"].get("labels") or {})


def test_absent_deletes_ours_releases_adopted_ones_and_leaves_the_rest(run, emulator):
    make_namespace(run, emulator, "team")
    create(emulator, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "theirs", "namespace": "team"}})
    create(emulator, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "other", "namespace": "team"}})
    run({"groups": [group("team", item("mine"), item("theirs", adopt=True))], "kubeconfig": emulator.kubeconfig})
    args = {"state": "absent", "kubeconfig": emulator.kubeconfig,
            "groups": [group("team", {"name": "mine"}, {"name": "theirs"}, {"name": "other"}, {"name": "never"})]}

    predicted = run(args, check_mode=True)
    done = run(args)

    expected = {"mine": "deleted", "theirs": "released", "other": "absent", "never": "absent"}
    assert predicted["results"]["team"]["status"] == expected == done["results"]["team"]["status"]
    assert stored(emulator, "ServiceAccount", "mine") is None
    assert ROLE_ARN not in (stored(emulator, "ServiceAccount", "theirs")["metadata"].get("annotations") or {})
    assert stored(emulator, "ServiceAccount", "other") is not None
    assert run(args)["changed"] is False


def test_a_group_with_render_dir_is_written_to_files_and_never_reaches_a_cluster(run, tmp_path):
    out = tmp_path / "out" / "team"
    args = {"groups": [group("team", item("a"), render_dir=str(out))], "kubeconfig": str(tmp_path / "no-such-kubeconfig")}

    predicted = run(args, check_mode=True, diff=True)
    assert predicted["results"]["team"]["status"] == {"a": "rendered"} and not out.exists()
    assert predicted["diff"][0]["before"] == "" and "kind: ServiceAccount" in predicted["diff"][0]["after"]

    done = run(args)
    assert done["changed"] is True and sorted(os.listdir(out)) == ["a.yaml"]
    assert oct(os.stat(out / "a.yaml").st_mode & 0o777) == "0o644"
    manifest = yaml.safe_load((out / "a.yaml").read_text(encoding="utf-8"))
    assert manifest["metadata"] == {"name": "a", "namespace": "team", "labels": MANAGED,
                                    "annotations": {ROLE_ARN: "arn:aws:iam::111111111111:role/runner"}}
    again = run(args)
    assert again["changed"] is False and again["results"]["team"]["status"] == {"a": "ok"}


def test_a_render_dir_that_cannot_be_written_fails_its_group_with_the_path_and_the_fix(run, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    args = {"groups": [group("team", item("a"), render_dir=str(blocker / "team")), group("next", item("b"), render_dir=str(tmp_path / "next"))],
            "keep_going": True}
    result = run(args)
    error = result["results"]["team"]["error"]
    assert error.startswith(f"render_dir: cannot write {blocker / 'team' / 'a.yaml'}: Not a directory") and "Fix:" in error, error
    assert result["results"]["next"] == {"status": {"b": "rendered"}, "error": None} and (tmp_path / "next" / "b.yaml").exists()


def test_bad_input_names_the_field_before_anything_is_sent(run, emulator):
    emulator.reset_requests()
    result = run({"groups": [group("team", {"name": "a", "role_arn": "not-an-arn"})], "kubeconfig": emulator.kubeconfig})
    assert result["failed"] is True and "service_account_items[0] (a) role_arn" in result["msg"], result["msg"]
    unknown = run({"groups": [group("team", item("a"), namespaces="x")]})
    assert unknown["failed"] is True and "namespaces" in unknown["msg"]
    assert emulator.requests == []


def test_a_cluster_that_cannot_be_reached_names_the_access_the_caller_says(run, tmp_path):
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}], "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "admin", "context": {"cluster": "c", "user": "u"}}]}))
    result = run({"groups": [group("team", item("a"))], "kubeconfig": str(config), "keep_going": True,
                  "access_field": "service_account_kubeconfig and service_account_context"})
    error = result["results"]["team"]["error"]
    assert "http://127.0.0.1:1" in error and "service_account_kubeconfig and service_account_context" in error, error


def test_the_documented_spec_is_the_one_validated(documented_options):
    documented = documented_options(docs)
    assert set(documented) == set(docs.ARGUMENT_SPEC)
    assert set(documented["groups"]["suboptions"]) == set(docs.ARGUMENT_SPEC["groups"]["options"])
    assert (set(documented["groups"]["suboptions"]["service_accounts"]["suboptions"])
            == set(docs.ARGUMENT_SPEC["groups"]["options"]["service_accounts"]["options"]))
    for name, spec in docs.ARGUMENT_SPEC.items():
        assert documented[name].get("default") == spec.get("default"), name
