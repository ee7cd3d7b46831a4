# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters that read each cluster's namespaces once, before any write, and isolate the accounts of a cluster that fails
(plugins/plugin_utils/kube_access.py); the playbooks only chain them.

They run in the controller, once per run, as the rest of the plan does: a cluster that cannot be read must not stop
the accounts of the others, so its failure is a value here, not a failed task.
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_access
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_account_groups import planned_service_account_groups
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_accounts import service_account_takeovers


def _all_groups(plans, clusters):
    """The (cluster, namespace) groups of every planned ServiceAccount, present clusters' then retired ones'."""
    return (planned_service_account_groups(plans, clusters)
            + planned_service_account_groups(plans, clusters, "retired_service_accounts"))


def _read(groups, clusters, listed, kinds=(kube_access.SERVICE_ACCOUNT,)):
    try:
        return kube_access.read_groups(groups, clusters, kinds, listed=bool(listed))
    except kube_access.KubeAccessError as e:  # the library is missing (a cluster that fails is reported, not raised)
        raise AnsibleFilterError(str(e)) from None


def cluster_reads(groups, clusters, listed=False, kinds=None):
    """Each group's objects of ``kinds`` (default ServiceAccounts) and the clusters that failed
    (:func:`~.kube_access.read_groups`); ``listed`` is ``eks_irsa_clusters is defined``, for naming the variable."""
    return _read(groups, clusters, listed, tuple(kinds or (kube_access.SERVICE_ACCOUNT,)))


def rollout_cluster_check(plans, clusters, listed=False):
    """Before any write: read every planned namespace of every cluster once; refuse (raise) a ServiceAccount someone else
    made that is not adopted (:func:`~.service_accounts.service_account_takeovers`), in the clusters that could be read;
    and return ``{host: message}`` of the accounts whose ServiceAccounts live in a cluster that could not be: the rollout
    writes nothing for them."""
    present = planned_service_account_groups(plans, clusters)
    reads = _read(_all_groups(plans, clusters), clusters, listed)
    objects = {group["label"]: group["objects"][kube_access.SERVICE_ACCOUNT] for group in reads["groups"]}
    for group in present:
        if group["label"] in objects:
            try:
                service_account_takeovers(group["service_accounts"], objects[group["label"]], group["namespace"])
            except EksIrsaError as e:
                raise AnsibleFilterError(e.message) from None
    return kube_access.blocked_accounts(plans, reads["failures"], "rollout")


def teardown_cluster_check(plans, clusters, listed=False):
    """Before any deletion: ``{"blocked": {host: message}, "groups": [...]}``: the accounts whose ServiceAccounts live in
    a cluster that could not be read, which keep everything (ServiceAccounts, roles, provider), and the groups of
    ServiceAccounts to delete: every other account's, present and retired clusters' alike."""
    reads = _read(_all_groups(plans, clusters), clusters, listed)
    blocked = kube_access.blocked_accounts(plans, reads["failures"], "teardown")
    return {"blocked": blocked, "groups": _all_groups({host: plan for host, plan in plans.items() if host not in blocked}, clusters)}


def teardown_blocked(checked, plans, clusters, service_account_results=None):
    """``{host: message}`` of the accounts that keep their roles and provider: those of a cluster that could not be read
    (``checked``, :func:`teardown_cluster_check`), and those with ServiceAccounts in a namespace whose deletion failed."""
    blocked = kube_access.blocked_by_groups(plans, clusters, service_account_results, "teardown")
    for host, text in ((checked or {}).get("blocked") or {}).items():
        blocked[host] = f"{text}; {blocked[host]}" if host in blocked else text
    return blocked


class FilterModule:
    """Cluster reads and the accounts they isolate."""

    def filters(self):
        return {
            "cluster_reads": cluster_reads,
            "rollout_cluster_check": rollout_cluster_check,
            "teardown_cluster_check": teardown_cluster_check,
            "teardown_blocked": teardown_blocked,
        }
