# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters for the rollout playbook: collect each account's outcome, the ServiceAccounts, the summary."""

import re

from ansible_collections.torque.eks_irsa.plugins.module_utils.plan import role_source
from ansible_collections.torque.eks_irsa.plugins.module_utils.table import table_lines

HEADER = ["ACCOUNT", "HOST", "PROVIDER", "ROLE", "ROLE STATUS", "SERVICE ACCOUNT", "SA STATUS"]
# What the summary publishes of a role (set_stats eks_irsa_rollout); ``adopt`` and ``source`` only steer the apply.
PUBLISHED_ROLE_KEYS = ("name", "arn", "status", "service_account")


def rollout_outcomes(hosts, hostvars):
    """Each account's outcome, from what its irsa_account task registered (and its plan, for the account ID).

    ``{host, account_id, provider, roles: [{name, arn, status, service_account}], error}``, a role per ServiceAccount
    it trusts; ``error`` is the message the account's rescue recorded (``eks_irsa_error``), or None.
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
            for service_account in role.get("service_accounts") or []:
                roles.append({"name": name, "arn": role.get("arn"), "status": role.get("status", "ok"),
                              "service_account": service_account.split(":", 1)[1],
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
    """The ServiceAccounts to apply: one per role of every account that succeeded, with that role's ARN."""
    items = []
    for outcome in outcomes:
        if outcome.get("error"):
            continue
        for role in outcome.get("roles", []):
            if role.get("arn") and role.get("status") != "deleted":
                items.append({"name": role["service_account"], "role_arn": role["arn"], "adopt": role.get("adopt", False),
                              "source": role.get("source")})
    return items


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


def _rows(outcomes, service_account_status, service_account_error):
    for outcome in outcomes:
        if outcome.get("error"):
            yield [outcome["account_id"], outcome["host"], "FAILED", "-", "-", "-", "-"]
            continue
        if not outcome.get("roles"):  # an account with no roles still shows its provider
            yield [outcome["account_id"], outcome["host"], outcome.get("provider") or "-", "-", "-", "-", "-"]
        for role in outcome.get("roles", []):
            sa_state = "FAILED" if service_account_error else service_account_status.get(role["service_account"], "-")
            yield [outcome["account_id"], outcome["host"], outcome.get("provider") or "-", role["arn"] or role["name"],
                   role["status"], role["service_account"], sa_state]


def rollout_summary(outcomes, namespace, service_account_status=None, service_account_error=None):
    """The summary of a rollout: ``{"lines": [...], "accounts": {...}, "failed": [...]}``.

    ``lines`` is the table and the blueprint hint for people; ``accounts`` and ``failed`` are the same
    data for machines (the playbook publishes them with set_stats for AWX workflows).
    """
    service_account_status = service_account_status or {}
    outcomes = sorted(outcomes, key=lambda o: (o["account_id"], o["host"]))
    lines = table_lines(HEADER, list(_rows(outcomes, service_account_status, service_account_error)))
    failed = [o for o in outcomes if o.get("error")]
    for outcome in failed:
        lines.append(f"FAILED {outcome['host']} ({outcome['account_id']}): {outcome['error']}")
    if service_account_error:
        lines.append(f"FAILED ServiceAccounts in namespace {namespace}: {service_account_error}")
    hints = [(o, role) for o in outcomes if not o.get("error") for role in o.get("roles", []) if role["status"] != "deleted"]
    if hints and not service_account_error:
        lines.append(f"Blueprint: in namespace {namespace}, use the service account that deploys into each account:")
        lines.extend(f"  account {o['account_id']} ({o['host']}): {role['service_account']}  (role {role['name']})" for o, role in hints)
    accounts = {
        o["host"]: {
            "account_id": o["account_id"],
            "provider": o.get("provider"),
            "error": o.get("error"),
            "roles": [dict({key: role[key] for key in PUBLISHED_ROLE_KEYS if key in role},
                           service_account_status=service_account_status.get(role["service_account"]))
                      for role in o.get("roles", [])],
        }
        for o in outcomes
    }
    return {"lines": lines, "accounts": accounts, "failed": [o["host"] for o in failed],
            "namespace": namespace, "service_account_error": service_account_error}


class FilterModule:
    """Rollout filters."""

    def filters(self):
        return {
            "rollout_error": rollout_error,
            "rollout_outcomes": rollout_outcomes,
            "rollout_service_accounts": rollout_service_accounts,
            "rollout_summary": rollout_summary,
        }
