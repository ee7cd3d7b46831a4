# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Kubernetes access of the collection's modules: kubernetes.core's connection options and kubernetes.core's client.

A module takes every connection option of kubernetes.core (its ``AUTH_ARG_SPEC``: kubeconfig, context, host, api_key,
username and password, the CA, client certificate and key, proxy, impersonation, ...) and reaches the API server through
kubernetes.core's ``get_api_client``, which reads the options it was not given from ``K8S_AUTH_*``. So it connects
exactly as the kubernetes.core tasks of the same play do (and as ``plugin_utils/kube_access.py`` reads the clusters).

Two names differ from kubernetes.core's, because the modules are also amazon.aws modules: ``validate_certs`` is
amazon.aws's (the AWS APIs' certificates), so kubernetes.core's (the Kubernetes API's) goes by its alias
``verify_ssl``; and ``context`` keeps the modules' earlier name ``kube_context`` as an alias.
"""

from __future__ import annotations

import copy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

# kubernetes.core's option name -> the modules' (see the module docstring).
RENAMED = {"validate_certs": "verify_ssl"}
ALIASES = {"context": ["kube_context"]}


def auth_argument_spec():
    """The argument spec of kubernetes.core's connection options, as the modules take them.

    ``kubeconfig`` (a path, or the kubeconfig itself as a mapping) is never logged, as kubernetes.core 6.2.0 has it (later
    releases dropped its ``no_log`` for a redaction of the mapping's secrets that their own module class does).
    """
    spec = {}
    for name, option in AUTH_ARG_SPEC.items():
        option = copy.deepcopy(option)
        if name in RENAMED:
            name = RENAMED[name]
            aliases = [alias for alias in option.pop("aliases", []) if alias != name]
            if aliases:
                option["aliases"] = aliases
        if name in ALIASES:
            option["aliases"] = option.get("aliases", []) + ALIASES[name]
        spec[name] = option
    spec["kubeconfig"]["no_log"] = True
    return spec


def auth_kwargs(params):
    """The connection options set in ``params`` (a module's), by kubernetes.core's names, for ``get_api_client``: it
    reads the unset ones from ``K8S_AUTH_*``."""
    kwargs = {}
    for name in AUTH_ARG_SPEC:
        value = params.get(RENAMED.get(name, name))
        if value is not None:
            kwargs[name] = value
    return kwargs


def core_v1_api(params, connect=None):
    """A ``kubernetes.client.CoreV1Api`` on the API client kubernetes.core makes for ``params``' connection options
    (its configuration and headers: impersonation, proxy, ...). kubernetes.core's client reads the API's version and
    group list when it is made, so an API server that cannot be reached or refuses the credentials fails here.

    ``connect`` (tests) replaces ``get_api_client``.
    """
    from kubernetes.client import CoreV1Api  # pylint: disable=import-outside-toplevel

    client = (connect or get_api_client)(**auth_kwargs(params))
    return CoreV1Api(client.client.client)  # K8SClient -> its DynamicClient -> the kubernetes ApiClient
