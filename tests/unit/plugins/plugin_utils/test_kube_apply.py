# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The service_account role's writes in the controller (plugins/plugin_utils/kube_apply.py), through kubernetes.core's own
client and code against the project's Kubernetes API emulator, and the messages when the cluster cannot be written."""

import json
import socket

import pytest
import yaml
from kubernetes.dynamic.exceptions import ConflictError, ForbiddenError, UnprocessibleEntityError

from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_access
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_apply

ROLE_ARN = "eks.amazonaws.com/role-arn"
TOKEN = "kube-emulator"  # the bearer token of the emulator's kubeconfig: it must never reach a result or a message


def namespace(name="team"):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "torque.eks_irsa"}}}


def service_account(name, role="arn:aws:iam::111111111111:role/runner", ns="team", **metadata):
    metadata = dict({"name": name, "namespace": ns, "annotations": {ROLE_ARN: role}}, **metadata)
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def ref(name, ns="team"):
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}


def writes(emu):
    return [(r["method"], r["path"], r["query"], r["dry_run"]) for r in emu.requests if r["mutating"]]


def stored(emu, kind, name):
    found = [obj for obj in emu.objects() if obj["kind"] == kind and obj["metadata"]["name"] == name]
    return found[0] if found else None


def apply(emu, definitions, **options):
    return kube_apply.apply(definitions, kubeconfig=emu.kubeconfig, **options)


class Delegating:
    """kubernetes.core's client for the emulator, each call passed on; a test overrides the call it makes go wrong."""

    dry_run = False

    def __init__(self, emu):
        self.real = kube_access.library().get_api_client(kubeconfig=emu.kubeconfig)
        self.configuration, self.client = self.real.configuration, self.real.client

    def resource(self, kind, api_version):
        return self.real.resource(kind, api_version)

    def get(self, resource, **params):
        return self.real.get(resource, **params)

    def apply(self, resource, definition, namespace, **params):
        return self.real.apply(resource, definition, namespace, **params)

    def delete(self, resource, **params):
        return self.real.delete(resource, **params)


def test_present_is_a_server_side_apply_by_the_collection_s_field_manager_and_changed_is_exact(emulator):
    first = apply(emulator, [namespace()])
    assert first["changed"] is True and first["method"] == "apply" and first["result"]["metadata"]["name"] == "team"
    assert "diff" not in first  # only in diff mode

    emulator.reset_requests()
    created = apply(emulator, [service_account("runner")], force_conflicts=True)
    assert created["changed"] is True and created["result"]["metadata"]["annotations"][ROLE_ARN].endswith(":role/runner")
    ((method, path, query, dry_run),) = writes(emulator)
    assert (method, path, dry_run) == ("PATCH", "/api/v1/namespaces/team/serviceaccounts/runner", False)
    # force=true: the kubernetes client writes the boolean as True or true, depending on its version
    assert query.get("fieldManager") == "torque.eks_irsa" and str(query.get("force")).lower() == "true"
    managers = {(entry["manager"], entry["operation"]) for entry in stored(emulator, "ServiceAccount", "runner")["metadata"]["managedFields"]}
    assert managers == {("torque.eks_irsa", "Apply")}

    # The same again changes nothing; force_conflicts is only sent when asked for.
    emulator.reset_requests()
    assert apply(emulator, [service_account("runner")])["changed"] is False
    assert [query.get("force") for _method, _path, query, _dry in writes(emulator)] == [None]
    assert apply(emulator, [service_account("runner", role="arn:aws:iam::111111111111:role/other")])["changed"] is True


def test_check_mode_is_the_api_server_s_dry_run_and_predicts_the_change(emulator):
    apply(emulator, [namespace()])
    emulator.reset_requests()
    predicted = apply(emulator, [service_account("runner")], check_mode=True)
    assert predicted["changed"] is True and predicted["result"]["metadata"]["annotations"][ROLE_ARN].endswith(":role/runner")
    assert [(method, query.get("dryRun"), dry_run) for method, _path, query, dry_run in writes(emulator)] == [("PATCH", "All", True)]
    assert stored(emulator, "ServiceAccount", "runner") is None

    apply(emulator, [service_account("runner")])
    assert apply(emulator, [service_account("runner")], check_mode=True)["changed"] is False
    emulator.reset_requests()
    assert apply(emulator, [ref("runner")], state="absent", check_mode=True)["changed"] is True
    assert [(method, dry_run) for method, _path, _query, dry_run in writes(emulator)] == [("DELETE", True)]
    assert stored(emulator, "ServiceAccount", "runner") is not None


def test_diff_mode_gives_before_and_after_as_kubernetes_core_computes_them(emulator):
    apply(emulator, [namespace()])
    apply(emulator, [service_account("runner")])
    changed = apply(emulator, [service_account("runner", role="arn:aws:iam::111111111111:role/new")], diff=True)
    assert changed["diff"]["before"]["metadata"]["annotations"] == {ROLE_ARN: "arn:aws:iam::111111111111:role/runner"}
    assert changed["diff"]["after"]["metadata"]["annotations"] == {ROLE_ARN: "arn:aws:iam::111111111111:role/new"}
    assert apply(emulator, [service_account("runner", role="arn:aws:iam::111111111111:role/new")], diff=True)["diff"] == {}


def test_several_definitions_are_shaped_as_kubernetes_core_k8s_shapes_them_with_their_diffs_at_the_top(emulator):
    apply(emulator, [namespace()])
    apply(emulator, [service_account("a")])
    both = apply(emulator, [service_account("a"), service_account("b")], diff=True)
    assert set(both) == {"changed", "result", "diff"} and both["changed"] is True
    first, second = both["result"]["results"]
    assert (first["changed"], first["method"], second["changed"], second["method"]) == (False, "apply", True, "apply")
    assert both["diff"] == [second["diff"]]  # the unchanged one has an empty diff
    assert kube_apply.apply([], kubeconfig=emulator.kubeconfig) == {"changed": False, "result": {"results": []}}


def test_absent_deletes_what_exists_and_one_already_gone_is_unchanged(emulator):
    apply(emulator, [namespace()])
    apply(emulator, [service_account("a"), service_account("b")])
    deleted = apply(emulator, [ref("a")], state="absent")
    assert deleted["changed"] is True and deleted["method"] == "delete"
    assert stored(emulator, "ServiceAccount", "a") is None and stored(emulator, "ServiceAccount", "b") is not None
    emulator.reset_requests()
    assert apply(emulator, [ref("a")], state="absent") == {"changed": False, "method": "delete", "result": {}}
    assert writes(emulator) == []


def test_a_delete_racing_another_run_s_is_unchanged_not_a_failure(emulator):
    """Read, then another run deletes it, then this delete gets 404: what was asked is done."""
    apply(emulator, [namespace()])
    apply(emulator, [service_account("a")])

    class Racing(Delegating):
        def delete(self, resource, **params):
            self.real.delete(resource, **params)  # the other run's
            return self.real.delete(resource, **params)

    result = kube_apply.apply([ref("a")], state="absent", connect=lambda **_: Racing(emulator))
    assert result == {"changed": False, "method": "delete", "result": {}}


def test_force_conflicts_takes_over_only_the_fields_given_from_another_manager(emulator):
    apply(emulator, [namespace()])
    other = kube_access.library().get_api_client(kubeconfig=emulator.kubeconfig)
    resource = other.resource("ServiceAccount", "v1")
    other.apply(resource, service_account("a", role="arn:aws:iam::111111111111:role/theirs", labels={"team": "x"}), "team",
                server_side=True, field_manager="someone-else")
    with pytest.raises(kube_access.KubeAccessError) as refused:
        apply(emulator, [service_account("a")])
    assert str(refused.value).startswith("applying (server-side apply) ServiceAccount team/a was refused by the API server: "
                                         '409 Conflict: Apply failed with 1 conflict: conflict with "someone-else"'), str(refused.value)
    assert "Fix:" not in str(refused.value)  # a conflict is about the definition, not the cluster's access
    taken = apply(emulator, [service_account("a")], force_conflicts=True)
    assert taken["changed"] is True
    found = stored(emulator, "ServiceAccount", "a")
    assert found["metadata"]["annotations"][ROLE_ARN].endswith(":role/runner") and found["metadata"]["labels"] == {"team": "x"}


def test_applying_only_the_name_releases_the_collection_s_fields_and_leaves_the_rest(emulator):
    apply(emulator, [namespace()])
    other = kube_access.library().get_api_client(kubeconfig=emulator.kubeconfig)
    theirs = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a", "namespace": "team", "labels": {"team": "x"}}}
    other.apply(other.resource("ServiceAccount", "v1"), theirs, "team", server_side=True, field_manager="someone-else")
    apply(emulator, [service_account("a")])
    released = apply(emulator, [ref("a")])
    assert released["changed"] is True
    found = stored(emulator, "ServiceAccount", "a")
    assert ROLE_ARN not in (found["metadata"].get("annotations") or {}) and found["metadata"]["labels"] == {"team": "x"}


def closed_kubeconfig(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "kubeconfig-down"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "down",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "down", "context": {"cluster": "c", "user": "u"}}]}))
    return str(path), f"http://127.0.0.1:{port}"


def test_a_cluster_that_cannot_be_reached_fails_with_one_message_naming_its_api_server_access_and_fix(tmp_path):
    path, server = closed_kubeconfig(tmp_path)
    with pytest.raises(kube_access.KubeAccessError) as failed:
        kube_apply.apply([service_account("a")], kubeconfig=path, context="down")
    text = str(failed.value)
    assert text.startswith(f"the run's cluster: cannot connect to its Kubernetes API server {server} (kubeconfig {path}, context down)")
    assert "connection refused" in text and "Fix: make that API server reachable from here" in text
    assert "point kubeconfig and context at the right cluster" in text
    assert "HTTPConnectionPool" not in text and "Max retries" not in text and TOKEN not in text
    details = failed.value.details
    assert (details["kind"], details["host"], details["kubeconfig"], details["changed"]) == ("connect", server, path, False)
    assert TOKEN not in json.dumps(details)


def test_access_that_cannot_be_loaded_is_said_so(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(kube_access.KubeAccessError) as failed:
        kube_apply.apply([service_account("a")], kubeconfig=missing)
    assert f"its Kubernetes access could not be loaded (kubeconfig {missing}" in str(failed.value)
    assert failed.value.details["kind"] == "config"


def test_a_refused_write_names_the_request_and_says_what_was_already_changed(emulator):
    apply(emulator, [namespace()])

    class Refusing(Delegating):
        """Applies the first definition, refuses the second as an API server without the permission would."""
        applied = 0

        def apply(self, resource, definition, namespace, **params):
            self.applied += 1
            if self.applied > 1:
                raise ForbiddenError(_ApiError(403, "Forbidden", 'serviceaccounts "b" is forbidden: User "ci" cannot patch'))
            return self.real.apply(resource, definition, namespace, **params)

    with pytest.raises(kube_access.KubeAccessError) as failed:
        kube_apply.apply([service_account("a"), service_account("b")], kubeconfig=emulator.kubeconfig,
                         connect=lambda **_: Refusing(emulator))
    text = str(failed.value)
    assert "refused applying (server-side apply) ServiceAccount team/b: 403 Forbidden: serviceaccounts \"b\" is forbidden" in text
    assert f"kubeconfig {emulator.kubeconfig}" in text and "Fix: let the identity of that context" in text
    assert failed.value.details["status"] == 403 and failed.value.details["changed"] is True
    assert stored(emulator, "ServiceAccount", "a") is not None and stored(emulator, "ServiceAccount", "b") is None


def test_a_bug_is_not_mistaken_for_a_cluster_failure(emulator):
    class Broken:
        dry_run = False

        def resource(self, kind, api_version):
            raise KeyError("a bug")

    with pytest.raises(KeyError):
        kube_apply.apply([service_account("a")], connect=lambda **_: Broken())


class _ApiError(Exception):
    """What the kubernetes client's ApiException carries, for kubernetes' dynamic client exception classes."""

    def __init__(self, status, reason, message):
        super().__init__(f"({status}) {reason}")
        self.status, self.reason = status, reason
        self.body = json.dumps({"kind": "Status", "message": message})
        self.headers = {}


@pytest.mark.parametrize("error", [
    ConflictError(_ApiError(409, "Conflict", 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .metadata.labels')),
    UnprocessibleEntityError(_ApiError(422, "Unprocessable Entity", 'ServiceAccount "B" is invalid: metadata.name')),
])
def test_a_definition_the_api_server_refuses_is_said_as_that_request_s_failure_without_an_access_fix(emulator, error):

    class Refusing(Delegating):
        def apply(self, resource, definition, namespace, **params):
            raise error

    with pytest.raises(kube_access.KubeAccessError) as failed:
        kube_apply.apply([service_account("b")], kubeconfig=emulator.kubeconfig, connect=lambda **_: Refusing(emulator))
    text = str(failed.value)
    status = error.status
    assert text.startswith(f"applying (server-side apply) ServiceAccount team/b was refused by the API server: {status} "), text
    assert "Fix:" not in text and "point kubeconfig" not in text and failed.value.details["changed"] is False


def test_not_found_is_for_the_delete_only(emulator):
    """A 404 on an apply (its namespace is gone) is a failure, not an unchanged object."""
    with pytest.raises(kube_access.KubeAccessError) as failed:
        apply(emulator, [service_account("a", ns="missing")])
    assert "404" in str(failed.value) and "ServiceAccount missing/a" in str(failed.value)
