# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rollout's plan: every account of the inventory checked, once, before anything is written anywhere.

Pure code (the filters of ``plugins/filter/account_plans.py`` only adapt it). Each account's values are checked with
the modules' own checks (irsa_account's provider and role options, the assume-role options), so the preflight refuses
exactly what a module would, and the plan adds only what needs the whole inventory: two roles claiming one
ServiceAccount, one role listed by two hosts. Every message names the inventory host and the variable the user wrote
(``dev: eks_irsa_roles[0] (torque-runner): path 'irsa': ...``), and every bad account is reported in one error.

The run's clusters are ``eks_irsa_clusters`` (name, region, issuer, kubeconfig, context, state), or the one cluster of
``eks_irsa_cluster_name`` / ``eks_irsa_issuer`` / ``eks_irsa_kubeconfig`` / ``eks_irsa_kube_context``; a retired
cluster (``state: absent``) loses its trust, providers and ServiceAccounts.

The plan of an account is ``{account_id, assume_role_arn, external_id, providers, roles}``: ``providers`` one per
cluster its roles trust (and one ``absent`` per retired cluster), ``roles`` holds, per role, the ``service_accounts``
(``{cluster, namespace, name}``) its pods run as, which the rollout applies in their clusters, the
``retired_service_accounts`` it removes from retired clusters, everything it ``trusted`` (patterns included), the
``clusters`` it trusts, and the irsa_account entry (``params``) the rollout and teardown hand to the module. A role
trusts one ServiceAccount by default (``service_account``, in the host's ``eks_irsa_namespace`` or the role's own
``namespace``) or the ``subjects`` it lists (``namespace:name``, patterns only with ``allow_wildcard_subjects``; a
pattern is trusted, not applied), in every cluster of its ``clusters`` (default all present ones) unless a subject
names its own ``cluster``.
"""

from __future__ import annotations

import difflib
import json
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import LimitError
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import TAG_VALUE_MAX_LENGTH
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_external_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_managed_policy_quota
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import DEFAULT_AUDIENCE
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import TAG_PREFIX
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import role_arn as role_arn_text
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import PROVIDER_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import checked_provider_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import OptionsError
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import plain_data
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import validated_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import RegionError
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import check_region
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import check_same_partition
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustPolicyError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import has_wildcard
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import parse_service_account
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validated_role_options
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.summary import account_stats_key

ROLES = "eks_irsa_roles"
CLUSTER_TAG = TAG_PREFIX + "cluster"
# Role settings passed through to the module unchanged; with name, service_account and tags, the keys of a role entry.
PASSED_THROUGH = ("path", "description", "managed_policies", "inline_policies", "permissions_boundary", "max_session_duration", "adopt",
                  "allow_wildcard_subjects", "audience")
ROLE_ENTRY_KEYS = frozenset(PASSED_THROUGH + ("name", "service_account", "namespace", "subjects", "clusters", "tags"))
CLUSTERS = "eks_irsa_clusters"
CLUSTER_KEYS = ("name", "region", "issuer", "kubeconfig", "context", "state")
# The one-cluster form of the run's cluster: these variables, or eks_irsa_clusters, never both.
SINGLE_CLUSTER = {"eks_irsa_cluster_name": "name", "eks_irsa_issuer": "issuer", "eks_irsa_kubeconfig": "kubeconfig",
                  "eks_irsa_kube_context": "context"}
CLUSTER_VARIABLES = (CLUSTERS, "eks_irsa_region", *SINGLE_CLUSTER)  # all that the run's clusters are made of


def unsupported(entry, known, prefix=""):
    """``unsupported parameters a (did you mean b?), c`` for the keys of ``entry`` not in ``known`` (``(a typo?)`` after
    them when none is near a known key), or '' when none;
    ``prefix`` is how the inventory names a key (``eks_irsa_roles.``)."""
    def named(key):
        near = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
        return f"{prefix}{key}" + (f" (did you mean {near[0]}?)" if near else "")
    unknown = sorted(set(entry) - set(known), key=str)
    if not unknown:
        return ""
    text = ", ".join(named(key) for key in unknown)
    return f"unsupported parameters {text}" + ("" if "did you mean" in text else " (a typo?)")


TORQUE_AGENT = "eks_irsa_torque_agent"  # the Torque agent the blueprint snippets name, per cluster
# The hub topology (Torque's one-agent cross-account pattern): one hub role, trusted by one ServiceAccount, that may
# assume the spoke roles, the same ones in every account, which trust the hub role instead of a cluster.
HUB = "eks_irsa_hub"
HUB_ROLE_KEYS = ("description", "permissions_boundary", "max_session_duration", "managed_policies", "inline_policies", "tags", "adopt")
HUB_KEYS = frozenset(("role_arn", "service_account", "namespace", "external_id", "spokes") + HUB_ROLE_KEYS)
SPOKE_KEYS = frozenset(("name", "path") + HUB_ROLE_KEYS)
HUB_POLICY = "eks-irsa-hub"  # the hub role's inline policy that lets it assume the spoke roles


class PlanError(EksIrsaError):
    """What the inventory cannot be rolled out with; one line per problem, each naming its host."""


def _refuse(problems):
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


def _run_level_problems(hosts, hostvars):
    """One line per run-level variable whose value differs between hosts, naming the hosts and their values."""
    problems = []
    for variable, why in RUN_LEVEL.items():
        values = {}
        for host in hosts:
            value = plain_data(hostvars[host][variable]) if variable in hostvars[host] else NOT_SET
            values.setdefault(_shown(value), []).append(host)
        if len(values) > 1:
            shown = "; ".join(f"{', '.join(named[:3])}{' and others' if len(named) > 3 else ''}: {value}" for value, named in values.items())
            problems.append(f"{variable} differs between hosts ({shown}), but {why}. Set it once, for the group "
                            "eks_irsa_accounts (group_vars), not per host")
    return problems


def checked_inventory(hosts, hostvars):
    """The hosts, unchanged, when every account's entry sets what it needs and the run-level variables agree (before
    the issuer can be looked up, which uses them)."""
    problems = [f"{host}: {problem}" for host in hosts for problem in _missing(hostvars[host])] + _run_level_problems(hosts, hostvars)
    if not problems and hosts:  # the run's clusters, once: the same for every host by now
        try:
            clusters = run_clusters(hosts, hostvars)
            checked_torque_agents(plain_data(hostvars[hosts[0]].get(TORQUE_AGENT)), [cluster["name"] for cluster in clusters])
        except PlanError as e:
            problems.append(str(e))
    _refuse(problems)
    return list(hosts)


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


# -- the run's clusters ------------------------------------------------------------------------------


def _cluster_entries(host_vars):
    """The run's cluster entries as written: ``eks_irsa_clusters``, or the one cluster of the single-cluster variables."""
    if CLUSTERS not in host_vars:
        single = {key: host_vars.get(variable) for variable, key in SINGLE_CLUSTER.items()}
        return [dict(single, region=host_vars.get("eks_irsa_region"), state="present")], None
    mixed = sorted(variable for variable in SINGLE_CLUSTER if variable in host_vars)
    if mixed:
        raise PlanError(f"{CLUSTERS} names the run's clusters, so {' and '.join(mixed)} cannot be set too: move "
                        f"{'them' if len(mixed) > 1 else 'it'} into the {CLUSTERS} entries (name, issuer, kubeconfig, context), "
                        "or leave eks_irsa_clusters out for a single cluster")
    entries = host_vars[CLUSTERS]
    if isinstance(entries, (str, bytes, dict)) or not isinstance(entries, (list, tuple)) or not entries \
            or not all(isinstance(entry, dict) for entry in entries):
        raise PlanError(f"{CLUSTERS} {json.dumps(entries, default=str)} is not a list of clusters: write "
                        "[{name: blue, region: eu-west-1}, {name: green, region: eu-west-1}]")
    return entries, host_vars.get("eks_irsa_region")


def _checked_cluster(entry, where, default_region):
    unknown = unsupported(entry, CLUSTER_KEYS)
    if unknown:
        raise PlanError(f"{where}: {unknown}; a cluster has {', '.join(CLUSTER_KEYS)}")
    cluster = {key: entry.get(key) for key in CLUSTER_KEYS}
    if cluster["region"] is None:
        cluster["region"] = default_region
    for key in ("name", "region", "issuer", "kubeconfig", "context"):
        if cluster[key] is not None and not isinstance(cluster[key], str):
            raise PlanError(f"{where}: {key} {json.dumps(cluster[key], default=str)} is not a string")
    if not cluster["name"]:
        raise PlanError(f"{where}: each cluster needs a 'name' (the EKS cluster name, which roles' clusters and the "
                        f"{CLUSTER_TAG} tag use)")
    if cluster["state"] is None:
        cluster["state"] = "present"
    if cluster["state"] not in ("present", "absent"):
        raise PlanError(f"{where}: state {json.dumps(cluster['state'], default=str)} is neither present nor absent (absent: "
                        "a retired cluster, whose trust, providers and ServiceAccounts the rollout removes)")
    if cluster["region"] is not None:
        try:
            check_region(cluster["region"], f"{where}: region")
        except RegionError as e:
            raise PlanError(str(e)) from None
    return cluster


def _clusters(host_vars, issuers=None):
    """The run's clusters ``[{name, region, issuer, kubeconfig, context, state}]``, checked, with each issuer: given, or
    ``issuers[name]`` (the preflight's lookups), or None before the lookup. Raises :class:`PlanError`."""
    entries, default_region = _cluster_entries(host_vars)
    if CLUSTERS not in host_vars:
        clusters = [dict(entries[0])]
    else:
        clusters, problems, names = [], [], {}
        for index, entry in enumerate(entries):
            where = f"{CLUSTERS}[{index}]" + (f" ({entry.get('name')})" if entry.get("name") else "")
            try:
                cluster = _checked_cluster(entry, where, default_region)
            except PlanError as e:
                problems.append(str(e))
                continue
            if cluster["name"] in names:
                problems.append(f"{where}: the cluster is already listed as {CLUSTERS}[{names[cluster['name']]}]; roles and tags "
                                "name a cluster by its name, so list each cluster once")
            names.setdefault(cluster["name"], index)
            clusters.append(cluster)
        if not problems and not any(cluster["state"] == "present" for cluster in clusters):
            problems.append(f"{CLUSTERS}: every cluster is retired (state: absent): keep at least one present, or run the "
                            "teardown playbook to remove everything")
        if problems:
            raise PlanError("\n".join(problems))
    for cluster in clusters:
        if not cluster.get("issuer"):
            cluster["issuer"] = (issuers or {}).get(cluster["name"])
    return clusters


def run_clusters(hosts, hostvars, issuers=None):
    """The run's clusters (:func:`_clusters`), from the first host: the preflight has refused hosts that differ."""
    if not hosts:
        return []
    host_vars = hostvars[hosts[0]]  # only the cluster variables are read (each templated when read)
    return _clusters({key: plain_data(host_vars[key]) for key in CLUSTER_VARIABLES if key in host_vars}, issuers)


def looked_up_issuers(lookups):
    """``{cluster name: issuer URL}`` from eks_oidc_issuer results registered in a loop over clusters (``results``),
    for those that found one."""
    return {lookup[lookup.get("ansible_loop_var") or "item"]["name"]: lookup["issuer_url"]
            for lookup in lookups or [] if lookup.get("issuer_url")}


def present_clusters(clusters):
    return [cluster for cluster in clusters if cluster["state"] == "present"]


# -- the hub topology --------------------------------------------------------------------------------


def _hub_error(message):
    return PlanError(f"{HUB}: {message}")


def _checked_spokes(spokes):
    if isinstance(spokes, (str, bytes, dict)) or not isinstance(spokes, (list, tuple)) or not spokes:
        raise _hub_error(f"spokes {json.dumps(spokes, default=str)} is not a list of roles: list the roles the hub may assume "
                         "in every account, for example [{name: torque-deployer, managed_policies: [...]}]")
    names = {}
    for index, spoke in enumerate(spokes):
        where = f"spokes[{index}]"
        unknown = unsupported(spoke, SPOKE_KEYS) if isinstance(spoke, dict) else ""
        if not isinstance(spoke, dict) or not spoke.get("name"):
            raise _hub_error(f"{where}: each spoke role needs at least a 'name' (the IAM role name, the same in every account)"
                             + (f"; it has {unknown}" if unknown else ""))
        if unknown:
            raise _hub_error(f"{where} ({spoke['name']}): {unknown}; a spoke role has {', '.join(sorted(SPOKE_KEYS))}")
        folded = str(spoke["name"]).lower()
        if folded in names:
            raise _hub_error(f"{where} ({spoke['name']}): the role is already listed as spokes[{names[folded]}]; list each once")
        names[folded] = index
    return list(spokes)


def checked_hub(setting):
    """``eks_irsa_hub`` checked, or None when it is not set: ``{role_arn, partition, account_id, service_account,
    namespace, external_id, role, spokes}``, ``role`` the hub role as an ``eks_irsa_roles`` entry (its ServiceAccount,
    and the inline policy :data:`HUB_POLICY` that lets it assume each spoke role in any account), ``spokes`` the entries
    of the spoke roles. Raises :class:`PlanError` naming the key."""
    if setting is None:
        return None
    if not isinstance(setting, dict):
        raise PlanError(f"{HUB} {json.dumps(setting, default=str)} is not a mapping: give role_arn, service_account and spokes")
    unknown = unsupported(setting, HUB_KEYS)
    if unknown:
        raise _hub_error(f"{unknown}; {HUB} has {', '.join(sorted(HUB_KEYS))}")
    missing = [key for key in ("role_arn", "service_account", "spokes") if not setting.get(key)]
    if missing:
        raise _hub_error(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: give the hub role's ARN "
                         "(arn:aws:iam::<account>:role/<name>), the ServiceAccount its pods run as, and the spoke roles")
    try:
        validate_role_arn(setting["role_arn"], field=f"{HUB}.role_arn")
        external_id = check_external_id(setting.get("external_id"), f"{HUB}.external_id")
    except (IssuerError, LimitError) as e:
        raise PlanError(str(e)) from None
    partition, account_id, path, name = split_role_arn(setting["role_arn"])
    spokes = _checked_spokes(setting["spokes"])
    inline = setting.get("inline_policies") or {}
    if not isinstance(inline, dict) or HUB_POLICY in inline:
        raise _hub_error(f"inline_policies must be a mapping of names to policies, without {HUB_POLICY!r}: the hub role's "
                         "policy of that name lets it assume the spoke roles, and the rollout writes it")
    resources = sorted({f"arn:{partition}:iam::*:role{spoke.get('path') or '/'}{spoke['name']}" for spoke in spokes})
    assume = {"Version": "2012-10-17", "Statement": [
        {"Sid": "AssumeTheSpokeRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": resources}]}
    role = dict({key: setting[key] for key in HUB_ROLE_KEYS if setting.get(key) is not None},
                name=name, path=path, service_account=setting["service_account"], inline_policies=dict(inline, **{HUB_POLICY: assume}))
    if setting.get("namespace"):
        role["namespace"] = setting["namespace"]
    return {"role_arn": setting["role_arn"], "partition": partition, "account_id": account_id, "external_id": external_id,
            "service_account": setting["service_account"], "namespace": setting.get("namespace"), "role": role, "spokes": spokes}


def spoke_plans(hub, clusters, namespace, account_id, tags=None, managed_policy_quota=None):
    """The plans of an account's spoke roles (as :func:`role_plans` gives them): each trusts the hub role
    (``trusted_role``), has no ServiceAccount of its own, and ``hub`` says whose ServiceAccount deploys with it: the hub's,
    in the hub's namespace, in the clusters the hub role trusts."""
    planned = []
    trusted_role = dict({"arn": hub["role_arn"]}, **({"external_id": hub["external_id"]} if hub["external_id"] else {}))
    for index, spoke in enumerate(hub["spokes"]):
        where = f"{HUB}.spokes[{index}] ({spoke['name']})"
        params = {key: spoke[key] for key in SPOKE_KEYS if spoke.get(key) is not None and key != "tags"}
        params.update(account_id=account_id, trust_policy_mode="exclusive", purge_tags=False,
                      tags=dict(tags or {}, **(spoke.get("tags") or {})), trusted_role=trusted_role)
        if managed_policy_quota is not None:
            params["managed_policy_quota"] = managed_policy_quota
        try:
            validated_role_options(params, fields={"managed_policy_quota": "eks_irsa_managed_policy_quota"})
        except (TrustPolicyError, LimitError) as e:
            raise PlanError(f"{where}: {e}") from None
        planned.append({
            "service_accounts": [], "retired_service_accounts": [], "trusted": [], "clusters": [], "params": params, "source": where,
            "hub": {"role_arn": hub["role_arn"], "account_id": hub["account_id"], "partition": hub["partition"],
                    "service_account": hub["service_account"],
                    "namespace": hub["namespace"] or namespace,
                    "clusters": [cluster["name"] for cluster in present_clusters(clusters)]},
        })
    return planned


def spoke_arn(account_id, spoke):
    """The ARN of a planned spoke role in ``account_id`` (in its hub role's partition)."""
    return role_arn_text(spoke["hub"]["partition"], account_id, spoke["params"]["name"], spoke["params"].get("path") or "/")


def hub_hosts(hosts, hostvars, hub):
    """The host that converges the hub role: the first (by name) of the hub's account, if the run has one."""
    if hub is None:
        return None
    of_account = sorted(host for host in hosts if str(hostvars[host].get("eks_irsa_account_id") or "") == hub["account_id"])
    return of_account[0] if of_account else None


def _checked_role_names(roles):
    """Refuse two roles of one name (IAM's names ignore case) among an account's roles, spokes and hub role."""
    seen = {}
    for role in roles:
        other = seen.setdefault(role["params"]["name"].lower(), role["source"])
        if other != role["source"]:
            raise PlanError(f"{role['source']}: the account already has a role of that name ({other}); IAM role names are unique "
                            "in an account, whatever the case: give one of them another name")


# -- one account ----------------------------------------------------------------------------------------


def default_service_account(role_name, suffix):
    """``<role name>-<suffix>`` as a Kubernetes name: one ServiceAccount per role and account in a shared namespace.

    Lower-cased, and each run of characters a ServiceAccount name cannot hold (IAM role names allow ``_+=,@``,
    inventory host names ``_``) becomes one ``-``, so that an inventory host such as ``prod_eu`` gets a valid default
    instead of an error about a name the user never wrote.
    """
    name = f"{role_name}-{suffix}" if suffix else str(role_name)
    return re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")


def _role_params(role, trust, account_id, tags, managed_policy_quota):
    """The role's irsa_account entry (iam_web_identity_role options); its state is the task's (rollout or teardown).

    The ServiceAccounts a role serves are in its trust policy, not in a tag: a tag value holds at most 256 characters, a
    namespace and ServiceAccount name together up to 317, and a bookkeeping value must never refuse a valid name.
    """
    params = {key: role[key] for key in PASSED_THROUGH if role.get(key) is not None}
    params.update(
        name=role.get("name"),
        account_id=account_id,
        trust_policy_mode="exclusive",
        purge_tags=False,  # tags set outside the inventory are kept (the ownership tag is kept anyway)
        tags=tags,
        trust=trust,
    )
    if managed_policy_quota is not None:
        params["managed_policy_quota"] = managed_policy_quota
    return params


def _subjects(role, namespace, suffix):
    """``[(field, cluster or None, ServiceAccount)]``: what a role entry trusts, in the order written, once each, with the
    field that wrote it; a subject's own ``cluster`` pins it to that cluster, None means every cluster of the role."""
    if role.get("subjects") is not None:
        given = sorted(key for key in ("service_account", "namespace") if role.get(key) is not None)
        if given:
            raise PlanError(f"subjects lists the ServiceAccounts the role trusts, so {' and '.join(given)} cannot be given "
                            "too: add it to subjects as 'namespace:name', or leave subjects out")
        values = role["subjects"]
        if isinstance(values, (str, bytes, dict)) or not isinstance(values, (list, tuple)) or not values:
            raise PlanError(f"subjects {json.dumps(values, default=str)} is not a list of ServiceAccounts: write "
                            "[team-a:runner, {namespace: team-b, name: runner, cluster: green}]")
        parsed = []
        for index, value in enumerate(values):
            field = f"subjects[{index}]"
            pinned = value.get("cluster") if isinstance(value, dict) else None
            if isinstance(value, dict) and "cluster" in value:
                if not isinstance(pinned, str) or not pinned:
                    raise PlanError(f"{field}: cluster {json.dumps(pinned, default=str)} is not a cluster name")
                value = {key: item for key, item in value.items() if key != "cluster"}
            service_account = parse_service_account(value, field, allow_wildcard=bool(role.get("allow_wildcard_subjects")))
            parsed.append((field, pinned, service_account))
        return list({(pinned, sa): (field, pinned, sa) for field, pinned, sa in parsed}.values())
    own_namespace = role.get("namespace") or namespace or ""
    name = role.get("service_account") or default_service_account(role["name"], suffix)
    field = "service_account" if role.get("service_account") else f"service_account (default {name})"
    if role.get("namespace"):
        field += " in namespace"
    return [(field, None, parse_service_account({"namespace": own_namespace, "name": name}, field=field))]


def _role_clusters(role, clusters):
    """The present clusters whose pods may use the role: its ``clusters``, in the run's order, or every present one."""
    present = present_clusters(clusters)
    names = role.get("clusters")
    if names is None:
        return present
    if isinstance(names, (str, bytes, dict)) or not isinstance(names, (list, tuple)) or not names:
        raise PlanError(f"clusters {json.dumps(names, default=str)} is not a list of cluster names: write [blue, green], or "
                        "leave it out for every cluster of the run")
    known = {cluster["name"]: cluster for cluster in clusters if cluster["name"]}
    for name in names:
        if name not in known:
            listed = ", ".join(known) or "none: the run has one cluster, eks_irsa_issuer, with no name"
            raise PlanError(f"clusters names {name!r}, which is not a cluster of the run ({listed}): add it to {CLUSTERS}, "
                            "or fix the name")
        if known[name]["state"] != "present":
            raise PlanError(f"clusters names {name!r}, a retired cluster (state: absent) whose trust the rollout removes: "
                            "leave it out")
    return [cluster for cluster in present if cluster["name"] in names]


def service_account_label(service_account, namespace, several_clusters=False):
    """A ServiceAccount as messages name it: its name in the host's namespace, else ``namespace:name``; with its
    cluster when the run has several."""
    label = service_account["name"] if service_account["namespace"] == namespace else f"{service_account['namespace']}:{service_account['name']}"
    return f"{label} in cluster {service_account['cluster']}" if several_clusters else label


def _cluster_tag(names):
    value = " ".join(names)
    if len(value) > TAG_VALUE_MAX_LENGTH:
        raise PlanError(f"the role's {CLUSTER_TAG} tag would name its clusters ({value}) in {len(value)} characters, more than "
                        f"the {TAG_VALUE_MAX_LENGTH} an IAM tag value holds: give the role fewer clusters, or set {CLUSTER_TAG} "
                        "in its tags yourself")
    return {CLUSTER_TAG: value} if value else {}


def _one_role(role, clusters, namespace, suffix):
    """``(trust, trusted, cluster names, unpinned)``: the role's trust entries (one per cluster, in the run's order), what
    it trusts (``[{cluster, namespace, name, pattern}]``), the clusters it trusts, and the ``(namespace, name)`` of the
    ServiceAccounts it would have in any cluster (no cluster of their own, no pattern)."""
    role_clusters = _role_clusters(role, clusters)
    by_cluster = {cluster["name"]: [] for cluster in role_clusters}
    unpinned = []
    for field, pinned, service_account in _subjects(role, namespace, suffix):
        if pinned is not None and pinned not in by_cluster:
            listed = ", ".join(name for name in by_cluster if name) or "none named"
            raise PlanError(f"{field}: cluster {pinned!r} is not a cluster the role trusts ({listed}): add it to the role's "
                            f"clusters (and to {CLUSTERS}), or fix the name")
        if pinned is None and not has_wildcard(service_account):
            unpinned.append((service_account.namespace, service_account.name))
        for name in [pinned] if pinned is not None else by_cluster:
            by_cluster[name].append(service_account)
    trust, trusted, names = [], [], []
    for cluster in role_clusters:
        subjects = by_cluster[cluster["name"]]
        if subjects:
            trust.append({"issuer": cluster["issuer"], "service_accounts": [f"{sa.namespace}:{sa.name}" for sa in subjects]})
            trusted.extend({"cluster": cluster["name"], "namespace": sa.namespace, "name": sa.name, "pattern": has_wildcard(sa)}
                           for sa in subjects)
            names.append(cluster["name"])
    return trust, trusted, names, unpinned


def role_plans(roles, clusters, namespace, account_id, suffix="", tags=None, managed_policy_quota=None, field=ROLES):
    """``[{"service_accounts", "retired_service_accounts", "trusted", "clusters", "params"}]`` for an account's roles.

    ``clusters`` are the run's (:func:`_clusters`, issuers known); ``service_accounts`` (``{cluster, namespace, name}``)
    are applied in their clusters, ``retired_service_accounts`` removed from the retired clusters; ``trusted`` lists
    every subject (``pattern``: a wildcard, trusted and not applied). ``namespace`` is the host's
    (``eks_irsa_namespace``), the default of its roles. ``field`` is the variable messages name (the hub role is
    ``eks_irsa_hub``'s). Raises :class:`PlanError`.
    """
    several = len(clusters) > 1
    retired = [cluster for cluster in clusters if cluster["state"] != "present"]
    planned, seen, names = [], {}, {}
    for index, role in enumerate(roles):
        where = f"{field}[{index}]" if field == ROLES else field
        unknown = unsupported(role, ROLE_ENTRY_KEYS, f"{ROLES}.") if isinstance(role, dict) else ""
        if not isinstance(role, dict) or not role.get("name"):
            raise PlanError(f"{where}: each role needs at least a 'name' (the IAM role name)" + (f"; it has {unknown}" if unknown else ""))
        where = f"{where} ({role['name']})"
        if unknown:
            raise PlanError(f"{where}: {unknown}. Supported parameters include: {', '.join(sorted(ROLE_ENTRY_KEYS))}")
        # IAM role names are unique without regard to case: a second entry would rewrite the first one's trust on every run.
        folded = str(role["name"]).lower()
        if folded in names:
            raise PlanError(f"{where}: the role is already listed as {ROLES}[{names[folded]}]; IAM role names are unique in an "
                            "account (whatever the case), so list each role once, or give this one another name")
        names[folded] = index
        try:  # named as the inventory names it, before the trust entry it goes into
            trust, trusted, cluster_names, unpinned = _one_role(role, clusters, namespace, suffix)
            role_tags = dict(tags or {}, **(role.get("tags") or {}))
            if CLUSTER_TAG not in role_tags:  # unless the inventory sets it, the tag names the clusters the role trusts
                role_tags.update(_cluster_tag([name for name in cluster_names if name]))
        except (TrustPolicyError, PlanError) as e:
            raise PlanError(f"{where}: {e}") from None
        applied = [{key: subject[key] for key in ("cluster", "namespace", "name")} for subject in trusted if not subject["pattern"]]
        for service_account in applied:
            key = (service_account["cluster"], service_account["namespace"], service_account["name"])
            if key in seen:
                label = service_account_label(service_account, namespace, several)
                raise PlanError(f"{where}: service account {label!r} is already used by role {seen[key]!r}; one ServiceAccount "
                                "carries one role ARN, so give each role its own service_account")
            seen[key] = role["name"]
        params = _role_params(role, trust, account_id, role_tags, managed_policy_quota)
        try:  # the module's own checks (it fills its defaults itself), naming the quota as the inventory sets it
            validated_role_options(params, fields={"managed_policy_quota": "eks_irsa_managed_policy_quota"})
        except (TrustPolicyError, LimitError) as e:
            raise PlanError(f"{where}: {e}") from None
        planned.append({
            "service_accounts": applied,
            "retired_service_accounts": [{"cluster": cluster["name"], "namespace": sa_namespace, "name": sa_name}
                                         for cluster in retired for sa_namespace, sa_name in unpinned],
            "trusted": trusted,
            "clusters": cluster_names,
            "params": params,
            "source": where,
        })
    return planned


def _checked_provider(issuer, tags, account_id, field):
    """The issuer as irsa_account's provider checks it (URL, length, tags), naming the inventory variables."""
    try:
        options = validated_options(PROVIDER_ARGUMENT_SPEC, {"url": issuer, "tags": tags, "account_id": account_id})
        wanted, _account = checked_provider_options(options, fields={"url": field, "tags": "eks_irsa_tags"})
    except (OptionsError, IssuerError) as e:
        raise PlanError(str(e)) from None
    return wanted.issuer.url


def _managed_policy_quota(host_vars):
    """``eks_irsa_managed_policy_quota`` checked, or None when not set (the module's default, IAM's 10)."""
    quota = host_vars.get("eks_irsa_managed_policy_quota")
    if quota is None:
        return None
    try:
        return check_managed_policy_quota(quota, "eks_irsa_managed_policy_quota")
    except LimitError as e:
        raise PlanError(str(e)) from None


def _issuer_field(host_vars, index, cluster):
    return f"{CLUSTERS}[{index}] ({cluster['name']}): issuer" if CLUSTERS in host_vars else "eks_irsa_issuer"


def _provider_tags(cluster, tags):
    """A cluster's provider tags: ``eks-irsa:cluster`` names it (unless ``eks_irsa_tags`` sets it), then ``eks_irsa_tags``."""
    return dict({CLUSTER_TAG: cluster["name"]} if cluster["name"] else {}, **tags)


def _checked_issuers(clusters, host_vars, account_id):
    """Each cluster with its issuer in IAM's form, checked as the provider module checks it (with the provider's tags);
    two clusters of one issuer are refused (their trust statements and providers would be one)."""
    checked, owners = [], {}
    for index, cluster in enumerate(clusters):
        field = _issuer_field(host_vars, index, cluster)
        if not cluster.get("issuer"):
            raise PlanError(f"{field}: the issuer of cluster {cluster['name']!r} is not known: the preflight looks it up, or give it")
        url = _checked_provider(cluster["issuer"], _provider_tags(cluster, host_vars.get("eks_irsa_tags") or {}), account_id, field)
        if url in owners:
            raise PlanError(f"{field}: clusters {owners[url]!r} and {cluster['name']!r} have the same issuer {url}; each cluster "
                            "has its own, so one of the entries names the wrong cluster (or region)")
        owners[url] = cluster["name"]
        checked.append(dict(cluster, issuer=url))
    return checked


def account_plan(host, host_vars, issuers, hub=None, hub_host=False):
    """One account's plan (see the module docstring); raises :class:`PlanError` naming the variable.

    ``issuers`` maps a cluster's name to the issuer the preflight looked up; a cluster's own issuer wins. ``hub`` is the
    run's ``eks_irsa_hub``, checked once (:func:`checked_hub`); ``hub_host``: this host converges the hub role
    (:func:`hub_hosts`).
    """
    host_vars = {key: plain_data(host_vars.get(key)) for key in host_vars if str(key).startswith("eks_irsa_")}
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
    clusters = _checked_issuers(_clusters(host_vars, issuers), host_vars, account_id)
    tags = host_vars.get("eks_irsa_tags") or {}
    if hub is not None and host_vars.get("eks_irsa_region"):  # the spokes' trust names the hub's account in its partition
        try:
            check_same_partition(hub["role_arn"], host_vars["eks_irsa_region"], f"{HUB}.role_arn", "eks_irsa_region")
        except RegionError as e:
            raise PlanError(str(e)) from None
    if not host_vars.get(ROLES) and hub is None:
        raise PlanError(f"{ROLES} is empty: list at least one role for this account, for example [{{name: torque-runner}}], "
                        "or leave the host out of the inventory")
    namespace, quota = host_vars.get("eks_irsa_namespace"), _managed_policy_quota(host_vars)
    roles = role_plans(host_vars.get(ROLES) or [], clusters, namespace, account_id, suffix=host, tags=tags, managed_policy_quota=quota)
    if hub is not None:
        if hub_host:  # the hub role, with its ServiceAccount, is the first host of the hub's account's
            hub_roles = role_plans([hub["role"]], clusters, namespace, account_id, suffix=host, tags=tags, managed_policy_quota=quota,
                                   field=HUB)
            roles.extend(dict(role, hub_role=True) for role in hub_roles)
        roles.extend(spoke_plans(hub, clusters, namespace, account_id, tags=tags, managed_policy_quota=quota))
        _checked_role_names(roles)
    # A provider accepts at least the audience of every role that trusts it (others' client IDs are kept).
    audiences = {}
    for role in roles:
        for name in role["clusters"]:
            audiences.setdefault(name, set()).add(role["params"].get("audience") or DEFAULT_AUDIENCE)
    providers = [{"cluster": cluster["name"], "url": cluster["issuer"], "state": "present", "tags": _provider_tags(cluster, tags),
                  "client_ids": sorted(audiences[cluster["name"]])}
                 for cluster in clusters if cluster["state"] == "present" and cluster["name"] in audiences]
    providers.extend({"cluster": cluster["name"], "url": cluster["issuer"], "state": "absent"}
                     for cluster in clusters if cluster["state"] != "present")
    return {
        "account_id": account_id,
        "assume_role_arn": assume_role_arn or None,
        "external_id": external_id,
        "providers": providers,
        # irsa_account's provider options for the rollout (state present) and the teardown (absent), made here once: a
        # filter or a branch in the per-account task would be loaded or compiled again in every forked worker.
        "provider_arguments": {state: provider_arguments(providers, state) for state in ("present", "absent")},
        "roles": roles,
    }


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
                if host not in [user[0] for user in users.get(key, ())]:  # one host's own duplicates: role_plans refused them
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
            others = " and ".join(f"role {role!r} of {other}" for other, role, _where, _sa in shared if other != host)
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


def account_plans(hosts, hostvars, issuers=None):
    """``{host: plan}`` for every account, all checked; ``issuers`` maps each cluster's name to the issuer the
    preflight looked up (a cluster that gives its issuer needs none). Raises :class:`PlanError` naming each bad account."""
    plans, problems = {}, []
    try:
        hub = checked_hub(plain_data(hostvars[hosts[0]].get(HUB))) if hosts else None  # run-level: the same for every host
    except PlanError as e:
        _refuse([str(e)])
    hub_host = hub_hosts(hosts, hostvars, hub)
    for host in hosts:
        try:
            plans[host] = account_plan(host, hostvars[host], issuers or {}, hub=hub, hub_host=host == hub_host)
        except PlanError as e:
            problems.append(f"{host}: {e}")
    _refuse(problems)
    if hub_host is not None:  # what verify checks the hub role may assume: every spoke role of the run
        spoke_arns = sorted({spoke_arn(plan["account_id"], role) for plan in plans.values() for role in plan["roles"] if role.get("hub")})
        for role in plans[hub_host]["roles"]:
            if role.get("hub_role"):
                role["spoke_arns"] = spoke_arns
    try:
        checked_unique_service_accounts({host: plan["roles"] for host, plan in plans.items()},
                                        {host: plain_data(hostvars[host].get("eks_irsa_namespace")) for host in plans})
        checked_unique_stats_keys(plans)
    except PlanError as e:
        _refuse([str(e)])
    return plans


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
    return {"provider": options[0]} if len(options) == 1 else {"providers": options}


def role_source(host, role):
    """Where a role (of an account's plan) comes from in the inventory, as messages name it."""
    return f"{host}: {role['source']}"


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
