# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The run's clusters: ``eks_irsa_clusters`` (:data:`~.inventory_schema.CLUSTER` entries), or the one cluster of
``eks_irsa_cluster_name`` / ``eks_irsa_issuer`` / ``eks_irsa_kubeconfig`` / ``eks_irsa_kube_context``, checked once
for the run; their issuers as the preflight looked them up; and each issuer checked as one account's OIDC provider will
be. A retired cluster (``state: absent``) loses its trust, providers and ServiceAccounts.
"""

from __future__ import annotations

import json

from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import TAG_PREFIX
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import PROVIDER_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import checked_provider_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import OptionsError
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import plain_data
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import validated_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import RegionError
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import check_region
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import CLUSTER
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import CLUSTER_VARIABLES
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import CLUSTERS
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import SINGLE_CLUSTER
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import PlanError

CLUSTER_TAG = TAG_PREFIX + "cluster"
PRESENT = CLUSTER.options["state"]["default"]


def _cluster_entries(host_vars):
    """The run's cluster entries as written: ``eks_irsa_clusters``, or the one cluster of the single-cluster variables."""
    if CLUSTERS not in host_vars:
        single = {key: host_vars.get(variable) for variable, key in SINGLE_CLUSTER.items()}
        return [dict(single, region=host_vars.get("eks_irsa_region"), state=PRESENT)], None
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
    unknown = CLUSTER.unsupported(entry)
    if unknown:
        raise PlanError(f"{where}: {unknown}{CLUSTER.listing}")
    cluster = {key: entry.get(key) for key in CLUSTER.options}
    if cluster["region"] is None:
        cluster["region"] = default_region
    for key, option in CLUSTER.options.items():
        if option.get("choices"):  # state: refused below, saying what each choice means
            continue
        if cluster[key] is not None and not isinstance(cluster[key], str):
            raise PlanError(f"{where}: {key} {json.dumps(cluster[key], default=str)} is not a string")
    if not cluster["name"]:
        raise PlanError(f"{where}: each cluster needs a 'name' (the EKS cluster name, which roles' clusters and the "
                        f"{CLUSTER_TAG} tag use)")
    if cluster["state"] is None:
        cluster["state"] = PRESENT
    if cluster["state"] not in CLUSTER.options["state"]["choices"]:
        raise PlanError(f"{where}: state {json.dumps(cluster['state'], default=str)} is neither present nor absent (absent: "
                        "a retired cluster, whose trust, providers and ServiceAccounts the rollout removes)")
    if cluster["region"] is not None:
        try:
            check_region(cluster["region"], f"{where}: region")
        except RegionError as e:
            raise PlanError(str(e)) from None
    return cluster


def clusters_of(host_vars, issuers=None):
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
        if not problems and not any(cluster["state"] == PRESENT for cluster in clusters):
            problems.append(f"{CLUSTERS}: every cluster is retired (state: absent): keep at least one present, or run the "
                            "teardown playbook to remove everything")
        if problems:
            raise PlanError("\n".join(problems))
    for cluster in clusters:
        if not cluster.get("issuer"):
            cluster["issuer"] = (issuers or {}).get(cluster["name"])
    return clusters


def run_clusters(hosts, hostvars, issuers=None):
    """The run's clusters (:func:`clusters_of`), from the first host: the preflight has refused hosts that differ."""
    if not hosts:
        return []
    host_vars = hostvars[hosts[0]]  # only the cluster variables are read (each templated when read)
    return clusters_of({key: plain_data(host_vars[key]) for key in CLUSTER_VARIABLES if key in host_vars}, issuers)


def looked_up_issuers(lookups):
    """``{cluster name: issuer URL}`` from eks_oidc_issuer results registered in a loop over clusters (``results``),
    for those that found one."""
    return {lookup[lookup.get("ansible_loop_var") or "item"]["name"]: lookup["issuer_url"]
            for lookup in lookups or [] if lookup.get("issuer_url")}


def looked_up_cluster_arns(lookups):
    """``{cluster name: cluster ARN}`` from the same results as :func:`looked_up_issuers`: the account and region of each
    cluster the preflight looked up, which EKS Pod Identity's trust and associations name."""
    return {lookup[lookup.get("ansible_loop_var") or "item"]["name"]: lookup["cluster_arn"]
            for lookup in lookups or [] if lookup.get("cluster_arn")}


def present_clusters(clusters):
    return [cluster for cluster in clusters if cluster["state"] == PRESENT]


# -- as one account's providers see them ------------------------------------------------------------


def provider_tags(cluster, tags):
    """A cluster's provider tags: ``eks-irsa:cluster`` names it (unless ``eks_irsa_tags`` sets it), then ``eks_irsa_tags``."""
    return dict({CLUSTER_TAG: cluster["name"]} if cluster["name"] else {}, **tags)


def _checked_provider(issuer, tags, account_id, field):
    """The issuer as irsa_account's provider checks it (URL, length, tags), naming the inventory variables."""
    try:
        options = validated_options(PROVIDER_ARGUMENT_SPEC, {"url": issuer, "tags": tags, "account_id": account_id})
        wanted, _account = checked_provider_options(options, fields={"url": field, "tags": "eks_irsa_tags"})
    except (OptionsError, IssuerError) as e:
        raise PlanError(str(e)) from None
    return wanted.issuer.url


def _issuer_field(host_vars, index, cluster):
    return f"{CLUSTERS}[{index}] ({cluster['name']}): issuer" if CLUSTERS in host_vars else "eks_irsa_issuer"


def account_clusters(host_vars, issuers, account_id):
    """The run's clusters (:func:`clusters_of`) for one account: each issuer in IAM's form, checked as the provider
    module checks it (with the account's provider tags); two clusters of one issuer are refused (their trust statements
    and providers would be one)."""
    checked, owners = [], {}
    for index, cluster in enumerate(clusters_of(host_vars, issuers)):
        field = _issuer_field(host_vars, index, cluster)
        if not cluster.get("issuer"):
            raise PlanError(f"{field}: the issuer of cluster {cluster['name']!r} is not known: the preflight looks it up, or give it")
        url = _checked_provider(cluster["issuer"], provider_tags(cluster, host_vars.get("eks_irsa_tags") or {}), account_id, field)
        if url in owners:
            raise PlanError(f"{field}: clusters {owners[url]!r} and {cluster['name']!r} have the same issuer {url}; each cluster "
                            "has its own, so one of the entries names the wrong cluster (or region)")
        owners[url] = cluster["name"]
        checked.append(dict(cluster, issuer=url))
    return checked
