# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Session fixtures: the local stack, and real ``ansible-playbook`` runs against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from tests.stack.kube_emulator import KubeEmulator
from tests.stack.local_stack import LocalStack

# The test tools (pytest, moto, kubectl, the aws CLI) are the test venv's; the Ansible under test may be another venv's
# (a cell of the ansible-core matrix, tools/matrix.sh), with the collection installed from its built tarball.
TOOLS_BIN = os.path.dirname(sys.executable)
ANSIBLE_BIN = os.path.abspath(os.environ.get("EKS_IRSA_TEST_ANSIBLE_BIN") or TOOLS_BIN)
ANSIBLE_PYTHON = os.path.join(ANSIBLE_BIN, "python")


@pytest.fixture(name="emulator")
def emulator_fixture(tmp_path):
    """The Kubernetes emulator alone, started for one test, with a kubeconfig written for it (``emulator.kubeconfig``)."""
    emu = KubeEmulator().start()
    emu.write_kubeconfig(str(tmp_path / "kubeconfig"))
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """moto (behind the recording proxy) and the Kubernetes emulator, with one EKS cluster."""
    with LocalStack(str(tmp_path_factory.mktemp("stack"))) as stack:
        yield stack


class PlaybookRun:
    """The outcome of one ``ansible-playbook`` run, with the json callback's results parsed."""

    def __init__(self, process):
        self.rc = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr
        try:
            self.report = json.loads(process.stdout[process.stdout.index("{"):])
        except ValueError:
            self.report = {"plays": [], "stats": {}}

    def results(self, task_name):
        """``{host: result}`` of the (last) task called ``task_name``."""
        found = None
        for play in self.report["plays"]:
            for task in play["tasks"]:
                if task["task"]["name"] == task_name:
                    found = task["hosts"]
        if found is None:
            raise AssertionError(f"no task named {task_name!r} ran; output:\n{self.stdout[-3000:]}\n{self.stderr[-3000:]}")
        return found

    def result(self, task_name, host="localhost"):
        return self.results(task_name)[host]

    @property
    def stats(self):
        return self.report.get("stats", {})

    def changed_total(self):
        return sum(host.get("changed", 0) for host in self.stats.values())

    def __repr__(self):
        return f"PlaybookRun(rc={self.rc}, stderr={self.stderr[-2000:]!r})"


def ansible_env(stack=None, **extra):
    """Environment for ansible-playbook: quiet, a JSON report (callback_plugins/json_report.py), the stack."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_STDOUT_CALLBACK="json_report",
        ANSIBLE_CALLBACK_PLUGINS=os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_plugins"),
        ANSIBLE_PYTHON_INTERPRETER=ANSIBLE_PYTHON,
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_NOCOLOR="true",
        PATH=os.pathsep.join([ANSIBLE_BIN, TOOLS_BIN, env.get("PATH", "")]),
    )
    if stack is not None:
        env.update(stack.env())
    env.update(extra)
    return env


@pytest.fixture
def run_playbook(tmp_path, request):
    """Run a playbook (a path, or YAML text / a Python list of plays) and return a :class:`PlaybookRun`.

    Uses the ``local_stack`` fixture when the test requested it. Keyword arguments: ``check``, ``diff``,
    ``extra_vars`` (dict), ``inventory`` (path or YAML text), ``env`` (extra variables), ``args`` (list).
    """
    stack = request.getfixturevalue("local_stack") if "local_stack" in request.fixturenames else None
    counter = [0]

    def run(playbook, check=False, diff=False, extra_vars=None, inventory=None, env=None, args=()):
        counter[0] += 1
        if not isinstance(playbook, str) or not (os.path.exists(playbook) or playbook.startswith("torque.")):
            text = playbook if isinstance(playbook, str) else yaml.safe_dump(playbook, sort_keys=False)
            path = tmp_path / f"playbook-{counter[0]}.yml"
            path.write_text(textwrap.dedent(text))
            playbook = str(path)
        argv = [os.path.join(ANSIBLE_BIN, "ansible-playbook"), playbook]
        if inventory is None:
            argv += ["-i", "localhost,", "-c", "local"]
        else:
            if not os.path.exists(inventory):
                path = tmp_path / f"inventory-{counter[0]}.yml"
                path.write_text(textwrap.dedent(inventory))
                inventory = str(path)
            argv += ["-i", inventory]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        argv += list(args)
        # kubernetes.core caches API discovery in the temp directory, keyed by the API server's URL: a test's own
        # temp directory keeps a port reused from an earlier test from answering discovery out of that cache.
        temp_dir = tmp_path / "tmp"
        temp_dir.mkdir(exist_ok=True)
        process = subprocess.run(argv, env=ansible_env(stack, **{"TMPDIR": str(temp_dir), **(env or {})}),
                                 capture_output=True, text=True,
                                 timeout=900, check=False)
        return PlaybookRun(process)

    return run
