#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only, as ansible-core documents its own action-only plugins (ansible.builtin.set_fact): the work is
# the action plugin's (plugins/action/service_account_groups.py), in the controller; no module process runs.

DOCUMENTATION = r"""
---
module: service_account_groups
short_description: Apply, delete or render the IRSA ServiceAccounts of several namespaces, each group on its own
version_added: 1.0.0
description:
  - The work of the C(torque.eks_irsa.service_account) role and of the rollout and teardown playbooks on the cluster
    side, in one task made in the controller process through kubernetes.core's own client and code, with no module
    process.
  - A group is one namespace of one cluster. With O(groups[].state=present), its ServiceAccounts are built (one
    C(v1/ServiceAccount) per item, annotated C(eks.amazonaws.com/role-arn)) and checked, the namespace is read once,
    and only the ServiceAccounts that are missing or differ are applied, in one server-side apply as the field manager
    C(torque.eks_irsa) (M(torque.eks_irsa.service_account_apply)). A re-run sends no write.
  - A ServiceAccount that exists without the label C(app.kubernetes.io/managed-by=torque.eks_irsa) was made by someone
    else and is refused, before the group writes anything, unless its item says O(groups[].service_accounts[].adopt).
  - With O(groups[].state=absent), the listed ServiceAccounts this collection made are deleted; from one it adopted
    only the fields it applied are removed; any other is left alone.
  - A group with O(groups[].render_dir) is only written to files, one C(<name>.yaml) per ServiceAccount, in that
    directory on the controller; its cluster is not reached.
  - Groups are done in order. A group that fails stops the task there, or with O(keep_going=true) is recorded in
    RV(results) and the next group is done all the same.
options:
  groups:
    description: The namespaces and their ServiceAccounts.
    type: list
    elements: dict
    required: true
    suboptions:
      namespace:
        description: The namespace the group's ServiceAccounts go in (a DNS-1123 label).
        type: str
        required: true
      service_accounts:
        description: The group's ServiceAccounts. Each carries exactly one role ARN.
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description: ServiceAccount name (a DNS-1123 subdomain).
            type: str
            required: true
          role_arn:
            description: ARN of the IAM role pods using this ServiceAccount assume. Required for O(groups[].state=present).
            type: str
          labels:
            description: Extra labels for this ServiceAccount.
            type: dict
          annotations:
            description: Extra annotations for this ServiceAccount.
            type: dict
          adopt:
            description:
              - Let the group annotate a ServiceAccount of this name that exists but was not made by this collection. Only
                the annotations and labels it sets are applied; it does not get the managed-by label, and
                O(groups[].state=absent) removes only those fields again instead of deleting it.
            type: bool
            default: false
          pod_identity:
            description:
              - The role reaches the pods through an EKS Pod Identity association (see
                M(torque.eks_irsa.eks_pod_identity_association)), so the ServiceAccount gets none of IRSA's annotations
                (C(eks.amazonaws.com/role-arn), and the group's O(sts_regional_endpoints) and O(token_expiration)). On a
                ServiceAccount this collection made, applying it removes IRSA's annotations it had set before.
            type: bool
            default: false
            version_added: 1.6.0
          source:
            description: "Where the item comes from, named in messages (the rollout gives C(<host>: eks_irsa_roles[<i>] (<role>)))."
            type: str
      state:
        description: This group's state. Default O(state).
        type: str
        choices: [present, absent]
      create_namespace:
        description: Create the namespace when it does not exist (labelled as made by this collection). When false, a missing namespace fails the group.
        type: bool
        default: false
      create_namespace_fix:
        description:
          - "What the failure for a missing namespace tells the user to do, for a caller whose users set another variable.
            Default C(set service_account_create_namespace: true to let this role create it)."
        type: str
      render_dir:
        description: Render-only mode for this group, on the controller; nothing is read from or applied to its cluster.
        type: path
      label:
        description: The group's key in RV(results) and its name in messages, for example C(<cluster>/<namespace>). Default its namespace.
        type: str
      cluster:
        description: The name of the group's cluster, for people; its access is O(groups[].kubeconfig) and O(groups[].context).
        type: str
      kubeconfig:
        description: This group's kubeconfig. Default O(kubeconfig).
        type: path
      context:
        description: This group's kubeconfig context. Default O(context).
        type: str
  state:
    description: The state of a group that gives none.
    type: str
    choices: [present, absent]
    default: present
  labels:
    description: Labels for every ServiceAccount. C(app.kubernetes.io/managed-by=torque.eks_irsa) is always added.
    type: dict
    default: {}
  sts_regional_endpoints:
    description: Sets the annotation C(eks.amazonaws.com/sts-regional-endpoints) to C(true) or C(false); left out when null.
    type: bool
  token_expiration:
    description:
      - Sets the annotation C(eks.amazonaws.com/token-expiration), the projected token lifetime in seconds (600 to 86400).
        Left out when null.
    type: int
  access_field:
    description:
      - How a failure to reach a cluster names the settings that chose its access, in its fix, for a caller whose users
        set other variables (the role gives C(service_account_kubeconfig and service_account_context)).
    type: str
    default: kubeconfig and context
  keep_going:
    description:
      - V(false) fails the task at the first group that fails; the later groups are not done.
      - V(true) records a failing group in RV(results) with its error and goes on; the task then does not fail.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - Every write is sent as the API server's dry run (C(dryRun=All)). The ServiceAccounts of a namespace that would
        only be created by this run are predicted from the read alone. A render is predicted and not written.
  diff_mode:
    support: full
    details: The C(before) and C(after) of each applied object, as M(kubernetes.core.k8s) gives them, and of each rendered file.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - torque.eks_irsa.controller_kube
seealso:
  - module: torque.eks_irsa.service_account_apply
author:
  - Torque platform team (@torque)
"""

EXAMPLES = r"""
- name: Apply the ServiceAccounts of two namespaces, each on its own
  torque.eks_irsa.service_account_groups:
    kubeconfig: ~/.kube/agents
    keep_going: true
    groups:
      - namespace: torque-envs
        create_namespace: true
        service_accounts:
          - name: torque-runner-dev
            role_arn: arn:aws:iam::222222222222:role/torque-runner
      - namespace: team-a
        service_accounts:
          - name: team-a-deployer
            role_arn: arn:aws:iam::333333333333:role/team-a-deployer
  register: applied

- name: Delete them again
  torque.eks_irsa.service_account_groups:
    state: absent
    groups:
      - namespace: torque-envs
        service_accounts:
          - name: torque-runner-dev
"""

RETURN = r"""
results:
  description:
    - Each group done, by its label (default its namespace), with C(status), a mapping of ServiceAccount name to what was
      done (C(created), C(updated), C(adopted) or C(ok); C(deleted), C(released) or C(absent) when absent; C(rendered)
      or C(ok) when rendered), and C(error), why the group failed (with O(keep_going)), else null.
  returned: always
  type: dict
  sample:
    torque-envs:
      status:
        torque-runner-dev: created
      error: null
group:
  description: The label of the group that failed the task.
  returned: on failure of a group, without O(keep_going)
  type: str
  sample: torque-envs
diff:
  description: In diff mode, the C(before) and C(after) of each applied object and rendered file, in order.
  returned: in diff mode
  type: list
  elements: dict
"""

ARGUMENT_SPEC = dict(
    groups=dict(type="list", elements="dict", required=True, options=dict(
        namespace=dict(type="str", required=True),
        service_accounts=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            role_arn=dict(type="str"),
            labels=dict(type="dict"),
            annotations=dict(type="dict"),
            adopt=dict(type="bool", default=False),
            pod_identity=dict(type="bool", default=False),
            source=dict(type="str"),
        )),
        state=dict(type="str", choices=["present", "absent"]),
        create_namespace=dict(type="bool", default=False),
        create_namespace_fix=dict(type="str"),
        render_dir=dict(type="path"),
        label=dict(type="str"),
        cluster=dict(type="str"),
        kubeconfig=dict(type="path"),
        context=dict(type="str"),
    )),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    labels=dict(type="dict", default={}),
    sts_regional_endpoints=dict(type="bool"),
    token_expiration=dict(type="int"),
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
    access_field=dict(type="str", default="kubeconfig and context"),
    keep_going=dict(type="bool", default=False),
)
