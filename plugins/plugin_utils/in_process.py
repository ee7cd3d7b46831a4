# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run this collection's modules inside the Ansible worker when the task runs on the controller.

Why: every module execution is a new Python process. For our AWS modules that process spends about 0.85 CPU-s
before its first request (Python start, AnsiballZ, ``ansible.module_utils``, boto3 and botocore imports, the service
models), and the rollout runs four of them per account: at 100 accounts that start-up alone is most of the run on a
2-core machine. The rollout's hosts are AWS accounts reached through APIs, with ``ansible_connection: local``, so the
module would run on the controller anyway, with the controller's Python. Run in the worker process Ansible forks
for the task, the same module code costs 0.1 to 0.2 CPU-s: the worker inherits the imports the controller did when it
loaded this action plugin, with botocore's data already parsed (see :func:`preload`), and the loop items of one
task share the worker.

How: each module has an action plugin of the same name (``plugins/action/<module>.py``, a subclass of
:class:`InProcessModuleAction`), which Ansible picks for the module's tasks. It behaves as Ansible's ``normal``
action, except that :meth:`InProcessModuleAction._execute_module` runs the module's ``main()`` in the worker when
:meth:`InProcessModuleAction.in_process_refusal` finds nothing against it:

- the arguments are built by Ansible's own ``_update_module_args`` and serialised with the module serialization
  profile, exactly as for a module process, and handed to ``AnsibleModule`` through ``ansible.module_utils.basic``;
- what the module prints is captured and parsed by Ansible's own ``_parse_returned_data``, so the result (``no_log``
  masking, ``invocation``, warnings, ``failed``/``msg``, ``diff``) is the one a module process gives;
- an exception escaping ``main()`` is reported by the AnsiballZ wrapper's own handler;
- module-side globals (the arguments, warnings and deprecations collected by ``ansible.module_utils``, and its flag
  saying it runs in the controller) are set for the run as in a module process and restored after it, so loop items
  do not see each other's and warnings land in the result, not straight on the display.

It falls back to the ordinary module process, with identical results, whenever running in the worker would not
be the same thing: a connection other than ``local``, ``become``, a task ``environment``, ``async``, a Python
interpreter other than the controller's (``ansible_python_interpreter`` must be the controller's
``ansible_playbook_python``, as the rollout inventory sets it), or the variable ``eks_irsa_in_process: false``.
``-vvv`` says which way each task ran.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys

from ansible import constants as C
from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.parsing.convert_bool import boolean

# What running a module in the worker relies on, as ansible-core 2.19 has it. Another ansible-core may lack it;
# then every task runs as a module process (see InProcessModuleAction.in_process_refusal).
try:
    from ansible.module_utils import _internal as module_utils_internal
    from ansible.module_utils._internal._ansiballz import _loader
    from ansible.module_utils.common.json import Direction, get_module_encoder
    IN_PROCESS_SUPPORT_ERROR = None
except ImportError as e:
    IN_PROCESS_SUPPORT_ERROR = f"this ansible-core lacks what in-worker runs need ({e})"
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys

display = Display()

COLLECTION = "torque.eks_irsa"
MODULES_PACKAGE = "ansible_collections.torque.eks_irsa.plugins.modules"
# Our modules declare no serialization profile, so Ansible uses 'legacy' for them (module_common's default).
PROFILE = "legacy"
SWITCH = "eks_irsa_in_process"


def module_package(module_name):
    """The Python name of one of this collection's modules."""
    return f"{MODULES_PACKAGE}.{module_name}"


def share_botocore_loaders():
    """Make every botocore session of this process share one data loader (per data path), which caches what it reads.

    amazon.aws makes a new boto3 session for every client, and each new session reads and parses botocore's JSON data
    again (endpoints, partitions, the service model, the endpoint rules: about 0.1 CPU-s per client). One botocore
    session already shares its loader between its clients; this shares it between sessions too. The data is read-only
    for botocore, and a loader is only shared between sessions with the same data path.
    """
    import botocore.loaders  # pylint: disable=import-outside-toplevel
    import botocore.session  # pylint: disable=import-outside-toplevel

    if getattr(botocore.session.create_loader, "shared_by_torque_eks_irsa", False):
        return
    create = botocore.loaders.create_loader
    loaders = {}

    def create_loader(search_path_string=None):
        if search_path_string not in loaders:
            loaders[search_path_string] = create(search_path_string)
        return loaders[search_path_string]

    create_loader.shared_by_torque_eks_irsa = True
    botocore.session.create_loader = create_loader


def warm_up(services=("sts", "iam", "eks")):
    """Read botocore's data for ``services`` once in this process (no AWS request: a client is only made)."""
    import boto3  # pylint: disable=import-outside-toplevel

    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="warm-up", aws_secret_access_key="warm-up")
    for service in services:
        session.client(service)


def preload(module_name):
    """Import the module (and with it ansible.module_utils, amazon.aws and boto3) into this process, and warm botocore.

    Called when Ansible loads the action plugin, which it does in the controller process before it forks the
    task's workers (the strategy looks the action class up), so every worker starts with the imports done and
    botocore's data parsed (:func:`share_botocore_loaders`). A failure is left for the module run to report,
    exactly as a module process would.
    """
    try:
        importlib.import_module(module_package(module_name))
        if not _warmed:
            share_botocore_loaders()
            warm_up()
            _warmed.append(True)
    except Exception:  # pylint: disable=broad-except
        pass


_warmed = []


def same_python(interpreter, executable):
    """Whether ``interpreter`` runs as ``executable``: the same file, reached from the same folder.

    ``venv/bin/python`` and ``venv/bin/python3.11`` are the same Python with the same site-packages; ``/usr/bin/python3``
    may be the same file as ``venv/bin/python`` but has other packages (a venv is found from the path it was called by).
    """
    interpreter, executable = os.path.abspath(interpreter), os.path.abspath(executable)
    return (os.path.dirname(interpreter) == os.path.dirname(executable)
            and os.path.realpath(interpreter) == os.path.realpath(executable))


@contextlib.contextmanager
def _module_globals(json_params):
    """Hand ``json_params`` to AnsibleModule the way the AnsiballZ wrapper does, and restore every global after.

    ``ansible.module_utils`` knows when it is imported by the controller and then sends warnings and deprecations
    straight to the display; a module collects them into its result instead, so the run is marked as not the controller.
    """
    saved_args = basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE, basic._PARSED_MODULE_ARGS
    saved_is_controller = module_utils_internal.is_controller
    saved_warnings = dict(module_warnings._global_warnings), dict(module_warnings._global_deprecations)
    module_warnings._global_warnings.clear()
    module_warnings._global_deprecations.clear()
    basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = json_params, PROFILE
    module_utils_internal.is_controller = False
    try:
        yield
    finally:
        module_utils_internal.is_controller = saved_is_controller
        basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE, basic._PARSED_MODULE_ARGS = saved_args
        module_warnings._global_warnings.clear()
        module_warnings._global_warnings.update(saved_warnings[0])
        module_warnings._global_deprecations.clear()
        module_warnings._global_deprecations.update(saved_warnings[1])


def run_module_main(module_name, json_params):
    """Run the module's ``main()`` with ``json_params``; ``{'rc', 'stdout', 'stderr'}`` as from a module process."""
    stdout, stderr = io.StringIO(), io.StringIO()
    rc = 0
    with _module_globals(json_params), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            try:
                importlib.import_module(module_package(module_name)).main()
                # A module must print its result and exit; the wrapper reports one that does not, and so do we.
                raise RuntimeError("New-style module did not handle its own exit.")
            except Exception as ex:  # pylint: disable=broad-except
                _loader._handle_exception(ex, PROFILE)  # prints the failure as the AnsiballZ wrapper does, then exits 1
        except SystemExit as ex:
            rc = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
    return dict(rc=rc, stdout=stdout.getvalue(), stderr=stderr.getvalue())


class InProcessModuleAction(NormalAction):
    """Ansible's ``normal`` action, running this collection's module in the worker when that is the same thing."""

    def in_process_refusal(self, module_name, task_vars, wrap_async):
        """Why the module must run as its own process, or None when it may run in the worker."""
        if IN_PROCESS_SUPPORT_ERROR is not None:
            return IN_PROCESS_SUPPORT_ERROR
        if not module_name.startswith(COLLECTION + "."):
            return f"{module_name} is not a module of {COLLECTION}"
        if not boolean(self._templar.template(task_vars.get(SWITCH, True)), strict=False):
            return f"{SWITCH} is false"
        if self._connection.transport != "local":
            return f"the connection is {self._connection.transport}, not local"
        if self._play_context.become:
            return "the task uses become"
        if wrap_async or self._task.async_val:
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

    def _execute_module(self, module_name=None, module_args=None, tmp=None, task_vars=None, persist_files=False,
                        delete_remote_tmp=None, wrap_async=False, ignore_unknown_opts=False):
        task_vars = task_vars if task_vars is not None else {}
        fqcn = module_name or self._task.resolved_action or self._task.action
        refusal = self.in_process_refusal(fqcn, task_vars, wrap_async)
        if refusal is not None:
            display.vvv(f"{fqcn}: running as a module process ({refusal})", host=self._play_context.remote_addr)
            return super()._execute_module(module_name=module_name, module_args=module_args, tmp=tmp, task_vars=task_vars,
                                           persist_files=persist_files, delete_remote_tmp=delete_remote_tmp,
                                           wrap_async=wrap_async, ignore_unknown_opts=ignore_unknown_opts)

        display.vvv(f"{fqcn}: running in the worker process (torque.eks_irsa in-process execution)",
                    host=self._play_context.remote_addr)
        module_args = self._task.args if module_args is None else module_args
        self._update_module_args(fqcn, module_args, task_vars, ignore_unknown_opts=ignore_unknown_opts)
        encoder = get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)
        json_params = json.dumps(dict(ANSIBLE_MODULE_ARGS=module_args), cls=encoder).encode()

        data = self._parse_returned_data(run_module_main(fqcn.rsplit(".", 1)[1], json_params), PROFILE)
        # What ActionBase._execute_module does with a module's answer (its other steps concern stdout, 'results'
        # and interpreter discovery, which our modules and this path do not have).
        data.pop("_ansible_suppress_tmpdir_delete", None)
        remove_internal_keys(data)
        return data
