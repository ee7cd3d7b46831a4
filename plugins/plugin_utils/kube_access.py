# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Each cluster's Kubernetes API, read once per namespace before anything is written, and what to say when it cannot be.

The reads go through kubernetes.core's own client (``get_api_client``), so a cluster is reached exactly as the
kubernetes.core tasks after them reach it: its kubeconfig and context, else ``K8S_AUTH_*``, else ``~/.kube/config``.
A cluster that fails is not read further, and every account whose ServiceAccounts live in it is isolated: the rollout
writes nothing for it, the teardown keeps its roles, verify reports it. Three kinds of failure, each with its own
message: the API cannot be reached (``connect``: refused, DNS, timeout, TLS), it answered with an error (``api``: 401,
403, ...), or the access itself cannot be loaded (``config``: no such kubeconfig or context).
"""

from __future__ import annotations

import json
import os
import re

import types

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError

get_api_client = None  # kubernetes.core's client maker, from library() unless set (tests)


def library():
    """The kubernetes client, urllib3 and kubernetes.core's client, service and runner, imported when first needed
    (or by the controller's warm-up), not with this file: ansible-core imports every filter file of the collection to
    find one filter, in every forked worker, and this one is imported by several. None when they are missing (said once
    a cluster is reached: the playbooks that reach clusters have kubernetes.core's requirements)."""
    # pylint: disable=import-outside-toplevel
    try:
        import kubernetes
        import kubernetes.config
        import urllib3
        from kubernetes.client.exceptions import ApiException

        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client as make_client
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.runner import perform_action
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.service import K8sService
    except ImportError:
        return None
    return types.SimpleNamespace(kubernetes=kubernetes, urllib3=urllib3, ApiException=ApiException, CoreException=CoreException,
                                 get_api_client=make_client, K8sService=K8sService, perform_action=perform_action)


class KubeAccessError(EksIrsaError):
    """A cluster that could not be reached or read, said with its access and the fix."""


FIRST_REQUEST = "its first request (the API version and discovery)"
MISSING_LIBRARY = ("the Python library kubernetes (and the collection kubernetes.core) is needed to reach the cluster: "
                   "pip install kubernetes (requirements.txt lists it)")


def client_maker(connect=None):
    """kubernetes.core's ``get_api_client`` (or ``connect``, in tests); raises :class:`KubeAccessError` when the
    library is missing."""
    loaded = library()
    if loaded is None and connect is None:
        raise KubeAccessError(MISSING_LIBRARY)
    return connect or get_api_client or loaded.get_api_client


def access_options(kubeconfig=None, context=None):
    """The kubeconfig and context given, as ``get_api_client`` takes them: one left out falls back as kubernetes.core's."""
    return {key: value for key, value in (("kubeconfig", kubeconfig), ("context", context)) if value}


def raise_failure(error, doing, options, field=None, **details):
    """Raise ``error`` (met while ``doing`` with the access ``options``) as a :class:`KubeAccessError` saying the
    cluster's access and the fix (:func:`failure`); one that is not about the cluster (a bug) is raised as it is."""
    kind = kind_of(error)
    if kind is None:
        raise error
    found = failure(dict(options, name=None), kind, error, doing, field=field)
    raise KubeAccessError(f"{found['summary']}. Fix: {found['fix']}", **details, **found) from error


CONNECT, API, CONFIG = "connect", "api", "config"
SERVICE_ACCOUNT, POD = "ServiceAccount", "Pod"
# What each playbook does with an account whose ServiceAccounts live in a cluster that failed.
ROLLOUT = ("nothing was written for this account, in AWS or Kubernetes, as for every account with ServiceAccounts in that "
           "cluster; the other accounts are converged")
TEARDOWN = ("its ServiceAccounts there could not be deleted, so this account's roles and OIDC provider are kept; the other "
            "accounts are torn down")
VERIFY = "its ServiceAccounts and pods there could not be read, so this account is not verified in that cluster"
CONSEQUENCES = {"rollout": ROLLOUT, "teardown": TEARDOWN, "verify": VERIFY}
_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def _field(cluster, listed):
    """The variables the user wrote for the cluster's access."""
    if listed:
        return f"the kubeconfig and context of its {cluster['field']} entry"
    return "eks_irsa_kubeconfig and eks_irsa_kube_context"


def access(cluster, environ=None):
    """``{host, kubeconfig, context, via}``: how kubernetes.core reaches the cluster, for messages.

    kubernetes.core's documented order: its own kubeconfig and context, else ``K8S_AUTH_KUBECONFIG`` and
    ``K8S_AUTH_CONTEXT``, else in a pod its in-cluster access, else the kubeconfig's default location and its current
    context; ``K8S_AUTH_HOST`` with a token,
    a password or a client certificate needs no kubeconfig, and ``K8S_AUTH_HOST`` alone overrides its server. The URL is
    the one the kubernetes client's own config loader finds (None when it cannot load it).
    """
    environ = os.environ if environ is None else environ
    env_host = environ.get("K8S_AUTH_HOST")
    direct = env_host and (environ.get("K8S_AUTH_API_KEY") or (environ.get("K8S_AUTH_USERNAME") and environ.get("K8S_AUTH_PASSWORD"))
                           or ((environ.get("K8S_AUTH_CLIENT_CERT") or environ.get("K8S_AUTH_CERT_FILE"))
                               and (environ.get("K8S_AUTH_CLIENT_KEY") or environ.get("K8S_AUTH_KEY_FILE"))))
    if direct:
        return {"host": env_host.rstrip("/"), "kubeconfig": None, "context": None, "via": "K8S_AUTH_HOST"}
    kubeconfig = cluster.get("kubeconfig") or environ.get("K8S_AUTH_KUBECONFIG")
    context = cluster.get("context") or environ.get("K8S_AUTH_CONTEXT")
    via = "K8S_AUTH_KUBECONFIG" if kubeconfig and not cluster.get("kubeconfig") else None
    loaded = library()
    if loaded is None:
        return {"host": None, "kubeconfig": kubeconfig, "context": context, "via": via}
    kubernetes = loaded.kubernetes
    path = kubeconfig or kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    host = None
    configuration = kubernetes.client.Configuration()
    if not kubeconfig and not context:  # as kubernetes.core: in a pod (an AWX container group), its in-cluster access first
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
            return {"host": env_host.rstrip("/") if env_host else configuration.host, "kubeconfig": None, "context": None,
                    "via": "the in-cluster configuration"}
        except kubernetes.config.ConfigException:
            pass
    in_memory = isinstance(kubeconfig, dict)  # the content itself, as kubernetes.core takes it: never shown
    try:
        if in_memory:
            kubernetes.config.load_kube_config_from_dict(config_dict=kubeconfig, context=context, client_configuration=configuration,
                                                         persist_config=False)
            current = kubeconfig.get("current-context")
        else:
            kubernetes.config.load_kube_config(config_file=path, context=context, client_configuration=configuration, persist_config=False)
            current = kubernetes.config.list_kube_config_contexts(path)[1]["name"]
        host = configuration.host
        context = context or f"{current} (its current context)"
    except (kubernetes.config.ConfigException, OSError, ValueError, TypeError, KeyError, AttributeError):
        context = context or "its current context"
    return {"host": env_host.rstrip("/") if env_host else host, "kubeconfig": "an in-memory kubeconfig" if in_memory else path,
            "context": context, "via": via}


def _access_text(found):
    if found["kubeconfig"] is None:
        return f"from {found['via']}"
    via = f" (from {found['via']})" if found["via"] else ""
    return f"kubeconfig {found['kubeconfig']}{via}, context {found['context']}"


def _connect_reason(error):
    """Why a connection failed, in a few words: refused, DNS, timeout or TLS."""
    reason = getattr(error, "reason", None) or error
    loaded = library()
    exceptions = loaded.urllib3.exceptions if loaded else None
    if exceptions and isinstance(reason, exceptions.SSLError):
        return f"the TLS handshake failed ({reason})"
    if exceptions and isinstance(reason, getattr(exceptions, "NameResolutionError", ())):
        return "its host name does not resolve (DNS)"
    match = _ERRNO_RE.search(str(reason))
    if match:  # before the timeout test: urllib3's NewConnectionError is a ConnectTimeoutError
        text = match.group(1).strip().lower()
        return "its host name does not resolve (DNS)" if "name or service not known" in text or "not resolve" in text else text
    if exceptions and isinstance(reason, exceptions.TimeoutError):
        return "the connection timed out"
    return str(reason)


def api_detail(error):
    """``status reason: message`` of an API error, the message from its Status body when there is one."""
    message = None
    try:
        message = json.loads(error.body).get("message")
    except (TypeError, ValueError, AttributeError):
        pass
    return f"{error.status} {error.reason}" + (f": {message}" if message else "")


def _api_fix(status, cluster, field):
    if status == 401:
        return (f"renew the credentials of that context (for EKS: aws eks update-kubeconfig --name {cluster['name'] or '<cluster>'}), "
                f"or point {field} at a context whose credentials the API server accepts")
    if status == 403:
        return (f"let the identity of that context get, list, create, patch and delete serviceaccounts, list pods, and get and "
                f"create namespaces, in the run's namespaces; or point {field} at a context that may")
    return f"check the API server's health and answer, or point {field} at another context"


def failure(cluster, kind, error, doing, listed=False, environ=None, field=None):
    """``{cluster, kind, host, kubeconfig, context, status, summary, fix}``: one cluster's failure, for people and machines;
    ``doing`` is the request an API error answered; ``field`` the variables of the access, when not the run's."""
    found = access(cluster, environ)
    name = f"cluster {cluster['name']}" if cluster.get("name") else "the run's cluster"
    field = field or _field(cluster, listed)
    host = found["host"] or "(none: the kubeconfig could not be loaded)"
    status = getattr(error, "status", None) if kind == API else None
    if kind == CONNECT:
        summary = f"{name}: cannot connect to its Kubernetes API server {host} ({_access_text(found)}): {_connect_reason(error)}"
        fix = (f"make that API server reachable from here (the cluster running, its endpoint public or reached over your network), "
               f"or point {field} at the right cluster, then run again")
    elif kind == API:
        summary = f"{name}: its Kubernetes API server {host} ({_access_text(found)}) refused {doing}: {api_detail(error)}"
        fix = _api_fix(status, cluster, field) + ", then run again"
    else:
        summary = f"{name}: its Kubernetes access could not be loaded ({_access_text(found)}): {error}"
        fix = (f"point {field} at an existing kubeconfig file and one of its contexts (unset, K8S_AUTH_KUBECONFIG, then "
               "~/.kube/config and its current context), then run again")
    return {"cluster": cluster.get("name"), "kind": kind, "host": found["host"], "kubeconfig": found["kubeconfig"],
            "context": found["context"], "status": status, "summary": summary, "fix": fix}


def message(found, consequence):
    """One line for an account: what failed in which cluster, what that means for the account, and the fix."""
    return f"{found['summary']}; {CONSEQUENCES.get(consequence, consequence)}. Fix: {found['fix']}"


def _list(client, kind, namespace):
    return client.get(client.resource(kind, "v1"), namespace=namespace).to_dict().get("items") or []


def read_groups(groups, clusters, kinds=(SERVICE_ACCOUNT,), listed=False, environ=None, connect=None):
    """Read each group's objects of ``kinds`` in its namespace (one list per kind), one cluster after another.

    ``groups`` are :func:`~.service_account_groups.service_account_groups`' (each ``{cluster, namespace, label, kubeconfig, context}``);
    ``clusters`` the run's, in order (``eks_irsa_run_clusters``): their index names the ``eks_irsa_clusters`` entry in
    messages when ``listed`` (the run lists its clusters; else they are the one-cluster variables). A cluster that fails
    is not read further. Returns ``{"groups": [{cluster, namespace, label, objects: {kind: [...]}}], "failures": [...]}``
    (:func:`failure`). ``connect`` (tests) replaces kubernetes.core's ``get_api_client``.
    """
    connect = client_maker(connect)
    entries = {cluster["name"]: dict(cluster, field=f"eks_irsa_clusters[{index}] ({cluster['name']})")
               for index, cluster in enumerate(clusters or [])}
    read, failures, clients = [], {}, {}
    for group in groups or []:
        name = group.get("cluster")
        if name in failures:
            continue
        cluster = entries.get(name) or {"name": name, "kubeconfig": group.get("kubeconfig"), "context": group.get("context"),
                                        "field": f"eks_irsa_clusters ({name})"}
        doing = ""
        try:
            if name not in clients:
                doing = FIRST_REQUEST
                clients[name] = connect(**access_options(cluster.get("kubeconfig"), cluster.get("context")))
            objects = {}
            for kind in kinds:
                doing = f"listing the {kind}s of namespace {group['namespace']}"
                objects[kind] = _list(clients[name], kind, group["namespace"])
        except Exception as error:  # pylint: disable=broad-exception-caught
            kind = kind_of(error)
            if kind is None:
                raise
            failures[name] = failure(cluster, kind, error, doing, listed, environ)
            continue
        read.append({"cluster": name, "namespace": group["namespace"], "label": group["label"], "objects": objects})
    return {"groups": read, "failures": list(failures.values())}


def read_namespace(namespace, kubeconfig=None, context=None, field=None, connect=None):
    """``{"exists": bool, "service_accounts": [...]}``: one namespace and its ServiceAccounts, read in this process.

    What the service_account role compares its manifests with, just before it applies them. A failure to reach or
    read the cluster raises :class:`KubeAccessError` with the message of :func:`failure` (``field``: the variables
    that chose the access).
    """
    connect = client_maker(connect)
    options = access_options(kubeconfig, context)
    doing = FIRST_REQUEST
    try:
        client = connect(**options)
        namespaces, service_accounts = client.resource("Namespace", "v1"), client.resource(SERVICE_ACCOUNT, "v1")
        doing = f"reading namespace {namespace}"
        try:  # only here is a 404 the answer "no such namespace" (of discovery, it would be a broken API server)
            client.get(namespaces, name=namespace)
        except Exception as error:  # pylint: disable=broad-exception-caught
            if getattr(error, "status", None) != 404:
                raise
            return {"exists": False, "service_accounts": []}
        doing = f"listing the {SERVICE_ACCOUNT}s of namespace {namespace}"
        return {"exists": True, "service_accounts": client.get(service_accounts, namespace=namespace).to_dict().get("items") or []}
    except Exception as error:  # pylint: disable=broad-exception-caught
        raise_failure(error, doing, options, field)


def kind_of(error):
    """The kind of failure ``error`` is, or None for one that is not about reaching the cluster (a bug: raised)."""
    loaded = library()
    if loaded is not None:
        if isinstance(error, loaded.ApiException):
            return API
        if isinstance(error, loaded.urllib3.exceptions.HTTPError):
            return CONNECT
        if isinstance(error, (loaded.CoreException, loaded.kubernetes.config.ConfigException)):
            return CONFIG
    status = getattr(error, "status", None)
    if isinstance(status, int):  # an API error of another client (tests)
        return API
    if isinstance(error, ConnectionError):
        return CONNECT
    if isinstance(error, (OSError, ValueError)):
        return CONFIG
    return None


def _holds(plan, clusters, keys):
    """The clusters (names) holding ServiceAccounts of an account's plan, among ``clusters``, in that order."""
    held = {service_account["cluster"] for role in plan.get("roles") or [] for key in keys for service_account in role.get(key) or []}
    return [name for name in clusters if name in held]


def blocked_accounts(plans, failures, consequence, keys=("service_accounts", "retired_service_accounts")):
    """``{host: message}`` of the accounts with ServiceAccounts in a cluster that failed (:func:`read_groups`), retired
    clusters' included: each gets no write (or, in the teardown, keeps its roles), with one message per such cluster."""
    by_cluster = {found["cluster"]: found for found in failures or []}
    blocked = {}
    for host, plan in (plans or {}).items():
        held = _holds(plan, list(by_cluster), keys)
        if held:
            blocked[host] = "; ".join(message(by_cluster[name], consequence) for name in held)
    return blocked


def blocked_by_groups(plans, clusters, results, consequence):
    """``{host: message}`` of the accounts with ServiceAccounts in a (cluster, namespace) group that failed
    (the ``results`` of the action service_account_groups: label -> ``{status, error}``)."""
    several = len(clusters or []) > 1
    errors = {label: result["error"] for label, result in (results or {}).items() if (result or {}).get("error")}
    blocked = {}
    for host, plan in (plans or {}).items():
        labels = []
        for role in plan.get("roles") or []:
            for service_account in (role.get("service_accounts") or []) + (role.get("retired_service_accounts") or []):
                label = f"{service_account['cluster']}/{service_account['namespace']}" if several else service_account["namespace"]
                if label in errors and label not in labels:
                    labels.append(label)
        if labels:
            blocked[host] = "; ".join(f"ServiceAccounts in {label}: {errors[label]}; {CONSEQUENCES.get(consequence, consequence)}"
                                      for label in labels)
    return blocked
