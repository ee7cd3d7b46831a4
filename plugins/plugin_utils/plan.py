# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rollout's plan: every account of the inventory planned, once, before anything is written anywhere.

Pure code (the filters of ``plugins/filter/account_plans.py`` only adapt it). Each account's values are checked first
(:mod:`.inventory_checks`, with the modules' own checks), and the plan adds only what needs the whole inventory: two
roles claiming one ServiceAccount, one role listed by two hosts, two hosts published under one set_stats key.

The plan of an account is ``{account_id, assume_role_arn, external_id, providers, provider_arguments, roles}``:
``providers`` one per cluster its roles trust (and one ``absent`` per retired cluster), ``roles`` holds, per role
(:mod:`.role_plans`), the ``service_accounts`` (``{cluster, namespace, name}``) its pods run as, which the rollout
applies in their clusters, the ``retired_service_accounts`` it removes from retired clusters, everything it
``trusted`` (patterns included), the ``clusters`` it trusts, and the irsa_account entry (``params``) the rollout and
teardown hand to the module.
"""

from __future__ import annotations

from ansible_collections.torque.eks_irsa.plugins.module_utils.names import DEFAULT_AUDIENCE
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import plain_data
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import checked_account
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import checked_hub
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import host_variables
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import refuse
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import HUB
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import MODE
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import ROLES
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import PlanError
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import checked_role_names
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import role_plans
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import role_source
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import service_account_label
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import spoke_arn
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import spoke_plans
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.run_clusters import provider_tags
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.summary import account_stats_key


def hub_hosts(hosts, hostvars, hub):
    """The host that converges the hub role: the first (by name) of the hub's account, if the run has one."""
    if hub is None:
        return None
    of_account = sorted(host for host in hosts if str(hostvars[host].get("eks_irsa_account_id") or "") == hub["account_id"])
    return of_account[0] if of_account else None


def account_plan(host, host_vars, issuers, hub=None, hub_host=False, cluster_arns=None):
    """One account's plan (see the module docstring); raises :class:`PlanError` naming the variable.

    ``issuers`` maps a cluster's name to the issuer the preflight looked up; a cluster's own issuer wins. ``hub`` is the
    run's ``eks_irsa_hub``, checked once (:func:`~.inventory_checks.checked_hub`); ``hub_host``: this host converges the
    hub role (:func:`hub_hosts`).
    """
    host_vars = {key: plain_data(host_vars.get(key)) for key in host_vars if str(key).startswith("eks_irsa_")}
    account = checked_account(host_vars, issuers, hub)
    account_id, clusters, quota = account["account_id"], account["clusters"], account["managed_policy_quota"]
    tags = host_vars.get("eks_irsa_tags") or {}
    namespace = host_vars.get("eks_irsa_namespace")
    roles = role_plans(host_vars.get(ROLES) or [], clusters, namespace, account_id, suffix=host, tags=tags, managed_policy_quota=quota,
                       mode=host_vars.get(MODE), region=host_vars.get("eks_irsa_region"), cluster_arns=cluster_arns)
    if hub is not None:
        if hub_host:  # the hub role, with its ServiceAccount, is the first host of the hub's account's
            hub_roles = role_plans([hub["role"]], clusters, namespace, account_id, suffix=host, tags=tags, managed_policy_quota=quota,
                                   field=HUB)
            roles.extend(dict(role, hub_role=True) for role in hub_roles)
        roles.extend(spoke_plans(hub, clusters, namespace, account_id, tags=tags, managed_policy_quota=quota))
        checked_role_names(roles)
    # A provider accepts at least the audience of every role that trusts it (others' client IDs are kept).
    audiences = {}
    for role in roles:
        for name in role["clusters"] if role.get("mode") != "pod_identity" else ():  # Pod Identity needs no provider
            audiences.setdefault(name, set()).add(role["params"].get("audience") or DEFAULT_AUDIENCE)
    providers = [{"cluster": cluster["name"], "url": cluster["issuer"], "state": "present", "tags": provider_tags(cluster, tags),
                  "client_ids": sorted(audiences[cluster["name"]])}
                 for cluster in clusters if cluster["state"] == "present" and cluster["name"] in audiences]
    # A retired cluster's provider goes; so does that of a cluster whose pods reach the account's roles through EKS Pod
    # Identity alone (a migration's last step), where irsa_account finds it made by us and trusted by nothing else.
    pod_identity_only = {name for role in roles if role.get("mode") == "pod_identity" for name in role["clusters"]} - set(audiences)
    providers.extend({"cluster": cluster["name"], "url": cluster["issuer"], "state": "absent"}
                     for cluster in clusters if cluster["state"] != "present" or cluster["name"] in pod_identity_only)
    return {
        "account_id": account_id,
        "assume_role_arn": account["assume_role_arn"],
        "external_id": account["external_id"],
        "providers": providers,
        # irsa_account's provider options for the rollout (state present) and the teardown (absent), made here once: a
        # filter or a branch in the per-account task would be loaded or compiled again in every forked worker.
        "provider_arguments": {state: provider_arguments(providers, state) for state in ("present", "absent")},
        "roles": roles,
        # irsa_account's associations: one per ServiceAccount of a role in mode pod_identity, and those of retired clusters.
        "associations": [association for role in roles for association in role.get("associations", []) + role.get("retired_associations", [])],
    }


def provider_options(providers, state="present"):
    """irsa_account's ``providers`` for an account plan's ``providers``: with ``state=absent`` (the teardown) every one goes."""
    if state == "absent":
        return [{"url": provider["url"]} for provider in providers]
    return [dict({"url": provider["url"], "state": provider["state"]},
                 **({"tags": provider["tags"], "purge_tags": False, "client_ids": provider["client_ids"], "purge_client_ids": False}
                    if provider["state"] == "present" else {})) for provider in providers]


def provider_arguments(providers, state="present"):
    """irsa_account's ``provider`` (one provider: its result and messages keep the one-cluster shape) or ``providers``
    option, as ``{"provider": options}`` or ``{"providers": [options]}``."""
    options = provider_options(providers, state)
    # irsa_account's one provider has the task's state; one that goes while the task ensures the roles is a list's entry.
    return {"provider": options[0]} if len(options) == 1 and options[0].get("state", state) == state else {"providers": options}


# -- the whole inventory ------------------------------------------------------------------------------


def checked_unique_service_accounts(plans_by_host, namespaces=None):
    """Refuse two accounts' roles sharing one ServiceAccount (in one cluster), and two hosts of one account listing the
    same role.

    A ServiceAccount carries one role ARN, so the second apply would silently take the first account's role away;
    two hosts listing one role would rewrite each other's trust policy on every run. ``namespaces`` are the hosts'
    own (``eks_irsa_namespace``), for naming a ServiceAccount as the host's inventory writes it.
    """
    users, roles = {}, {}  # users: ServiceAccount -> [(host, role name, where, ServiceAccount)], one per host
    clusters = {sa["cluster"] for plan in plans_by_host.values() for role in plan for sa in role["service_accounts"]}
    for host, plan in plans_by_host.items():
        for role in plan:
            role_name = role["params"]["name"]
            for service_account in role["service_accounts"]:
                key = (service_account["cluster"], service_account["namespace"], service_account["name"])
                # A role listing one ServiceAccount twice (for its clusters) counts once; two roles of one host that
                # role_plans saw apart (the host's own and the hub role) count as two.
                if (host, role_name) not in [user[:2] for user in users.get(key, ())]:
                    users.setdefault(key, []).append((host, role_name, role_source(host, role), service_account))
            account = role["params"]["account_id"]
            other_host = roles.setdefault((account, role_name.lower()), host)  # IAM role names ignore case
            if other_host != host:
                raise PlanError(f"{role_source(host, role)}: role {role_name!r} of account {account} is already listed by {other_host}; "
                                "two hosts of one account must not list the same role (each run would rewrite the other's trust "
                                "policy): list it under one host only, or give it another name")
    for shared in users.values():
        if len(shared) > 1:  # named from the second host's entry, with every other host using it, in one line
            host, _role, where, service_account = shared[1]
            label = service_account_label(service_account, (namespaces or {}).get(host), len(clusters) > 1)
            others = " and ".join(f"role {role!r}" + (f" of {other}" if other != host else "")
                                  for other, role, _where, _sa in shared[:1] + shared[2:])
            raise PlanError(f"{where}: service account {label!r} is already used by {others}; one ServiceAccount carries one role "
                            "ARN, so give each role its own service_account")


def checked_unique_stats_keys(plans_by_host):
    """Refuse two hosts whose results would share one set_stats key (:func:`~.summary.account_stats_key`): hosts of one
    account whose names differ only in characters other than letters and digits."""
    owners = {}
    for host, plan in plans_by_host.items():
        other = owners.setdefault(account_stats_key("rollout", plan["account_id"], host), host)
        if other != host:
            raise PlanError(f"{host}: its results would be published (set_stats) under the same key as those of {other}, another "
                            f"host of account {plan['account_id']} whose name differs only in characters other than letters and "
                            "digits: rename one of the two hosts")


def account_plans(hosts, hostvars, issuers=None, cluster_arns=None):
    """``{host: plan}`` for every account, all checked; ``issuers`` maps each cluster's name to the issuer the
    preflight looked up (a cluster that gives its issuer needs none), ``cluster_arns`` to its ARN. Raises
    :class:`PlanError` naming each bad account."""
    plans, problems = {}, []
    variables = host_variables(hosts, hostvars)
    try:
        hub = checked_hub(plain_data(variables[hosts[0]].get(HUB))) if hosts else None  # run-level: the same for every host
    except PlanError as e:
        refuse([str(e)])
    hub_host = hub_hosts(hosts, variables, hub)
    for host in hosts:
        try:
            plans[host] = account_plan(host, variables[host], issuers or {}, hub=hub, hub_host=host == hub_host, cluster_arns=cluster_arns)
        except PlanError as e:
            problems.append(f"{host}: {e}")
    refuse(problems)
    if hub_host is not None:  # what verify checks the hub role may assume: every spoke role of the run
        spoke_arns = sorted({spoke_arn(plan["account_id"], role) for plan in plans.values() for role in plan["roles"] if role.get("hub")})
        for role in plans[hub_host]["roles"]:
            if role.get("hub_role"):
                role["spoke_arns"] = spoke_arns
    try:
        checked_unique_service_accounts({host: plan["roles"] for host, plan in plans.items()},
                                        {host: plain_data(variables[host].get("eks_irsa_namespace")) for host in plans})
        checked_unique_stats_keys(plans)
    except PlanError as e:
        refuse([str(e)])
    return plans
