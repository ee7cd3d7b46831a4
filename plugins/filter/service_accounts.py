# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters that build the IRSA ServiceAccount manifests and compare them with the cluster.

They run in the controller (no module process per call). The decisions are plugins/plugin_utils/service_accounts.py's;
each filter here only turns a refusal into the filter error Ansible reports.
"""

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_access
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import service_accounts

ACCESS_FIELD = "service_account_kubeconfig and service_account_context"


def _filter(function):
    @functools.wraps(function)
    def reported(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except EksIrsaError as e:
            raise AnsibleFilterError(e.message) from None  # the message says why; Ansible would append the cause again
    return reported


service_account_manifests = _filter(service_accounts.service_account_manifests)
service_account_status = _filter(service_accounts.service_account_status)
service_account_deletions = _filter(service_accounts.service_account_deletions)
service_account_namespace_manifest = _filter(service_accounts.service_account_namespace_manifest)
service_account_takeovers = _filter(service_accounts.service_account_takeovers)


def service_account_namespace_state(namespace, kubeconfig=None, context=None):
    """``{exists, service_accounts}``: the namespace and its ServiceAccounts, read through kubernetes.core's client here,
    in the controller, instead of by two module processes."""
    try:
        return kube_access.read_namespace(namespace, kubeconfig or None, context or None, field=ACCESS_FIELD)
    except kube_access.KubeAccessError as e:
        raise AnsibleFilterError(f"service_account_namespace: {e}") from None  # the message says it all, once


class FilterModule:
    """IRSA ServiceAccount filters."""

    def filters(self):
        return {
            "service_account_manifests": service_account_manifests,
            "service_account_status": service_account_status,
            "service_account_deletions": service_account_deletions,
            "service_account_namespace_manifest": service_account_namespace_manifest,
            "service_account_takeovers": service_account_takeovers,
            "service_account_namespace_state": service_account_namespace_state,
        }
