# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters for the rollout playbook: collect each account's outcome, the ServiceAccounts, the summary."""

import os
import re

from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.torque.eks_irsa.plugins.module_utils.names import AUDIENCE_ANNOTATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import DEFAULT_AUDIENCE
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.blueprint import HUB_FILE_PREFIX
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.blueprint import agent_line
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.blueprint import blueprint_files
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import checked_torque_agents
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import creates_namespace
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import POD_IDENTITY_MODES
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import role_source
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_account_groups import service_account_groups
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.summary import published_stats
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.summary import table_lines

# The table's columns; CLUSTER only when the run has several clusters, NAMESPACE only when it has several namespaces: with
# one, the table keeps the shape it had before they could differ.
COLUMNS = ("ACCOUNT", "HOST", "CLUSTER", "PROVIDER", "ROLE", "ROLE STATUS", "ASSOCIATION", "NAMESPACE", "SERVICE ACCOUNT", "SA STATUS")
# What the summary publishes of a role (set_stats eks_irsa_rollout); ``adopt`` and ``source`` only steer the apply. ``hub``:
# a spoke role's hub, the role it trusts (its service_account is the hub's).
# ``cluster`` and ``namespace`` only when the run has several (with one, the summary's ``namespace`` says it).
PUBLISHED_ROLE_KEYS = ("name", "arn", "status", "cluster", "namespace", "service_account", "hub", "mode", "association_status")
PATTERN = "(pattern)"  # the SA STATUS of a wildcard subject: trusted, and no ServiceAccount of that name is applied


def _provider_statuses(plan, result):
    """``{cluster: status}`` of the account's providers, from irsa_account's ``providers`` (in the plan's order), or its
    ``provider`` when the account has one."""
    done = result.get("providers") or ([result["provider"]] if result.get("provider") else [])
    return {provider["cluster"]: (done[index] or {}).get("status") if index < len(done) else None
            for index, provider in enumerate(plan.get("providers") or [])}


def kept_provider_warnings(result):
    """What irsa_account's result says of each provider it was asked to delete but kept (``kept``: why)."""
    done = result.get("providers") or ([result["provider"]] if result.get("provider") else [])
    return [f"OIDC provider {provider['arn']} kept: {provider['kept']}" for provider in done if provider and provider.get("kept")]


def rollout_outcomes(hosts, hostvars, blocked=None):
    """Each account's outcome, from its plan and what its irsa_account task registered.

    ``{host, account_id, provider, providers, roles: [{name, arn, status, cluster, namespace, service_account, pattern,
    adopt, source}], retired, error}``: a role per (cluster, subject) it trusts (``pattern``: a wildcard subject);
    ``providers`` maps each cluster to its provider's status (``provider``: the one provider's, when the account has
    one); ``retired`` the ServiceAccounts to remove from retired clusters; ``warnings`` the providers kept although
    asked to go (:func:`kept_provider_warnings`); ``error`` the message the account's rescue recorded
    (``eks_irsa_error``), or None. ``blocked`` maps the accounts whose cluster could not be read to why
    (``rollout_cluster_check``): they were given no write, and fail with that message.
    """
    outcomes, plans = [], None
    for host in hosts:
        facts = hostvars[host]
        if plans is None:  # the run's plan, set once for every host: read once (before 2.19 each read templates all of it)
            plans = facts.get("eks_irsa_plan") or {}
        error = (blocked or {}).get(host) or facts.get("eks_irsa_error")
        result = facts.get("eks_irsa_account_result") or {}
        plan = plans.get(host) or {}
        done = result.get("roles") or {}
        # What irsa_account did to each association, by (cluster, namespace, ServiceAccount).
        associations = {(view.get("cluster_name"), view.get("namespace"), view.get("service_account")): done_association.get("status")
                        for done_association in result.get("associations") or [] for view in [done_association.get("association") or {}]}
        roles, retired = [], []
        for index, entry in enumerate(plan.get("roles") or []):
            name = entry["params"]["name"]
            source = role_source(host, entry)
            if name not in done:
                continue
            adopt = bool(entry["params"].get("adopt"))
            audience = entry["params"].get("audience")
            common = {"name": name, "arn": done[name].get("arn"), "status": done[name].get("status", "ok"), "adopt": adopt, "source": source}
            pod_identity = entry.get("mode") in POD_IDENTITY_MODES
            if pod_identity:
                common["mode"] = entry["mode"]
            if entry.get("hub"):  # a spoke: the hub's ServiceAccount deploys with it, in each cluster the hub role trusts
                hub = entry["hub"]
                external_id = entry["params"]["trusted_role"].get("external_id")
                roles.extend(dict(common, cluster=cluster, namespace=hub["namespace"], service_account=hub["service_account"],
                                  pattern=False, hub=hub["role_arn"], **({"external_id": external_id} if external_id else {}))
                             for cluster in hub["clusters"] or [None])
                continue
            roles.extend(dict(common, cluster=subject["cluster"], namespace=subject["namespace"], service_account=subject["name"],
                              pattern=subject["pattern"], **({"audience": audience} if audience else {}),
                              **({"hub_role": True} if entry.get("hub_role") else {}),
                              **({"association_status": associations.get((subject["cluster"], subject["namespace"], subject["name"]))}
                                 if pod_identity else {}))
                         for subject in entry["trusted"])
            retired.extend(dict(service_account, role=name, adopt=adopt, source=source) for service_account in entry["retired_service_accounts"])
        providers = {} if error else _provider_statuses(plan, result)
        outcomes.append({
            "host": host,
            "account_id": plan.get("account_id", facts.get("eks_irsa_account_id")),
            "provider": next(iter(providers.values())) if len(providers) == 1 else None,
            "providers": providers,
            "roles": [] if error else roles,
            "retired": [] if error else retired,
            "warnings": [] if error else kept_provider_warnings(result),
            "error": error,
        })
    return outcomes


def rollout_service_accounts(outcomes):
    """The ServiceAccounts to apply: one per role and subject of every account that succeeded, with that role's ARN."""
    items = []
    for outcome in outcomes:
        if outcome.get("error"):
            continue
        for role in outcome.get("roles", []):
            # A spoke's row names the hub's ServiceAccount, which the hub role's own row applies.
            if role.get("arn") and role.get("status") != "deleted" and not role.get("pattern") and not role.get("hub"):
                item = {"cluster": role.get("cluster"), "namespace": role["namespace"], "name": role["service_account"],
                        "role_arn": role["arn"], "adopt": role.get("adopt", False), "source": role.get("source")}
                if role.get("audience") and role["audience"] != DEFAULT_AUDIENCE:  # the webhook then asks for that audience
                    item["annotations"] = {AUDIENCE_ANNOTATION: role["audience"]}
                if role.get("mode") == "pod_identity":  # its pods get it through an association, not the annotation
                    item["pod_identity"] = True
                items.append(item)
    return items


def rollout_service_account_groups(outcomes, clusters=None, create_namespace=False, render_dir=None):
    """What the service_account role's ``groups`` entry point does, one (cluster, namespace) at a time
    (:func:`~.service_account_groups.service_account_groups`): apply :func:`rollout_service_accounts` in the present clusters, and remove
    the succeeded accounts' ServiceAccounts from the retired ones (``state: absent``; not when rendering).

    ``clusters`` are the run's (``eks_irsa_run_clusters``); ``create_namespace`` is ``eks_irsa_create_namespace``
    (true, false, or the namespaces to create). Rendered, the manifests of one group go in ``render_dir`` itself; of
    several, in a directory per namespace within it (per cluster, then namespace, when the run has several clusters).
    """
    clusters = clusters or [{"name": None, "state": "present"}]
    groups = service_account_groups(rollout_service_accounts(outcomes), clusters)
    for group in groups:
        group["state"] = "present"
        group["create_namespace"] = creates_namespace(create_namespace, group["namespace"])
        # The missing-namespace error names the variable the rollout's user sets, not the role's own.
        group["create_namespace_fix"] = (f"set eks_irsa_create_namespace: true (or list {group['namespace']} in it) to let the "
                                         "rollout create it")
        if render_dir:
            group["render_dir"] = render_dir if len(groups) == 1 else os.path.join(render_dir, *group["label"].split("/"))
    if not render_dir:
        retired = [{key: value for key, value in item.items() if key != "role"}  # the summary's, not the role's
                   for outcome in outcomes if not outcome.get("error") for item in outcome.get("retired") or []]
        groups.extend(dict(group, state="absent") for group in service_account_groups(retired, clusters))
    return groups


def rollout_error(failed_result, failed_task=None, sources=None):
    """One line saying why a task failed; for a loop, the message of its first failed item, after the item's label.

    irsa_account names a role by its place in ``roles``, which the rollout fills from the account's plan in order: the
    message names the inventory entry instead, from ``sources`` (each planned role's ``source``), else as
    ``eks_irsa_roles``.
    """
    failed_result = failed_result or {}
    for item in failed_result.get("results") or []:
        if item.get("failed") and item.get("msg"):
            label = item.get("ansible_loop_var") and item.get("_ansible_item_label")
            return f"{label}: {item['msg']}" if label else item["msg"]
    message = failed_result.get("msg")
    if message:
        def named(match):
            index = int(match.group(1))
            return sources[index] if sources and index < len(sources) else f"eks_irsa_roles[{index}]{match.group(2)}"
        return re.sub(r"^roles\[(\d+)\]( \([^)]*\))?", named, message)
    return f"task {failed_task.get('name') if isinstance(failed_task, dict) else failed_task} failed"


def _label(role, several):
    return f"{role.get('cluster')}/{role['namespace']}" if several else role["namespace"]


def _group_name(label, several):
    """A group's label (:func:`~.service_account_groups.service_account_groups`) as messages name it."""
    if several:
        cluster, namespace = label.split("/", 1)
        return f"namespace {namespace} of cluster {cluster}"
    return f"namespace {label}"


def _service_account_status(role, results, several):
    """What the apply did to the role's ServiceAccount; None for a pattern, a failed group, or one not applied."""
    result = results.get(_label(role, several)) or {}
    if role.get("pattern") or result.get("error"):
        return None
    return (result.get("status") or {}).get(role["service_account"])


def _service_account_state(role, results, several):
    """:func:`_service_account_status` as the table's SA STATUS shows it."""
    if role.get("pattern"):
        return PATTERN
    if (results.get(_label(role, several)) or {}).get("error"):
        return "FAILED"
    return _service_account_status(role, results, several) or "-"


def _rows(outcomes, results, several):
    """The table's rows, each a mapping of its COLUMNS."""
    for outcome in outcomes:
        account = {"ACCOUNT": outcome["account_id"], "HOST": outcome["host"]}
        if outcome.get("error"):
            yield dict(account, PROVIDER="FAILED")
            continue
        providers = outcome.get("providers") or {}
        if not outcome.get("roles"):  # an account with no roles still shows its provider
            yield dict(account, PROVIDER=outcome.get("provider") or "-")
        for role in outcome.get("roles", []):
            provider = providers.get(role.get("cluster")) or outcome.get("provider") or "-"
            if role.get("mode") == "pod_identity" and provider not in ("deleted", "kept"):
                provider = "-"  # it needs none: its row shows its association, and a provider only when it went or stayed
            yield dict(account, CLUSTER=role.get("cluster"), PROVIDER=provider, ASSOCIATION=role.get("association_status") or "-",
                       ROLE=role["arn"] or role["name"], **{"ROLE STATUS": role["status"], "NAMESPACE": role["namespace"],
                                                            "SERVICE ACCOUNT": role["service_account"],
                                                            "SA STATUS": _service_account_state(role, results, several)})
        for item in outcome.get("retired") or []:  # a retired cluster's ServiceAccounts, deleted
            deleted = _retired(item, results, several)
            failed = (results.get(_label(item, several)) or {}).get("error")
            yield dict(account, CLUSTER=item["cluster"], PROVIDER=providers.get(item["cluster"]) or "-", ROLE=item["role"],
                       NAMESPACE=item["namespace"], **{"SERVICE ACCOUNT": item["name"],
                                                       "SA STATUS": "FAILED" if failed else deleted["service_account_status"]})
        shown = {role.get("cluster") for role in outcome.get("roles", [])} | {item["cluster"] for item in outcome.get("retired") or []}
        for cluster, status in providers.items():  # a retired cluster's provider, when no ServiceAccount of ours was there
            if cluster not in shown:
                yield dict(account, CLUSTER=cluster, PROVIDER=status or "-")


def _retired(item, results, several):
    """A retired cluster's ServiceAccount as the summary publishes it, with what its deletion did (None if it failed)."""
    result = results.get(_label(item, several)) or {}
    return {"cluster": item["cluster"], "namespace": item["namespace"], "service_account": item["name"], "role": item["role"],
            "service_account_status": None if result.get("error") else (result.get("status") or {}).get(item["name"])}


def _blueprint_entries(outcomes, results, several):
    """The ServiceAccounts a Torque blueprint can name: of the accounts that succeeded, each role's (not deleted, not a
    pattern) in a namespace whose apply did not fail; ``{host, account_id, role, cluster, namespace, service_account}``,
    and for a spoke role the ``role_arn`` (and ``external_id``) its grain assumes through the hub's ServiceAccount."""
    for outcome in outcomes:
        for role in [] if outcome.get("error") else outcome.get("roles", []):
            # The hub role only lets its ServiceAccount assume the spokes: a grain deploys with a spoke's row.
            if role["status"] != "deleted" and not role.get("pattern") and not role.get("hub_role") \
                    and not (results.get(_label(role, several)) or {}).get("error"):
                yield dict({"host": outcome["host"], "account_id": outcome["account_id"], "role": role["name"],
                            "cluster": role.get("cluster"), "namespace": role["namespace"], "service_account": role["service_account"]},
                           **({"role_arn": role["arn"], "external_id": role.get("external_id")} if role.get("hub") else {}))


def _blueprint_lines(entries, agents, files, blueprint_dir, several):
    """Per namespace, each account's grain ``spec.agent`` (YAML), then where the snippets were written, if asked."""
    groups = {}
    for entry in entries:
        groups.setdefault(_label(entry, several), []).append(entry)
    for label in sorted(groups):
        yield f"Blueprint: the spec.agent of the grain that deploys into each account, in {_group_name(label, several)}:"
        for entry in groups[label]:
            through = f", its AWS provider assuming {entry['role_arn']}" if entry.get("role_arn") else ""
            yield f"  account {entry['account_id']} ({entry['host']}), role {entry['role']}: {agent_line(entry, agents)}{through}"
    if blueprint_dir and files:
        combined = [(path, "target_account" if path.startswith(HUB_FILE_PREFIX) else "service_account")
                    for path in files if not path.startswith("accounts/")]
        yield (f"Blueprint snippets in {blueprint_dir}: accounts/<host>-<account id>.yaml for each account, and "
               + ", ".join(f"{path} (its input {name} picks the account)" for path, name in combined))


def rollout_summary(outcomes, namespace, service_account_results=None, clusters=None, torque_agent=None, blueprint_dir=None):
    """The summary of a rollout: ``{"lines": [...], "accounts": {...}, "failed": [...], ...}``.

    ``service_account_results`` is what the action service_account_groups recorded (its ``results``): per group (its
    namespace, or ``<cluster>/<namespace>`` with several clusters), the ``status`` of each ServiceAccount, or the
    ``error`` that stopped that group. A failed group marks only the roles (and accounts, ``service_account_failed``)
    whose ServiceAccounts it holds. The table has a CLUSTER column, and each published role its ``cluster`` and each
    account its ``providers`` and the ``retired`` clusters' ServiceAccounts it deleted, when the run has more than one
    cluster (``clusters``, ``eks_irsa_run_clusters``); a NAMESPACE column and ``namespace`` likewise. ``lines`` is the
    table and the blueprint hint for people; the rest is the same data for machines (the playbook publishes it with
    set_stats for AWX workflows). ``namespace`` is the inventory's ``eks_irsa_namespace``, published as it was.
    ``blueprints`` holds the Torque blueprint snippets (:func:`~.blueprint.blueprint_files`), whose agents
    ``torque_agent`` (``eks_irsa_torque_agent``) names; the lines say where they were written (``blueprint_dir``).
    """
    results = service_account_results or {}
    cluster_names = [cluster["name"] for cluster in clusters or []]
    several = len(cluster_names) > 1
    outcomes = sorted(outcomes, key=lambda o: (o["account_id"], o["host"]))
    namespaces = sorted({role["namespace"] for o in outcomes for role in o.get("roles", [])})
    pod_identity = any(role.get("mode") for o in outcomes for role in o.get("roles", []))
    shown = [column for column in COLUMNS if (column != "CLUSTER" or several) and (column != "NAMESPACE" or len(namespaces) > 1)
             and (column != "ASSOCIATION" or pod_identity)]
    lines = table_lines(shown, [[row.get(column) or "-" for column in shown] for row in _rows(outcomes, results, several)])
    published_keys = tuple(key for key in PUBLISHED_ROLE_KEYS
                           if (key != "cluster" or several) and (key != "namespace" or len(namespaces) > 1))
    failed = [o for o in outcomes if o.get("error")]
    for outcome in failed:
        lines.append(f"FAILED {outcome['host']} ({outcome['account_id']}): {outcome['error']}")
    lines.extend(f"WARNING {o['host']} ({o['account_id']}): {warning}; it goes once nothing else needs it (run again then)"
                 for o in outcomes for warning in o.get("warnings") or [])
    errors = {label: result["error"] for label, result in sorted(results.items()) if result.get("error")}
    lines.extend(f"FAILED ServiceAccounts in {_group_name(label, several)}: {error}" for label, error in errors.items())
    entries = list(_blueprint_entries(outcomes, results, several))
    agents = checked_torque_agents(torque_agent or None, cluster_names or sorted({entry["cluster"] for entry in entries}, key=str))
    blueprints = blueprint_files(entries, agents, several)
    lines.extend(_blueprint_lines(entries, agents, blueprints, blueprint_dir or None, several))

    def account_error(outcome):
        labels = {_label(role, several) for role in outcome.get("roles", [])} | {_label(item, several) for item in outcome.get("retired") or []}
        return "; ".join(f"{_group_name(label, several)}: {errors[label]}" for label in sorted(labels) if label in errors) or None

    accounts = {
        o["host"]: dict({
            "account_id": o["account_id"],
            "provider": o.get("provider"),
            "error": o.get("error"),
            "warnings": list(o.get("warnings") or []),
            "service_account_error": account_error(o),
            "roles": [dict({key: role[key] for key in published_keys if key in role},
                           service_account_status=_service_account_status(role, results, several))
                      for role in o.get("roles", [])],
        }, **({"providers": o.get("providers") or {}, "retired": [_retired(item, results, several) for item in o.get("retired") or []]}
              if several else {}))
        for o in outcomes
    }
    summary = {"lines": wrap_var(lines), "accounts": accounts, "failed": [o["host"] for o in failed],
               "service_account_failed": [host for host, account in accounts.items() if account["service_account_error"]],
               "namespace": namespace, "namespaces": namespaces,
               "service_account_error": "; ".join(f"{_group_name(label, several)}: {error}" for label, error in errors.items()) or None,
               # Torque's own templates ({{ .inputs.agent }}) are text, never Ansible templates: before ansible-core 2.19 a fact
               # is templated again where it is read, unless it is marked unsafe.
               "blueprints": wrap_var(blueprints)}
    if several:
        summary["clusters"] = cluster_names
    return summary


def rollout_stats(summary):
    """What the rollout publishes with set_stats (:func:`~.summary.published_stats`): ``eks_irsa_rollout``, and each
    account's entry under its own key, which survives the shallow merge of an AWX workflow's sliced job."""
    return published_stats("rollout", summary)


class FilterModule:
    """Rollout filters."""

    def filters(self):
        return {
            "rollout_error": rollout_error,
            "rollout_outcomes": rollout_outcomes,
            "rollout_service_accounts": rollout_service_accounts,
            "rollout_service_account_groups": rollout_service_account_groups,
            "rollout_stats": rollout_stats,
            "rollout_summary": rollout_summary,
        }
