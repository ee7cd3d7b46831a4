# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""torque.eks_irsa.service_account_apply: Kubernetes writes, in the controller process.

A thin adapter (the work is :func:`~..plugin_utils.kube_apply.apply`'s) on the collection's base for controller-only
actions, which validates the task's arguments against the documented spec (plugins/modules/service_account_apply.py,
documentation only) and turns the error raised below into the task's failure.
"""
from __future__ import annotations

from ansible.utils.display import Display

from ansible_collections.torque.eks_irsa.plugins.modules.service_account_apply import ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_apply
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.controller import ControllerOnlyAction

display = Display()


class ActionModule(ControllerOnlyAction):
    """Apply or delete ``definitions`` through kubernetes.core's client, in this process (plugin_utils/kube_apply.py)."""

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def work(self, fqcn, params, check_mode, diff):
        display.vvv(f"{fqcn}: {params['state']} of {len(params['definitions'])} definition(s) in the controller"
                    f"{' (the API server dry-runs them: check mode)' if check_mode else ''}",
                    host=self._play_context.remote_addr)
        return kube_apply.apply(params["definitions"], state=params["state"], kubeconfig=params["kubeconfig"],
                                context=params["context"], force_conflicts=params["force_conflicts"],
                                check_mode=check_mode, diff=diff)
