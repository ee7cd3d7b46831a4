# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run this collection's AWS modules in the controller, on ansible-core's action plugin API and amazon.aws's exports.

Why: every module execution is a new Python process, which for our AWS modules spends most of its CPU before its
first request (Python, AnsiballZ, ``ansible.module_utils``, boto3 and botocore imports, botocore's service data).
The hosts of our playbooks are AWS accounts reached through APIs on ``connection: local``: the module would run on
the controller anyway, with the controller's Python.

How, all of it here:

- Each module has an action plugin of the same name (``plugins/action/<module>.py``): an :class:`ActionBase`
  subclass, :class:`ControllerModuleAction`, naming the module's code it runs (``module``).
- In the controller, the action validates the task's arguments (``module_defaults`` already applied) with
  ``ArgumentSpecValidator`` against the module's own spec, amazon.aws's common options and ours for assume-role,
  and refuses them with the words a module process would use. It then calls the module's ``run(module)`` with a
  :class:`ControllerModule`, the part of ``AnsibleAWSModule``'s interface our modules are written against.
- The result is the action's own: what ``run`` returns, its warnings (with a module process's warning about an
  option given by name and alias), ``failed`` and ``msg`` on failure. Like ansible-core's own actions (and its
  modules from 2.21 on, by default) it carries no ``invocation``; values of options marked ``no_log`` (credentials)
  are masked wherever an SDK message might quote them.
- A task runs as a module process instead, through ``ActionBase._execute_module`` as any module runs, when the
  controller would not be the same thing: a connection other than ``local``, ``become``, a task ``environment``,
  ``async``, a Python other than the controller's, or the variable ``eks_irsa_in_process: false``. ``-vvv`` says
  which way each task ran.

Clients come from one botocore session per profile, each with its own credentials, region and configuration
(``Session.create_client``), derived from the options by amazon.aws's ``get_aws_connection_info``. The session reads
botocore's service data once per process; :func:`warm_up` has it read (with the collection's filter plugins and the
kubernetes client imported) in Ansible's main process just before that process forks a worker
(``os.register_at_fork``), so every worker starts with them loaded, and out of its garbage collector's reach
(:func:`before_fork`). Nothing is read
when this file is imported (``ansible-doc`` and sanity tests import it), and a process that never forks, or that
never loaded this file before forking, reads the data at its first client.
"""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
import sys
import traceback

try:
    import botocore.config
    import botocore.exceptions
    import botocore.session
except ImportError:
    botocore = None  # the module's own run reports the missing library

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
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
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_access
from ansible_collections.torque.eks_irsa.plugins import filter as filter_plugins

display = Display()

SWITCH = "eks_irsa_in_process"
WARMED_SERVICES = ("sts", "iam", "eks")
WARMED = "botocore's data, the filter plugins and the kubernetes client loaded"  # said at -vvv, once per run

_sessions = {}  # profile name (or None) -> botocore session, shared by every client of this process
_warmed = []  # once warm_up has run in this process (or in the process it was forked from)


def botocore_session(profile=None):
    """The process's botocore session for ``profile``. Every session shares the first one's data loader, whose cache
    holds botocore's service data once read, so a client of any profile finds it parsed."""
    if profile not in _sessions:
        session = botocore.session.Session(profile=profile)
        if _sessions:
            session.register_component("data_loader", next(iter(_sessions.values())).get_component("data_loader"))
        _sessions[profile] = session
    return _sessions[profile]


def warm_up():
    """Load, once per process, what every worker would otherwise load for itself: botocore's data for the services our
    modules use (clients are made, no request sent), this collection's filter plugins with the code they import (to
    find one filter, ansible-core imports every filter file of the collection, and reuses what is imported), and the
    kubernetes client their cluster reads use.

    It runs as a fork hook, where an exception would only be printed: a failure is said at -vvv and the workers load
    what is missing themselves, as they would without it.
    """
    if botocore is None or _warmed:
        return
    _warmed.append(True)
    try:
        session = botocore.session.Session()  # no profile: the data are the same for every one, and this one always exists
        if None not in _sessions:
            _sessions[None] = session
        for service in WARMED_SERVICES:
            session.create_client(service, region_name="us-east-1", aws_access_key_id="warm-up", aws_secret_access_key="warm-up")
        known_regions()
        for found in pkgutil.iter_modules(filter_plugins.__path__, filter_plugins.__name__ + "."):
            importlib.import_module(found.name)
        kube_access.library()
        display.vvv(f"torque.eks_irsa: {WARMED} before forking workers")
    except Exception as e:  # pylint: disable=broad-exception-caught
        display.vvv(f"torque.eks_irsa: the warm-up before forking a worker failed, each worker loads what it needs: {e}")


def before_fork():
    """In Ansible's main process, before it forks a worker: the warm-up (once), then every object made so far is moved
    out of the garbage collector's reach (``gc.freeze``) for the worker. A worker is a copy of this process: without
    it, the worker's first full collection walks every object it inherited (botocore's data among them), writing to
    each page it touches, a pause of its own in every worker; the main process collects as before once the fork is
    done (``gc.unfreeze`` after it; that also thaws the few live objects Python 3.12 freezes at its start-up, which
    only means the collector walks them again)."""
    warm_up()
    gc.freeze()


# Registering reads nothing: the hooks run in a process about to fork, i.e. Ansible's main process before a worker.
os.register_at_fork(before=before_fork, after_in_parent=gc.unfreeze)


def secret_values(argument_spec, params):
    """The values of the options marked ``no_log``: our modules' are credentials, given as strings."""
    return {params[name] for name, spec in argument_spec.items() if spec.get("no_log") and isinstance(params.get(name), str)}


def alias_warnings(argument_spec, args):
    """What a module process warns about the arguments: an option given both by its name and by an alias.

    ``ArgumentSpecValidator`` finds these but keeps them private (``ValidationResult``); ``AnsibleModule`` reports them
    through process-wide module_utils state that, in the controller, goes to the display rather than the result.
    """
    return [f"Both option {name} and its alias {alias} are set."
            for name, spec in argument_spec.items() if name in args
            for alias in spec.get("aliases") or () if alias in args]


class ModuleFailed(Exception):
    """``fail_json`` in the controller: the failed result, carried to the action (``SystemExit`` in a module process)."""

    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result


class ControllerModule(AssumeRoleClients):
    """What a module's ``run(module)`` needs, in the controller; the same interface ``AnsibleAWSModule`` gives a module process.

    amazon.aws's ``AWSPluginBase`` serves plugins, not modules (no ``params``, ``check_mode`` or ``fail_json_aws``); this
    class reads its options through the same published functions that base uses (``get_aws_connection_info``,
    ``get_aws_region``).
    """

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


def validation_failure(validation, fqcn):
    """The failed result of arguments ``ArgumentSpecValidator`` refused, in a module process's words; None when valid."""
    if not validation.error_messages:
        return None
    message = validation.errors.msg
    if isinstance(validation.errors[0], UnsupportedError):
        message = f"Unsupported parameters for ({fqcn}) module: {message}"
    return {"failed": True, "changed": False, "msg": message}


class ControllerOnlyAction(ActionBase):
    """An action with no module behind it (its plugins/modules file is documentation only): the task's arguments
    validated against that file's ``ARGUMENT_SPEC``, check and diff mode passed to :meth:`work`, and an
    :class:`EksIrsaError` raised below turned into the task's failure here, once."""

    _supports_check_mode = True
    _supports_async = False
    TRANSFERS_FILES = False
    ARGUMENT_SPEC = {}

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        fqcn = self._task.resolved_action or self._task.action
        validation = ArgumentSpecValidator(self.ARGUMENT_SPEC).validate(plain_data(self._task.args))
        refused = validation_failure(validation, fqcn)
        if refused is not None:  # refused before anything is sent, with a module's words
            result.update(refused)
            return result
        try:
            result.update(self.work(fqcn, validation.validated_parameters, bool(self._task.check_mode), bool(self._task.diff)))
        except EksIrsaError as error:
            result.update(dict(error.details, failed=True, msg=error.message))
            result.setdefault("changed", False)
        return result

    def work(self, fqcn, params, check_mode, diff):
        """The task's result for validated ``params``; raises :class:`EksIrsaError` for a failure."""
        raise NotImplementedError


def same_python(interpreter, executable):
    """Whether ``interpreter`` runs as ``executable``: the same file, reached from the same folder.

    ``venv/bin/python`` and ``venv/bin/python3.11`` are the same Python with the same site-packages; ``/usr/bin/python3``
    may be the same file as ``venv/bin/python`` but has other packages (a venv is found from the path it was called by).
    """
    interpreter, executable = os.path.abspath(interpreter), os.path.abspath(executable)
    return (os.path.dirname(interpreter) == os.path.dirname(executable)
            and os.path.realpath(interpreter) == os.path.realpath(executable))


class ControllerModuleAction(ActionBase):
    """A module's action: its work in the controller when that is the same thing, a module process otherwise.

    Subclasses name the module's code: ``module``, with its ``ARGUMENT_SPEC``, ``ARGUMENT_RULES`` and ``run``.
    """

    _supports_check_mode = True
    _supports_async = True
    module = None

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

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars if task_vars is not None else {}
        fqcn = self._task.resolved_action or self._task.action
        refusal = self.controller_refusal(task_vars)
        if refusal is not None:
            display.vvv(f"{fqcn}: running as a module process ({refusal})", host=self._play_context.remote_addr)
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            result.update(self._execute_module(module_name=fqcn, task_vars=task_vars, wrap_async=wrap_async))
            return result  # ActionBase.cleanup, which the task executor calls, removes the module's temporary files
        display.vvv(f"{fqcn}: running in the controller (torque.eks_irsa controller execution)",
                    host=self._play_context.remote_addr)
        result.update(self.run_in_controller(fqcn))
        return result

    def run_in_controller(self, fqcn):
        """The module's work in this process, its result the action's own."""
        argument_spec = dict(aws_argument_spec(), **ASSUME_ROLE_ARGUMENT_SPEC, **self.module.ARGUMENT_SPEC)
        args = plain_data(self._task.args)
        validation = ArgumentSpecValidator(argument_spec, **self.module.ARGUMENT_RULES).validate(args)
        params = validation.validated_parameters
        secrets = secret_values(argument_spec, params)
        refused = validation_failure(validation, fqcn)
        if refused is not None:  # refused as a module process refuses it, before anything runs
            return remove_values(refused, secrets)
        module = ControllerModule(fqcn, params, bool(self._task.check_mode), bool(self._task.diff))
        try:
            result = dict(reported(module, self.module.run))
        except ModuleFailed as failure:
            result = failure.result
        result.setdefault("changed", False)
        warnings = alias_warnings(argument_spec, args) + module.warnings
        if warnings:
            result["warnings"] = warnings
        return remove_values(result, secrets)
