# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The preflight of a whole inventory, in the controller: every account checked in one task, every problem reported.

The rollout, teardown and verify playbooks start with these checks. They run once for the inventory, not once per
account: at a hundred accounts a task per account costs a forked worker each, and checks need none. Each account's
first problem is reported, all accounts together, before anything is written anywhere; the messages are those of the
roles' own preflights (the same filters), prefixed with the inventory host.
"""

import json
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.filter.checks import checked_account_id
from ansible_collections.torque.eks_irsa.plugins.filter.checks import checked_external_id
from ansible_collections.torque.eks_irsa.plugins.filter.checks import checked_issuer
from ansible_collections.torque.eks_irsa.plugins.filter.checks import checked_role_arn
from ansible_collections.torque.eks_irsa.plugins.filter.rollout import checked_unique_service_accounts
from ansible_collections.torque.eks_irsa.plugins.filter.web_identity_roles import web_identity_role_params

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
CLUSTER_TAG = "eks-irsa:cluster"


def _missing(host_vars):
    """What an account's entry lacks or has in the wrong shape, which no role check can name: the inventory's own names."""
    problems = []
    if not str(host_vars.get("eks_irsa_account_id") or ""):
        problems.append("eks_irsa_account_id is not set: give the 12-digit ID of the account as a host variable, quoted")
    if not host_vars.get("eks_irsa_cluster_name") and "eks_irsa_issuer" not in host_vars:
        problems.append("eks_irsa_cluster_name is not set: give the name of the EKS cluster whose pods get the roles "
                        "(or its issuer URL as eks_irsa_issuer)")
    if not host_vars.get("eks_irsa_namespace"):
        problems.append("eks_irsa_namespace is not set: give the Kubernetes namespace the ServiceAccounts go in")
    roles = host_vars.get("eks_irsa_roles")
    if roles is None:
        problems.append("eks_irsa_roles is not set: list the roles of the account, for example [{name: torque-runner}]")
    elif isinstance(roles, (str, bytes)) or not isinstance(roles, (list, tuple)) or not all(isinstance(r, dict) for r in roles):
        problems.append(f"eks_irsa_roles {json.dumps(roles, default=str)} is not a list of roles: write each role as a mapping, "
                        "for example [{name: torque-runner}]")
    region = host_vars.get("eks_irsa_region")
    if region is not None and not _REGION.match(str(region)):
        problems.append(f"eks_irsa_region {json.dumps(region, default=str)} is not an AWS region name: write it like eu-west-1")
    return problems


def _refuse(problems):
    """Fail with every account's problem, one per line, each naming its host."""
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise AnsibleFilterError(f"The inventory has {count}; nothing was written. Fix and run again:\n" + "\n".join(problems))


def checked_inventory(hosts, hostvars):
    """The hosts, unchanged, when every account's entry sets what it needs (before the issuer can be looked up)."""
    problems = [f"{host}: {problem}" for host in hosts for problem in _missing(hostvars[host])]
    _refuse(problems)
    return list(hosts)


def _account_plan(host, host_vars, issuer_lookup):
    account_id = checked_account_id(host_vars.get("eks_irsa_account_id"), "target_account_id", host)
    issuer = host_vars.get("eks_irsa_issuer") if "eks_irsa_issuer" in host_vars else issuer_lookup
    assume_role_arn = host_vars.get("eks_irsa_assume_role_arn")
    tags = {CLUSTER_TAG: host_vars.get("eks_irsa_cluster_name")}
    tags.update(host_vars.get("eks_irsa_tags") or {})
    return {
        "account_id": account_id,
        "assume_role_arn": checked_role_arn(assume_role_arn, account_id, "target_account_assume_role_arn", host) if assume_role_arn else None,
        "external_id": checked_external_id(host_vars.get("eks_irsa_external_id"), "target_account_external_id", host),
        "issuer": checked_issuer(issuer, "oidc_provider_issuer", host),
        "tags": tags,
        "roles": web_identity_role_params(host_vars.get("eks_irsa_roles"), issuer, host_vars.get("eks_irsa_namespace"), account_id,
                                          host=host, service_account_suffix=host, tags=tags),
    }


def account_plans(hosts, hostvars, issuer_lookup=None):
    """``{host: {account_id, assume_role_arn, external_id, issuer, tags, roles}}`` for every account, all checked.

    ``roles`` is the account's web_identity_role plan (``[{service_account, params}]``); ``issuer_lookup`` is the
    issuer the preflight looked up, used by every host that does not give ``eks_irsa_issuer`` itself. Fails, naming
    each bad account, when any account's values are wrong, or two accounts claim one ServiceAccount or role.
    """
    plans, problems = {}, []
    for host in hosts:
        try:
            plans[host] = _account_plan(host, hostvars[host], issuer_lookup)
        except AnsibleFilterError as e:
            problems.append(e.message)
    _refuse(problems)
    try:
        checked_unique_service_accounts({host: plan["roles"] for host, plan in plans.items()})
    except AnsibleFilterError as e:
        _refuse([e.message])
    return plans


class FilterModule:
    """Whole-inventory preflight filters."""

    def filters(self):
        return {
            "checked_inventory": checked_inventory,
            "account_plans": account_plans,
        }
