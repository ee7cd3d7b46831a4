# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""torque.eks_irsa.service_account_apply: the service_account role's Kubernetes writes, in the controller process.

A thin adapter (the work is :func:`~..plugin_utils.kube_apply.apply`'s): the task's arguments validated against the
documented spec (plugins/modules/service_account_apply.py, documentation only), check and diff mode passed on, and the
error raised below turned into the task's failure here, once.
"""
from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import plain_data
from ansible_collections.torque.eks_irsa.plugins.modules.service_account_apply import ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_apply
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.controller import validation_failure

display = Display()


class ActionModule(ActionBase):
    """Apply or delete ``definitions`` through kubernetes.core's client, in this process (plugin_utils/kube_apply.py)."""

    _supports_check_mode = True
    _supports_async = False
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        fqcn = self._task.resolved_action or self._task.action
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(plain_data(self._task.args))
        refused = validation_failure(validation, fqcn)
        if refused is not None:  # refused before anything is sent, with a module's words
            result.update(refused)
            return result
        params = validation.validated_parameters
        check_mode, diff = bool(self._task.check_mode), bool(self._task.diff)
        display.vvv(f"{fqcn}: {params['state']} of {len(params['definitions'])} definition(s) in the controller"
                    f"{' (the API server dry-runs them: check mode)' if check_mode else ''}",
                    host=self._play_context.remote_addr)
        try:
            result.update(kube_apply.apply(params["definitions"], state=params["state"], kubeconfig=params["kubeconfig"],
                                           context=params["context"], force_conflicts=params["force_conflicts"],
                                           check_mode=check_mode, diff=diff))
        except EksIrsaError as error:
            result.update(dict(error.details, failed=True, msg=error.message))
            result.setdefault("changed", False)
        return result
