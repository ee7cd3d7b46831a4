# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The accounts of an AWS organization, as the inventory plugin ``torque.eks_irsa.aws_accounts`` lists them.

The organization is walked from its root, one OU at a time: that gives each account its OU path without a
``ListParents`` call per account. Only the OUs asked for (and, when recursive, those under them) have their accounts
listed. Every list is paginated, and every call (each page one) is retried by the collection's policy
(``module_utils.retry``). Errors are :class:`OrganizationError`, whose message names the option to change.
"""

from __future__ import annotations

import fnmatch
import re

try:
    import botocore.exceptions
except ImportError:
    pass  # the plugin reports the missing SDK

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import AWS_RETRY
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import paginate

OU_ID_RE = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
ROOT_ID_RE = re.compile(r"^r-[0-9a-z]{4,32}$")
HOST_NAME_INVALID = re.compile(r"[^a-z0-9_.-]+")
ACTIVE = "ACTIVE"


class OrganizationError(EksIrsaError):
    """What keeps the organization from being listed as asked; the message names the option and the fix."""


def _call(what, function, *args, **kwargs):
    """``function(*args, **kwargs)``, a call under the retry policy, with AWS's refusals explained: the permission the
    credentials lack, and which account."""
    try:
        return function(*args, **kwargs)
    except is_boto3_error_code(("AccessDeniedException", "AccessDenied")) as e:
        raise OrganizationError(
            f"the credentials may not {what} ({e}): use credentials of the organization's management account or of a "
            "delegated administrator (options profile, access_key and secret_key, or assume_role_arn), with "
            "organizations:DescribeOrganization, ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent and "
            "ListTagsForResource (and DescribeAccount and ListParents with include_management_account)") from None
    except is_boto3_error_code("AWSOrganizationsNotInUseException") as e:  # pylint: disable=duplicate-except
        raise OrganizationError(
            f"the credentials' account is not in an AWS organization ({e}): use credentials of the organization's "
            "management account or of a delegated administrator (options profile, access_key and secret_key, or "
            "assume_role_arn)") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        raise OrganizationError(f"could not {what}: {e}") from None


def _paginated(client, operation, key, what, **kwargs):
    return _call(what, paginate, client, operation, key, **kwargs)


class OrganizationTree:
    """The organization's root and OUs: ``paths`` maps an OU or root ID to its path (``/`` for the root,
    ``/Workloads/Prod`` for an OU), ``children`` an ID to its OUs' IDs."""

    def __init__(self, client):
        self.client = client
        organization = _call("describe the organization (organizations:DescribeOrganization)",
                             AWS_RETRY(client.describe_organization))["Organization"]
        self.management_account_id = organization.get("MasterAccountId")
        arn = parse_aws_arn(organization["Arn"])
        if arn is None:
            raise OrganizationError(f"organizations:DescribeOrganization answered {organization['Arn']!r}, which is not an ARN")
        self.partition = arn["partition"]
        self.paths, self.children = {}, {}
        roots = _paginated(client, "list_roots", "Roots", "list the organization's root (organizations:ListRoots)")
        pending = []
        for root in roots:
            self.paths[root["Id"]] = "/"
            pending.append(root["Id"])
        while pending:
            parent = pending.pop()
            units = _paginated(client, "list_organizational_units_for_parent", "OrganizationalUnits",
                               f"list the OUs of {parent} (organizations:ListOrganizationalUnitsForParent)", ParentId=parent)
            self.children[parent] = [unit["Id"] for unit in units]
            for unit in units:
                self.paths[unit["Id"]] = self.paths[parent].rstrip("/") + "/" + unit["Name"]
                pending.append(unit["Id"])

    def resolve(self, given, where):
        """The ID of the root or OU ``given`` (an ID, or a path such as ``/Workloads/Prod``); ``where`` names the option."""
        value = str(given).strip()
        if OU_ID_RE.match(value) or ROOT_ID_RE.match(value):
            if value in self.paths:
                return value
        else:
            path = "/" + value.strip("/")
            matches = [unit for unit, unit_path in self.paths.items() if unit_path == path]
            if matches:
                return matches[0]
        known = ", ".join(sorted(f"{path} ({unit})" for unit, path in self.paths.items()))
        raise OrganizationError(f"{where}: no OU {given!r} in the organization: give an OU ID (ou-...), the root ID (r-...) "
                                f"or a path from the root such as /Workloads/Prod. The organization has: {known}")

    def subtree(self, unit, recursive):
        """``unit`` and, when ``recursive``, every OU under it."""
        units, pending = [], [unit]
        while pending:
            current = pending.pop(0)
            units.append(current)
            if recursive:
                pending.extend(self.children.get(current, []))
        return units


def _tags(client, account_id):
    tags = _paginated(client, "list_tags_for_resource", "Tags",
                      f"list the tags of account {account_id} (organizations:ListTagsForResource)", ResourceId=account_id)
    return {tag["Key"]: tag["Value"] for tag in tags}


def is_active(account):
    """ACTIVE, by the account's ``State`` (or the older ``Status``, for APIs that have only that)."""
    return (account.get("State") or account.get("Status")) == ACTIVE


def organization_accounts(client, units=None, recursive=True, include=None, exclude=None, management=False):
    """``{management_account_id, partition, accounts}``: every ACTIVE account under ``units`` (IDs or paths; the whole
    organization when empty) that the ID and name patterns keep (``include``: any, when given; ``exclude``: none), and
    with ``management`` the management account, wherever it is; once each, in the order found (the management account
    last when outside ``units``), as ``{id, name, email, arn, ou_id, ou_path, tags}``. Tags are read only for the
    accounts kept."""
    tree = OrganizationTree(client)
    selected = [tree.resolve(unit, f"organizational_units[{index}]") for index, unit in enumerate(units or [])] or \
        [unit for unit, path in tree.paths.items() if path == "/"]
    accounts, seen = [], set()
    for unit in (unit for top in selected for unit in tree.subtree(top, recursive or not units)):
        listed = _paginated(client, "list_accounts_for_parent", "Accounts",
                            f"list the accounts of {tree.paths[unit]} (organizations:ListAccountsForParent)", ParentId=unit)
        for account in listed:
            if account["Id"] in seen or not is_active(account) or not _kept(account, tree.management_account_id, management,
                                                                            include, exclude):
                continue
            seen.add(account["Id"])
            accounts.append(_account(client, account, unit, tree.paths[unit]))
    if management and tree.management_account_id not in seen:
        found = _management_account(client, tree)
        if found is not None:
            accounts.append(found)
    return {"management_account_id": tree.management_account_id, "partition": tree.partition, "accounts": accounts}


def _kept(account, management_account_id, management, include, exclude):
    # The management account is there when include_management_account asks for it, whatever the patterns: that option
    # names this one account, and patterns written to pick member accounts should not silently undo it.
    if account["Id"] == management_account_id:
        return management
    found = {"id": account["Id"], "name": account.get("Name") or account["Id"]}
    return not ((include and not matches_any(found, include)) or matches_any(found, exclude or []))


def _account(client, account, unit, path):
    return {"id": account["Id"], "name": account.get("Name") or account["Id"], "email": account.get("Email"),
            "arn": account.get("Arn"), "ou_id": unit, "ou_path": path, "tags": _tags(client, account["Id"])}


def _management_account(client, tree):
    """The management account, read by its ID (it is outside the OUs listed); None when it is not ACTIVE."""
    account_id = tree.management_account_id
    account = _call(f"describe the management account {account_id} (organizations:DescribeAccount)", AWS_RETRY(client.describe_account),
                    AccountId=account_id)["Account"]
    if not is_active(account):
        return None
    parents = _paginated(client, "list_parents", "Parents",
                         f"list the parent of the management account {account_id} (organizations:ListParents)", ChildId=account_id)
    unit = parents[0]["Id"]
    return _account(client, account, unit, tree.paths.get(unit, "/"))


def matches_any(account, patterns):
    """Whether the account's ID or name matches one of the shell-style ``patterns`` (case-sensitive)."""
    return any(fnmatch.fnmatchcase(account["id"], pattern) or fnmatch.fnmatchcase(account["name"], pattern)
               for pattern in patterns)


def has_tags(account, wanted):
    """Whether the account has every tag of ``wanted`` (key -> a value or a list of values, ``*`` for any value)."""
    for key, values in (wanted or {}).items():
        values = values if isinstance(values, (list, tuple)) else [values]
        if key not in account["tags"] or not any(fnmatch.fnmatchcase(account["tags"][key], str(value)) for value in values):
            return False
    return True


def host_name(value, account_id):
    """``value`` made a host name: lower-case, each run of characters other than letters, digits, ``_.-`` one ``-``;
    the account ID when nothing is left."""
    name = HOST_NAME_INVALID.sub("-", str(value).lower()).strip("-.")
    return name or account_id


def unique_host_names(named):
    """``named``: ``[(host name, account)]``. Refuses two accounts with one host name, naming both."""
    owners = {}
    for name, account in named:
        other = owners.setdefault(name, account)
        if other is not account:
            raise OrganizationError(
                f"hostname: accounts {other['id']} ({other['name']}) and {account['id']} ({account['name']}) both get the host "
                f"name {name!r}: set hostname to a template that tells them apart, such as "
                "\"{{ account_name }}-{{ account_id }}\"")
    return named
