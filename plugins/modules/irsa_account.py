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
    provider for the cluster's issuer, then each role in O(roles) in order. With V(absent), first every role of
    O(roles), then the provider, which is refused (as M(torque.eks_irsa.iam_oidc_provider) refuses it) while any
    other role of the account still trusts it, or when this collection did not create it and C(force) is not set. Each does exactly what
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
    type: dict
    required: true
  roles:
    description:
      - The roles of the account, each a dict of the options of M(torque.eks_irsa.iam_web_identity_role)
        (C(name), C(trust), C(managed_policies), C(inline_policies), C(tags), C(state), ...), converged in order.
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

- name: Delete the role, then the provider when nothing else trusts it
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
  description: The result of the provider, as M(torque.eks_irsa.iam_oidc_provider) returns it (without its diff).
  returned: always, on failure when the provider was done
  type: dict
  sample: {arn: "arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", status: ok, changed: false}
roles:
  description:
    - The result of each role done, keyed by role name, in the order of O(roles), as
      M(torque.eks_irsa.iam_web_identity_role) returns it (without its diff), with C(service_accounts), the
      ServiceAccounts (C(namespace:name)) the entry's C(trust) names.
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

from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import AWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import converged
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
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
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustPolicyError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import parse_service_account
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validated_role_options

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    provider=dict(type="dict", required=True),
    roles=dict(type="list", elements="dict", default=[]),
    account_id=dict(type="str"),
)
ARGUMENT_RULES = {}


def _entry_state(entry, state, where):
    """A role entry for a task of ``state``: with ``state=absent`` every role is deleted, so an entry may not say present."""
    if state == "present":
        return entry
    if entry.get("state") not in (None, "absent"):
        raise OptionsError(f"{where}: state is {entry['state']} but the task's state is absent, which deletes every role "
                           "and then the provider: leave the entry's state out, or run the task with state=present")
    return dict(entry, state="absent")


def checked_options(module):
    """The provider's and every role's options, checked as their modules check them, before any AWS call."""
    account_id, state = module.params["account_id"], module.params["state"]
    try:
        given = module.params["provider"]
        if given.get("state") not in (None, state):
            raise OptionsError(f"state is {given['state']} but the task's state is {state}: set state on the task, not here")
        provider = validated_options(PROVIDER_ARGUMENT_SPEC, dict({"account_id": account_id}, **dict(given, state=state)))
        wanted, provider_account = checked_provider_options(provider)
    except (OptionsError, IssuerError) as e:
        module.fail_json(msg=f"provider: {e}")
    roles = []
    for index, role in enumerate(module.params["roles"]):
        where = f"roles[{index}] ({role.get('name') or role.get('role_name')})"
        try:
            roles.append(validated_role_options(dict({"account_id": account_id}, **_entry_state(role, state, where))))
        except OptionsError as e:
            module.fail_json(msg=str(e))
        except TrustPolicyError as e:
            module.fail_json(msg=f"{where}: {e}")
    return (provider, wanted, provider_account), roles


def _without_diff(result):
    return {key: value for key, value in result.items() if key != "diff"}


def trusted_service_accounts(options):
    """The ServiceAccounts (``namespace:name``) a role's entry trusts, in the order given."""
    return [f"{sa.namespace}:{sa.name}" for entry in options.get("trust") or []
            for sa in map(parse_service_account, entry["service_accounts"])]


class AccountRun:
    """One account's provider and roles: all planned (reads and refusals only), then applied in order.

    So a refusal anywhere in the account (a role someone else made, a policy that does not exist) comes before the
    account's first write. What was done is the result, on failure too.
    """

    def __init__(self, module, client, provider, wanted, provider_account):
        self.module, self.client = module, client
        self.provider_options, self.wanted, self.provider_account = provider, wanted, provider_account
        self.provider, self.roles, self.diffs = None, {}, []

    def outcome(self):
        return dict(provider=self.provider, roles=self.roles)

    def run(self, roles):
        """Converge the provider and ``roles`` (checked options) to the task's state; the module's result."""
        module = self.module
        provider = provider_converger(module, self.client, self.wanted, self.provider_account)
        role_convergers = [RoleConverger(self.client, options["name"], module.check_mode) for options in roles]
        steps = [(f"roles[{index}] ({options['name']}): ", options, converger)
                 for index, (options, converger) in enumerate(zip(roles, role_convergers))]
        # What the roles will trust once the run is done: a role it deletes, or no longer lets trust the provider,
        # does not keep the provider from going.
        planned_trust = {}
        for where, options, converger in steps:
            planned = converged(module, functools.partial(plan_role, module, converger, options), where, self.outcome())
            planned_trust[options["name"].lower()] = (planned.after or {}).get("trust_policy")
        converged(module, functools.partial(plan_provider, module, provider, self.provider_options, self.wanted,
                                            self.provider_account, planned_trust), failure_context=dict(self.outcome(), arn=provider.arn))
        provider_step = ("", None, provider)
        # The provider before the roles that trust it; the roles first when deleting: IAM would let the provider go
        # while they trust it, and their logins would break.
        ordered = [provider_step] + steps if module.params["state"] == "present" else steps + [provider_step]
        for where, options, converger in ordered:
            context = self.outcome() if options else dict(self.outcome(), arn=converger.arn)
            outcome = converged(module, converger.apply, where, context)
            if options is None:
                self.provider = _without_diff(provider_result(module, converger, outcome))
                self._diff(f"OIDC provider {converger.arn}", outcome)
            else:
                self.roles[options["name"]] = dict(_without_diff(role_outcome_result(module, outcome)),
                                                   service_accounts=trusted_service_accounts(options))
                self._diff(f"role {options['name']}", outcome)
        changed = self.provider["changed"] or any(role["changed"] for role in self.roles.values())
        result = dict(changed=changed, **self.outcome())
        if module._diff:  # one diff per resource, headed by its name
            result["diff"] = self.diffs
        return result

    def _diff(self, label, outcome):
        if outcome.diff["before"] or outcome.diff["after"]:
            self.diffs.append(dict(outcome.diff, before_header=label, after_header=label))


def run(module):
    """The module's result for ``module.params``; a module process and the controller action both call it."""
    (provider, wanted, provider_account), roles = checked_options(module)
    return AccountRun(module, module.client("iam"), provider, wanted, provider_account).run(roles)


def main():
    module = AWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
