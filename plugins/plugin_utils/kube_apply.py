# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The service_account role's writes, made in the controller: server-side apply and delete through kubernetes.core.

What a ``kubernetes.core.k8s`` task does in a module process of its own, done in this process with kubernetes.core's
own code: its client (``get_api_client``), its ``K8sService`` and, for each definition, its ``perform_action``, given
the parameters such a task would have. ``state: present`` is k8s's ``apply: true`` with ``server_side_apply`` (the
field manager ``torque.eks_irsa``, ``force_conflicts`` on request): one request creates or updates, so two runs racing on
the same new object cannot fail with AlreadyExists. ``state: absent`` is k8s's delete; an object that another run
deleted between the read and the delete counts as deleted by that run (unchanged here), not as a failure.

So ``changed``, ``method``, ``result`` and ``diff`` are k8s's, computed the same way (the object before against what
the API server answered), and check mode is k8s's too: every write is sent with ``dryRun=All``, the API server's dry
run, which checks and answers it without storing anything. One definition gives k8s's result for it; several give
k8s's ``{changed, result: {results: [...]}}``, with their warnings and, in diff mode, their diffs (a list) at the top.

A cluster that cannot be reached, refuses a request or whose access cannot be loaded raises
:class:`~.kube_access.KubeAccessError` with :func:`~.kube_access.failure`'s message (its API server, kubeconfig and
context, what was refused, and the fix), after which nothing more is sent. Nothing here logs or returns credentials:
the access is named by its kubeconfig path and context only.
"""

from __future__ import annotations

import copy

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.torque.eks_irsa.plugins.module_utils.names import FIELD_MANAGER
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_access
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.kube_access import KubeAccessError

PRESENT, ABSENT = "present", "absent"
# Answers about the definition sent, not about the access: said as the request's own failure, with no access fix.
DEFINITION_STATUSES = (400, 404, 409, 422)


class K8sModule:
    """What kubernetes.core's ``K8sService`` and ``perform_action`` read of the module they serve: its parameters, check
    and diff mode, and where its warnings go."""

    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff  # kubernetes.core's module class names it so; perform_action reads it
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)


def k8s_params(state, force_conflicts=False):
    """The parameters of the ``kubernetes.core.k8s`` task this write is: a server-side apply as this collection's field
    manager, or a delete; no wait (ServiceAccounts and Namespaces are there once written)."""
    if state == ABSENT:
        return {"state": ABSENT, "wait": False}
    server_side_apply = {"field_manager": FIELD_MANAGER}
    if force_conflicts:  # else not sent, as k8s's unset force_conflicts
        server_side_apply["force_conflicts"] = True
    return {"state": PRESENT, "apply": True, "wait": False, "server_side_apply": server_side_apply}


def describe(definition, state):
    """The request a definition is, for messages: ``applying ServiceAccount ns/name`` or ``deleting ...``."""
    metadata = definition.get("metadata") or {}
    name = metadata.get("name") or "?"
    where = f"{metadata['namespace']}/{name}" if metadata.get("namespace") else name
    verb = "deleting" if state == ABSENT else "applying (server-side apply)"
    return f"{verb} {definition.get('kind') or 'object'} {where}"


def _cause(error, loaded):
    """The error behind kubernetes.core's ``CoreException`` (its service wraps what the API or the connection raised)."""
    return error.__cause__ if isinstance(error, loaded.CoreException) and error.__cause__ is not None else error


def _raise_failure(error, doing, options, field, changed, loaded):
    """``error`` said as a cluster failure (:func:`~.kube_access.raise_failure`), or, when the API server or
    kubernetes.core refused the definition itself (no such kind served, an invalid object, a conflict), as that request's
    failure; with whether something was already changed."""
    first = doing == kube_access.FIRST_REQUEST
    cause = error if first else _cause(error, loaded)  # the client's own "Could not create API client" is the access
    kind = kube_access.kind_of(cause)
    if not first and kind == kube_access.CONFIG:
        raise KubeAccessError(f"{doing} failed: {to_native(error)}", changed=changed) from error
    if not first and kind == kube_access.API and getattr(cause, "status", None) in DEFINITION_STATUSES:
        raise KubeAccessError(f"{doing} was refused by the API server: {kube_access.api_detail(cause)}", changed=changed) from error
    kube_access.raise_failure(cause if kind is not None else error, doing, options, field, changed=changed)


def _gone(error, loaded):
    """True for a delete answered 404: the object went between the read and the delete (another run deleted it)."""
    return getattr(_cause(error, loaded), "status", None) == 404


def aggregate(results, diff):
    """kubernetes.core.k8s's result for ``results`` (one per definition): the one result, or ``{changed, result: {results}}``
    with the warnings and diffs of all of them at the top, where Ansible shows them."""
    if len(results) == 1:
        return dict(results[0])
    aggregated = {"changed": any(result["changed"] for result in results), "result": {"results": results}}
    warnings = [warning for result in results for warning in result.get("warnings") or []]
    if warnings:
        aggregated["warnings"] = warnings
    if diff:
        aggregated["diff"] = [result["diff"] for result in results if result.get("diff")]
    return aggregated


def apply(definitions, state=PRESENT, kubeconfig=None, context=None, force_conflicts=False, check_mode=False, diff=False,
          field="kubeconfig and context", connect=None):
    """Apply (``state: present``) or delete (``absent``) each of ``definitions`` in order, as ``kubernetes.core.k8s``
    would (see the module docstring); returns its result. ``field`` names the options that chose the access, for the fix
    of a failure; ``connect`` (tests) replaces kubernetes.core's ``get_api_client``."""
    loaded = kube_access.library()
    if loaded is None:  # the writes need kubernetes.core's service and runner, whatever the client
        raise KubeAccessError(kube_access.MISSING_LIBRARY)
    connect = kube_access.client_maker(connect)
    options = kube_access.access_options(kubeconfig, context)
    params = k8s_params(state, force_conflicts)
    module = K8sModule(params, check_mode=check_mode, diff=diff)
    results = []
    doing = kube_access.FIRST_REQUEST
    try:
        client = connect(**options)
        # As kubernetes.core.k8s in check mode (its module's server_side_dry_run): every write is the API server's dry run.
        client.dry_run = bool(check_mode)
        service = loaded.K8sService(client, module)
        for definition in definitions or []:
            doing = describe(definition, state)
            try:
                result = loaded.perform_action(service, copy.deepcopy(definition), params)
            except Exception as error:  # pylint: disable=broad-exception-caught
                if state != ABSENT or not _gone(error, loaded):
                    raise
                result = {"changed": False, "method": "delete", "result": {}}
            if module.warnings:
                result.setdefault("warnings", []).extend(module.warnings)
                module.warnings = []
            results.append(result)
    except Exception as error:  # pylint: disable=broad-exception-caught
        _raise_failure(error, doing, options, field, any(result["changed"] for result in results), loaded)
    return aggregate(results, diff)
