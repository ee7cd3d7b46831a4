#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: eks_oidc_issuer
short_description: Look up the OIDC issuer of an EKS cluster
version_added: 1.0.0
description:
  - Reads the OpenID Connect issuer of an Amazon EKS cluster (C(eks:DescribeCluster)) and returns it in the
    forms IRSA needs, plus the ARN the IAM OIDC identity provider for that issuer has in a given account.
  - Read-only; never reports a change and behaves the same in check mode.
  - Makes one AWS call (C(eks:DescribeCluster)); the provider ARN is derived, not looked up, so it is
    returned whether or not the provider exists yet.
options:
  cluster_name:
    description:
      - Name of the EKS cluster.
    type: str
    required: true
    aliases: [name]
  account_id:
    description:
      - The 12-digit AWS account whose OIDC provider ARN to return in RV(provider_arn).
      - IRSA needs a provider in every account that holds a role the cluster's pods assume.
      - Defaults to the account that owns the cluster, which is the caller's account.
    type: str
author:
  - Torque platform team (@torque)
notes:
  - Required IAM permission is C(eks:DescribeCluster) on the cluster.
extends_documentation_fragment:
  - torque.eks_irsa.assume_role
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Look up the cluster's issuer and the provider ARN in a target account
  torque.eks_irsa.eks_oidc_issuer:
    cluster_name: agents
    region: eu-west-1
    account_id: "222222222222"
  register: cluster

- name: Show the issuer
  ansible.builtin.debug:
    msg: "{{ cluster.issuer }} -> {{ cluster.provider_arn }}"
"""

RETURN = r"""
issuer:
  description: The issuer URL exactly as EKS reports it (C(cluster.identity.oidc.issuer)).
  returned: success
  type: str
  sample: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
issuer_url:
  description: The issuer in the normal form IAM stores, C(https://) plus RV(issuer_host_path).
  returned: success
  type: str
  sample: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
issuer_host_path:
  description:
    - The issuer without scheme and trailing slash; the form used in provider ARNs and in the trust policy
      condition keys C(<issuer_host_path>:sub) and C(<issuer_host_path>:aud).
  returned: success
  type: str
  sample: oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
issuer_id:
  description: The last path segment of the issuer, the cluster's OIDC ID.
  returned: success
  type: str
  sample: EXAMPLED539D4633E53DE1B71EXAMPLE
cluster_arn:
  description: ARN of the cluster.
  returned: success
  type: str
  sample: arn:aws:eks:eu-west-1:111111111111:cluster/agents
account_id:
  description: The account RV(provider_arn) belongs to.
  returned: success
  type: str
  sample: "222222222222"
partition:
  description: The AWS partition of the cluster (C(aws), C(aws-cn), C(aws-us-gov), ...).
  returned: success
  type: str
  sample: aws
provider_arn:
  description: ARN the IAM OIDC provider for this issuer has (or will have) in O(account_id).
  returned: success
  type: str
  sample: arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
"""

from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import AWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.eks import describe_issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_account_id


ARGUMENT_SPEC = dict(
    cluster_name=dict(type="str", required=True, aliases=["name"]),
    account_id=dict(type="str"),
)
ARGUMENT_RULES = {}


def run(module):
    """The module's result for ``module.params``; a module process and the controller action both call it."""
    account_id = module.params["account_id"]
    if account_id is not None:
        account_id = validate_account_id(account_id)
    return dict(changed=False, **describe_issuer(module, module.params["cluster_name"], account_id))


def main():
    module = AWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    module.exit_json(**reported(module, run))


if __name__ == "__main__":
    main()
