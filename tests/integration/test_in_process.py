# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The modules run in the controller (plugins/plugin_utils/controller.py) give exactly the results of module processes.

The same playbook runs both ways, switched by the documented variable ``eks_irsa_in_process``, on the same AWS
state: every task result must be identical. The playbook covers what could differ: check and diff mode, a loop
(nothing may leak between items), ``no_log``, a warning, a module failure, an argument-spec failure, a
read-only module, and the modules' own assume-role (``group/torque.eks_irsa.assume_role``). ``-vvv`` output shows
which way each task ran, so the test also proves that both ways were taken.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

pytestmark = pytest.mark.integration

ACCOUNTS = ("310000000071", "310000000072")
IN_CONTROLLER = "running in the controller"
AS_PROCESS = "running as a module process"
TASKS = ("issuer", "provider", "roles", "account", "provider, no_log", "warning", "bad issuer URL", "unknown option")


def inventory(*accounts):
    hosts = "\n".join(f'    account-{account}: {{account_id: "{account}"}}' for account in accounts)
    return f"all:\n  vars:\n    ansible_connection: local\n  hosts:\n{hosts}\n"


def play(stack):
    roles = [{"name": f"equal-{index}", "sa": f"runner-{index}"} for index in (1, 2)]
    provider = {"url": stack.issuer, "account_id": "{{ account_id }}", "tags": {"owner": "platform"}}
    role = {
        "name": "{{ item.name }}", "account_id": "{{ account_id }}",
        "trust": [{"issuer": stack.issuer, "service_accounts": ["envs:{{ item.sa }}"]}],
        "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "inline_policies": {"state": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::tf-state/*"}]}},
        "tags": {"owner": "platform"},
    }
    in_account = [
        {"name": "provider", "torque.eks_irsa.iam_oidc_provider": provider},
        {"name": "roles", "torque.eks_irsa.iam_web_identity_role": role,
         "loop": roles, "loop_control": {"label": "{{ item.name }}"}},
        {"name": "account", "torque.eks_irsa.irsa_account": {
            "account_id": "{{ account_id }}", "provider": {"url": stack.issuer, "tags": {"owner": "platform"}, "purge_tags": False},
            "roles": [dict(role, name="equal-3", trust=[{"issuer": stack.issuer, "service_accounts": ["envs:runner-3"]}])]}},
        {"name": "provider, no_log", "torque.eks_irsa.iam_oidc_provider": provider, "no_log": True},
        {"name": "warning", "torque.eks_irsa.iam_oidc_provider": dict(provider, resource_tags={"owner": "platform"})},
        {"name": "bad issuer URL", "torque.eks_irsa.iam_oidc_provider": {"url": "http://example.com/id/X"},
         "ignore_errors": True},
        {"name": "unknown option", "ignore_errors": True,
         "torque.eks_irsa.iam_web_identity_role": {"name": "x", "state": "absent", "no_such_option": 1}},
    ]
    assume_role = {"assume_role_arn": "arn:aws:iam::{{ account_id }}:role/deployer", "assume_role_session_name": "in-process-test"}
    return yaml.safe_dump([{
        "name": "modules in target accounts",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [
            {"name": "issuer",
             "torque.eks_irsa.eks_oidc_issuer": {"cluster_name": stack.cluster_name, "account_id": "{{ account_id }}"}},
            {"name": "in the target account",
             "module_defaults": {"group/torque.eks_irsa.assume_role": assume_role},
             "block": in_account},
        ],
    }], sort_keys=False)


# What may differ between the two ways and says nothing about the result:
# - a traceback (``exception``) names the files of the process that raised;
# - a dependency's import-time deprecation (amazon.aws importing ansible.module_utils._text, on ansible-core 2.20)
#   lands in every module process's ``deprecations``, and is shown once by the controller;
# - ``invocation``: a module process adds the arguments it ran with (always before ansible-core 2.21, then when
#   INJECT_INVOCATION is set); a result in the controller is the action's own and carries none, as ansible-core's
#   own actions' do (asserted below);
# - AnsibleModule adds the file attributes of any result's ``path`` that exists on the host, so a module process gives
#   a role (IAM path "/") the root directory's.
# The comparison leaves these out.
PATH_INFO = ("uid", "gid", "owner", "group", "mode", "state", "size", "secontext")


def _comparable(result):
    if isinstance(result, list):
        return [_comparable(item) for item in result]
    if not isinstance(result, dict):
        return result
    dropped = ("exception", "deprecations", "invocation") + (PATH_INFO if result.get("path") == "/" and "role_id" in result else ())
    return {key: _comparable(value) for key, value in result.items() if key not in dropped}


def report(run):
    """The json_report document (after the -vvv lines) as ``{(task, host): result}``, ready to compare."""
    assert run.rc == 0, f"rc={run.rc}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    document = json.loads(run.stdout[run.stdout.index("\n{") + 1:])
    return {(task["task"]["name"], host): _comparable(result)
            for play_ in document["plays"] for task in play_["tasks"] for host, result in task["hosts"].items()}


def invocations(run):
    """The tasks (and loop items) whose results carry ``invocation``."""
    document = json.loads(run.stdout[run.stdout.index("\n{") + 1:])
    results = [result for play_ in document["plays"] for task in play_["tasks"] for result in task["hosts"].values()]
    return [item for result in results for item in result.get("results", [result]) if "invocation" in item]


def ways(run):
    """How many tasks (and loop items) ran in the controller and how many as module processes."""
    return run.stdout.count(IN_CONTROLLER), run.stdout.count(AS_PROCESS)


def normalised(results, account):
    """The results with the account's ID replaced, so two accounts' results compare."""
    text = json.dumps(sorted(([task, host], result) for (task, host), result in results.items()))
    return json.loads(re.sub(account, "ACCOUNT", text.replace(f"account-{account}", "HOST")))


def run_both_ways(run_playbook, stack, accounts, **kwargs):
    """``(in worker, as processes)``: the playbook run each way on the same accounts, both at -vvv."""
    in_controller = run_playbook(play(stack), inventory=inventory(*accounts), args=["-vvv"], **kwargs)
    as_process = run_playbook(play(stack), inventory=inventory(*accounts), args=["-vvv"],
                              extra_vars={"eks_irsa_in_process": False}, **kwargs)
    return in_controller, as_process


@pytest.mark.matrix
def test_results_are_identical_in_the_controller_and_as_module_processes(local_stack, run_playbook):
    first, second = ACCOUNTS
    per_run = len(TASKS) + 1  # every task once, the loop twice

    # Check and diff mode on a fresh account: both ways predict the same creations, and write nothing.
    in_controller, as_process = run_both_ways(run_playbook, local_stack, [first], check=True, diff=True)
    assert ways(in_controller) == (per_run, 0) and ways(as_process) == (0, per_run), (ways(in_controller), ways(as_process))
    assert report(in_controller) == report(as_process)
    assert invocations(in_controller) == []
    # The warm-up ran in Ansible's main process, before it forked the workers (a worker inherits it and says nothing):
    # the strategy loaded the action class there, as the at-fork hook needs.
    assert in_controller.stdout.count("before forking workers") == 1, in_controller.stdout[-3000:]
    results = report(in_controller)
    host = f"account-{first}"
    assert results[("provider", host)]["changed"] is True and not results[("provider", host)]["diff"]["before"]
    assert [item["status"] for item in results[("roles", host)]["results"]] == ["created", "created"]
    account = results[("account", host)]
    assert (account["provider"]["status"], {name: role["status"] for name, role in account["roles"].items()}) == \
        ("created", {"equal-3": "created"}), account
    assert account["roles"]["equal-3"]["service_accounts"] == ["envs:runner-3"]
    assert [diff["after_header"] for diff in account["diff"]] == [f"OIDC provider {account['provider']['arn']}", "role equal-3"]
    assert local_stack.account_client("iam", first).list_roles()["Roles"] == []

    # Converge: in the controller in one fresh account, as module processes in another; the same results but for the account.
    created_in_controller = report(run_playbook(play(local_stack), inventory=inventory(first), args=["-vvv"], diff=True))
    created_as_process = report(run_playbook(play(local_stack), inventory=inventory(second), args=["-vvv"], diff=True,
                                             extra_vars={"eks_irsa_in_process": False}))

    def comparable(results, account):
        # IAM's role IDs and creation times differ between the two accounts.
        text = re.sub(r"\bAROA[0-9A-Z]{17}\b", "ROLE-ID", json.dumps(normalised(results, account)))
        return json.loads(re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^\"]*", "TIME", text))
    assert comparable(created_in_controller, first) == comparable(created_as_process, second)
    assert [item["status"] for item in created_in_controller[("roles", host)]["results"]] == ["created", "created"]

    # No-op, both ways on the same converged account.
    in_controller, as_process = run_both_ways(run_playbook, local_stack, [first], diff=True)
    assert report(in_controller) == report(as_process)
    results = report(in_controller)
    assert not any(result.get("changed") for result in results.values())

    # What each way kept from the rest: no_log hid the result, the failures say why, nothing was printed twice.
    hidden = results[("provider, no_log", host)]
    assert "censored" in hidden and "arn" not in hidden and hidden["changed"] is False, hidden
    assert results[("bad issuer URL", host)]["failed"] is True and "https" in results[("bad issuer URL", host)]["msg"]
    assert "resource_tags" in " ".join(results[("warning", host)]["warnings"])
    assert "no_such_option" in results[("unknown option", host)]["msg"]
    assert "Unsupported parameters" in results[("unknown option", host)]["msg"]
