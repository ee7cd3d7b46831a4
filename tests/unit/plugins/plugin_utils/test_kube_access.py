# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading each cluster once, and the message when it cannot be read (plugins/plugin_utils/kube_access.py)."""

import json
import socket

import pytest
import urllib3
import yaml
from kubernetes.client.exceptions import ApiException

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_access

CLUSTERS = [{"name": "blue", "kubeconfig": None, "context": None}, {"name": "green", "kubeconfig": None, "context": None}]


def kubeconfig(tmp_path, server="http://127.0.0.1:1", contexts=("admin",), current="admin", name="kubeconfig"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "c", "cluster": {"server": server}}], "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}} for context in contexts]}))
    return str(path)


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeClient:
    """kubernetes.core's K8SClient as read_groups uses it: resource(kind, version), get(resource, namespace=)."""

    def __init__(self, objects=None, error=None):
        self.objects, self.error, self.calls = objects or {}, error, []

    def resource(self, kind, api_version):
        return kind, api_version

    def get(self, resource, namespace):
        self.calls.append((resource[0], namespace))
        if self.error is not None:
            raise self.error

        class Answer:
            def __init__(self, items):
                self.items = items

            def to_dict(self):
                return {"items": self.items}

        return Answer(self.objects.get((resource[0], namespace), []))


def groups(*pairs):
    return [{"cluster": cluster, "namespace": namespace, "label": f"{cluster}/{namespace}", "kubeconfig": None, "context": None}
            for cluster, namespace in pairs]


def refused():
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return urllib3.exceptions.MaxRetryError(None, "/version", reason)


def test_access_names_the_api_server_kubeconfig_and_context_as_the_kubernetes_client_loads_them(tmp_path):
    path = kubeconfig(tmp_path, server="https://api.blue.example:6443", contexts=("admin", "ops"))
    assert kube_access.access({"kubeconfig": path}, environ={}) == {
        "host": "https://api.blue.example:6443", "kubeconfig": path, "context": "admin (its current context)", "via": None}
    assert kube_access.access({"kubeconfig": path, "context": "ops"}, environ={})["context"] == "ops"
    # kubernetes.core's environment: K8S_AUTH_KUBECONFIG and K8S_AUTH_CONTEXT when the cluster gives none ...
    found = kube_access.access({}, environ={"K8S_AUTH_KUBECONFIG": path, "K8S_AUTH_CONTEXT": "ops"})
    assert (found["kubeconfig"], found["context"], found["via"]) == (path, "ops", "K8S_AUTH_KUBECONFIG")
    # ... K8S_AUTH_HOST overrides the kubeconfig's server, and with a token needs no kubeconfig at all
    assert kube_access.access({"kubeconfig": path}, environ={"K8S_AUTH_HOST": "https://env.example/"})["host"] == "https://env.example"
    assert kube_access.access({"kubeconfig": path}, environ={"K8S_AUTH_HOST": "https://env.example", "K8S_AUTH_API_KEY": "k"}) == {
        "host": "https://env.example", "kubeconfig": None, "context": None, "via": "K8S_AUTH_HOST"}
    missing = kube_access.access({"kubeconfig": str(tmp_path / "nope")}, environ={})
    assert (missing["host"], missing["context"]) == (None, "its current context")


def test_a_cluster_that_cannot_be_connected_to_is_not_read_further_and_the_others_are_read(tmp_path):
    path = kubeconfig(tmp_path, server="http://127.0.0.1:9", contexts=("down",), current="down")
    clusters = [{"name": "blue"}, {"name": "green", "kubeconfig": path}]
    blue = FakeClient({("ServiceAccount", "a"): [{"metadata": {"name": "sa"}}], ("Pod", "a"): [{"metadata": {"name": "p"}}]})
    made = []

    def connect(**access):
        made.append(access)
        if access.get("kubeconfig") == path:
            raise refused()
        return blue

    read = kube_access.read_groups(groups(("blue", "a"), ("green", "a"), ("green", "b"), ("blue", "b")), clusters,
                                   kinds=("ServiceAccount", "Pod"), listed=True, environ={}, connect=connect)
    assert made == [{}, {"kubeconfig": path}]  # one client per cluster; green is not tried again for namespace b
    assert [(g["label"], g["objects"]) for g in read["groups"]] == [
        ("blue/a", {"ServiceAccount": [{"metadata": {"name": "sa"}}], "Pod": [{"metadata": {"name": "p"}}]}),
        ("blue/b", {"ServiceAccount": [], "Pod": []})]
    (failure,) = read["failures"]
    assert (failure["cluster"], failure["kind"], failure["host"], failure["kubeconfig"]) == ("green", "connect", "http://127.0.0.1:9", path)
    assert failure["summary"] == (f"cluster green: cannot connect to its Kubernetes API server http://127.0.0.1:9 (kubeconfig {path}, "
                                  "context down (its current context)): connection refused")
    assert failure["fix"].startswith("make that API server reachable from here")
    assert "the kubeconfig and context of its eks_irsa_clusters[1] (green) entry" in failure["fix"]


@pytest.mark.parametrize("reason, said", [
    (urllib3.exceptions.SSLError("certificate verify failed: self-signed certificate"), "the TLS handshake failed (certificate verify"),
    (urllib3.exceptions.ConnectTimeoutError(None, "timed out"), "the connection timed out"),
    (urllib3.exceptions.NewConnectionError(None, "Failed to resolve: [Errno -2] Name or service not known"), "does not resolve (DNS)"),
])
def test_each_way_of_not_connecting_is_said_in_a_few_words(reason, said):
    error = urllib3.exceptions.MaxRetryError(None, "/version", reason)
    read = kube_access.read_groups(groups(("blue", "a")), CLUSTERS, environ={}, connect=lambda **_: FakeClient(error=error))
    assert read["failures"][0]["kind"] == "connect" and said in read["failures"][0]["summary"]


def test_an_api_error_is_its_own_failure_with_its_status_and_a_fix_for_it():
    body = json.dumps({"kind": "Status", "message": 'serviceaccounts is forbidden: User "ci" cannot list resource "serviceaccounts"'})
    forbidden = ApiException(status=403, reason="Forbidden")
    forbidden.body = body
    read = kube_access.read_groups(groups(("blue", "a"), ("green", "a")), CLUSTERS, listed=False, environ={},
                                   connect=lambda **_: FakeClient(error=forbidden))
    blue, green = read["failures"]
    assert (blue["kind"], blue["status"], green["cluster"]) == ("api", 403, "green")
    assert "refused listing the ServiceAccounts of namespace a: 403 Forbidden: serviceaccounts is forbidden" in blue["summary"]
    assert blue["fix"].startswith("let the identity of that context get, list") and "eks_irsa_kubeconfig and eks_irsa_kube_context" in blue["fix"]
    unauthorized = ApiException(status=401, reason="Unauthorized")
    read = kube_access.read_groups(groups(("blue", "a")), CLUSTERS, environ={}, connect=lambda **_: FakeClient(error=unauthorized))
    assert "aws eks update-kubeconfig --name blue" in read["failures"][0]["fix"]


def test_access_that_cannot_be_loaded_is_a_config_failure_naming_the_variable(tmp_path):
    def connect(**_access):
        raise CoreException("Could not create API client: Invalid kube-config file. No configuration found.")

    read = kube_access.read_groups(groups((None, "a")), [{"name": None, "kubeconfig": str(tmp_path / "nope")}], environ={},
                                   connect=connect)
    (failure,) = read["failures"]
    assert failure["kind"] == "config" and failure["cluster"] is None
    assert failure["summary"].startswith(f"the run's cluster: its Kubernetes access could not be loaded (kubeconfig {tmp_path / 'nope'}")
    assert "point eks_irsa_kubeconfig and eks_irsa_kube_context at an existing kubeconfig file" in failure["fix"]


def test_a_bug_is_not_mistaken_for_a_cluster_failure():
    with pytest.raises(KeyError):
        kube_access.read_groups(groups(("blue", "a")), CLUSTERS, environ={}, connect=lambda **_: FakeClient(error=KeyError("x")))


def test_through_kubernetes_core_a_closed_port_is_a_connect_failure(tmp_path):
    server = f"http://127.0.0.1:{closed_port()}"
    path = kubeconfig(tmp_path, server=server)
    read = kube_access.read_groups([dict(groups(("blue", "a"))[0], kubeconfig=path)], [{"name": "blue", "kubeconfig": path}],
                                   listed=True, environ={})
    (failure,) = read["failures"]
    assert (failure["kind"], failure["host"]) == ("connect", server) and failure["summary"].endswith("connection refused")


def plan(*service_accounts, retired=()):
    return {"roles": [{"service_accounts": [{"cluster": c, "namespace": "envs", "name": n} for c, n in service_accounts],
                       "retired_service_accounts": [{"cluster": c, "namespace": "envs", "name": n} for c, n in retired]}]}


def test_exactly_the_accounts_with_service_accounts_in_a_failed_cluster_are_blocked_retired_clusters_included():
    plans = {"dev": plan(("blue", "a")), "prod": plan(("green", "b")), "both": plan(("blue", "c"), ("green", "c")),
             "old": plan(("blue", "d"), retired=[("green", "d")]), "none": {"roles": [{"service_accounts": []}]}}
    failures = [{"cluster": "green", "summary": "cluster green: cannot connect", "fix": "make it reachable"}]
    blocked = kube_access.blocked_accounts(plans, failures, "rollout")
    assert sorted(blocked) == ["both", "old", "prod"]
    assert blocked["prod"] == ("cluster green: cannot connect; nothing was written for this account, in AWS or Kubernetes, as for "
                               "every account with ServiceAccounts in that cluster; the other accounts are converged. Fix: make it reachable")
    assert "roles and OIDC provider are kept" in kube_access.blocked_accounts(plans, failures, "teardown")["prod"]
    assert kube_access.blocked_accounts(plans, [], "rollout") == {}


def test_a_namespace_whose_deletion_failed_blocks_the_accounts_it_holds():
    plans = {"dev": plan(("blue", "a")), "prod": plan(("green", "b"))}
    results = {"blue/envs": {"status": {}, "error": "forbidden"}, "green/envs": {"status": {"b": "deleted"}, "error": None}}
    blocked = kube_access.blocked_by_groups(plans, [{"name": "blue"}, {"name": "green"}], results, "teardown")
    assert list(blocked) == ["dev"] and blocked["dev"].startswith("ServiceAccounts in blue/envs: forbidden; its ServiceAccounts there")


class NamespaceClient:
    """kubernetes.core's K8SClient as read_namespace uses it: a Namespace got by name, ServiceAccounts listed."""

    def __init__(self, namespaces, objects):
        self.namespaces, self.objects, self.calls = namespaces, objects, []

    def resource(self, kind, api_version):
        return kind

    def get(self, resource, name=None, namespace=None):
        self.calls.append((resource, name or namespace))
        if resource == "Namespace":
            if name not in self.namespaces:
                raise ApiException(status=404, reason="Not Found")
            return {"metadata": {"name": name}}
        return FakeClient(self.objects).get(("ServiceAccount", "v1"), namespace)


def test_read_namespace_gives_whether_it_exists_and_its_service_accounts():
    accounts = [{"metadata": {"name": "runner"}}]
    client = NamespaceClient({"envs"}, {("ServiceAccount", "envs"): accounts})
    made = []

    def connect(**options):
        made.append(options)
        return client
    assert kube_access.read_namespace("envs", "/k", "prod", connect=connect) == {"exists": True, "service_accounts": accounts}
    assert made == [{"kubeconfig": "/k", "context": "prod"}]
    assert kube_access.read_namespace("gone", connect=connect) == {"exists": False, "service_accounts": []}
    assert made[-1] == {} and client.calls[-1] == ("Namespace", "gone")  # a missing namespace has nothing to list


def test_read_namespace_refused_names_the_request_and_the_variables_to_fix():
    class Refusing(NamespaceClient):
        def get(self, resource, name=None, namespace=None):
            raise ApiException(status=403, reason="Forbidden")
    client = Refusing(set(), {})
    with pytest.raises(kube_access.KubeAccessError) as refused:
        kube_access.read_namespace("envs", field="service_account_kubeconfig and service_account_context",
                                   connect=lambda **options: client)
    text = str(refused.value)
    assert "refused reading namespace envs: 403 Forbidden" in text and "service_account_kubeconfig and service_account_context" in text


def test_read_namespace_through_kubernetes_core_a_closed_port_is_a_connect_failure(tmp_path):
    path = kubeconfig(tmp_path, server=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(kube_access.KubeAccessError) as failed:
        kube_access.read_namespace("envs", path, "admin", field="service_account_kubeconfig and service_account_context")
    text = str(failed.value)
    assert "cannot connect to its Kubernetes API server http://127.0.0.1:" in text and f"kubeconfig {path}, context admin" in text
    assert "Fix: make that API server reachable" in text


def test_an_in_memory_kubeconfig_is_loaded_as_such_and_never_shown(tmp_path):
    content = yaml.safe_load(open(kubeconfig(tmp_path, server=f"http://127.0.0.1:{closed_port()}"), encoding="utf-8"))
    found = kube_access.access({"kubeconfig": content}, environ={})
    assert found["kubeconfig"] == "an in-memory kubeconfig" and found["context"] == "admin (its current context)"
    with pytest.raises(kube_access.KubeAccessError) as failed:
        kube_access.read_namespace("envs", content, field="service_account_kubeconfig and service_account_context")
    text = str(failed.value)
    assert "cannot connect" in text and "kubeconfig an in-memory kubeconfig" in text and '"t"' not in text and "token" not in text


def test_a_404_of_discovery_is_an_api_failure_not_a_missing_namespace():
    class NoCoreApi(NamespaceClient):
        def resource(self, kind, api_version):
            raise ApiException(status=404, reason="Not Found")
    with pytest.raises(kube_access.KubeAccessError) as failed:
        kube_access.read_namespace("envs", connect=lambda **options: NoCoreApi(set(), {}))
    assert "refused its first request (the API version and discovery): 404 Not Found" in str(failed.value)
