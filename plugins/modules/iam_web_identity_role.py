#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: iam_web_identity_role
short_description: Manage an IAM role that Kubernetes service accounts assume through IRSA
version_added: 1.0.0
description:
  - Creates, updates or deletes an IAM role whose trust policy lets chosen Kubernetes service accounts of one or
    more EKS clusters assume it with C(sts:AssumeRoleWithWebIdentity) (IAM Roles for Service Accounts, IRSA).
  - The trust policy is built for you, in one deterministic form so that a re-run compares equal. Each issuer
    gets one statement whose C(Sid) is C(IrsaOidc) plus a hash of the issuer; its C(Federated) principal is the
    OIDC provider of the role's own account; C(aud) is matched with C(StringEquals) and the subjects
    C(system:serviceaccount:<namespace>:<name>) with C(StringEquals), or with C(StringLike) only when a permitted
    wildcard is used.
  - Also manages the role's managed and inline permission policies, permissions boundary, maximum session
    duration, description and tags. An option left out is not managed, and what the role has there is kept.
  - Every option is checked before any AWS call. Check mode is exact and makes no mutating call; a second run
    with the same options makes no mutating call either.
options:
  name:
    description:
      - Name of the role, 1 to 64 letters, digits and C(+=,.@_-).
    type: str
    required: true
    aliases: [role_name]
  state:
    description:
      - V(present) creates or updates the role.
      - V(absent) detaches its managed policies, deletes its inline policies, removes it from instance profiles and
        deletes it. A role that does not exist is not an error. With O(trust_policy_mode=shared), only this task's
        trust statements are removed while other statements are left.
    type: str
    choices: [present, absent]
    default: present
  path:
    description:
      - Path of the role, starting and ending with C(/).
      - IAM cannot change the path of an existing role; the module fails rather than recreate it.
    type: str
    default: /
  description:
    description:
      - Description of the role. V("") clears it.
    type: str
  trust:
    description:
      - The (issuer, service accounts) pairs the role trusts. With O(state=present), this, O(trusted_role) or
        O(pod_identity) is required.
      - Entries for the same issuer are merged into one statement.
      - The module owns the whole trust policy unless O(trust_policy_mode=shared).
    type: list
    elements: dict
    suboptions:
      issuer:
        description:
          - OIDC issuer URL of the cluster, with or without C(https://) and trailing slash, as
            M(torque.eks_irsa.eks_oidc_issuer) returns it.
          - The principal is the provider for that issuer in the role's account, which must exist for
            C(sts:AssumeRoleWithWebIdentity) to succeed (see M(torque.eks_irsa.iam_oidc_provider)).
          - Exactly one of O(trust[].issuer) and O(trust[].provider_arn) is required.
        type: str
      provider_arn:
        description:
          - ARN of the IAM OIDC provider, instead of O(trust[].issuer).
          - It must be in the role's account; IAM ignores a provider in another account, so the module refuses it.
        type: str
      service_accounts:
        description:
          - Service accounts to trust, each as a C(namespace:name) string or a dict with C(namespace) and C(name).
          - The namespace must be a DNS-1123 label, the name a DNS-1123 subdomain (Kubernetes naming rules).
          - C(*) and C(?) are accepted only with O(allow_wildcard_subjects=true).
          - The name C(default) is refused; every pod that names no ServiceAccount runs as it.
        type: list
        elements: raw
        required: true
  trusted_role:
    description:
      - Instead of O(trust), the role that may assume this one with C(sts:AssumeRole), such as the hub role of the
        one-agent cross-account pattern (whose own role a ServiceAccount gets through O(trust)).
      - The statement's principal is the hub's account, pinned to the hub role by C(aws:PrincipalArn) (C(ArnEquals)), so
        it is valid before the hub role exists, and no other principal of that account gets in.
      - Role chaining caps the session at one hour, whatever O(max_session_duration) says.
    type: dict
    version_added: 1.4.0
    suboptions:
      arn:
        description: The ARN of the role to trust, C(arn:<partition>:iam::<account>:role/<path><name>).
        type: str
        required: true
      external_id:
        description: The external ID the assume call must give (C(sts:ExternalId), matched with C(StringEquals)).
        type: str
  pod_identity:
    description:
      - The EKS clusters whose pods get the role through EKS Pod Identity (an association, see
        M(torque.eks_irsa.eks_pod_identity_association)). Instead of O(trusted_role); with O(trust) too, pods reach the
        role both ways (as while they move from IRSA to EKS Pod Identity).
      - Per cluster, one statement lets C(pods.eks.amazonaws.com) in with C(sts:AssumeRole) and C(sts:TagSession), pinned to
        the cluster by C(aws:SourceAccount) and C(aws:SourceArn) (C(ArnEquals)). With O(pod_identity[].service_accounts), one
        statement per ServiceAccount instead, pinned also by the C(kubernetes-namespace) and C(kubernetes-service-account)
        session tags EKS sends.
      - The cluster must be in the role's account; EKS takes no other.
    type: list
    elements: dict
    version_added: 1.6.0
    suboptions:
      cluster_arn:
        description: The cluster's ARN, C(arn:<partition>:eks:<region>:<account>:cluster/<name>).
        type: str
        required: true
      service_accounts:
        description:
          - The ServiceAccounts (C(namespace:name), or a dict with C(namespace) and C(name)) whose session tags the
            statements require. Unset, any ServiceAccount of the cluster that an association gives the role gets in.
          - An association with C(disable_session_tags) sends no tags, so it gets in only when this is unset.
        type: list
        elements: raw
  audience:
    description:
      - The audience (C(aud) claim) of the service account tokens, matched with C(StringEquals).
      - EKS pod identity webhook tokens use C(sts.amazonaws.com).
    type: str
    default: sts.amazonaws.com
  allow_wildcard_subjects:
    description:
      - Allow C(*) and C(?) in service account namespaces and names, for example V(agents:*).
      - A wildcard lets every matching service account assume the role; the subjects of that issuer are then
        matched with C(StringLike).
    type: bool
    default: false
  trust_policy_mode:
    description:
      - V(exclusive) makes the trust policy exactly the statements built from O(trust).
      - V(shared) adds or keeps only the statements this task builds and keeps every other statement, for a role
        whose trust policy other tools or other inventories also edit. A statement is identified (its C(Sid)) by its
        issuer, audience and subjects, so two writers trusting different service accounts of one cluster each keep
        their own. Trusting other subjects is therefore another statement, and the old one stays until its writer
        removes it with O(state=absent) and the old O(trust), or a task with V(exclusive) rewrites the policy.
      - With O(state=absent), V(shared) removes only this task's statements (O(trust) is then required); the role is
        deleted only when no other statement is left.
    type: str
    choices: [exclusive, shared]
    default: exclusive
  trust_policy_size_limit:
    description:
      - Largest trust policy, in characters without whitespace as IAM counts them, that the module will write.
        It fails before any change when the policy would be larger, saying which issuers and service accounts
        made it grow.
      - IAM's default quota is 2048; raise this up to 4096 only after the account's quota has been raised.
    type: int
    default: 2048
  managed_policies:
    description:
      - ARNs of the managed policies to attach, for example V(arn:aws:iam::aws:policy/ReadOnlyAccess).
      - When not given, attached policies are not managed.
      - Each policy the role does not have yet is looked up (C(iam:GetPolicy)) before anything is written, in check
        mode too; one that does not exist fails the task, naming it, with nothing written.
      - At most O(managed_policy_quota) policies, counting those kept with O(purge_managed_policies=false).
    type: list
    elements: str
  purge_managed_policies:
    description:
      - Detach managed policies that are not in O(managed_policies). Ignored when O(managed_policies) is not given.
    type: bool
    default: true
  managed_policy_quota:
    description:
      - How many managed policies the account lets one role have, IAM's C(AttachedPoliciesPerRoleQuota).
      - IAM's default is 10; set up to 20 only after the account's quota has been raised.
    type: int
    default: 10
  inline_policies:
    description:
      - Inline policies, as a dict of policy name to policy document (a dict, or JSON text).
      - Documents are compared by meaning, so reordering statements or values is not a change.
      - When not given, inline policies are not managed.
      - Together at most 10,240 characters without whitespace, IAM's limit for one role's inline policies (counting
        those kept with O(purge_inline_policies=false)); beyond it the task fails before anything is written.
    type: dict
  purge_inline_policies:
    description:
      - Delete inline policies that are not in O(inline_policies). Ignored when O(inline_policies) is not given.
    type: bool
    default: true
  permissions_boundary:
    description:
      - ARN of the managed policy to use as the role's permissions boundary. V("") removes the boundary.
      - Looked up before anything is written, like O(managed_policies).
    type: str
  max_session_duration:
    description:
      - Maximum session duration in seconds, from 3600 to 43200. IAM uses 3600 for a new role when not given.
    type: int
  account_id:
    description:
      - The 12-digit account the role is in, used to derive the provider ARNs of the trust policy.
      - Defaults to the account of the credentials, found with one C(sts:GetCallerIdentity) call; give it to
        skip that call. The module fails if the role turns out to be in another account.
    type: str
  adopt:
    description:
      - Every role the module creates carries the ownership tag C(eks-irsa:managed-by=torque.eks_irsa).
      - An existing role without that tag (made by eksctl, Terraform or by hand) is not changed unless O(adopt=true);
        the module fails instead, saying so. With O(adopt=true) the role is converged like any other and gets the tag.
    type: bool
    default: false
  force:
    description:
      - With O(state=absent), delete the role even though it lacks the ownership tag.
    type: bool
    default: false
author:
  - Torque platform team (@torque)
notes:
  - The ownership tag C(eks-irsa:managed-by) is kept whatever O(tags) and O(purge_tags) say.
  - A new role may take 10 to 30 seconds before C(sts:AssumeRoleWithWebIdentity) accepts it (IAM eventual consistency).
  - Pods read the role from the C(eks.amazonaws.com/role-arn) annotation of their service account when they start.
  - CreateRole carries the tags, so creating a role also needs C(iam:TagRole).
  - "Required IAM permissions: C(iam:GetRole), C(iam:ListRolePolicies), C(iam:GetRolePolicy), C(iam:ListAttachedRolePolicies)
    and, to change the role, C(iam:CreateRole), C(iam:UpdateRole), C(iam:UpdateAssumeRolePolicy), C(iam:Attach/DetachRolePolicy),
    C(iam:Put/DeleteRolePolicy), C(iam:Put/DeleteRolePermissionsBoundary), C(iam:TagRole), C(iam:UntagRole),
    C(iam:ListInstanceProfilesForRole), C(iam:RemoveRoleFromInstanceProfile), C(iam:DeleteRole)."
extends_documentation_fragment:
  - torque.eks_irsa.assume_role
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Role for the Torque agent's runner pods of one cluster
  torque.eks_irsa.iam_web_identity_role:
    name: torque-runner
    trust:
      - issuer: "{{ cluster.issuer }}"
        service_accounts:
          - torque-agents:runner
    managed_policies:
      - arn:aws:iam::aws:policy/ReadOnlyAccess
    inline_policies:
      state-bucket:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: ["s3:GetObject", "s3:PutObject"]
            Resource: arn:aws:s3:::tf-state/*
    tags:
      owner: platform
  register: runner_role

- name: One role trusted by two clusters and several service accounts, in a known account
  torque.eks_irsa.iam_web_identity_role:
    name: deployer
    path: /irsa/
    account_id: "222222222222"
    max_session_duration: 7200
    permissions_boundary: arn:aws:iam::222222222222:policy/irsa-boundary
    trust:
      - issuer: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
        service_accounts:
          - torque-agents:runner
          - namespace: torque-agents
            name: runner-dry-run
      - provider_arn: arn:aws:iam::222222222222:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE0123456789
        service_accounts: ["torque-agents:runner"]

- name: Add our statement to a role whose trust policy other tools manage too
  torque.eks_irsa.iam_web_identity_role:
    name: shared-deployer
    trust_policy_mode: shared
    allow_wildcard_subjects: true
    trust:
      - issuer: "{{ cluster.issuer }}"
        service_accounts: ["torque-env-*:runner"]

- name: Delete the role
  torque.eks_irsa.iam_web_identity_role:
    name: torque-runner
    state: absent

- name: Take this inventory's statement out of a shared role (other writers' statements stay)
  torque.eks_irsa.iam_web_identity_role:
    name: shared-deployer
    state: absent
    trust_policy_mode: shared
    allow_wildcard_subjects: true
    trust:
      - issuer: "{{ cluster.issuer }}"
        service_accounts: ["torque-env-*:runner"]
"""

RETURN = r"""
status:
  description:
    - What the run did to the role (or would do, in check mode) in one word, for summaries.
    - V(created), V(updated), V(deleted), or V(ok) when nothing changed.
  returned: always
  type: str
  sample: created
arn:
  description: ARN of the role (predicted in check mode when the role does not exist yet).
  returned: when O(state=present)
  type: str
  sample: arn:aws:iam::222222222222:role/torque-runner
name:
  description: Name of the role.
  returned: when O(state=present)
  type: str
  sample: torque-runner
role_id:
  description: The stable unique ID of the role; null in check mode before the role exists.
  returned: when O(state=present)
  type: str
  sample: AROADBQP57FF2AEXAMPLE
path:
  description: Path of the role.
  returned: when O(state=present)
  type: str
  sample: /
description:
  description: Description of the role, empty when it has none.
  returned: when O(state=present)
  type: str
  sample: Torque runner pods
trust_policy:
  description: The trust policy document as AWS returns it, decoded, keys not converted.
  returned: when O(state=present)
  type: dict
  sample:
    Version: "2012-10-17"
    Statement:
      - Sid: IrsaOidc1f3c0a9b5e7d2c46
        Effect: Allow
        Principal:
          Federated: arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
        Action: sts:AssumeRoleWithWebIdentity
        Condition:
          StringEquals:
            oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud: sts.amazonaws.com
            oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub: system:serviceaccount:torque-agents:runner
managed_policies:
  description: ARNs of the managed policies attached to the role, sorted.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [arn:aws:iam::aws:policy/ReadOnlyAccess]
inline_policies:
  description: Names of the role's inline policies, sorted.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [state-bucket]
permissions_boundary:
  description: ARN of the permissions boundary, empty when the role has none.
  returned: when O(state=present)
  type: str
  sample: arn:aws:iam::222222222222:policy/irsa-boundary
max_session_duration:
  description: Maximum session duration in seconds.
  returned: when O(state=present)
  type: int
  sample: 3600
tags:
  description: Tags of the role, the ownership tag C(eks-irsa:managed-by) included.
  returned: when O(state=present)
  type: dict
  sample: {owner: platform, "eks-irsa:managed-by": torque.eks_irsa}
create_date:
  description: When the role was created (ISO 8601); null in check mode before the role exists.
  returned: when O(state=present)
  type: str
  sample: "2025-01-31T09:30:00+00:00"
"""

from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import AWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import converge_role
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import ROLE_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import ROLE_MUTUALLY_EXCLUSIVE
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import ROLE_REQUIRED_IF
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import check_role_options


ARGUMENT_SPEC = ROLE_ARGUMENT_SPEC
ARGUMENT_RULES = dict(required_if=ROLE_REQUIRED_IF, mutually_exclusive=ROLE_MUTUALLY_EXCLUSIVE)


def run(module):
    """The module's result for ``module.params``; a module process and the controller action both call it."""
    options = check_role_options(module.params)
    client = module.client("iam")
    return converge_role(module, client, options)


def main():
    module = AWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    module.exit_json(**reported(module, run))


if __name__ == "__main__":
    main()
