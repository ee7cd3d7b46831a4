#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_oidc_provider
short_description: Manage the IAM OIDC identity provider for an EKS cluster's issuer
version_added: 1.0.0
description:
  - Creates, updates or deletes the IAM OpenID Connect identity provider for one OIDC issuer in one AWS account.
  - IRSA needs this provider in every account that holds a role the cluster's pods assume, because IAM only
    honours a provider that lives in the same account as the role.
  - The provider is looked up directly by its ARN, which is derived from the account and the issuer; the
    module never lists the providers of the account.
  - Options left out are not managed, so a provider shared with other tools keeps what this task does not set.
  - A provider the module creates carries the ownership tag C(eks-irsa:managed-by=torque.eks_irsa), which later runs
    keep whatever O(tags) and O(purge_tags) say. An existing provider without that tag (made by eksctl, Terraform or by
    hand) is used as it is; the module only applies the O(client_ids), O(thumbprints) and O(tags) given, and never adds
    the ownership tag to it, so it stays not ours and O(state=absent) keeps refusing to delete it without O(force=true).
  - Check mode is exact (it reports a change exactly when a real run would make one, and sends no
    mutating call); diff mode shows the provider before and after.
options:
  url:
    description:
      - The OIDC issuer URL, for example the C(issuer) returned by M(torque.eks_irsa.eks_oidc_issuer).
      - Accepted with or without C(https://) and a trailing slash; compared in the form IAM stores (lower-case
        host, path kept exactly). Any scheme other than C(https) is refused before any AWS call.
    type: str
    required: true
  state:
    description:
      - V(present) creates the provider or brings it to the given options.
      - V(absent) deletes the provider if it exists (a missing provider is not an error). Unless O(force=true),
        it refuses a provider without the ownership tag C(eks-irsa:managed-by=torque.eks_irsa) (one this
        collection did not create), and it refuses, naming the roles, while roles of the account still trust the provider.
    type: str
    choices: [present, absent]
    default: present
  client_ids:
    description:
      - The client IDs (audiences) the provider accepts.
      - When given, the provider ends with exactly this set (IDs missing are added, others removed), or with at least
        this set when O(purge_client_ids=false).
      - When left out, a new provider gets V(sts.amazonaws.com), the audience IRSA uses, and the client IDs
        of an existing provider are left alone.
      - Each ID has 1 to 255 characters; at most 100 IDs.
    type: list
    elements: str
  purge_client_ids:
    description:
      - With V(false), O(client_ids) are added to the ones an existing provider accepts, and none is removed (for
        several writers, each needing its audiences).
    type: bool
    default: true
    version_added: 1.3.0
  thumbprints:
    description:
      - SHA-1 fingerprints of the issuer's server certificate, each exactly 40 hexadecimal digits (case does
        not matter; they are stored in lower case). At most 5.
      - IAM no longer needs thumbprints for EKS issuers, so by default none are sent and an existing list is
        left alone. When given, the provider's list becomes exactly this one.
    type: list
    elements: str
  force:
    description:
      - With O(state=absent), delete the provider even if this collection did not create it (it lacks the
        ownership tag C(eks-irsa:managed-by=torque.eks_irsa), for example a provider made by eksctl or by hand),
        and even while roles of the account still trust it. V(true) overrides both refusals.
      - Roles that trust the provider then cannot be assumed with web identity until a provider for the issuer exists again.
      - With V(true) neither the ownership tag nor the roles are looked at.
    type: bool
    default: false
  account_id:
    description:
      - The 12-digit ID of the account the credentials act in, used to derive the provider ARN.
      - Defaults to the caller's account, found with one C(sts:GetCallerIdentity) call. Giving it saves that call
        whenever the provider exists; before creating one the module still confirms, with that call, that it is
        the credentials' account, and fails otherwise.
    type: str
author:
  - Torque platform team (@torque)
notes:
  - >-
    IAM permissions used: C(iam:GetOpenIDConnectProvider) always; C(iam:CreateOpenIDConnectProvider),
    C(iam:AddClientIDToOpenIDConnectProvider), C(iam:RemoveClientIDFromOpenIDConnectProvider),
    C(iam:UpdateOpenIDConnectProviderThumbprint), C(iam:TagOpenIDConnectProvider) and
    C(iam:UntagOpenIDConnectProvider) when something changes; C(iam:DeleteOpenIDConnectProvider) and
    C(iam:ListRoles) (to find roles that still trust it) for O(state=absent);
    C(sts:GetCallerIdentity) unless O(account_id) is given and the provider exists.
  - A provider created concurrently by another run (C(EntityAlreadyExists)) is taken as existing and converged.
extends_documentation_fragment:
  - torque.eks_irsa.assume_role
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Look up the cluster's issuer
  torque.eks_irsa.eks_oidc_issuer:
    cluster_name: agents
  register: cluster

- name: Ensure the OIDC provider for the cluster exists in this account
  torque.eks_irsa.iam_oidc_provider:
    url: "{{ cluster.issuer }}"
    tags:
      owner: platform

- name: Accept exactly these audiences, and pin the certificate thumbprint
  torque.eks_irsa.iam_oidc_provider:
    url: oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
    client_ids:
      - sts.amazonaws.com
    thumbprints:
      - 9e99a48a9960b14926bb7f3b02e22da2b0ab7280
    account_id: "222222222222"

- name: Delete the provider (refused while roles still trust it, or when this collection did not create it)
  torque.eks_irsa.iam_oidc_provider:
    url: "{{ cluster.issuer }}"
    state: absent

- name: Delete a provider eksctl made, although roles may still trust it
  torque.eks_irsa.iam_oidc_provider:
    url: "{{ cluster.issuer }}"
    state: absent
    force: true
"""

RETURN = r"""
status:
  description:
    - What the run did to the provider (or would do, in check mode) in one word, for summaries.
    - V(created), V(updated), V(deleted), or V(ok) when nothing changed.
  returned: always
  type: str
  sample: created
arn:
  description: ARN of the provider (derived, so also returned when it does not exist).
  returned: always
  type: str
  sample: arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
url:
  description:
    - The issuer URL of the provider, C(https://) plus host and path. IAM itself reports it without the scheme,
      which is also the form used in the ARN and in trust-policy condition keys.
  returned: when O(state=present)
  type: str
  sample: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
client_ids:
  description: The client IDs (audiences) the provider accepts, sorted.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [sts.amazonaws.com]
thumbprints:
  description: The certificate thumbprints of the provider, lower case, sorted; empty when it has none.
  returned: when O(state=present)
  type: list
  elements: str
  sample: []
tags:
  description: The tags of the provider, with the ownership tag C(eks-irsa:managed-by) when the module created it.
  returned: when O(state=present)
  type: dict
  sample: {owner: platform, "eks-irsa:managed-by": torque.eks_irsa}
create_date:
  description: When the provider was created (ISO 8601); V(null) in check mode for a provider not yet created.
  returned: when O(state=present)
  type: str
  sample: "2025-01-31T10:15:00+00:00"
trusted_by:
  description:
    - Names of the roles that still trust the provider, when O(state=absent) refused to delete it because of them.
    - Not returned when the refusal is for a provider without the ownership tag (its message names the trusting roles).
  returned: failure, when roles still trust the provider
  type: list
  elements: str
  sample: [agents-deployer]
"""

from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import AWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import PROVIDER_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import checked_provider_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import converge_provider


ARGUMENT_SPEC = PROVIDER_ARGUMENT_SPEC
ARGUMENT_RULES = {}


def run(module):
    """The module's result for ``module.params``; a module process and the controller action both call it."""
    wanted, account_id = checked_provider_options(module.params)
    client = module.client("iam")
    return converge_provider(module, client, module.params, wanted, account_id)


def main():
    module = AWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    module.exit_json(**reported(module, run))


if __name__ == "__main__":
    main()
