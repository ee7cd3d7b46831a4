#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: eks_pod_identity_association
short_description: Manage the EKS Pod Identity association of one ServiceAccount
version_added: 1.6.0
description:
  - Creates, updates or deletes the EKS Pod Identity association of one Kubernetes ServiceAccount, found by cluster,
    namespace and ServiceAccount name (EKS keeps at most one association per ServiceAccount and cluster).
  - Pods of the ServiceAccount then get the credentials of O(role_arn) from the EKS Pod Identity Agent, or, with
    O(target_role_arn), of that role, which EKS assumes from O(role_arn) with the association's external ID.
  - Options left out are not managed, so an association made by another tool keeps what this task does not set.
  - An association the module creates carries the ownership tag C(eks-irsa:managed-by=torque.eks_irsa); O(state=absent)
    refuses to delete one without it unless O(force=true).
  - Check mode is exact (it reports a change exactly when a real run would make one, and sends no mutating call). For a
    new association, what only EKS makes (its ID, ARN, times and, with a target role, the external ID) is not known
    before it exists; the result lists those in RV(learnt_later), and the diff's header says so.
options:
  cluster_name:
    description: Name of the EKS cluster.
    type: str
    required: true
  namespace:
    description: Namespace of the ServiceAccount.
    type: str
    required: true
  service_account:
    description: Name of the ServiceAccount.
    type: str
    required: true
  state:
    description:
      - V(present) creates the association or brings it to the given options; V(absent) deletes it if it exists.
    type: str
    choices: [present, absent]
    default: present
  role_arn:
    description:
      - The role the pods get, in the cluster's account (EKS refuses another account's), trusting the service principal
        C(pods.eks.amazonaws.com) for C(sts:AssumeRole) and C(sts:TagSession) (C(sts:AssumeRole) alone with
        O(disable_session_tags=true)). Both are checked before any write, as EKS checks them.
      - Required to create an association; when left out, an existing association keeps its role.
    type: str
  target_role_arn:
    description:
      - A role in any account that EKS assumes from O(role_arn) for the pods, with the association's external ID (see
        RV(association.external_id)); its trust must let O(role_arn) in with that C(sts:ExternalId).
      - V("") removes the target role; left out, it is not managed.
    type: str
  disable_session_tags:
    description:
      - Whether EKS leaves out the session tags (C(eks-cluster-arn), C(kubernetes-namespace), ...) when it assumes the
        role. Left out, a new association has them and an existing one keeps its setting.
    type: bool
  policy:
    description:
      - A session policy that narrows the permissions of the pods' session (of the target role when there is one), as a
        mapping or as JSON text, at most 2048 characters. Needs O(disable_session_tags=true). V("") removes it.
    type: json
  force:
    description:
      - With O(state=absent), delete the association even if this collection did not create it.
    type: bool
    default: false
author:
  - Torque platform team (@torque)
notes:
  - >-
    AWS permissions used: C(eks:DescribeCluster), C(eks:ListPodIdentityAssociations) and
    C(eks:DescribePodIdentityAssociation) always; C(iam:GetRole) on O(role_arn) when it is given;
    C(eks:CreatePodIdentityAssociation) (and C(iam:PassRole) on the roles), C(eks:UpdatePodIdentityAssociation),
    C(eks:TagResource), C(eks:UntagResource) and C(eks:DeletePodIdentityAssociation) when something changes.
  - Pods need the C(eks-pod-identity-agent) add-on (EKS Auto Mode has it built in), Linux EC2 nodes (not Fargate) and
    EKS 1.24 or later; a cluster has at most 1,000 associations. Pods already running keep the credentials they have until
    the agent's cache renews them.
extends_documentation_fragment:
  - torque.eks_irsa.assume_role
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Give the runner pods the role of this account
  torque.eks_irsa.eks_pod_identity_association:
    cluster_name: agents
    namespace: torque-envs
    service_account: torque-runner
    role_arn: arn:aws:iam::123456789012:role/torque-runner
    tags:
      owner: platform

- name: Let them deploy into another account, through a target role
  torque.eks_irsa.eks_pod_identity_association:
    cluster_name: agents
    namespace: torque-envs
    service_account: torque-runner-dev
    role_arn: arn:aws:iam::123456789012:role/torque-runner
    target_role_arn: arn:aws:iam::222222222222:role/torque-deployer
  register: association

- name: The external ID the target role's trust must require
  ansible.builtin.debug:
    msg: "{{ association.association.external_id }}"

- name: Remove the association
  torque.eks_irsa.eks_pod_identity_association:
    cluster_name: agents
    namespace: torque-envs
    service_account: torque-runner
    state: absent
"""

RETURN = r"""
status:
  description: What the run did (or would do, in check mode) in one word, for summaries.
  returned: always
  type: str
  choices: [created, updated, deleted, ok]
  sample: created
association:
  description:
    - The association as EKS holds it after the run (before it, for O(state=absent)); empty when there is none.
    - In check mode, what the run would make; the members in RV(learnt_later) are V(null) then.
  returned: always
  type: dict
  contains:
    cluster_name:
      description: The cluster.
      type: str
      sample: agents
    namespace:
      description: Namespace of the ServiceAccount.
      type: str
      sample: torque-envs
    service_account:
      description: The ServiceAccount.
      type: str
      sample: torque-runner-dev
    role_arn:
      description: The role EKS assumes first.
      type: str
      sample: arn:aws:iam::123456789012:role/torque-runner
    target_role_arn:
      description: The target role, or V(null).
      type: str
      sample: arn:aws:iam::222222222222:role/torque-deployer
    external_id:
      description: The external ID EKS assumes the target role with (only with a target role).
      type: str
      sample: 2a7f3c1e-6b5d-4f3e-9a8b-1c2d3e4f5a6b
    disable_session_tags:
      description: Whether the session tags are left out.
      type: bool
      sample: false
    policy:
      description: The session policy (JSON text), or V(null).
      type: str
      sample: null
    association_id:
      description: The association's ID.
      type: str
      sample: a-abcdefghijklmnopq
    association_arn:
      description: The association's ARN.
      type: str
      sample: arn:aws:eks:eu-west-1:123456789012:podidentityassociation/agents/a-abcdefghijklmnopq
    owner_arn:
      description: The add-on that owns the association, or V(null).
      type: str
      sample: null
    tags:
      description: The association's tags, with the ownership tag when the module created it.
      type: dict
      sample: {owner: platform, "eks-irsa:managed-by": torque.eks_irsa}
    created_at:
      description: When it was created (ISO 8601).
      type: str
      sample: "2026-12-07T10:15:00+00:00"
    modified_at:
      description: When it was last changed (ISO 8601).
      type: str
      sample: "2026-12-07T10:15:00+00:00"
learnt_later:
  description:
    - In check mode, for an association not yet created, the members of RV(association) EKS makes when it creates it,
      unknown before; empty otherwise.
  returned: always
  type: list
  elements: str
  sample: [association_id, association_arn, external_id, created_at, modified_at]
"""

from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import AWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import ASSOCIATION_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import checked_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import converge


ARGUMENT_SPEC = ASSOCIATION_ARGUMENT_SPEC
ARGUMENT_RULES = {}


def run(module):
    """The module's result for ``module.params``; a module process and the controller action both call it."""
    params = checked_options(module.params)
    return converge(module, module.client("eks"), module.client("iam"), params)


def main():
    module = AWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    module.exit_json(**reported(module, run))


if __name__ == "__main__":
    main()
