# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plans of one account's roles: per role, its irsa_account entry (``params``), what it trusts and the
ServiceAccounts its pods run as.

A role trusts one ServiceAccount by default (``service_account``, in the host's ``eks_irsa_namespace`` or the role's
own ``namespace``) or the ``subjects`` it lists (``namespace:name``, patterns only with ``allow_wildcard_subjects``; a
pattern is trusted, not applied), in every cluster of its ``clusters`` (default all present ones) unless a subject
names its own ``cluster``. A spoke role (the hub topology) trusts the hub role instead, and deploys with the hub's
ServiceAccount.
"""

from __future__ import annotations

import json
import re

from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import LimitError
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import TAG_VALUE_MAX_LENGTH
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import cluster_arn as cluster_arn_text
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import role_arn as role_arn_text
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_cluster_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import checked_options as checked_association
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import partition_of
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustPolicyError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import has_wildcard
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import parse_service_account
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validated_role_options
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import role_entries
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import CLUSTERS
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import HUB
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import MODES
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import POD_IDENTITY_MODES
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import PASSED_THROUGH
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import ROLES
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import SPOKE
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import SUBJECT
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import PlanError
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.run_clusters import CLUSTER_TAG
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.run_clusters import present_clusters

# A role entry's keys of mode pod_identity.
POD_IDENTITY_KEYS = ("pin_service_accounts", "disable_session_tags", "session_policy")
# How the plan names a role's managed policy quota: as the inventory sets it.
QUOTA_FIELDS = {"managed_policy_quota": "eks_irsa_managed_policy_quota"}


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
            if isinstance(value, dict) and SUBJECT.unsupported(value):
                raise PlanError(f"{field}: {SUBJECT.unsupported(value)}; a subject mapping has {', '.join(SUBJECT.options)}")
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


def _session_policy(role):
    """The role's ``session_policy`` as the JSON text EKS takes, or None."""
    policy = role.get("session_policy")
    if policy is None:
        return None
    if isinstance(policy, dict):
        return json.dumps(policy, separators=(",", ":"), sort_keys=True)
    if not isinstance(policy, str):
        raise PlanError(f"session_policy {json.dumps(policy, default=str)} is neither a policy mapping nor JSON text")
    return policy


def _pod_identity(role, trusted, role_clusters, account_id, region, cluster_arns, tags, mode):
    """``(pod_identity, associations)`` of a role in a mode of EKS Pod Identity: its trust (iam_web_identity_role's
    option) and one association per ServiceAccount it serves, checked as EKS checks them. Raises :class:`PlanError`."""
    refused = [("allow_wildcard_subjects", "an association names one ServiceAccount, never a pattern")]
    if mode == "pod_identity":  # with IRSA too, the audience is the IRSA trust's
        refused.append(("audience", "an association's pods get no token audience of theirs"))
    for key, why in refused:
        if role.get(key) is not None:
            raise PlanError(f"{key} is IRSA's, and this role's mode is {mode} ({why}): leave it out, or set mode: irsa")
    pinned, disabled = bool(role.get("pin_service_accounts")), bool(role.get("disable_session_tags"))
    if pinned and disabled:
        raise PlanError("pin_service_accounts needs the session tags that disable_session_tags turns off (the trust would let no "
                        "pod in): leave one of them out")
    policy = _session_policy(role)
    if policy is not None and not disabled:
        raise PlanError("session_policy needs disable_session_tags: true (EKS refuses a session policy with session tags): set it")
    pod_identity, associations = [], []
    for cluster in role_clusters:
        subjects = [subject for subject in trusted if subject["cluster"] == cluster["name"]]
        if not subjects:
            continue
        if not cluster["name"]:
            raise PlanError("the role uses EKS Pod Identity, whose associations name the cluster: set eks_irsa_cluster_name (with "
                            "eks_irsa_issuer, or instead of it)")
        arn = (cluster_arns or {}).get(cluster["name"])
        if arn is None:
            if not cluster.get("region"):
                raise PlanError(f"the role uses EKS Pod Identity, and its trust names cluster {cluster['name']!r} by its ARN, which "
                                "holds the cluster's region: set eks_irsa_region (or the region of its eks_irsa_clusters entry)")
            arn = cluster_arn_text(partition_of(cluster["region"]), cluster["region"], account_id, cluster["name"])
        _partition, cluster_region, cluster_account, _name = split_cluster_arn(arn)
        if cluster_account != account_id:
            raise PlanError(f"the role uses EKS Pod Identity, but cluster {cluster['name']!r} is in account {cluster_account} "
                            f"({arn}), not this account {account_id}: EKS Pod Identity takes only a role of the cluster's account. "
                            f"List the role under a host of account {cluster_account}, or set mode: irsa for it")
        if region != cluster_region:
            raise PlanError(f"the role uses EKS Pod Identity, and the rollout makes its associations with the account's region: "
                            f"eks_irsa_region is {region or 'unset'}, but cluster {cluster['name']!r} is in {cluster_region}. "
                            f"Set eks_irsa_region: {cluster_region} for this host")
        pod_identity.append(dict({"cluster_arn": arn},
                                 **({"service_accounts": [f"{s['namespace']}:{s['name']}" for s in subjects]} if pinned else {})))
        for subject in subjects:
            association = {"cluster_name": cluster["name"], "namespace": subject["namespace"], "service_account": subject["name"],
                           # "": no target role; tags others set on the association are kept, as on roles
                           "role_name": role["name"], "target_role_arn": "", "tags": tags, "purge_tags": False}
            if disabled:
                association["disable_session_tags"] = True
            if policy is not None:
                association["policy"] = policy
            try:  # the module's own checks: names, the session policy's JSON and size
                checked_association(dict(association, role_arn=f"arn:aws:iam::{account_id}:role/{role['name']}", state="present"))
            except EksIrsaError as e:
                raise PlanError(str(e)) from None
            associations.append(association)
    return pod_identity, associations


def _may_be_associated(cluster_name, account_id, cluster_arns):
    """Whether a role of ``account_id`` can have an association in the cluster: a named cluster of that account (or of an
    account the preflight did not look up)."""
    arn = (cluster_arns or {}).get(cluster_name)
    return bool(cluster_name) and (arn is None or split_cluster_arn(arn)[2] == account_id)


def role_plans(roles, clusters, namespace, account_id, suffix="", tags=None, managed_policy_quota=None, field=ROLES, mode=None,
               region=None, cluster_arns=None):
    """``[{"service_accounts", "retired_service_accounts", "trusted", "clusters", "params"}]`` for an account's roles.

    ``clusters`` are the run's (:func:`~.run_clusters.account_clusters`, issuers known); ``service_accounts``
    (``{cluster, namespace, name}``) are applied in their clusters, ``retired_service_accounts`` removed from the retired
    clusters; ``trusted`` lists every subject (``pattern``: a wildcard, trusted and not applied). ``namespace`` is the
    host's (``eks_irsa_namespace``), the default of its roles. ``field`` is the variable messages name (the hub role is
    ``eks_irsa_hub``'s). ``mode`` is the host's ``eks_irsa_mode``, the default of its roles; a role in mode pod_identity
    (:func:`_pod_identity`) trusts EKS Pod Identity of each cluster, in ``region`` (the account's), and gets an association
    per ServiceAccount (``associations``); ``cluster_arns`` are the clusters' ARNs as the preflight looked them up. Raises
    :class:`PlanError`.
    """
    several = len(clusters) > 1
    retired = [cluster for cluster in clusters if cluster["state"] != "present"]
    planned, seen = [], {}
    for where, role in role_entries(roles, field):
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
        role_mode = role.get("mode") or mode or MODES[0]
        if role_mode not in MODES:
            raise PlanError(f"{where}: mode {json.dumps(role_mode, default=str)} is none of {', '.join(MODES)}")
        params = _role_params(role, trust, account_id, role_tags, managed_policy_quota)
        associations = []
        if role_mode in POD_IDENTITY_MODES:
            try:
                if role_mode == "pod_identity":
                    params.pop("trust")
                params["pod_identity"], associations = _pod_identity(role, trusted, _role_clusters(role, clusters), account_id, region,
                                                                     cluster_arns, role_tags, role_mode)
            except PlanError as e:
                raise PlanError(f"{where}: {e}") from None
        else:
            # A role that leaves EKS Pod Identity (back to irsa) loses the associations the rollout made for it; irsa_account
            # reads them only when the role's trust had a Pod Identity statement, so an IRSA role costs no call.
            associations = [{"cluster_name": sa["cluster"], "namespace": sa["namespace"], "service_account": sa["name"],
                             "role_name": role["name"], "state": "absent", "when_role_leaves_pod_identity": True}
                            for sa in applied if _may_be_associated(sa["cluster"], account_id, cluster_arns)]
        if role_mode not in POD_IDENTITY_MODES and any(role.get(key) is not None for key in POD_IDENTITY_KEYS):
            given = ", ".join(key for key in POD_IDENTITY_KEYS if role.get(key) is not None)
            raise PlanError(f"{where}: {given} only applies to a role of EKS Pod Identity, and this role's mode is irsa: set "
                            "mode: pod_identity (or irsa_and_pod_identity), or leave it out")
        try:  # the module's own checks (it fills its defaults itself), naming the quota as the inventory sets it
            validated_role_options(params, fields=QUOTA_FIELDS)
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
            **({"mode": role_mode, "associations": associations,
                "retired_associations": [{"cluster_name": cluster["name"], "namespace": sa_namespace, "service_account": sa_name,
                                          "state": "absent"} for cluster in retired for sa_namespace, sa_name in unpinned]}
               if role_mode in POD_IDENTITY_MODES else {"associations": associations} if associations else {}),
        })
    return planned


def role_source(host, role):
    """Where a role (of an account's plan) comes from in the inventory, as messages name it."""
    return f"{host}: {role['source']}"


# -- the hub topology --------------------------------------------------------------------------------


def spoke_plans(hub, clusters, namespace, account_id, tags=None, managed_policy_quota=None):
    """The plans of an account's spoke roles (as :func:`role_plans` gives them): each trusts the hub role
    (``trusted_role``), has no ServiceAccount of its own, and ``hub`` says whose ServiceAccount deploys with it: the hub's,
    in the hub's namespace, in the clusters the hub role trusts."""
    planned = []
    trusted_role = dict({"arn": hub["role_arn"]}, **({"external_id": hub["external_id"]} if hub["external_id"] else {}))
    for index, spoke in enumerate(hub["spokes"]):
        where = f"{HUB}.spokes[{index}] ({spoke['name']})"
        params = {key: spoke[key] for key in SPOKE.options if spoke.get(key) is not None and key != "tags"}
        params.update(account_id=account_id, trust_policy_mode="exclusive", purge_tags=False,
                      tags=dict(tags or {}, **(spoke.get("tags") or {})), trusted_role=trusted_role)
        if managed_policy_quota is not None:
            params["managed_policy_quota"] = managed_policy_quota
        try:
            validated_role_options(params, fields=QUOTA_FIELDS)
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


def checked_role_names(roles):
    """Refuse two roles of one name (IAM's names ignore case) among an account's roles, spokes and hub role."""
    seen = {}
    for role in roles:
        other = seen.setdefault(role["params"]["name"].lower(), role["source"])
        if other != role["source"]:
            raise PlanError(f"{role['source']}: the account already has a role of that name ({other}); IAM role names are unique "
                            "in an account, whatever the case: give one of them another name")
