# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs torque.eks_irsa.irsa_account in the Ansible worker when the task runs on the controller (plugins/plugin_utils/in_process.py)."""

from __future__ import annotations

from ansible_collections.torque.eks_irsa.plugins.plugin_utils.in_process import InProcessModuleAction
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.in_process import preload

preload("irsa_account")


class ActionModule(InProcessModuleAction):
    """The module's own action: in-process on the controller, a module process otherwise."""
