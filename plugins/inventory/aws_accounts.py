# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: aws_accounts
short_description: The accounts of an AWS organization as rollout targets, one host per account
version_added: 1.0.0
description:
  - Lists the ACTIVE accounts of the AWS organization (all of them, or those under some OUs), keeps those that the
    name, ID and tag filters select, and adds each as a host of the group C(eks_irsa_accounts) with the variables the
    rollout reads, C(eks_irsa_account_id) and C(eks_irsa_assume_role_arn), and the account's name, e-mail, ARN, OU
    and tags.
  - The rest of the rollout inventory (cluster, namespace, roles) goes into C(group_vars/eks_irsa_accounts.yml) next to
    this file, or into another inventory source given with a second C(-i).
  - The credentials must be those of the organization's management account or of a delegated administrator for AWS
    Organizations, or assume a role there with O(assume_role_arn). They need C(organizations:DescribeOrganization),
    C(ListRoots), C(ListOrganizationalUnitsForParent), C(ListAccountsForParent) and C(ListTagsForResource), and with
    O(include_management_account) C(DescribeAccount) and C(ListParents).
  - Every AWS call, each page of a list one, and the C(sts:AssumeRole) of O(assume_role_arn), is retried as the
    collection's modules retry theirs (throttling, outages, dropped connections), each giving up within 120 seconds.
  - The inventory file's name must end in C(aws_accounts.yml) or C(aws_accounts.yaml).
  - When the organization cannot be listed as asked, the source fails to parse with a message naming the option and
    the fix. Ansible then warns and goes on without its hosts, so the rollout stops at its first check (no hosts);
    set C(ANSIBLE_INVENTORY_UNPARSED_FAILED=true) to make that an error of the inventory itself.
extends_documentation_fragment:
  - inventory_cache
  - constructed
  - amazon.aws.boto3
  - amazon.aws.common.plugins
  - amazon.aws.region.plugins
  - amazon.aws.assume_role.plugins
options:
  plugin:
    description: The name of this plugin; it must always be set to V(torque.eks_irsa.aws_accounts).
    required: true
    choices: [torque.eks_irsa.aws_accounts]
    type: str
  organizational_units:
    description:
      - The OUs whose accounts to list, each an OU ID (C(ou-...)), the root ID (C(r-...)), or a path of OU names from
        the root such as C(/Workloads/Prod) (case-sensitive; C(/) is the root).
      - Empty, the whole organization.
    type: list
    elements: str
    default: []
  recursive:
    description: With O(organizational_units), list the accounts of the OUs under them too.
    type: bool
    default: true
  include_accounts:
    description:
      - Keep only the accounts whose ID or name matches one of these shell-style patterns (C(*), C(?), C([...])).
      - Empty, every account.
    type: list
    elements: str
    default: []
  exclude_accounts:
    description: Leave out the accounts whose ID or name matches one of these shell-style patterns.
    type: list
    elements: str
    default: []
  account_tags:
    description:
      - Keep only the accounts that have every tag given here, with the value given (a shell-style pattern, C(*) for
        any value) or one of a list of values.
    type: dict
    default: {}
  include_management_account:
    description:
      - Also add the organization's management account. It has no O(account_role_name) role of its own (AWS makes
        that role only in the accounts it creates for the organization), so give it its own with
        O(management_account_role_arn), or the rollout acts there with its own credentials.
      - It is added wherever it is in the organization, also when O(organizational_units) leaves it out, and
        O(include_accounts), O(exclude_accounts) and O(account_tags) do not apply to it (they choose among the member
        accounts; this option chooses the management account).
    type: bool
    default: false
  account_role_name:
    description:
      - The role the rollout assumes in each account (C(eks_irsa_assume_role_arn)), in the account's partition.
      - V(OrganizationAccountAccessRole) is the role AWS Organizations makes in every account it creates; in an AWS
        Control Tower landing zone, V(AWSControlTowerExecution).
    type: str
    default: OrganizationAccountAccessRole
  account_role_arn:
    description:
      - A template for the role ARN instead of O(account_role_name), with the variables C(account_id), C(account_name),
        C(account_email), C(ou_id), C(ou_path), C(tags) and C(partition), for example
        V(arn:{{ partition }}:iam::{{ account_id }}:role/{{ tags.deployer_role | default('platform-deployer'\) }}).
      - The result must be an IAM role ARN in that account.
    type: str
  management_account_role_arn:
    description:
      - With O(include_management_account), the role the rollout assumes in the management account. Left out, the
        management account's host has no C(eks_irsa_assume_role_arn).
    type: str
  hostname:
    description:
      - A template for each host's name, with the variables of O(account_role_arn). The result is made a host name
        (lower-case, each run of other characters than letters, digits, C(_), C(.) and C(-) becomes one C(-)).
      - Left out, the account's name made a host name. Two accounts that get the same host name are refused.
    type: str
"""

EXAMPLES = r"""
# inventory/org.aws_accounts.yml: every ACTIVE account under the Workloads OU, except sandboxes, as rollout targets.
# The cluster, namespace and roles go in inventory/group_vars/eks_irsa_accounts.yml.
plugin: torque.eks_irsa.aws_accounts
organizational_units:
  - /Workloads
exclude_accounts:
  - "*-sandbox"
account_tags:
  torque: enabled
keyed_groups:
  - key: aws_account_ou_path
    prefix: ou
  - key: aws_account_tags.environment | default('none')
    prefix: env
compose:
  eks_irsa_namespace: "'torque-' ~ (aws_account_tags.environment | default('default'))"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/eks_irsa_inventory
cache_timeout: 3600
---
# An AWS Control Tower landing zone, listed by a delegated administrator role in the audit account.
plugin: torque.eks_irsa.aws_accounts
assume_role_arn: arn:aws:iam::444455556666:role/organizations-reader
account_role_name: AWSControlTowerExecution
hostname: "{{ account_name }}-{{ account_id }}"
"""

import hashlib
import json

from ansible.errors import AnsibleError
from ansible.template import Templar
from ansible_collections.amazon.aws.plugins.plugin_utils.inventory import AWSInventoryBase
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import AWS_RETRY
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import CLIENT_CONFIG
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import PolicyClient
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import Retry
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import organization
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.organization import OrganizationError

try:  # ansible-core 2.19 and later template only what is marked as trusted; these templates are the user's own.
    from ansible.template import trust_as_template
except ImportError:
    def trust_as_template(value):
        return value

GROUP = "eks_irsa_accounts"
# The options that decide which accounts are read from AWS (the others are applied to what was read, cached or not).
LISTING_OPTIONS = ("organizational_units", "recursive", "include_accounts", "exclude_accounts", "include_management_account")
DEFAULT_REGION = "us-east-1"  # when neither the options nor the environment give one


class InventoryModule(AWSInventoryBase):
    """One host per account of the organization (see DOCUMENTATION)."""

    NAME = "torque.eks_irsa.aws_accounts"
    INVENTORY_FILE_SUFFIXES = ("aws_accounts.yml", "aws_accounts.yaml")

    def get_cache_key(self, path):
        """The file's cache key, and what the listing depends on: other OUs or patterns are not answered from the cache."""
        listing = [self.get_option(option) for option in LISTING_OPTIONS]
        digest = hashlib.sha256(json.dumps(listing, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return f"{super().get_cache_key(path)}_{digest}"

    def client(self, service, retry_decorator=None, **extra_params):
        """Every client of the plugin, amazon.aws's STS client for O(assume_role_arn) included, as the modules' are:
        botocore makes one attempt (``CLIENT_CONFIG``) and each call is retried by the collection's policy."""
        config = dict(CLIENT_CONFIG, **(extra_params.pop("config", None) or {}))
        retry = retry_decorator if isinstance(retry_decorator, Retry) else AWS_RETRY
        return PolicyClient(super().client(service, config=config, **extra_params), retry)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        cached, listed = self.get_cached_result(path, cache)
        if not cached:
            listed = self._list_organization()
        self.update_cached_result(path, cache, listed)
        try:
            self._populate(listed)
        except OrganizationError as e:
            self.fail_aws(f"{self.NAME}: {e}")

    def _list_organization(self):
        # Organizations has one endpoint per partition; any region of the partition reaches it.
        client = self.client("organizations", **({} if self.region else {"region": DEFAULT_REGION}))
        try:
            return organization.organization_accounts(
                client, self.get_option("organizational_units"), self.get_option("recursive"), self.get_option("include_accounts"),
                self.get_option("exclude_accounts"), self.get_option("include_management_account"))
        except OrganizationError as e:
            self.fail_aws(f"{self.NAME}: {e}")

    def _template(self, option, value, variables):
        try:
            return str(Templar(loader=self.loader, variables=variables).template(trust_as_template(value))).strip()
        except AnsibleError as e:
            raise OrganizationError(f"{option}: could not render {value!r}: {e}") from None

    def _hosts(self, listed):
        """``[(host name, account, host variables)]`` of the selected accounts, their role ARNs checked."""
        management = listed["management_account_id"]
        hosts = []
        # account_tags choose among the member accounts, not the management account (see organization_accounts).
        kept = (a for a in listed["accounts"] if a["id"] == management or organization.has_tags(a, self.get_option("account_tags")))
        for account in kept:
            variables = {"account_id": account["id"], "account_name": account["name"], "account_email": account["email"],
                         "ou_id": account["ou_id"], "ou_path": account["ou_path"], "tags": account["tags"],
                         "partition": listed["partition"]}
            name = self.get_option("hostname")
            name = organization.host_name(self._template("hostname", name, variables) if name else account["name"], account["id"])
            role_arn, option = self._role_arn(account, variables, management)
            host_vars = {"eks_irsa_account_id": account["id"], "aws_account_name": account["name"],
                         "aws_account_email": account["email"], "aws_account_arn": account["arn"],
                         "aws_account_ou_id": account["ou_id"], "aws_account_ou_path": account["ou_path"],
                         "aws_account_tags": account["tags"], "aws_account_management": account["id"] == management}
            if role_arn:
                try:
                    host_vars["eks_irsa_assume_role_arn"] = validate_role_arn(role_arn, account["id"], field=f"{option} (account {account['id']})")
                except IssuerError as e:
                    raise OrganizationError(str(e)) from None
            hosts.append((name, account, host_vars))
        organization.unique_host_names([(name, account) for name, account, _vars in hosts])
        return hosts

    def _role_arn(self, account, variables, management):
        """The account's role ARN and the option it comes from."""
        if account["id"] == management:
            return self.get_option("management_account_role_arn"), "management_account_role_arn"
        if self.get_option("account_role_arn"):
            return self._template("account_role_arn", self.get_option("account_role_arn"), variables), "account_role_arn"
        return f"arn:{variables['partition']}:iam::{account['id']}:role/{self.get_option('account_role_name')}", "account_role_name"

    def _populate(self, listed):
        hosts = self._hosts(listed)  # every check first: a bad template adds no host at all
        self.inventory.add_group(GROUP)
        strict = self.get_option("strict")
        for name, _account, host_vars in hosts:
            self.inventory.add_host(name, group=GROUP)
            for key, value in host_vars.items():
                self.inventory.set_variable(name, key, value)
            # The constructed options, as every inventory plugin applies them (ansible.plugins.inventory.Constructable).
            self._set_composite_vars(self.get_option("compose"), host_vars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), host_vars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, name, strict=strict)
