# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run this collection's AWS modules in the controller, through published APIs only.

Why: every module execution is a new Python process, which for our AWS modules spends most of its CPU before its
first request (Python, AnsiballZ, ``ansible.module_utils``, boto3 and botocore imports, botocore's service data).
The hosts of our playbooks are AWS accounts reached through APIs on ``connection: local``: the module would run on
the controller anyway, with the controller's Python.

How: each module has an action plugin of the same name (``plugins/action/<module>.py``) whose class is
:class:`ControllerModuleAction`. ansible-core applies ``module_defaults`` to the task's arguments before any action
runs, so the action validates them with ``ArgumentSpecValidator`` (what ``AnsibleModule`` and ``ActionBase.validate_argument_spec``
use; called directly so that a refusal carries the module's ``invocation``) against the module's own argument spec
(plus amazon.aws's common options and ours for assume-role), then calls the module's ``run(module)`` with a
:class:`ControllerModule`: the narrow interface every module's work is written against (``params``,
``check_mode``, ``_diff``, ``region``, ``client()``, ``warn``, ``fail_json``, ``fail_json_aws``), which a module
process gets from ``AnsibleAWSModule``. The result keeps the module contract: options marked ``no_log`` are masked
everywhere in it (``invocation`` included), warnings are reported, a failure is ``failed`` with ``msg``.

Clients come from one botocore session per profile, made (and its service data read) when Ansible loads the action
class in the controller process, before it forks the task's workers, so every worker starts with the data parsed;
each client gets its own credentials, region and configuration (``Session.create_client``), derived from the
options by amazon.aws's ``plugin_utils.botocore.get_aws_connection_info``.

A task runs as an ordinary module process instead, with identical results, when running in the controller would
not be the same thing: a connection other than ``local``, ``become``, a task ``environment``, ``async``, a Python
interpreter other than the controller's, or the variable ``eks_irsa_in_process: false``. ``-vvv`` says which way
each task ran.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

try:
    import botocore.config
    import botocore.exceptions
    import botocore.session
except ImportError:
    botocore = None  # the module's own run reports the missing library

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.display import Display

from ansible_collections.amazon.aws.plugins.module_utils.botocore import gather_sdk_versions
from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.amazon.aws.plugins.plugin_utils.botocore import get_aws_connection_info
from ansible_collections.amazon.aws.plugins.plugin_utils.botocore import get_aws_region
from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import ASSUME_ROLE_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import AssumeRoleClients
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import plain_data
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import known_regions

display = Display()

MODULES_PACKAGE = "ansible_collections.torque.eks_irsa.plugins.modules"
SWITCH = "eks_irsa_in_process"
WARMED_SERVICES = ("sts", "iam", "eks")
MODULES = ("eks_oidc_issuer", "iam_oidc_provider", "iam_web_identity_role", "irsa_account", "irsa_verify")

_sessions = {}  # profile name (or None) -> botocore session, shared by every client of this process


def botocore_session(profile=None):
    """The process's botocore session for ``profile``; its loader caches botocore's data for every client made from it."""
    if profile not in _sessions:
        _sessions[profile] = botocore.session.Session(profile=profile)
    return _sessions[profile]


def warm_up():
    """Read botocore's data for the services our modules use, once, in this process (clients are made, no request)."""
    if botocore is None or _sessions:
        return
    session = botocore_session()
    for service in WARMED_SERVICES:
        session.create_client(service, region_name="us-east-1", aws_access_key_id="warm-up", aws_secret_access_key="warm-up")


def no_log_values(argument_spec, params):
    """The values of the options marked ``no_log`` (suboptions included), as strings, to mask in the result."""
    values = set()
    for name, spec in argument_spec.items():
        value = (params or {}).get(name)
        if value is None:
            continue
        if spec.get("no_log"):
            values.update(_leaves(value))
        if spec.get("options"):
            for element in value if isinstance(value, list) else [value]:
                if isinstance(element, dict):
                    values.update(no_log_values(spec["options"], element))
    return values


def alias_warnings(argument_spec, args):
    """What a module process warns about the arguments: an option given both by its name and by an alias."""
    return [f"Both option {name} and its alias {alias} are set."
            for name, spec in argument_spec.items() if name in args
            for alias in spec.get("aliases") or () if alias in args]


def _leaves(value):
    if isinstance(value, dict):
        return {leaf for item in value.values() for leaf in _leaves(item)}
    if isinstance(value, (list, tuple, set)):
        return {leaf for item in value for leaf in _leaves(item)}
    return {to_native(value)} if value != "" else set()


class ModuleFailed(Exception):
    """``fail_json`` in the controller: the failed result, carried to the action (``SystemExit`` in a module process)."""

    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result


class ControllerModule(AssumeRoleClients):
    """What a module's ``run(module)`` needs, in the controller; the same interface ``AnsibleAWSModule`` gives a module process."""

    def __init__(self, name, params, check_mode, diff):
        self.ansible_name = name
        self._params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    @property
    def params(self):
        return self._params

    def get_options(self):
        """How amazon.aws's plugin_utils read the connection options (get_aws_connection_info, get_aws_region)."""
        return self._params

    @property
    def region(self):
        return get_aws_region(self)

    def warn(self, message):
        self.warnings.append(message)

    def fail_json(self, **result):
        raise ModuleFailed(dict(result, failed=True))

    def fail_aws(self, message, exception=None):
        """amazon.aws's plugin_utils report a connection problem through this."""
        raise EksIrsaError(f"{message}: {to_native(exception)}" if exception else to_native(message))

    def fail_json_aws(self, exception, msg=None, **kwargs):
        """As a module process reports an AWS SDK exception: its message after ``msg``, the error response, the SDK versions."""
        detail = to_native(getattr(exception, "message", None) or exception)
        failure = dict(msg=f"{msg}: {detail}" if msg is not None else detail, exception=traceback.format_exc(),
                       **gather_sdk_versions())
        failure.update(kwargs)
        response = getattr(exception, "response", None)
        if response is not None:
            failure.update(camel_dict_to_snake_dict(response))
        self.fail_json(**failure)

    def fail_json_aws_error(self, error):
        """An amazon.aws ``AnsibleAWSError``: with the SDK exception behind it, or its message alone."""
        if error.exception:
            self.fail_json_aws(error.exception, msg=error.message)
        self.fail_json(msg=error.message)

    def base_client(self, service, retry_decorator=None, **extra_params):
        """A client with the options' own credentials (or the environment's), from the shared botocore session."""
        region, endpoint_url, connect = get_aws_connection_info(self)
        connect = dict(connect, **extra_params)
        config = botocore.config.Config()
        for key in ("config", "aws_config"):  # the module's own settings, then the user's aws_config over them
            value = connect.pop(key, None)
            if value is not None:
                config = config.merge(value if isinstance(value, botocore.config.Config) else botocore.config.Config(**value))
        profile = connect.pop("profile_name", None)
        try:
            client = botocore_session(profile).create_client(service, region_name=region, endpoint_url=endpoint_url,
                                                             config=config, **connect)
        except botocore.exceptions.NoRegionError:
            raise EksIrsaError(f"The {self.ansible_name} module requires a region and none was found in configuration, "
                               "environment variables or module parameters")
        except (ValueError, botocore.exceptions.BotoCoreError) as e:
            self.fail_aws("Couldn't connect to AWS", exception=e)
        return client if retry_decorator is None else RetryingBotoClientWrapper(client, retry_decorator)


def same_python(interpreter, executable):
    """Whether ``interpreter`` runs as ``executable``: the same file, reached from the same folder.

    ``venv/bin/python`` and ``venv/bin/python3.11`` are the same Python with the same site-packages; ``/usr/bin/python3``
    may be the same file as ``venv/bin/python`` but has other packages (a venv is found from the path it was called by).
    """
    interpreter, executable = os.path.abspath(interpreter), os.path.abspath(executable)
    return (os.path.dirname(interpreter) == os.path.dirname(executable)
            and os.path.realpath(interpreter) == os.path.realpath(executable))


def module_code(module_name):
    """The Python module of one of this collection's modules (its ``ARGUMENT_SPEC``, ``ARGUMENT_RULES`` and ``run``)."""
    return importlib.import_module(f"{MODULES_PACKAGE}.{module_name}")


def preload():
    """Import every module's code and warm botocore in this process: the controller's, when Ansible loads an action class.

    A missing library is left for the module process to report as it would anyway; any other error is a bug, and
    surfaces: swallowed, it would leave a warm-up that does nothing unnoticed.
    """
    try:
        for module_name in MODULES:
            module_code(module_name)
        warm_up()
        known_regions()  # botocore's partition data: read here once, not in every forked worker
    except ImportError:
        pass


class ControllerModuleAction(NormalAction):
    """The module's action: its work in the controller when that is the same thing, a module process otherwise."""

    def controller_refusal(self, task_vars):
        """Why the module must run as its own process, or None when it may run in the controller."""
        if not boolean(self._templar.template(task_vars.get(SWITCH, True)), strict=False):
            return f"{SWITCH} is false"
        if self._connection.transport != "local":
            return f"the connection is {self._connection.transport}, not local"
        if self._play_context.become:
            return "the task uses become"
        if self._task.async_val:
            return "the task is async"
        if any(self._task.environment or []):
            return "the task sets an environment"
        interpreter = task_vars.get("ansible_python_interpreter")
        if interpreter is None:
            interpreter = C.config.get_config_value("INTERPRETER_PYTHON", variables=task_vars)
        interpreter = self._templar.template(interpreter)
        if not isinstance(interpreter, str) or not same_python(interpreter, sys.executable):
            return f"the Python interpreter {interpreter!r} is not the controller's ({sys.executable})"
        return None

    @staticmethod
    def inject_invocation(task_vars):
        """Whether results carry ``invocation``, as a module's do: always before ansible-core 2.21, then its setting."""
        try:
            return boolean(C.config.get_config_value("INJECT_INVOCATION", variables=task_vars), strict=False)
        except AnsibleError:  # no such setting: this ansible-core always adds it
            return True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars if task_vars is not None else {}
        fqcn = self._task.resolved_action or self._task.action
        refusal = self.controller_refusal(task_vars)
        if refusal is not None:
            display.vvv(f"{fqcn}: running as a module process ({refusal})", host=self._play_context.remote_addr)
            return super().run(tmp, task_vars)
        display.vvv(f"{fqcn}: running in the controller (torque.eks_irsa controller execution)",
                    host=self._play_context.remote_addr)

        code = module_code(fqcn.rsplit(".", 1)[1])
        argument_spec = dict(aws_argument_spec(), **ASSUME_ROLE_ARGUMENT_SPEC, **code.ARGUMENT_SPEC)
        args = plain_data(self._task.args)
        validation = ArgumentSpecValidator(argument_spec, **code.ARGUMENT_RULES).validate(args)
        params = validation.validated_parameters
        masked = no_log_values(argument_spec, params)
        if validation.error_messages:  # refused as AnsibleModule refuses it, before anything runs
            message = validation.errors.msg
            if isinstance(validation.errors[0], UnsupportedError):
                message = f"Unsupported parameters for ({fqcn}) module: {message}"
            failure = dict(failed=True, changed=False, msg=message)
            if self.inject_invocation(task_vars):
                failure["invocation"] = dict(module_args=params)
            return remove_values(failure, masked)
        module = ControllerModule(fqcn, params, bool(self._task.check_mode), bool(self._task.diff))
        try:
            result = dict(reported(module, code.run))
        except ModuleFailed as failure:
            result = failure.result
        result.setdefault("changed", False)
        warnings = alias_warnings(argument_spec, args) + module.warnings
        if warnings:
            result["warnings"] = warnings
        if self.inject_invocation(task_vars):
            result["invocation"] = dict(module_args=params)
        return remove_values(result, masked)


preload()
