# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Turn a target account's role list into iam_web_identity_role options, validated as the module does.

The web_identity_role role runs this in its preflight, on the controller: every role of every account is
checked with the module's own argument spec and checks before the rollout writes anything anywhere.
"""

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import with_owner_tag
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustPolicyError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validated_role_options

# Role settings passed through to the module unchanged.
PASSED_THROUGH = ("path", "description", "managed_policies", "inline_policies", "permissions_boundary", "max_session_duration", "adopt")
# The keys of one role entry (roles/web_identity_role/meta/argument_specs.yml, web_identity_role_roles.options): a key
# outside them is a typo that would otherwise be ignored silently.
ROLE_ENTRY_KEYS = frozenset(PASSED_THROUGH + ("name", "service_account", "tags"))
# IAM's limits (CreateRole, TagRole): checked here so that the rollout stops before it writes, not halfway.
DESCRIPTION_MAX_LENGTH = 1000
MAX_TAGS = 50
TAG_KEY_MAX_LENGTH = 128
TAG_VALUE_MAX_LENGTH = 256
_TAG_TEXT_RE = re.compile(r"^[\w\s.:/=+@-]*$")


def plain_data(value):
    """``value`` as plain dicts, lists, strings and numbers: the templated values of inventory variables, untagged.

    Ansible hands filters lazily templated containers that carry their whole variable context; the module's
    argument validation deep-copies what it is given, which for those costs a tenth of a second per role.
    """
    if isinstance(value, Mapping):
        return {plain_data(key): plain_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(item) for item in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def default_service_account(role_name, suffix):
    """``<role name>-<suffix>`` as a Kubernetes name: one ServiceAccount per role and account in a shared namespace.

    Lower-cased, and each run of characters a ServiceAccount name cannot hold (IAM role names allow
    ``_+=,@``, inventory host names ``_``) becomes one ``-``, so that an inventory host such as
    ``prod_eu`` gets a valid default instead of a preflight error about a name the user never wrote.
    """
    name = f"{role_name}-{suffix}" if suffix else str(role_name)
    return re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")


SERVICE_ACCOUNT_TAG_KEY = "eks-irsa:service-account"


def _module_params(role, issuer, namespace, service_account, account_id, tags, state, trust_policy_mode):
    params = {key: role[key] for key in PASSED_THROUGH if role.get(key) is not None}
    params.update(
        name=role.get("name"),
        state=state,
        account_id=account_id,
        trust_policy_mode=trust_policy_mode,
        purge_tags=False,  # tags set outside the inventory are kept (the ownership tag is kept anyway)
        # The ServiceAccount a role serves is recorded on it, so a person looking at IAM can tell.
        tags=dict(tags or {}, **(role.get("tags") or {}), **{SERVICE_ACCOUNT_TAG_KEY: f"{namespace}/{service_account}"}),
    )
    if state == "present":
        params["trust"] = [{"issuer": issuer, "service_accounts": [f"{namespace}:{service_account}"]}]
    return params


def _tags_problem(tags):
    """Why IAM would refuse ``tags``, or None: at most 50, keys of 1 to 128 and values of up to 256 characters."""
    if len(tags) > MAX_TAGS:
        return (f"{len(tags)} tags with the collection's ownership tag, but IAM allows at most {MAX_TAGS} per role or "
                "provider: drop some")
    for key, value in tags.items():
        key, value = str(key), "" if value is None else str(value)
        if not 1 <= len(key) <= TAG_KEY_MAX_LENGTH or not _TAG_TEXT_RE.match(key) or key.lower().startswith("aws:"):
            return (f"tag key {key!r} is not a valid IAM tag key: use 1 to {TAG_KEY_MAX_LENGTH} letters, digits, spaces and "
                    "_ . : / = + - @, not starting with aws:")
        if len(value) > TAG_VALUE_MAX_LENGTH or not _TAG_TEXT_RE.match(value):
            return (f"the value of tag {key!r} is not a valid IAM tag value: use up to {TAG_VALUE_MAX_LENGTH} letters, digits, "
                    "spaces and _ . : / = + - @")
    return None


def _role_problem(role, params):
    """Why IAM would refuse a role the module's own checks let through (its description or tags), or None."""
    description = role.get("description")
    if description is not None and len(str(description)) > DESCRIPTION_MAX_LENGTH:
        return f"description is {len(str(description))} characters; IAM accepts at most {DESCRIPTION_MAX_LENGTH}: shorten it"
    problem = _tags_problem(with_owner_tag(params["tags"]))
    return f"tags (with web_identity_role_tags): {problem}" if problem else None


def web_identity_role_params(roles, issuer, namespace, account_id, host="", service_account_suffix="", tags=None, state="present",
                             trust_policy_mode="exclusive"):
    """``[{"service_account": name, "params": module options}]`` for each role, or an error naming host and field."""
    prefix = f"{host}: " if host else ""
    roles, tags = plain_data(roles), plain_data(tags)
    if not roles and state == "present":
        raise AnsibleFilterError(
            f"{prefix}web_identity_role_roles is empty: list at least one role for this account, for example "
            "[{name: torque-runner}] (eks_irsa_roles in the rollout inventory), or leave the host out of the inventory")
    planned, seen, names = [], {}, {}
    for index, role in enumerate(roles or []):
        where = f"{prefix}web_identity_role_roles[{index}]"
        if not isinstance(role, dict) or not role.get("name"):
            raise AnsibleFilterError(f"{where}: each role needs at least a 'name' (the IAM role name)")
        unknown = sorted(set(role) - ROLE_ENTRY_KEYS)
        if unknown:
            raise AnsibleFilterError(
                f"{where} ({role['name']}): unsupported parameters {', '.join(f'web_identity_role_roles.{key}' for key in unknown)} "
                f"(a typo?). Supported parameters include: {', '.join(sorted(ROLE_ENTRY_KEYS))}")
        # IAM role names are unique without regard to case: a second entry would rewrite the first one's trust on every run.
        folded = str(role["name"]).lower()
        if folded in names:
            raise AnsibleFilterError(
                f"{where} ({role['name']}): the role is already listed as web_identity_role_roles[{names[folded]}]; IAM role names "
                "are unique in an account (whatever the case), so list each role once, or give this one another name")
        names[folded] = index
        service_account = role.get("service_account") or default_service_account(role["name"], service_account_suffix)
        if service_account in seen:
            raise AnsibleFilterError(
                f"{where} ({role['name']}): service account {service_account!r} is already used by role {seen[service_account]!r}; "
                "one ServiceAccount carries one role ARN, so give each role its own service_account")
        seen[service_account] = role["name"]
        params = _module_params(role, issuer, namespace, service_account, account_id, tags, state, trust_policy_mode)
        try:
            validated_role_options(params)
        except TrustPolicyError as e:
            raise AnsibleFilterError(f"{where} ({role['name']}): {e}") from None  # the message already says why; Ansible would append the cause again
        problem = _role_problem(role, params) if state == "present" else None
        if problem:
            raise AnsibleFilterError(f"{where} ({role['name']}): {problem}")
        # The module gets the options as given (it fills its own defaults), now known to be valid.
        planned.append({"service_account": service_account, "params": params})
    return planned


def web_identity_role_outcome(result):
    """``{name, arn, status, service_account}`` from one looped iam_web_identity_role result."""
    item = result["item"]
    return {
        "name": item["params"]["name"],
        "arn": result.get("arn"),
        "status": result.get("status", "ok"),
        "service_account": item["service_account"],
    }


class FilterModule:
    """Web identity role filters."""

    def filters(self):
        return {
            "web_identity_role_params": web_identity_role_params,
            "web_identity_role_outcome": web_identity_role_outcome,
        }
