# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters for the teardown playbook: what was removed (or kept, or failed) in each account, as the summary says it."""

from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.torque.eks_irsa.plugins.filter.rollout import rollout_outcomes
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.summary import published_stats
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.summary import table_lines

COLUMNS = ("ACCOUNT", "HOST", "CLUSTER", "PROVIDER", "ROLE", "ROLE STATUS")


def _roles(outcome):
    """The account's roles once each (the outcome has one entry per trusted ServiceAccount), in the plan's order."""
    seen = {}
    for role in outcome.get("roles") or []:
        seen.setdefault(role["name"], {"name": role["name"], "arn": role.get("arn"), "status": role["status"]})
    return list(seen.values())


def _rows(outcome, several):
    """The table's rows: with one cluster a row per role, its provider's status on each (as the rollout's table); with
    several, a row per cluster's provider, then a row per role."""
    account = {"ACCOUNT": outcome["account_id"], "HOST": outcome["host"]}
    if outcome.get("error"):
        yield dict(account, PROVIDER="FAILED")
        return
    providers, roles = outcome.get("providers") or {}, _roles(outcome)
    if several:
        for cluster, status in providers.items():
            yield dict(account, CLUSTER=cluster, PROVIDER=status)
    provider = None if several else next(iter(providers.values()), None)
    for role in roles or ([] if several else [None]):
        yield dict(account, PROVIDER=provider, **({"ROLE": role["name"], "ROLE STATUS": role["status"]} if role else {}))


def teardown_summary(hosts, hostvars, clusters=None):
    """The summary of a teardown: ``{"lines", "accounts", "failed"}``.

    Each account (keyed by host): ``account_id``, ``providers`` (``{cluster: status}``: ``deleted``, ``ok`` when there was
    none, ``kept`` when roles outside the run still trust it or someone else made it), ``roles`` (``[{name, arn,
    status}]``), ``warnings`` (each kept provider, why) and ``error`` (why the account failed, or None). ``lines`` is the
    table, then a ``FAILED`` line per failed account and a ``WARNING`` line per kept provider.
    """
    several = len(clusters or []) > 1
    outcomes = sorted(rollout_outcomes(hosts, hostvars), key=lambda o: (o["account_id"], o["host"]))
    shown = [column for column in COLUMNS if column != "CLUSTER" or several]
    lines = table_lines(shown, [[row.get(column) or "-" for column in shown] for outcome in outcomes for row in _rows(outcome, several)])
    lines.extend(f"FAILED {o['host']} ({o['account_id']}): {o['error']}" for o in outcomes if o.get("error"))
    lines.extend(f"WARNING {o['host']} ({o['account_id']}): {warning}; delete it once nothing else needs it, or run the teardown "
                 "again then" for o in outcomes for warning in o.get("warnings") or [])
    accounts = {o["host"]: {"account_id": o["account_id"], "providers": o.get("providers") or {}, "roles": _roles(o),
                            "warnings": list(o.get("warnings") or []), "error": o.get("error")} for o in outcomes}
    return {"lines": wrap_var(lines), "accounts": accounts, "failed": [o["host"] for o in outcomes if o.get("error")]}


def teardown_stats(summary):
    """What the teardown publishes with set_stats (:func:`~.summary.published_stats`): ``eks_irsa_teardown``, and each
    account's entry under its own key, which survives the shallow merge of an AWX workflow's sliced job."""
    return published_stats("teardown", summary)


class FilterModule:
    """Teardown filters."""

    def filters(self):
        return {"teardown_stats": teardown_stats, "teardown_summary": teardown_summary}
