# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.torque.eks_irsa.plugins.modules import eks_pod_identity_association
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.controller import ControllerModuleAction


class ActionModule(ControllerModuleAction):
    """torque.eks_irsa.eks_pod_identity_association in the controller, or as a module process where that differs (plugin_utils/controller.py)."""

    module = eks_pod_identity_association
