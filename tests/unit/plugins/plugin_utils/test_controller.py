# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The controller side of the modules (plugins/plugin_utils/controller.py): the module interface and the result contract.

Whole-playbook equivalence with module processes is proven in tests/integration/test_in_process.py.
"""

import importlib
import os
import subprocess
import sys

import botocore.exceptions
import pytest

from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import ASSUME_ROLE_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.modules import irsa_account
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import controller

SPEC = dict(aws_argument_spec(), **ASSUME_ROLE_ARGUMENT_SPEC, **irsa_account.ARGUMENT_SPEC)


def module(**params):
    given = dict.fromkeys(SPEC)
    given.update(region="eu-west-1", validate_certs=True, assume_role_session_name="torque-eks-irsa", provider={}, roles=[])
    given.update(params)
    return controller.ControllerModule("torque.eks_irsa.irsa_account", given, check_mode=False, diff=False)


def test_secret_values_are_the_no_log_options_values():
    params = dict(secret_key="s3cr3t", session_token="t0ken", access_key="AKIAEXAMPLE", region="eu-west-1", profile=None)
    assert controller.secret_values(SPEC, params) == {"s3cr3t", "t0ken"}


def test_alias_warning_when_an_option_is_given_by_name_and_alias():
    assert controller.alias_warnings(SPEC, {"region": "eu-west-1", "aws_region": "eu-west-2"}) == \
        ["Both option region and its alias aws_region are set."]
    assert controller.alias_warnings(SPEC, {"aws_region": "eu-west-2"}) == []


def test_fail_json_carries_the_failed_result():
    with pytest.raises(controller.ModuleFailed) as failure:
        module().fail_json(msg="provider: bad", arn="arn:x")
    assert failure.value.result == {"msg": "provider: bad", "arn": "arn:x", "failed": True}


def test_fail_json_aws_reports_the_error_response_and_the_sdk_versions():
    error = botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"},
                                             "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetRole")
    with pytest.raises(controller.ModuleFailed) as failure:
        try:
            raise error
        except botocore.exceptions.ClientError as e:
            module().fail_json_aws(e, msg="get role (role x)", name="x")
    result = failure.value.result
    assert result["msg"].startswith("get role (role x): An error occurred (AccessDenied)")
    assert result["error"] == {"code": "AccessDenied", "message": "no"}
    assert result["response_metadata"] == {"http_status_code": 403}
    assert result["name"] == "x" and result["failed"] is True and "botocore_version" in result
    assert "Traceback" in result["exception"]


def test_clients_share_one_botocore_session_and_take_the_options():
    made = module(access_key="AKIAEXAMPLE", secret_key="secret", endpoint_url="http://127.0.0.1:1",
                  aws_config={"read_timeout": 7}).base_client("iam", retry_decorator=lambda f: f,
                                                              config={"read_timeout": 30, "connect_timeout": 3})
    assert isinstance(made, RetryingBotoClientWrapper)
    client = made.client
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    # The module's configuration, with the user's aws_config over it.
    assert (client.meta.config.read_timeout, client.meta.config.connect_timeout) == (7, 3)
    other = module(access_key="AKIAOTHER", secret_key="x").base_client("iam")
    assert other.meta.events is not client.meta.events  # clients are separate, the session's data is shared
    assert controller.botocore_session() is controller.botocore_session()


def test_client_without_a_region_fails_like_the_module():
    with pytest.raises(controller.ModuleFailed) as failure:
        reported(module(region=None), lambda controller_module: controller_module.base_client("eks"))
    assert "requires a region" in failure.value.result["msg"]


def test_same_python_means_same_file_in_the_same_folder(tmp_path):
    venv = tmp_path / "bin"
    venv.mkdir()
    for name in ("python", "python3"):
        os.symlink(os.path.realpath(sys.executable), venv / name)
    assert controller.same_python(str(venv / "python"), str(venv / "python3"))
    assert not controller.same_python(str(venv / "python"), sys.executable)  # same file, another folder: other packages


def test_every_action_runs_the_module_of_its_name():
    """Each AWS module's action runs its module's code; service_account_apply and service_account_groups are actions only
    (their module files are their documentation, as ansible.builtin.set_fact's), validated against the spec there and
    tested in tests/unit/plugins/action."""
    folder = os.path.join(os.path.dirname(controller.__file__), "..", "action")
    names = sorted(name[:-3] for name in os.listdir(folder) if name.endswith(".py") and name != "__init__.py")
    modules = ["eks_oidc_issuer", "eks_pod_identity_association", "iam_oidc_provider", "iam_web_identity_role", "irsa_account", "irsa_verify"]
    controller_only = ["service_account_apply", "service_account_groups"]
    assert names == sorted(modules + controller_only)
    for name in controller_only:
        action = importlib.import_module(f"ansible_collections.torque.eks_irsa.plugins.action.{name}").ActionModule
        documented = importlib.import_module(f"ansible_collections.torque.eks_irsa.plugins.modules.{name}")
        assert issubclass(action, controller.ControllerOnlyAction) and action.ARGUMENT_SPEC is documented.ARGUMENT_SPEC
    for name in modules:
        action = importlib.import_module(f"ansible_collections.torque.eks_irsa.plugins.action.{name}").ActionModule
        assert issubclass(action, controller.ControllerModuleAction) and action.module.__name__.endswith(f".modules.{name}")
        code = action.module
        assert isinstance(code.ARGUMENT_SPEC, dict) and isinstance(code.ARGUMENT_RULES, dict) and callable(code.run), name


def test_warm_up_reads_botocore_data_once_per_process(monkeypatch):
    monkeypatch.setattr(controller, "_sessions", {})
    monkeypatch.setattr(controller, "_warmed", [])
    controller.warm_up()
    session = controller.botocore_session()
    controller.warm_up()  # the fork hook runs before every fork: after the first, it does nothing
    assert controller.botocore_session() is session and list(controller._sessions) == [None]


def test_every_profile_s_session_shares_the_warmed_data(monkeypatch):
    monkeypatch.setattr(controller, "_sessions", {})
    default = controller.botocore_session()
    other = controller.botocore_session("team-b")
    assert other is not default and other.get_component("data_loader") is default.get_component("data_loader")


def test_a_warm_up_that_fails_is_not_raised_and_not_retried(monkeypatch):
    monkeypatch.setattr(controller, "_sessions", {})
    monkeypatch.setattr(controller, "_warmed", [])
    monkeypatch.setattr(controller, "WARMED_SERVICES", ("no-such-service",))
    controller.warm_up()  # botocore's UnknownServiceError is said at -vvv: the workers load what they need themselves
    assert controller._warmed == [True]


def test_no_module_the_controller_runs_has_a_secret_it_would_not_mask():
    """secret_values masks top-level string options: a nested or non-string no_log option would need more."""
    folder = os.path.join(os.path.dirname(controller.__file__), "..", "action")
    for name in sorted(n[:-3] for n in os.listdir(folder) if n.endswith(".py") and n != "__init__.py"):
        action = importlib.import_module(f"ansible_collections.torque.eks_irsa.plugins.action.{name}").ActionModule
        if not issubclass(action, controller.ControllerModuleAction):  # an action of its own, which masks nothing
            spec = importlib.import_module(f"ansible_collections.torque.eks_irsa.plugins.modules.{name}").ARGUMENT_SPEC
            assert list(_no_log_options(spec)) == [], name
            continue
        spec = action.module.ARGUMENT_SPEC
        for option, found in _no_log_options(dict(SPEC, **spec)):
            assert option.count(".") == 0 and found.get("type", "str") == "str", (name, option)


def _no_log_options(spec, prefix=""):
    for key, option in spec.items():
        if option.get("no_log"):
            yield prefix + key, option
        yield from _no_log_options(option.get("options") or {}, f"{prefix}{key}.")


def test_botocore_is_warmed_before_a_fork_not_at_import():
    script = "\n".join((
        "import os",
        "import ansible_collections.torque.eks_irsa.plugins.plugin_utils.controller as c",
        "assert c._sessions == {}, c._sessions",
        "pid = os.fork()",
        "if pid == 0:",
        "    os._exit(0 if c._sessions else 3)",  # the child starts with the parent's warmed session
        "assert os.waitpid(pid, 0)[1] == 0",
        "assert list(c._sessions) == [None]",
    ))
    subprocess.run([sys.executable, "-c", script], check=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


def test_a_worker_starts_with_the_main_process_s_objects_out_of_the_collector_s_reach_and_the_main_process_collects_them():
    script = "\n".join((
        "import gc, os",
        "import ansible_collections.torque.eks_irsa.plugins.plugin_utils.controller as c",
        "start = gc.get_freeze_count()",  # 0, or the few live objects Python 3.12 freezes at its start-up
        "pid = os.fork()",
        "if pid == 0:",
        "    os._exit(0 if gc.get_freeze_count() > start + 1000 else 3)",  # the worker inherits them frozen
        "assert os.waitpid(pid, 0)[1] == 0",
        "assert gc.get_freeze_count() == 0",  # unfrozen again in the main process, which collects as before
    ))
    subprocess.run([sys.executable, "-c", script], check=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
