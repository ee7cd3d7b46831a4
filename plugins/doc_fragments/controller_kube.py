# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The cluster access and the platform of this collection's controller-only Kubernetes actions."""

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to the kubeconfig, read on the controller. Unset, as kubernetes.core reads it - E(K8S_AUTH_KUBECONFIG),
        then in a pod its in-cluster access, then C(~/.kube/config).
      - The other connection settings of kubernetes.core (E(K8S_AUTH_HOST), E(K8S_AUTH_API_KEY), ...) are read from the
        controller's environment, as M(kubernetes.core.k8s) reads them; a task's C(environment) does not reach them.
    type: path
  context:
    description:
      - The kubeconfig context to use. Unset, E(K8S_AUTH_CONTEXT), then the kubeconfig's current context.
    type: str
attributes:
  platform:
    platforms: all
    details: Runs on the controller, whatever the host's connection.
notes:
  - Requires the Python library C(kubernetes) on the controller and the collection C(kubernetes.core).
  - The task runs in the controller process even with C(delegate_to) or a remote connection; C(async) is not supported.
"""
