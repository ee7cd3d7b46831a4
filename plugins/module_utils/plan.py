# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rollout's plan: every account of the inventory checked, once, before anything is written anywhere.

Pure code (the filters of ``plugins/filter/account_plans.py`` only adapt it). Each account's values are checked with
the modules' own checks (irsa_account's provider and role options, the assume-role options), so the preflight refuses
exactly what a module would, and the plan adds only what needs the whole inventory: two roles claiming one
ServiceAccount, one role listed by two hosts. Every message names the inventory host and the variable the user wrote
(``dev: eks_irsa_roles[0] (torque-runner): path 'irsa': ...``), and every bad account is reported in one error.

The plan of an account is ``{account_id, assume_role_arn, external_id, issuer, tags, roles}``; ``roles`` holds, per
role, the ``service_accounts`` (``{namespace, name}``) its pods run as, which the rollout applies, and the irsa_account
entry (``params``) the rollout and teardown hand to the module. A role trusts one ServiceAccount by default
(``service_account``, in the host's ``eks_irsa_namespace`` or the role's own ``namespace``) or the ``subjects`` it lists
(``namespace:name``, patterns only with ``allow_wildcard_subjects``; a pattern is trusted, not applied).
"""

from __future__ import annotations

import json
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import LimitError
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_external_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_managed_policy_quota
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import TAG_PREFIX
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import PROVIDER_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import checked_provider_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import OptionsError
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import RegionError
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import check_region
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import check_same_partition
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import plain_data
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import validated_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustPolicyError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import has_wildcard
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import parse_service_account
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validated_role_options

ROLES = "eks_irsa_roles"
CLUSTER_TAG = TAG_PREFIX + "cluster"
# Role settings passed through to the module unchanged; with name, service_account and tags, the keys of a role entry.
PASSED_THROUGH = ("path", "description", "managed_policies", "inline_policies", "permissions_boundary", "max_session_duration", "adopt",
                  "allow_wildcard_subjects")
ROLE_ENTRY_KEYS = frozenset(PASSED_THROUGH + ("name", "service_account", "namespace", "subjects", "tags"))


class PlanError(ValueError):
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
    if not host_vars.get("eks_irsa_cluster_name") and "eks_irsa_issuer" not in host_vars:
        problems.append("eks_irsa_cluster_name is not set: give the name of the EKS cluster whose pods get the roles "
                        "(or its issuer URL as eks_irsa_issuer)")
    roles = host_vars.get(ROLES)
    inheriting = not isinstance(roles, (list, tuple)) or any(
        isinstance(role, dict) and not (role.get("namespace") or role.get("subjects")) for role in roles)
    if not host_vars.get("eks_irsa_namespace") and inheriting:
        problems.append("eks_irsa_namespace is not set: give the Kubernetes namespace the ServiceAccounts go in")
    if roles is None:
        problems.append(f"{ROLES} is not set: list the roles of the account, for example [{{name: torque-runner}}]")
    elif isinstance(roles, (str, bytes)) or not isinstance(roles, (list, tuple)) or not all(isinstance(r, dict) for r in roles):
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
    "eks_irsa_cluster_name": "the issuer is looked up once, and every account's roles trust that cluster",
    "eks_irsa_issuer": "every account's roles trust one cluster, the one the ServiceAccounts are applied in",
    "eks_irsa_kubeconfig": "the ServiceAccounts are applied through one Kubernetes connection",
    "eks_irsa_kube_context": "the ServiceAccounts are applied through one Kubernetes connection",
    "eks_irsa_create_namespace": "the ServiceAccounts' namespace is created, or not, once for the run",
    "eks_irsa_render_dir": "the run renders every ServiceAccount, or applies every one",
    "eks_irsa_service_account_labels": "every ServiceAccount gets the same labels",
    "eks_irsa_sts_regional_endpoints": "every ServiceAccount gets the same EKS annotations",
    "eks_irsa_token_expiration": "every ServiceAccount gets the same EKS annotations",
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
    _refuse([f"{host}: {problem}" for host in hosts for problem in _missing(hostvars[host])] + _run_level_problems(hosts, hostvars))
    return list(hosts)


# -- one account ----------------------------------------------------------------------------------------


def default_service_account(role_name, suffix):
    """``<role name>-<suffix>`` as a Kubernetes name: one ServiceAccount per role and account in a shared namespace.

    Lower-cased, and each run of characters a ServiceAccount name cannot hold (IAM role names allow ``_+=,@``,
    inventory host names ``_``) becomes one ``-``, so that an inventory host such as ``prod_eu`` gets a valid default
    instead of an error about a name the user never wrote.
    """
    name = f"{role_name}-{suffix}" if suffix else str(role_name)
    return re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")


def _role_params(role, issuer, subjects, account_id, tags, managed_policy_quota):
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
        tags=dict(tags or {}, **(role.get("tags") or {})),
        trust=[{"issuer": issuer, "service_accounts": [f"{sa.namespace}:{sa.name}" for sa in subjects]}],
    )
    if managed_policy_quota is not None:
        params["managed_policy_quota"] = managed_policy_quota
    return params


def _subjects(role, namespace, suffix):
    """The ServiceAccounts (:class:`~.trust_policy.ServiceAccount`) a role entry trusts, in the order written, once each."""
    if role.get("subjects") is not None:
        given = sorted(key for key in ("service_account", "namespace") if role.get(key) is not None)
        if given:
            raise PlanError(f"subjects lists the ServiceAccounts the role trusts, so {' and '.join(given)} cannot be given "
                            "too: add it to subjects as 'namespace:name', or leave subjects out")
        values = role["subjects"]
        if isinstance(values, (str, bytes, dict)) or not isinstance(values, (list, tuple)) or not values:
            raise PlanError(f"subjects {json.dumps(values, default=str)} is not a list of ServiceAccounts: write "
                            "[team-a:runner, {namespace: team-b, name: runner}]")
        parsed = [parse_service_account(value, f"subjects[{index}]", allow_wildcard=bool(role.get("allow_wildcard_subjects")))
                  for index, value in enumerate(values)]
        return list(dict.fromkeys(parsed))
    own_namespace = role.get("namespace") or namespace or ""
    name = role.get("service_account") or default_service_account(role["name"], suffix)
    field = "service_account" if role.get("service_account") else f"service_account (default {name})"
    if role.get("namespace"):
        field += " in namespace"
    return [parse_service_account({"namespace": own_namespace, "name": name}, field=field)]


def service_account_label(service_account, namespace):
    """A ServiceAccount as messages name it: its name in the host's namespace, else ``namespace:name``."""
    return service_account["name"] if service_account["namespace"] == namespace else f"{service_account['namespace']}:{service_account['name']}"


def role_plans(roles, issuer, namespace, account_id, suffix="", tags=None, managed_policy_quota=None):
    """``[{"service_accounts": [{namespace, name}], "params": irsa_account entry}]`` for an account's roles.

    ``namespace`` is the host's (``eks_irsa_namespace``), the default of its roles. Raises :class:`PlanError`.
    """
    if not roles:
        raise PlanError(f"{ROLES} is empty: list at least one role for this account, for example [{{name: torque-runner}}], "
                        "or leave the host out of the inventory")
    planned, seen, names = [], {}, {}
    for index, role in enumerate(roles):
        where = f"{ROLES}[{index}]"
        if not isinstance(role, dict) or not role.get("name"):
            raise PlanError(f"{where}: each role needs at least a 'name' (the IAM role name)")
        where = f"{where} ({role['name']})"
        unknown = sorted(set(role) - ROLE_ENTRY_KEYS)
        if unknown:
            raise PlanError(f"{where}: unsupported parameters {', '.join(f'{ROLES}.{key}' for key in unknown)} (a typo?). "
                            f"Supported parameters include: {', '.join(sorted(ROLE_ENTRY_KEYS))}")
        # IAM role names are unique without regard to case: a second entry would rewrite the first one's trust on every run.
        folded = str(role["name"]).lower()
        if folded in names:
            raise PlanError(f"{where}: the role is already listed as {ROLES}[{names[folded]}]; IAM role names are unique in an "
                            "account (whatever the case), so list each role once, or give this one another name")
        names[folded] = index
        try:  # named as the inventory names it, before the trust entry it goes into
            subjects = _subjects(role, namespace, suffix)
        except TrustPolicyError as e:
            raise PlanError(f"{where}: {e}") from None
        except PlanError as e:
            raise PlanError(f"{where}: {e}") from None
        applied = [{"namespace": sa.namespace, "name": sa.name} for sa in subjects if not has_wildcard(sa)]
        for service_account in applied:
            key = (service_account["namespace"], service_account["name"])
            if key in seen:
                raise PlanError(f"{where}: service account {service_account_label(service_account, namespace)!r} is already used "
                                f"by role {seen[key]!r}; one ServiceAccount carries one role ARN, so give each role its own "
                                "service_account")
            seen[key] = role["name"]
        params = _role_params(role, issuer, subjects, account_id, tags, managed_policy_quota)
        try:  # the module's own checks (it fills its defaults itself), naming the quota as the inventory sets it
            validated_role_options(params, fields={"managed_policy_quota": "eks_irsa_managed_policy_quota"})
        except (TrustPolicyError, LimitError) as e:
            raise PlanError(f"{where}: {e}") from None
        planned.append({"service_accounts": applied, "params": params})
    return planned


def _checked_provider(issuer, tags, account_id):
    """The issuer as irsa_account's provider checks it (URL, length, tags), naming the inventory variables."""
    try:
        options = validated_options(PROVIDER_ARGUMENT_SPEC, {"url": issuer, "tags": tags, "account_id": account_id})
        wanted, _account = checked_provider_options(options, fields={"url": "eks_irsa_issuer", "tags": "eks_irsa_tags"})
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


def account_plan(host, host_vars, issuer_lookup):
    """One account's plan (see the module docstring); raises :class:`PlanError` naming the variable."""
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
    cluster = host_vars.get("eks_irsa_cluster_name")
    tags = dict({CLUSTER_TAG: cluster} if cluster else {}, **(host_vars.get("eks_irsa_tags") or {}))
    issuer = _checked_provider(host_vars["eks_irsa_issuer"] if "eks_irsa_issuer" in host_vars else issuer_lookup, tags, account_id)
    return {
        "account_id": account_id,
        "assume_role_arn": assume_role_arn or None,
        "external_id": external_id,
        "issuer": issuer,
        "tags": tags,
        "roles": role_plans(host_vars.get(ROLES), issuer, host_vars.get("eks_irsa_namespace"), account_id, suffix=host, tags=tags,
                            managed_policy_quota=_managed_policy_quota(host_vars)),
    }


# -- the whole inventory ------------------------------------------------------------------------------


def checked_unique_service_accounts(plans_by_host, namespaces=None):
    """Refuse two accounts' roles sharing one ServiceAccount, and two hosts of one account listing the same role.

    A ServiceAccount carries one role ARN, so the second apply would silently take the first account's role away;
    two hosts listing one role would rewrite each other's trust policy on every run. ``namespaces`` are the hosts'
    own (``eks_irsa_namespace``), for naming a ServiceAccount as the host's inventory writes it.
    """
    owners, roles = {}, {}
    for host, plan in plans_by_host.items():
        for index, role in enumerate(plan):
            role_name = role["params"]["name"]
            where = f"{host}: {ROLES}[{index}] ({role_name})"
            for service_account in role["service_accounts"]:
                key = (service_account["namespace"], service_account["name"])
                if key in owners and owners[key][0] != host:
                    other_host, other_role = owners[key]
                    label = service_account_label(service_account, (namespaces or {}).get(host))
                    raise PlanError(f"{where}: service account {label!r} is already used by role {other_role!r} of {other_host}; "
                                    "one ServiceAccount carries one role ARN, so give each role its own service_account")
                owners.setdefault(key, (host, role_name))
            account = role["params"]["account_id"]
            other_host = roles.setdefault((account, role_name.lower()), host)  # IAM role names ignore case
            if other_host != host:
                raise PlanError(f"{where}: role {role_name!r} of account {account} is already listed by {other_host}; two hosts of "
                                "one account must not list the same role (each run would rewrite the other's trust policy): "
                                "list it under one host only, or give it another name")


def account_plans(hosts, hostvars, issuer_lookup=None):
    """``{host: plan}`` for every account, all checked; ``issuer_lookup`` is the issuer the preflight looked up, used
    by every host that does not give ``eks_irsa_issuer`` itself. Raises :class:`PlanError` naming each bad account."""
    plans, problems = {}, []
    for host in hosts:
        try:
            plans[host] = account_plan(host, hostvars[host], issuer_lookup)
        except PlanError as e:
            problems.append(f"{host}: {e}")
    _refuse(problems)
    try:
        checked_unique_service_accounts({host: plan["roles"] for host, plan in plans.items()},
                                        {host: plain_data(hostvars[host].get("eks_irsa_namespace")) for host in plans})
    except PlanError as e:
        _refuse([str(e)])
    return plans


def role_source(host, index, role_name):
    """Where a role comes from in the inventory, as messages name it."""
    return f"{host}: {ROLES}[{index}] ({role_name})"


def planned_service_accounts(plans):
    """``[{"namespace", "name", "adopt", "source"}]``: every ServiceAccount of the plans (``{host: plan}``, ``eks_irsa_plan``).

    ``adopt`` is the role entry's: it also lets the rollout annotate a ServiceAccount of that name it did not make.
    """
    return [dict(service_account, adopt=bool(role["params"].get("adopt")), source=role_source(host, index, role["params"]["name"]))
            for host, plan in plans.items() for index, role in enumerate(plan["roles"]) for service_account in role["service_accounts"]]


def by_namespace(items):
    """``[{"namespace", "service_accounts"}]``, one per namespace in name order, each with its items (without the namespace) in order."""
    groups = {}
    for item in items:
        groups.setdefault(item["namespace"], []).append({key: value for key, value in item.items() if key != "namespace"})
    return [{"namespace": namespace, "service_accounts": groups[namespace]} for namespace in sorted(groups)]


def planned_service_account_groups(plans):
    """The planned ServiceAccounts (:func:`planned_service_accounts`) by namespace (:func:`by_namespace`)."""
    return by_namespace(planned_service_accounts(plans))
