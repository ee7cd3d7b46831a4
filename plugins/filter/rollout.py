# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters for the rollout playbook: collect each account's outcome, the ServiceAccounts, the summary."""

import os
import re

from ansible_collections.torque.eks_irsa.plugins.module_utils.plan import by_namespace
from ansible_collections.torque.eks_irsa.plugins.module_utils.plan import creates_namespace
from ansible_collections.torque.eks_irsa.plugins.module_utils.plan import role_source
from ansible_collections.torque.eks_irsa.plugins.module_utils.table import table_lines
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import WILDCARDS

HEADER = ["ACCOUNT", "HOST", "PROVIDER", "ROLE", "ROLE STATUS", "NAMESPACE", "SERVICE ACCOUNT", "SA STATUS"]
NAMESPACE_COLUMN = HEADER.index("NAMESPACE")
# What the summary publishes of a role (set_stats eks_irsa_rollout); ``adopt`` and ``source`` only steer the apply.
# ``namespace`` only when the run has several: with one, it is the summary's ``namespace``, and the table and the
# published data keep the shape they had before namespaces could differ.
PUBLISHED_ROLE_KEYS = ("name", "arn", "status", "namespace", "service_account")
PATTERN = "(pattern)"  # the SA STATUS of a wildcard subject: trusted, and no ServiceAccount of that name is applied


def rollout_outcomes(hosts, hostvars):
    """Each account's outcome, from what its irsa_account task registered (and its plan, for the account ID).

    ``{host, account_id, provider, roles: [{name, arn, status, namespace, service_account, pattern}], error}``, a role per
    ServiceAccount it trusts (``pattern``: a wildcard subject); ``error`` is the message the account's rescue recorded
    (``eks_irsa_error``), or None.
    """
    outcomes = []
    for host in hosts:
        facts = hostvars[host]
        error = facts.get("eks_irsa_error")
        result = facts.get("eks_irsa_account_result") or {}
        plan = (facts.get("eks_irsa_plan") or {}).get(host) or {}
        planned = {entry["params"]["name"]: (index, entry) for index, entry in enumerate(plan.get("roles") or [])}
        roles = []
        for name, role in (result.get("roles") or {}).items():
            index, entry = planned.get(name, (None, {"params": {}}))
            for subject in role.get("service_accounts") or []:
                namespace, service_account = subject.split(":", 1)
                roles.append({"name": name, "arn": role.get("arn"), "status": role.get("status", "ok"),
                              "namespace": namespace, "service_account": service_account, "pattern": bool(WILDCARDS.intersection(subject)),
                              "adopt": bool(entry["params"].get("adopt")),
                              "source": role_source(host, index, name) if index is not None else host})
        outcomes.append({
            "host": host,
            "account_id": plan.get("account_id", facts.get("eks_irsa_account_id")),
            "provider": None if error else (result.get("provider") or {}).get("status"),
            "roles": [] if error else roles,
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
            if role.get("arn") and role.get("status") != "deleted" and not role.get("pattern"):
                items.append({"namespace": role["namespace"], "name": role["service_account"], "role_arn": role["arn"],
                              "adopt": role.get("adopt", False), "source": role.get("source")})
    return items


def rollout_service_account_groups(outcomes, create_namespace=False, render_dir=None):
    """:func:`rollout_service_accounts` by namespace: ``[{"namespace", "service_accounts", "create_namespace", "render_dir"?}]``, what
    the service_account role's ``groups`` entry point applies, one namespace at a time.

    ``create_namespace`` is ``eks_irsa_create_namespace`` (true, false, or the namespaces to create). Rendered, the
    manifests of one namespace go in ``render_dir`` itself; of several, in a directory per namespace within it.
    """
    groups = by_namespace(rollout_service_accounts(outcomes))
    for group in groups:
        group["create_namespace"] = creates_namespace(create_namespace, group["namespace"])
        if render_dir:
            group["render_dir"] = render_dir if len(groups) == 1 else os.path.join(render_dir, group["namespace"])
    return groups


def rollout_error(failed_result, failed_task=None):
    """One line saying why a task failed; for a loop, the message of its first failed item, after the item's label.

    irsa_account names a role by its place in ``roles``, which the rollout fills from ``eks_irsa_roles`` in order: the
    message names the inventory variable instead.
    """
    failed_result = failed_result or {}
    for item in failed_result.get("results") or []:
        if item.get("failed") and item.get("msg"):
            label = item.get("ansible_loop_var") and item.get("_ansible_item_label")
            return f"{label}: {item['msg']}" if label else item["msg"]
    message = failed_result.get("msg")
    if message:
        return re.sub(r"^roles\[(\d+)\]", r"eks_irsa_roles[\1]", message)
    return f"task {failed_task.get('name') if isinstance(failed_task, dict) else failed_task} failed"


def _service_account_status(role, results):
    """What the apply did to the role's ServiceAccount; None for a pattern, a failed namespace, or one not applied."""
    result = results.get(role["namespace"]) or {}
    if role.get("pattern") or result.get("error"):
        return None
    return (result.get("status") or {}).get(role["service_account"])


def _service_account_state(role, results):
    """:func:`_service_account_status` as the table's SA STATUS shows it."""
    if role.get("pattern"):
        return PATTERN
    if (results.get(role["namespace"]) or {}).get("error"):
        return "FAILED"
    return _service_account_status(role, results) or "-"


def _rows(outcomes, results):
    for outcome in outcomes:
        if outcome.get("error"):
            yield [outcome["account_id"], outcome["host"], "FAILED", "-", "-", "-", "-", "-"]
            continue
        if not outcome.get("roles"):  # an account with no roles still shows its provider
            yield [outcome["account_id"], outcome["host"], outcome.get("provider") or "-", "-", "-", "-", "-", "-"]
        for role in outcome.get("roles", []):
            yield [outcome["account_id"], outcome["host"], outcome.get("provider") or "-", role["arn"] or role["name"],
                   role["status"], role["namespace"], role["service_account"], _service_account_state(role, results)]


def _without(cells, index):
    return cells[:index] + cells[index + 1:]


def _blueprint(outcomes, results):
    """Per namespace whose ServiceAccounts were applied, the one that deploys into each account (Torque's runner-namespace)."""
    hints = {}
    for outcome in outcomes:
        for role in [] if outcome.get("error") else outcome.get("roles", []):
            if role["status"] != "deleted" and not role.get("pattern") and not (results.get(role["namespace"]) or {}).get("error"):
                hints.setdefault(role["namespace"], []).append(
                    f"  account {outcome['account_id']} ({outcome['host']}): {role['service_account']}  (role {role['name']})")
    for namespace in sorted(hints):
        yield f"Blueprint: in namespace {namespace}, use the service account that deploys into each account:"
        yield from hints[namespace]


def rollout_summary(outcomes, namespace, service_account_results=None):
    """The summary of a rollout: ``{"lines": [...], "accounts": {...}, "failed": [...], ...}``.

    ``service_account_results`` is what the service_account role's ``groups`` entry point recorded: per namespace, the
    ``status`` of each ServiceAccount, or the ``error`` that stopped that namespace. A failed namespace marks only the
    roles (and accounts, ``service_account_failed``) whose ServiceAccounts it holds. The table has a NAMESPACE column, and
    each published role its ``namespace``, when the run has more than one. ``lines`` is the table and the
    blueprint hint for people; the rest is the same data for machines (the playbook publishes it with set_stats for AWX
    workflows). ``namespace`` is the inventory's ``eks_irsa_namespace``, published as it was.
    """
    results = service_account_results or {}
    outcomes = sorted(outcomes, key=lambda o: (o["account_id"], o["host"]))
    namespaces = sorted({role["namespace"] for o in outcomes for role in o.get("roles", [])})
    rows = list(_rows(outcomes, results))
    if len(namespaces) > 1:
        lines = table_lines(HEADER, rows)
    else:
        lines = table_lines(_without(HEADER, NAMESPACE_COLUMN), [_without(row, NAMESPACE_COLUMN) for row in rows])
    published_keys = PUBLISHED_ROLE_KEYS if len(namespaces) > 1 else tuple(k for k in PUBLISHED_ROLE_KEYS if k != "namespace")
    failed = [o for o in outcomes if o.get("error")]
    for outcome in failed:
        lines.append(f"FAILED {outcome['host']} ({outcome['account_id']}): {outcome['error']}")
    errors = {name: result["error"] for name, result in sorted(results.items()) if result.get("error")}
    lines.extend(f"FAILED ServiceAccounts in namespace {name}: {error}" for name, error in errors.items())
    lines.extend(_blueprint(outcomes, results))

    def account_error(outcome):
        found = sorted({role["namespace"] for role in outcome.get("roles", []) if role["namespace"] in errors})
        return "; ".join(f"namespace {name}: {errors[name]}" for name in found) or None

    accounts = {
        o["host"]: {
            "account_id": o["account_id"],
            "provider": o.get("provider"),
            "error": o.get("error"),
            "service_account_error": account_error(o),
            "roles": [dict({key: role[key] for key in published_keys if key in role},
                           service_account_status=_service_account_status(role, results))
                      for role in o.get("roles", [])],
        }
        for o in outcomes
    }
    return {"lines": lines, "accounts": accounts, "failed": [o["host"] for o in failed],
            "service_account_failed": [host for host, account in accounts.items() if account["service_account_error"]],
            "namespace": namespace, "namespaces": namespaces,
            "service_account_error": "; ".join(f"namespace {name}: {error}" for name, error in errors.items()) or None}


class FilterModule:
    """Rollout filters."""

    def filters(self):
        return {
            "rollout_error": rollout_error,
            "rollout_outcomes": rollout_outcomes,
            "rollout_service_accounts": rollout_service_accounts,
            "rollout_service_account_groups": rollout_service_account_groups,
            "rollout_summary": rollout_summary,
        }
