#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: irsa_account
short_description: Ensure one AWS account's IAM OIDC provider and web identity roles in one task
version_added: 1.1.0
description:
  - Brings one target account's IRSA resources to the given state in one module run; first the IAM OIDC provider
    for the cluster's issuer, then each role in O(roles) in order. Each does exactly what
    M(torque.eks_irsa.iam_oidc_provider) and M(torque.eks_irsa.iam_web_identity_role) do with the same options
    (same checks, same AWS calls, same results), so the rollout playbook uses one task per account instead of one
    per resource.
  - One run assumes O(assume_role_arn) once and uses one IAM client for the provider and every role.
  - Every option of the provider and of every role is checked before the first AWS call; a bad entry fails the task
    naming it (V(provider) or V(roles[<index>] (<name>))) and nothing is written.
  - The first failure stops the run. A failed provider leaves the roles untouched; a failed role leaves the roles
    after it untouched. The failure result carries what was done before it (RV(provider), RV(roles)).
  - Check mode is exact, as in the two modules; diff mode gives one diff per resource, headed by its name
    (C(OIDC provider <arn>), C(role <name>)).
options:
  provider:
    description:
      - The options of M(torque.eks_irsa.iam_oidc_provider) for the account's provider (C(url) is required, C(state)
        must be V(present)), for example a C(url) and C(tags).
      - The AWS connection options (credentials, region, O(assume_role_arn), ...) are this task's, not given here.
      - This module only ensures a provider; delete one with M(torque.eks_irsa.iam_oidc_provider) or the teardown
        playbook, after the roles that trust it.
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
"""

RETURN = r"""
provider:
  description: The result of the provider, as M(torque.eks_irsa.iam_oidc_provider) returns it (without its diff).
  returned: always, on failure when the provider was done
  type: dict
  sample: {arn: "arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", status: ok, changed: false}
roles:
  description:
    - The result of each role done, in the order of O(roles), as M(torque.eks_irsa.iam_web_identity_role) returns it
      (without its diff).
  returned: always; on failure, the roles done before it
  type: list
  elements: dict
  sample: [{name: torque-runner, arn: "arn:aws:iam::222222222222:role/torque-runner", status: created, changed: true}]
"""

from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import AWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import PROVIDER_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import checked_provider_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import converge_provider
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import OptionsError
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import validated_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import converge_role
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustPolicyError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validated_role_options

ARGUMENT_SPEC = dict(
    provider=dict(type="dict", required=True),
    roles=dict(type="list", elements="dict", default=[]),
    account_id=dict(type="str"),
)
ARGUMENT_RULES = {}


def checked_options(module):
    """The provider's and every role's options, checked as their modules check them, before any AWS call."""
    account_id = module.params["account_id"]
    try:
        provider = validated_options(PROVIDER_ARGUMENT_SPEC, dict({"account_id": account_id}, **module.params["provider"]))
        if provider["state"] != "present":
            raise OptionsError("state must be present here: irsa_account only ensures a provider. Delete one with "
                               "torque.eks_irsa.iam_oidc_provider (state=absent) after the roles that trust it")
        wanted, provider_account = checked_provider_options(provider)
    except (OptionsError, IssuerError) as e:
        module.fail_json(msg=f"provider: {e}")
    roles = []
    for index, role in enumerate(module.params["roles"]):
        try:
            roles.append(validated_role_options(dict({"account_id": account_id}, **role)))
        except TrustPolicyError as e:
            module.fail_json(msg=f"roles[{index}] ({role.get('name') or role.get('role_name')}): {e}")
    return (provider, wanted, provider_account), roles


def _without_diff(result):
    return {key: value for key, value in result.items() if key != "diff"}


def run(module):
    """The module's result for ``module.params``; a module process and the controller action both call it."""
    (provider, wanted, provider_account), roles = checked_options(module)

    client = module.client("iam")
    provider_result = converge_provider(module, client, provider, wanted, provider_account)
    done = [(f"OIDC provider {provider_result['arn']}", provider_result)]
    for index, options in enumerate(roles):
        failure_context = dict(provider=_without_diff(provider_result), roles=[_without_diff(result) for _label, result in done[1:]])
        result = converge_role(module, client, options, where=f"roles[{index}] ({options['name']}): ", failure_context=failure_context)
        done.append((f"role {options['name']}", result))

    outcome = dict(changed=any(result["changed"] for _label, result in done), provider=_without_diff(provider_result),
                   roles=[_without_diff(result) for _label, result in done[1:]])
    if module._diff:  # one diff per resource, headed by its name
        outcome["diff"] = [dict(result["diff"], before_header=label, after_header=label) for label, result in done if result.get("diff")]
    return outcome


def main():
    module = AWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
