# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only stdout callback: one JSON document with every task result per host, and the stats.

ansible-core 2.19 moved its json callback to ansible.posix, which the tests do not install; this is
the small part of it the tests need (tests/conftest.py parses it).
"""

DOCUMENTATION = r"""
name: json_report
type: stdout
short_description: One JSON report of all task results (tests only)
description:
  - Prints, at the end of the run, one JSON document with the plays, their tasks, each host's result and the stats.
"""

import json

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "json_report"

    def __init__(self):
        super().__init__()
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.plays[-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def _record(self, result, **flags):
        outcome = dict(result._result, **flags)  # pylint: disable=protected-access
        self.plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = outcome  # pylint: disable=protected-access

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        custom = stats.custom if hasattr(stats, "custom") else {}
        self._display.display(json.dumps({"plays": self.plays, "stats": summary, "custom_stats": custom},
                                         cls=AnsibleJSONEncoder, indent=2, sort_keys=True))
