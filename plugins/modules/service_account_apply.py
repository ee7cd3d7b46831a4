#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only, as ansible-core documents its own action-only plugins (ansible.builtin.set_fact): the work is
# the action plugin's (plugins/action/service_account_apply.py), in the controller; no module process runs.

DOCUMENTATION = r"""
---
module: service_account_apply
short_description: Server-side apply or delete Kubernetes objects in the controller, as kubernetes.core.k8s does
version_added: 1.0.0
description:
  - The writes of the C(torque.eks_irsa.service_account) role (its Namespace, its ServiceAccounts, their deletion and
    the release of adopted ones), made in the controller process through kubernetes.core's own client and code, with
    no module process.
  - With O(state=present), each of O(definitions) is applied server-side (what M(kubernetes.core.k8s) does with
    C(apply=true) and C(server_side_apply)) as the field manager C(torque.eks_irsa). One request creates the object
    or updates the fields this collection manages, so two runs racing on the same new object cannot fail with
    AlreadyExists. Fields other managers own are left as they are.
  - With O(state=absent), each of O(definitions) (C(apiVersion), C(kind), C(metadata.name) and C(metadata.namespace)
    are enough) is deleted when it exists; one already gone is unchanged, also when another run deleted it between
    the read and the delete.
  - Results, C(changed) and the diff are those of M(kubernetes.core.k8s), computed by its code from the object before
    and what the API server answered.
  - A cluster that cannot be reached, refuses a request, or whose access cannot be loaded fails the task with one
    message naming its API server, the kubeconfig and context used, what was refused, and the fix. Nothing after the
    failing definition is sent.
options:
  definitions:
    description:
      - The objects to apply or delete, in order, each a complete Kubernetes manifest (C(apiVersion), C(kind),
        C(metadata.name) and, for a namespaced kind, C(metadata.namespace)).
    type: list
    elements: dict
    required: true
  state:
    description:
      - V(present) applies each definition server-side; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  force_conflicts:
    description:
      - With O(state=present), take over the fields of O(definitions) that another field manager last wrote (server-side
        apply's C(force)), instead of failing with a conflict. Only the fields given are taken over.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Every write is sent as the API server's dry run (C(dryRun=All)), as M(kubernetes.core.k8s) does in check mode.
  diff_mode:
    support: full
    details: The C(before) and C(after) of each applied object, as M(kubernetes.core.k8s) gives them; a list for several.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - torque.eks_irsa.controller_kube
seealso:
  - module: kubernetes.core.k8s
author:
  - Torque platform team (@torque)
"""

EXAMPLES = r"""
- name: Apply two ServiceAccounts, taking over the fields this collection sets
  torque.eks_irsa.service_account_apply:
    force_conflicts: true
    kubeconfig: ~/.kube/agents
    definitions:
      - apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: torque-runner-dev
          namespace: torque-envs
          labels:
            app.kubernetes.io/managed-by: torque.eks_irsa
          annotations:
            eks.amazonaws.com/role-arn: arn:aws:iam::222222222222:role/torque-runner
      - apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: torque-runner-prod
          namespace: torque-envs
          labels:
            app.kubernetes.io/managed-by: torque.eks_irsa
          annotations:
            eks.amazonaws.com/role-arn: arn:aws:iam::333333333333:role/torque-runner

- name: Delete a ServiceAccount
  torque.eks_irsa.service_account_apply:
    state: absent
    definitions:
      - apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: torque-runner-dev
          namespace: torque-envs
"""

RETURN = r"""
result:
  description:
    - With one definition, the object as the API server answered the apply (with O(state=absent), the answer to the
      delete, or empty when there was nothing to delete).
    - With several, C(results), one per definition in order, each with C(changed), C(method), C(result) and, in diff
      mode, C(diff), as a single one returns them.
  returned: always
  type: dict
  sample:
    apiVersion: v1
    kind: ServiceAccount
    metadata:
      name: torque-runner-dev
      namespace: torque-envs
      annotations:
        eks.amazonaws.com/role-arn: arn:aws:iam::222222222222:role/torque-runner
method:
  description: With one definition, what was done, V(apply) or V(delete).
  returned: when there is one definition
  type: str
  sample: apply
diff:
  description:
    - In diff mode, what changed in each applied object, C(before) and C(after), as M(kubernetes.core.k8s) computes it.
      A mapping for one definition, a list of them for several.
  returned: in diff mode
  type: raw
  sample:
    before:
      metadata:
        annotations:
          eks.amazonaws.com/role-arn: arn:aws:iam::222222222222:role/old
    after:
      metadata:
        annotations:
          eks.amazonaws.com/role-arn: arn:aws:iam::222222222222:role/torque-runner
host:
  description: On a failure to reach or read the cluster, the URL of its API server (none when the access could not be loaded).
  returned: on failure
  type: str
  sample: https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com
fix:
  description: On a failure to reach or read the cluster, what to do about it.
  returned: on failure
  type: str
  sample: make that API server reachable from here ..., then run again
"""

ARGUMENT_SPEC = dict(
    definitions=dict(type="list", elements="dict", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    force_conflicts=dict(type="bool", default=False),
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
)
