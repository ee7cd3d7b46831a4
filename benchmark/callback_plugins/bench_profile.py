# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: where an ansible-playbook run spends its time.

ansible.posix's profile_tasks is not installed here, so this small aggregate callback records, for every
task, its wall time (from its start to the start of the next task, as the linear strategy runs it), the
summed per-host time, and how many module executions it caused. A module execution is one forked
module process on the controller (one per host, one per loop item); actions that run only in the
controller (set_fact, debug, assert, fail, include_role, ...) cause none.

Enabled by the benchmark with ``ANSIBLE_CALLBACK_PLUGINS=benchmark/callback_plugins`` and
``ANSIBLE_CALLBACKS_ENABLED=bench_profile``; it writes one JSON document to ``$BENCH_PROFILE_OUT``.
"""

DOCUMENTATION = r"""
name: bench_profile
type: aggregate
short_description: Per-task wall time and module executions, as JSON (benchmark only)
description:
  - Writes one JSON document to the file named by the BENCH_PROFILE_OUT environment variable at the end of the run.
requirements:
  - enabled in callbacks_enabled
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

# Action plugins that finish inside the controller process without forking a module.
CONTROLLER_ONLY = frozenset(
    prefix + name
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for name in ("set_fact", "debug", "assert", "fail", "set_stats", "validate_argument_spec", "meta",
                 "include_role", "include_tasks", "import_role", "import_tasks", "include_vars", "add_host",
                 "group_by", "pause", "noop")
)


def _executions(action, result, skipped=False):
    """Module processes one host's task result stands for: 0 for controller-only actions, 1, or one per loop item."""
    if skipped or action in CONTROLLER_ONLY:
        return 0
    if isinstance(result.get("results"), list):
        return sum(1 for item in result["results"] if isinstance(item, dict) and not item.get("skipped"))
    return 0 if result.get("skipped") else 1


class CallbackModule(CallbackBase):
    """Collect per-task timings and module executions; write them as JSON at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._started = time.monotonic()
        self._play = ""
        self._play_index = 0
        self._tasks = {}  # key -> aggregated record
        self._current = None  # (key, start time) of the task the strategy is running
        self._host_starts = {}  # (host, task uuid) -> start time
        self._host_executions = {}  # host -> module executions

    # -- task boundaries ----------------------------------------------------------------------

    def _close_current(self):
        if self._current is not None:
            key, start = self._current
            self._tasks[key]["wall_s"] += time.monotonic() - start
            self._current = None

    def _task_key(self, task):
        role = task._role.get_name() if getattr(task, "_role", None) else ""  # pylint: disable=protected-access
        return "|".join((self._play, role, task.get_name(), task.action))

    def _record_for(self, task):
        key = self._task_key(task)
        if key not in self._tasks:
            role = task._role.get_name() if getattr(task, "_role", None) else ""  # pylint: disable=protected-access
            self._tasks[key] = {"play": self._play, "play_index": self._play_index, "role": role, "task": task.get_name(), "action": task.action,
                                "wall_s": 0.0, "host_s": 0.0, "results": 0, "executions": 0, "starts": 0}
        return self._tasks[key]

    def v2_playbook_on_play_start(self, play):
        self._close_current()
        self._play = play.get_name()
        self._play_index += 1

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_current()
        record = self._record_for(task)
        record["starts"] += 1
        self._current = (self._task_key(task), time.monotonic())

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    # -- host results -------------------------------------------------------------------------

    def v2_runner_on_start(self, host, task):
        self._host_starts[(host.get_name(), task._uuid)] = time.monotonic()  # pylint: disable=protected-access

    def _finish(self, result, skipped=False):
        task, host = result._task, result._host.get_name()  # pylint: disable=protected-access
        record = self._record_for(task)
        start = self._host_starts.pop((host, task._uuid), None)  # pylint: disable=protected-access
        if start is not None:
            record["host_s"] += time.monotonic() - start
        executions = _executions(task.action, result._result, skipped)  # pylint: disable=protected-access
        record["results"] += 1
        record["executions"] += executions
        self._host_executions[host] = self._host_executions.get(host, 0) + executions

    def v2_runner_on_ok(self, result, **kwargs):
        self._finish(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finish(result)

    def v2_runner_on_skipped(self, result):
        self._finish(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._finish(result)

    # -- end of run ---------------------------------------------------------------------------

    def v2_playbook_on_stats(self, stats):
        self._close_current()
        path = os.environ.get("BENCH_PROFILE_OUT")
        if not path:
            return
        tasks = sorted(self._tasks.values(), key=lambda record: record["wall_s"], reverse=True)
        report = {
            "run_s": time.monotonic() - self._started,
            "tasks": tasks,
            "executions_by_host": dict(sorted(self._host_executions.items())),
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
