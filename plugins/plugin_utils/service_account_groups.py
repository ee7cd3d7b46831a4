# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ServiceAccounts of the plans, grouped as the service_account role applies them: one group per cluster and
namespace, with the cluster's Kubernetes access."""

from __future__ import annotations

from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import role_source


def planned_service_accounts(plans, key="service_accounts"):
    """``[{"cluster", "namespace", "name", "adopt", "source"}]``: every ServiceAccount of the plans (``{host: plan}``,
    ``eks_irsa_plan``); ``key`` ``retired_service_accounts`` gives those of the retired clusters instead.

    ``adopt`` is the role entry's: it also lets the rollout annotate a ServiceAccount of that name it did not make.
    """
    return [dict(service_account, adopt=bool(role["params"].get("adopt")), source=role_source(host, role))
            for host, plan in plans.items() for role in plan["roles"] for service_account in role[key]]


def service_account_groups(items, clusters):
    """``[{"cluster", "namespace", "label", "service_accounts", "kubeconfig", "context"}]``, one per (cluster, namespace) in
    the run's cluster order and namespace name order, each with its items (without cluster and namespace) in order, and the
    cluster's Kubernetes access. ``label`` names the group in results and messages: its namespace, or
    ``<cluster>/<namespace>`` when the run has several clusters."""
    order = {cluster["name"]: index for index, cluster in enumerate(clusters)}
    access = {cluster["name"]: cluster for cluster in clusters}
    groups = {}
    for item in items:
        groups.setdefault((item.get("cluster"), item["namespace"]), []).append(
            {key: value for key, value in item.items() if key not in ("cluster", "namespace")})
    return [{"cluster": cluster, "namespace": namespace,
             "label": f"{cluster}/{namespace}" if len(clusters) > 1 else namespace,
             "service_accounts": groups[(cluster, namespace)],
             "kubeconfig": (access.get(cluster) or {}).get("kubeconfig"), "context": (access.get(cluster) or {}).get("context")}
            for cluster, namespace in sorted(groups, key=lambda key: (order.get(key[0], len(order)), key[1]))]


def planned_service_account_groups(plans, clusters, key="service_accounts"):
    """The planned ServiceAccounts (:func:`planned_service_accounts`) by cluster and namespace (:func:`service_account_groups`)."""
    return service_account_groups(planned_service_accounts(plans, key), clusters)
