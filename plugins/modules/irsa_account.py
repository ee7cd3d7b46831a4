#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: irsa_account
short_description: Ensure (or delete) one AWS account's IAM OIDC provider and web identity roles in one task
version_added: 1.1.0
description:
  - Brings one target account's IRSA resources to O(state) in one module run. With V(present), first the IAM OIDC
    provider for the cluster's issuer (or each of O(providers)), then each role in O(roles) in order, then the
    providers that go. With V(absent), first every role of O(roles), then the provider.
  - A provider that goes (O(state=absent), or a retired cluster's entry) is kept, not deleted, while any role of the
    account other than those of this task still trusts it, or when this collection did not create it, unless C(force)
    is set. Its result then has C(status=kept), says why in C(kept) and names the roles in C(trusted_by); the task
    warns, and the roles of the task are converged all the same. (M(torque.eks_irsa.iam_oidc_provider) refuses in both
    cases instead.)
  - Otherwise each does exactly what
    M(torque.eks_irsa.iam_oidc_provider) and M(torque.eks_irsa.iam_web_identity_role) do with the same options
    (same checks, same AWS calls, same results), so the rollout playbook uses one task per account instead of one
    per resource.
  - One run assumes O(assume_role_arn) once and uses one IAM client for the provider and every role.
  - Every option of the provider and of every role is checked before the first AWS call; a bad entry fails the task
    naming it (V(provider) or V(roles[<index>] (<name>))) and nothing is written.
  - The first failure stops the run; what comes after it is left untouched. The failure result carries what was done
    before it (RV(provider), RV(roles)).
  - Check mode is exact, as in the two modules (with V(absent), the roles the run would delete do not count as
    trusting the provider); diff mode gives one diff per resource, headed by its name (C(OIDC provider <arn>),
    C(role <name>)).
options:
  state:
    description:
      - V(present) ensures the provider and the roles (a role entry may still say C(state=absent) to delete it).
      - V(absent) deletes the roles, then the provider. A role entry may not say C(state=present) then.
    type: str
    choices: [present, absent]
    default: present
    version_added: 1.2.0
  provider:
    description:
      - The options of M(torque.eks_irsa.iam_oidc_provider) for the account's provider (C(url) is required), for
        example a C(url) and C(tags); its state is O(state) (a C(state) given here must be the same).
      - The AWS connection options (credentials, region, O(assume_role_arn), ...) are this task's, not given here.
      - One of O(provider) and O(providers) is required, unless every role of O(roles) trusts another role
        (C(trusted_role)) and none a cluster's issuer (C(trust)).
    type: dict
  providers:
    description:
      - The account's providers, one per cluster issuer its roles trust, each with the options of
        M(torque.eks_irsa.iam_oidc_provider), as in O(provider). Instead of O(provider).
      - With O(state=present), an entry with C(state=absent) is a retired cluster's provider. It is deleted after the
        roles, only when this collection made it (or C(force)) and no role of the account still trusts it once the roles
        of this task are done; otherwise it is kept and reported (see the description).
      - With O(state=absent) every provider is deleted after the roles; an entry may not say C(state=present) then.
    type: list
    elements: dict
    version_added: 1.3.0
  roles:
    description:
      - The roles of the account, each a dict of the options of M(torque.eks_irsa.iam_web_identity_role)
        (C(name), C(trust) or C(trusted_role), C(managed_policies), C(inline_policies), C(tags), C(state), ...),
        converged in order.
      - A role with C(state=absent) is deleted as M(torque.eks_irsa.iam_web_identity_role) deletes it.
    type: list
    elements: dict
    default: []
  account_id:
    description:
      - The 12-digit account the provider and the roles are in, given to both (an entry's own C(account_id) wins).
      - Saves the C(sts:GetCallerIdentity) call each would make to find it; see the two modules.
    type: str
author:
  - Torque platform team (@torque)
notes:
  - The required IAM permissions are those of M(torque.eks_irsa.iam_oidc_provider) and M(torque.eks_irsa.iam_web_identity_role).
extends_documentation_fragment:
  - torque.eks_irsa.assume_role
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ensure the provider and the Torque runner role in a target account
  torque.eks_irsa.irsa_account:
    assume_role_arn: arn:aws:iam::222222222222:role/irsa-deployer
    account_id: "222222222222"
    provider:
      url: "{{ cluster.issuer }}"
      tags:
        eks-irsa:cluster: agents
    roles:
      - name: torque-runner
        trust:
          - issuer: "{{ cluster.issuer }}"
            service_accounts: ["torque-agents:runner"]
        managed_policies:
          - arn:aws:iam::aws:policy/ReadOnlyAccess
      - name: old-runner
        state: absent
  register: account

- name: Blue/green, last step - trust only the green cluster; blue's provider goes when nothing else trusts it
  torque.eks_irsa.irsa_account:
    assume_role_arn: arn:aws:iam::222222222222:role/irsa-deployer
    account_id: "222222222222"
    providers:
      - url: "{{ green.issuer }}"
      - url: "{{ blue.issuer }}"
        state: absent
    roles:
      - name: torque-runner
        trust:
          - issuer: "{{ green.issuer }}"
            service_accounts: ["torque-agents:runner"]

- name: Delete the role, then the provider when nothing else trusts it (else the provider is kept, status kept)
  torque.eks_irsa.irsa_account:
    state: absent
    assume_role_arn: arn:aws:iam::222222222222:role/irsa-deployer
    account_id: "222222222222"
    provider:
      url: "{{ cluster.issuer }}"
    roles:
      - name: torque-runner
"""

RETURN = r"""
provider:
  description:
    - The result of the provider, as M(torque.eks_irsa.iam_oidc_provider) returns it (without its diff).
    - A provider asked to go but kept has C(status=kept), C(changed=false), C(kept) (why, for example
      V(still trusted by team-x-deployer)) and C(trusted_by) (the roles outside this task that still trust it).
  returned: when O(provider) is given; on failure, when the provider was done
  type: dict
  sample: {arn: "arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", status: ok, changed: false}
providers:
  description: The result of each provider done, in the order of O(providers), as for RV(provider).
  returned: when O(providers) is given; on failure, the providers done before it
  type: list
  elements: dict
  version_added: 1.3.0
  sample:
    - {arn: "arn:aws:iam::222222222222:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/GREEN", status: created, changed: true}
    - {arn: "arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/BLUE", status: deleted, changed: true}
roles:
  description:
    - The result of each role done, keyed by role name, in the order of O(roles), as
      M(torque.eks_irsa.iam_web_identity_role) returns it (without its diff), with C(service_accounts), the
      ServiceAccounts (C(namespace:name)) the entry's C(trust) names, and C(trusted_role), the ARN of the role the
      entry's C(trusted_role) names.
  returned: always; on failure, the roles done before it
  type: dict
  version_added: 1.2.0
  sample:
    torque-runner:
      name: torque-runner
      arn: "arn:aws:iam::222222222222:role/torque-runner"
      status: created
      changed: true
      service_accounts: ["torque-agents:runner"]
"""

import functools
from collections import namedtuple

from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import AWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import converged
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import PROVIDER_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import checked_provider_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import plan_provider
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import provider_converger
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import provider_result
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import OptionsError
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import validated_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import RoleConverger
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import plan_role
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import role_outcome_result
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import parse_service_account
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validated_role_options

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    provider=dict(type="dict"),
    providers=dict(type="list", elements="dict"),
    roles=dict(type="list", elements="dict", default=[]),
    account_id=dict(type="str"),
)
ARGUMENT_RULES = dict(mutually_exclusive=[("provider", "providers")])

# One provider entry, checked: where messages name it, its options, the wanted provider, the account given for it.
ProviderEntry = namedtuple("ProviderEntry", ["where", "options", "wanted", "account"])


def _entry_state(entry, state, where):
    """A role entry for a task of ``state``: with ``state=absent`` every role is deleted, so an entry may not say present."""
    if state == "present":
        return entry
    if entry.get("state") not in (None, "absent"):
        raise OptionsError(f"{where}: state is {entry['state']} but the task's state is absent, which deletes every role "
                           "and then the provider: leave the entry's state out, or run the task with state=present")
    return dict(entry, state="absent")


def _provider_entry(given, index, state, account_id):
    """One provider entry, checked as iam_oidc_provider checks its options; its state defaults to the task's.

    ``provider`` (``index`` None) has the task's state. A ``providers`` entry of a ``state=present`` task may say
    absent (a cluster retired: its provider goes once the run's roles no longer trust it); with ``state=absent`` every
    provider goes.
    """
    where = "provider" if index is None else f"providers[{index}]"
    try:
        if index is None and given.get("state") not in (None, state):
            raise OptionsError(f"state is {given['state']} but the task's state is {state}: set state on the task, not here "
                               "(or list the providers in providers, where each may say its own)")
        if state == "absent" and given.get("state") not in (None, "absent"):
            raise OptionsError(f"state is {given['state']} but the task's state is absent, which deletes every provider: "
                               "leave the entry's state out, or run the task with state=present")
        options = validated_options(PROVIDER_ARGUMENT_SPEC, dict({"account_id": account_id, "state": state}, **given))
        wanted, provider_account = checked_provider_options(options)
    except EksIrsaError as e:
        raise e.at(f"{where}: ")
    return ProviderEntry(where, options, wanted, provider_account)


def checked_options(module):
    """``(providers, roles)``: every provider's and role's options, checked as their modules check them, before any AWS call."""
    account_id, state = module.params["account_id"], module.params["state"]
    given = [(None, module.params["provider"])] if module.params.get("provider") is not None else \
        list(enumerate(module.params.get("providers") or []))
    providers, issuers = [], {}
    for index, entry in given:
        provider = _provider_entry(entry, index, state, account_id)
        host_path = provider.wanted.issuer.host_path
        if host_path in issuers:
            raise OptionsError(f"{provider.where}: the issuer {host_path} is already {issuers[host_path]}: list each provider once")
        issuers[host_path] = provider.where
        providers.append(provider)
    roles = []
    for index, role in enumerate(module.params["roles"]):
        where = f"roles[{index}] ({role.get('name') or role.get('role_name')})"
        entry = _entry_state(role, state, where)
        try:
            roles.append(validated_role_options(dict({"account_id": account_id}, **entry)))
        except EksIrsaError as e:
            raise e.at(f"{where}: ")
    if not providers and any(role.get("trust") for role in roles):
        # A role that trusts a cluster needs its provider in the account; one that trusts a role (trusted_role) needs none.
        raise OptionsError("providers is empty, but roles trust a cluster's issuer: list the account's OIDC providers, each "
                           "with its url (only an account whose roles all trust another role, trusted_role, needs none)")
    return providers, roles


def _without_diff(result):
    return {key: value for key, value in result.items() if key != "diff"}


def trusted_service_accounts(options):
    """The ServiceAccounts (``namespace:name``, patterns too: the options were checked) a role's entry trusts, in order."""
    return [f"{sa.namespace}:{sa.name}" for entry in options.get("trust") or []
            for sa in (parse_service_account(value, allow_wildcard=True) for value in entry["service_accounts"])]


class AccountRun:
    """One account's providers and roles: all planned (reads and refusals only), then applied in order.

    So a refusal anywhere in the account (a role someone else made, a policy that does not exist, a provider still
    trusted) comes before the account's first write. What was done is the result, on failure too.
    """

    def __init__(self, module, client, providers):
        self.module, self.client, self.providers = module, client, providers
        self.provider_results, self.roles, self.diffs = {}, {}, []  # provider results by entry (where), roles by name

    def outcome(self):
        """What was done so far: ``providers`` in the order given (``provider`` when the task named one), ``roles``."""
        if self.module.params.get("provider") is not None:
            return dict(provider=self.provider_results.get("provider"), roles=self.roles)
        return dict(providers=[self.provider_results[e.where] for e in self.providers if e.where in self.provider_results],
                    roles=self.roles)

    def _where(self, entry):
        return f"{entry.where}: " if self.module.params.get("provider") is None else ""

    def run(self, roles):
        """Converge the providers and ``roles`` (checked options) to their states; the module's result."""
        module = self.module
        role_steps = [(f"roles[{index}] ({options['name']}): ", options, RoleConverger(self.client, options["name"], module.check_mode))
                      for index, options in enumerate(roles)]
        # What the roles will trust once the run is done: a role it deletes, or no longer lets trust a provider,
        # does not keep that provider from going.
        planned_trust = {}
        for where, options, converger in role_steps:
            planned = converged(functools.partial(plan_role, module, converger, options), where, self.outcome())
            planned_trust[options["name"].lower()] = (planned.after or {}).get("trust_policy")
        provider_steps = []
        for entry in self.providers:
            converger = provider_converger(module, self.client, entry.wanted, entry.account)
            # keep: a provider that roles outside this task still trust, or that someone else made, is not this task's
            # alone to delete; it stays, reported, and the roles of the task still go.
            converged(functools.partial(plan_provider, module, converger, entry.options, entry.wanted, entry.account,
                                        planned_trust, keep=True), self._where(entry), dict(self.outcome(), arn=converger.arn))
            provider_steps.append((entry, converger))
        # Providers before the roles that trust them; the roles before the providers that go: IAM would let a provider
        # go while roles trust it, and their logins would break.
        ensured = [step for step in provider_steps if step[0].options["state"] == "present"]
        removed = [step for step in provider_steps if step[0].options["state"] == "absent"]
        for entry, converger in ensured:
            self._apply_provider(entry, converger)
        for where, options, converger in role_steps:
            outcome = converged(converger.apply, where, self.outcome())
            self.roles[options["name"]] = dict(_without_diff(role_outcome_result(module, outcome)),
                                               service_accounts=trusted_service_accounts(options),
                                               **({"trusted_role": options["trusted_role"]["arn"]} if options.get("trusted_role") else {}))
            self._diff(f"role {options['name']}", outcome)
        for entry, converger in removed:
            self._apply_provider(entry, converger)
        changed = any(result["changed"] for result in self.provider_results.values()) or any(role["changed"] for role in self.roles.values())
        result = dict(changed=changed, **self.outcome())
        if module._diff:  # one diff per resource, headed by its name
            result["diff"] = self.diffs
        return result

    def _apply_provider(self, entry, converger):
        outcome = converged(converger.apply, self._where(entry), dict(self.outcome(), arn=converger.arn))
        self.provider_results[entry.where] = _without_diff(provider_result(self.module, converger, outcome))
        self._diff(f"OIDC provider {converger.arn}", outcome)

    def _diff(self, label, outcome):
        if outcome.diff["before"] or outcome.diff["after"]:
            self.diffs.append(dict(outcome.diff, before_header=label, after_header=label))


def run(module):
    """The module's result for ``module.params``; a module process and the controller action both call it."""
    providers, roles = checked_options(module)
    return AccountRun(module, module.client("iam"), providers).run(roles)


def main():
    module = AWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    module.exit_json(**reported(module, run))


if __name__ == "__main__":
    main()
