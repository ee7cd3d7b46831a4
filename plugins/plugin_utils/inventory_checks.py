# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The inventory checked before anything is planned or written: what every account must set, the variables the run
uses once, the hub, one account's own values, and each entry of a list of roles.

Values are checked with the modules' own checks (the assume-role options, the provider's and role's options), so the
preflight refuses exactly what a module would. Every message names the inventory host and the variable the user
wrote (``dev: eks_irsa_roles[0] (torque-runner): path 'irsa': ...``), and every bad account is reported in one error.
"""

from __future__ import annotations

import json
from collections import namedtuple

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import LimitError
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_external_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_managed_policy_quota
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import plain_data
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import RegionError
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import check_region
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import check_same_partition
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import CLUSTERS
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import HUB
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import HUB_ENTRY
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import HUB_ROLE_OPTIONS
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import ROLE_ENTRY
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import ROLES
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import SPOKE
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import TORQUE_AGENT
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import PlanError
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.run_clusters import account_clusters
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.run_clusters import run_clusters
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_accounts import service_account_manifests

HUB_POLICY = "eks-irsa-hub"  # the hub role's inline policy that lets it assume the spoke roles


def refuse(problems):
    """One :class:`PlanError` listing every problem (each naming its host), or nothing when there are none."""
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise PlanError(f"The inventory has {count}; nothing was written. Fix and run again:\n" + "\n".join(problems))


# -- what an account must set ----------------------------------------------------------------------


def _missing(host_vars):
    """What an account's entry lacks or has in the wrong shape, before the issuer can be looked up."""
    problems = []
    if not str(host_vars.get("eks_irsa_account_id") or ""):
        problems.append("eks_irsa_account_id is not set: give the 12-digit ID of the account as a host variable, quoted")
    if CLUSTERS not in host_vars and not host_vars.get("eks_irsa_cluster_name") and "eks_irsa_issuer" not in host_vars:
        problems.append("eks_irsa_cluster_name is not set: give the name of the EKS cluster whose pods get the roles "
                        "(or its issuer URL as eks_irsa_issuer, or several clusters as eks_irsa_clusters)")
    roles = host_vars.get(ROLES)
    hub = host_vars.get(HUB)
    inheriting = (not isinstance(roles, (list, tuple)) and hub is None) or any(
        isinstance(role, dict) and not (role.get("namespace") or role.get("subjects")) for role in roles or []) or (
        isinstance(hub, dict) and not hub.get("namespace"))
    if not host_vars.get("eks_irsa_namespace") and inheriting:
        problems.append("eks_irsa_namespace is not set: give the Kubernetes namespace the ServiceAccounts go in")
    if roles is None and hub is None:
        problems.append(f"{ROLES} is not set: list the roles of the account, for example [{{name: torque-runner}}] (or give "
                        f"{HUB}, whose spoke roles every account gets)")
    elif roles is not None and (isinstance(roles, (str, bytes)) or not isinstance(roles, (list, tuple))
                                or not all(isinstance(r, dict) for r in roles)):
        problems.append(f"{ROLES} {json.dumps(roles, default=str)} is not a list of roles: write each role as a mapping, "
                        "for example [{name: torque-runner}]")
    try:
        creates_namespace(host_vars.get("eks_irsa_create_namespace"), "")
    except PlanError as e:
        problems.append(str(e))
    region = host_vars.get("eks_irsa_region")
    if region is not None:
        try:
            check_region(region, "eks_irsa_region")
        except RegionError as e:
            problems.append(str(e))
    return problems


def creates_namespace(setting, namespace):
    """Whether ``eks_irsa_create_namespace`` (true, false, or a list of the namespaces to create) lets the rollout create
    ``namespace``; None (not set) is false."""
    if isinstance(setting, (list, tuple)) and all(isinstance(name, str) for name in setting):
        return namespace in setting
    try:
        return boolean(setting if setting is not None else False, strict=True)
    except TypeError:
        raise PlanError(f"eks_irsa_create_namespace {json.dumps(setting, default=str)} is neither true, false nor a list of "
                        "namespaces: write true to create every missing namespace, or list the ones to create") from None


# -- what the run uses once ------------------------------------------------------------------------

# Variables the run uses once for every account, each with why: a host giving its own value would get a silent wrong
# result (its roles trusting a cluster its ServiceAccounts are not applied in, say), so differing values are refused.
RUN_LEVEL = {
    CLUSTERS: "the run's clusters are looked up once, and every account's roles trust the clusters their entries name",
    "eks_irsa_cluster_name": "the issuer is looked up once, and every account's roles trust that cluster",
    "eks_irsa_issuer": "every account's roles trust one cluster, the one the ServiceAccounts are applied in",
    "eks_irsa_kubeconfig": "the ServiceAccounts are applied through one Kubernetes connection",
    "eks_irsa_kube_context": "the ServiceAccounts are applied through one Kubernetes connection",
    "eks_irsa_create_namespace": "the ServiceAccounts' namespace is created, or not, once for the run",
    "eks_irsa_render_dir": "the run renders every ServiceAccount, or applies every one",
    "eks_irsa_service_account_labels": "every ServiceAccount gets the same labels",
    "eks_irsa_sts_regional_endpoints": "every ServiceAccount gets the same EKS annotations",
    "eks_irsa_token_expiration": "every ServiceAccount gets the same EKS annotations",
    "eks_irsa_blueprint_dir": "the run writes one set of Torque blueprint snippets",
    HUB: "the hub role lets itself assume the same spoke roles in every account, and a job's slices must agree on them",
    TORQUE_AGENT: "the blueprint snippets name one Torque agent per cluster",
}
NOT_SET = object()


def _shown(value):
    return "(not set)" if value is NOT_SET else json.dumps(value, sort_keys=True, default=str)


def host_variables(hosts, hostvars):
    """``{host: its variables}``, each host's taken once: every ``hostvars[host]`` makes Ansible compute all of that
    host's variables again, at a cost that grows with the inventory."""
    return {host: hostvars[host] for host in hosts}


def _run_level_problems(variables):
    """One line per run-level variable whose value differs between hosts, naming the hosts and their values."""
    problems = []
    for variable, why in RUN_LEVEL.items():
        values = {}
        for host, host_vars in variables.items():
            value = plain_data(host_vars[variable]) if variable in host_vars else NOT_SET
            values.setdefault(_shown(value), []).append(host)
        if len(values) > 1:
            shown = "; ".join(f"{', '.join(named[:3])}{' and others' if len(named) > 3 else ''}: {value}" for value, named in values.items())
            problems.append(f"{variable} differs between hosts ({shown}), but {why}. Set it once, for the group "
                            "eks_irsa_accounts (group_vars), not per host")
    return problems


def checked_inventory(hosts, hostvars):
    """The hosts, unchanged, when every account's entry sets what it needs and the run-level variables agree (before
    the issuer can be looked up, which uses them)."""
    variables = host_variables(hosts, hostvars)
    problems = [f"{host}: {problem}" for host, host_vars in variables.items() for problem in _missing(host_vars)]
    problems += _run_level_problems(variables)
    if not problems and hosts:  # the run's clusters and ServiceAccount settings, once: the same for every host by now
        first = variables[hosts[0]]
        try:
            clusters = run_clusters(hosts, variables)
            checked_torque_agents(plain_data(first.get(TORQUE_AGENT)), [cluster["name"] for cluster in clusters])
        except PlanError as e:
            problems.append(str(e))
        problems.extend(_service_account_setting_problems(first))
    refuse(problems)
    return list(hosts)


SERVICE_ACCOUNT_SETTINGS = {"labels": "eks_irsa_service_account_labels", "sts_regional_endpoints": "eks_irsa_sts_regional_endpoints",
                            "token_expiration": "eks_irsa_token_expiration"}


def _service_account_setting_problems(host_vars):
    """The settings every ServiceAccount shares, checked as the manifests are built (so the rollout stops
    here, not after the AWS side is done), each error naming the inventory's variable."""
    settings = {key: plain_data(host_vars.get(variable)) for key, variable in SERVICE_ACCOUNT_SETTINGS.items()}
    try:
        service_account_manifests([], "default", fields=SERVICE_ACCOUNT_SETTINGS, **settings)
    except EksIrsaError as e:
        return [e.message]
    return []


def checked_torque_agents(setting, cluster_names):
    """``{cluster: agent name, or None}`` from ``eks_irsa_torque_agent``: one name for every cluster, or a mapping of
    cluster names to names (a cluster it leaves out gets the blueprint input ``agent``); None (not set) names none."""
    if setting is None or setting == "":
        return {name: None for name in cluster_names}
    if isinstance(setting, str):
        return {name: setting for name in cluster_names}
    if isinstance(setting, dict) and all(isinstance(key, str) and isinstance(value, str) and value for key, value in setting.items()):
        unknown = sorted(set(setting) - set(cluster_names))
        if unknown:
            raise PlanError(f"{TORQUE_AGENT} names the agent of {', '.join(unknown)}, which is not a cluster of the run "
                            f"({', '.join(cluster_names)}): give each cluster's name as the run's clusters have it")
        return {name: setting.get(name) for name in cluster_names}
    raise PlanError(f"{TORQUE_AGENT} must be the name of the Torque agent, or a mapping of cluster names to agent names; "
                    f"got {json.dumps(setting, default=str)}")


# -- the entries of a list of roles ------------------------------------------------------------------

# A list of roles as messages name it: its variable, its entries' kind, what an entry is, what its name is, and why
# each is listed once.
RoleList = namedtuple("RoleList", ["variable", "entry", "what", "name_is", "once"])
ROLE_LIST = RoleList(ROLES, ROLE_ENTRY, "role", "the IAM role name", "IAM role names are unique in an account (whatever the "
                     "case), so list each role once, or give this one another name")
SPOKE_LIST = RoleList("spokes", SPOKE, "spoke role", "the IAM role name, the same in every account", "list each once")


def role_entries(entries, field=ROLES, kind=ROLE_LIST):
    """``(where, entry)`` for each entry of a list of roles, checked in turn (an account's ``eks_irsa_roles``, the hub's
    spokes, the hub role alone): a mapping with a 'name', no key its kind lacks, no name twice (IAM role names ignore
    case). ``where`` names the entry as messages do (``eks_irsa_roles[0] (torque-runner)``); a list given as another
    ``field`` than its kind's variable (the hub role, ``eks_irsa_hub``) is named by ``field`` alone. Raises
    :class:`PlanError`; an entry is checked only when the one before it has been used."""
    names = {}
    for index, entry in enumerate(entries):
        where = f"{field}[{index}]" if field == kind.variable else field
        unknown = kind.entry.unsupported(entry) if isinstance(entry, dict) else ""
        if not isinstance(entry, dict) or not entry.get("name"):
            raise PlanError(f"{where}: each {kind.what} needs at least a 'name' ({kind.name_is})"
                            + (f"; it has {unknown}" if unknown else ""))
        where = f"{where} ({entry['name']})"
        if unknown:
            raise PlanError(f"{where}: {unknown}{kind.entry.listing}")
        misshapen = kind.entry.misshapen(entry)
        if misshapen:
            raise PlanError(f"{where}: {misshapen}")
        folded = str(entry["name"]).lower()
        if folded in names:
            raise PlanError(f"{where}: the role is already listed as {kind.variable}[{names[folded]}]; {kind.once}")
        names[folded] = index
        yield where, entry


# -- the hub topology --------------------------------------------------------------------------------


def _hub_error(message):
    return PlanError(f"{HUB}: {message}")


def checked_hub(setting):
    """``eks_irsa_hub`` checked, or None when it is not set: ``{role_arn, partition, account_id, service_account,
    namespace, external_id, role, spokes}``, ``role`` the hub role as an ``eks_irsa_roles`` entry (its ServiceAccount,
    and the inline policy :data:`HUB_POLICY` that lets it assume each spoke role in any account), ``spokes`` the entries
    of the spoke roles. Raises :class:`PlanError` naming the key."""
    if setting is None:
        return None
    if not isinstance(setting, dict):
        raise PlanError(f"{HUB} {json.dumps(setting, default=str)} is not a mapping: give role_arn, service_account and spokes")
    unknown = HUB_ENTRY.unsupported(setting)
    if unknown:
        raise _hub_error(f"{unknown}{HUB_ENTRY.listing}")
    missing = [key for key in HUB_ENTRY.required() if not setting.get(key)]
    if missing:
        raise _hub_error(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: give the hub role's ARN "
                         "(arn:aws:iam::<account>:role/<name>), the ServiceAccount its pods run as, and the spoke roles")
    try:
        validate_role_arn(setting["role_arn"], field=f"{HUB}.role_arn")
        external_id = check_external_id(setting.get("external_id"), f"{HUB}.external_id")
    except (IssuerError, LimitError) as e:
        raise PlanError(str(e)) from None
    partition, account_id, path, name = split_role_arn(setting["role_arn"])
    spokes = setting["spokes"]
    if isinstance(spokes, (str, bytes, dict)) or not isinstance(spokes, (list, tuple)) or not spokes:
        raise _hub_error(f"spokes {json.dumps(spokes, default=str)} is not a list of roles: list the roles the hub may assume "
                         "in every account, for example [{name: torque-deployer, managed_policies: [...]}]")
    try:
        spokes = [spoke for _where, spoke in role_entries(spokes, SPOKE_LIST.variable, SPOKE_LIST)]
    except PlanError as e:
        raise e.at(f"{HUB}: ") from None
    inline = setting.get("inline_policies") or {}
    if not isinstance(inline, dict) or HUB_POLICY in inline:
        raise _hub_error(f"inline_policies must be a mapping of names to policies, without {HUB_POLICY!r}: the hub role's "
                         "policy of that name lets it assume the spoke roles, and the rollout writes it")
    resources = sorted({f"arn:{partition}:iam::*:role{spoke.get('path') or '/'}{spoke['name']}" for spoke in spokes})
    assume = {"Version": "2012-10-17", "Statement": [
        {"Sid": "AssumeTheSpokeRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": resources}]}
    role = dict({key: setting[key] for key in HUB_ROLE_OPTIONS if setting.get(key) is not None},
                name=name, path=path, service_account=setting["service_account"], inline_policies=dict(inline, **{HUB_POLICY: assume}))
    if setting.get("namespace"):
        role["namespace"] = setting["namespace"]
    return {"role_arn": setting["role_arn"], "partition": partition, "account_id": account_id, "external_id": external_id,
            "service_account": setting["service_account"], "namespace": setting.get("namespace"), "role": role, "spokes": spokes}


# -- one account's own values ------------------------------------------------------------------------


def _managed_policy_quota(host_vars):
    """``eks_irsa_managed_policy_quota`` checked, or None when not set (the module's default, IAM's 10)."""
    quota = host_vars.get("eks_irsa_managed_policy_quota")
    if quota is None:
        return None
    try:
        return check_managed_policy_quota(quota, "eks_irsa_managed_policy_quota")
    except LimitError as e:
        raise PlanError(str(e)) from None


def checked_account(host_vars, issuers, hub=None):
    """One account's own values (``eks_irsa_*`` variables, plain data), checked: ``{account_id, assume_role_arn,
    external_id, clusters, managed_policy_quota}``, ``clusters`` the run's as the account's providers see them
    (:func:`~.run_clusters.account_clusters`). ``hub`` is the run's (:func:`checked_hub`). Raises :class:`PlanError`
    naming the variable."""
    tags = host_vars.get("eks_irsa_tags")
    if tags is not None and not isinstance(tags, dict):
        raise PlanError(f"eks_irsa_tags {json.dumps(tags, default=str)} is not a mapping: give the tags as keys and values "
                        "(for example {team: platform})")
    try:
        account_id = validate_account_id(host_vars.get("eks_irsa_account_id"), "eks_irsa_account_id")
        assume_role_arn = host_vars.get("eks_irsa_assume_role_arn")
        if assume_role_arn:
            validate_role_arn(assume_role_arn, account_id, "eks_irsa_assume_role_arn")
            if host_vars.get("eks_irsa_region"):
                check_same_partition(assume_role_arn, host_vars["eks_irsa_region"], "eks_irsa_assume_role_arn", "eks_irsa_region")
        external_id = check_external_id(host_vars.get("eks_irsa_external_id"), "eks_irsa_external_id")
    except (IssuerError, LimitError, RegionError) as e:
        raise PlanError(str(e)) from None
    clusters = account_clusters(host_vars, issuers, account_id)
    if hub is not None and host_vars.get("eks_irsa_region"):  # the spokes' trust names the hub's account in its partition
        try:
            check_same_partition(hub["role_arn"], host_vars["eks_irsa_region"], f"{HUB}.role_arn", "eks_irsa_region")
        except RegionError as e:
            raise PlanError(str(e)) from None
    if not host_vars.get(ROLES) and hub is None:
        raise PlanError(f"{ROLES} is empty: list at least one role for this account, for example [{{name: torque-runner}}], "
                        "or leave the host out of the inventory")
    return {"account_id": account_id, "assume_role_arn": assume_role_arn or None, "external_id": external_id,
            "clusters": clusters, "managed_policy_quota": _managed_policy_quota(host_vars)}
