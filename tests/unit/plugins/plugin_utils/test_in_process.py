# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Running a module's main() in the worker (plugins/plugin_utils/in_process.py): what it prints, and what it leaves behind.

Whole-playbook equivalence with module processes is proven in tests/integration/test_in_process.py.
"""

import json
import os
import sys

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import in_process

MODULE = "iam_oidc_provider"


def params(**args):
    return json.dumps({"ANSIBLE_MODULE_ARGS": dict({"_ansible_module_name": f"torque.eks_irsa.{MODULE}"}, **args)}).encode()


def answer(ran):
    return json.loads(ran["stdout"][ran["stdout"].index("{"):])


@pytest.fixture
def module():
    return sys.modules[in_process.module_package(MODULE)] if in_process.module_package(MODULE) in sys.modules else \
        __import__(in_process.module_package(MODULE), fromlist=["main"])


def test_a_module_failure_is_printed_and_exits_1_and_every_global_is_restored():
    module_warnings.warn("a warning of the worker itself")
    before = (basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE, dict(module_warnings._global_warnings))

    ran = in_process.run_module_main(MODULE, params(url="http://example.com/id/X", region="eu-west-1"))

    assert ran["rc"] == 1
    result = answer(ran)
    assert result["failed"] is True and "https" in result["msg"]
    assert "warnings" not in result  # the worker's own warning did not reach the module's result
    assert (basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE, dict(module_warnings._global_warnings)) == before
    module_warnings._global_warnings.clear()


def test_warnings_of_one_run_do_not_reach_the_next(monkeypatch, module):
    def main():
        m = basic.AnsibleModule(argument_spec={}, supports_check_mode=True)
        m.warn("warning of this run")
        m.deprecate("deprecated in this run", version="2.0.0", collection_name="torque.eks_irsa")
        m.exit_json(changed=False)
    monkeypatch.setattr(module, "main", main)
    first = answer(in_process.run_module_main(MODULE, params()))
    second = answer(in_process.run_module_main(MODULE, params()))
    # In the result, as a module process gives them (the controller's decoder turns them into messages).
    assert [w["event"]["msg"] for w in first["warnings"]] == [w["event"]["msg"] for w in second["warnings"]] == [
        "warning of this run"]
    assert [d["event"]["msg"] for d in first["deprecations"]] == [d["event"]["msg"] for d in second["deprecations"]] == [
        "deprecated in this run"]
    assert module_warnings._global_warnings == {} and module_warnings._global_deprecations == {}


def test_an_exception_is_reported_as_the_ansiballz_wrapper_does(monkeypatch, module):
    def main():
        raise ValueError("boom")
    monkeypatch.setattr(module, "main", main)
    ran = in_process.run_module_main(MODULE, params())
    assert ran["rc"] == 1
    result = answer(ran)
    assert result["failed"] is True and "boom" in json.dumps(result["exception"])


def test_a_module_that_does_not_exit_is_a_failure(monkeypatch, module):
    monkeypatch.setattr(module, "main", lambda: None)
    result = answer(in_process.run_module_main(MODULE, params()))
    assert result["failed"] is True and "did not handle its own exit" in json.dumps(result["exception"])


def test_same_python(tmp_path):
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    for name in ("python", "python3"):
        os.symlink(sys.executable, venv / name)
    assert in_process.same_python(str(venv / "python"), str(venv / "python3"))
    assert in_process.same_python(str(venv / "python"), str(venv / "python"))
    assert not in_process.same_python(str(venv / "python"), sys.executable)  # same file, another folder: other packages
    assert not in_process.same_python("/usr/bin/python2", str(venv / "python"))


def test_an_ansible_core_without_the_internals_runs_every_task_as_a_module_process(monkeypatch):
    # in_process_refusal says so before it looks at anything else, so the task falls back to a module process.
    monkeypatch.setattr(in_process, "IN_PROCESS_SUPPORT_ERROR", "this ansible-core lacks what in-worker runs need (x)")
    action = in_process.InProcessModuleAction.__new__(in_process.InProcessModuleAction)
    assert action.in_process_refusal(f"torque.eks_irsa.{MODULE}", {}, False) == \
        "this ansible-core lacks what in-worker runs need (x)"


def test_the_pinned_ansible_core_has_what_in_worker_runs_need():
    assert in_process.IN_PROCESS_SUPPORT_ERROR is None
