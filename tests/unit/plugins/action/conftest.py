# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The controller-only actions, made as ansible-core's task executor makes them, for the tests of this folder."""

from __future__ import annotations

import importlib
import types

import pytest
import yaml


@pytest.fixture
def controller_action():
    """``controller_action(ActionModule, fqcn, args, check_mode=False, diff=False)``: the action for one task.

    Its connection is ssh, so a module process would run on a remote host: the action fails the test if it asks for one.
    """

    def made(action_class, fqcn, args, check_mode=False, diff=False):
        task = types.SimpleNamespace(args=args, check_mode=check_mode, diff=diff, async_val=0, action=fqcn,
                                     resolved_action=fqcn)
        connection = types.SimpleNamespace(_shell=types.SimpleNamespace(tmpdir=None), transport="ssh")
        # shared_loader_obj: required before ansible-core 2.19, unused by these actions
        action = action_class(task, connection, types.SimpleNamespace(remote_addr="acct-1"), loader=None, templar=None,
                              shared_loader_obj=None)

        def no_module_process(*_args, **_kwargs):
            raise AssertionError("the action ran a module process")

        action._execute_module = no_module_process  # pylint: disable=protected-access
        return action

    return made


@pytest.fixture
def documented_options():
    """``documented_options(docs)``: the options a module's docs give, with those of this collection's doc fragments."""

    def options(docs):
        documentation = yaml.safe_load(docs.DOCUMENTATION)
        merged = dict(documentation["options"])
        for fragment in documentation.get("extends_documentation_fragment", []):
            if fragment.startswith("torque.eks_irsa."):
                module = importlib.import_module(f"ansible_collections.torque.eks_irsa.plugins.doc_fragments.{fragment.split('.')[-1]}")
                merged.update(yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"])
        return merged

    return options
