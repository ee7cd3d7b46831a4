# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""torque.eks_irsa.service_account_groups: the ServiceAccounts of several namespaces, each group on its own, in the
controller process (the work is :func:`~..plugin_utils.service_account_writes.apply_groups`')."""
from __future__ import annotations

from ansible.utils.display import Display

from ansible_collections.torque.eks_irsa.plugins.modules.service_account_groups import ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import service_account_writes
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.controller import ControllerOnlyAction

display = Display()


class ActionModule(ControllerOnlyAction):
    """Read, compare and write each group's ServiceAccounts through kubernetes.core's client, in this process."""

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def work(self, fqcn, params, check_mode, diff):
        groups = [dict(group, state=group["state"] or params["state"], kubeconfig=group["kubeconfig"] or params["kubeconfig"],
                       context=group["context"] or params["context"]) for group in params["groups"]]
        display.vvv(f"{fqcn}: {len(groups)} group(s) of ServiceAccounts in the controller"
                    f"{' (the API server dry-runs every write: check mode)' if check_mode else ''}",
                    host=self._play_context.remote_addr)
        settings = {key: params[key] for key in ("labels", "sts_regional_endpoints", "token_expiration", "access_field")}
        return service_account_writes.apply_groups(groups, settings, check_mode=check_mode, diff=diff,
                                                   keep_going=params["keep_going"])
