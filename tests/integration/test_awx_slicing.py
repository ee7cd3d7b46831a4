# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A sliced AWX job: the rollout, verify and teardown as 3 slices through ansible-runner, as AWX runs them.

AWX slices a job template's inventory by sorting its hosts by name and giving slice i of n the hosts ``[i-1::n]``;
each slice is its own ansible-playbook run with an inventory of only its hosts (so ``run_once`` runs once per slice and
no slice sees another's hostvars), the slices run at the same time, and the workflow hands the next node the slices'
``set_stats`` merged with a shallow ``dict.update`` in the order they finished. The test does exactly that and compares
it with one unsliced job: the same end state in every account and in the cluster, and the same result for each account.
"""

from __future__ import annotations

import json
import os
import threading

import ansible_runner
import pytest
import yaml

from tests.conftest import ANSIBLE_BIN, TOOLS_BIN
from tests.stack.local_stack import CLUSTER_ACCOUNT, DUMMY_CREDENTIALS, REPO_ROOT

pytestmark = pytest.mark.integration

NAMESPACE = "awx-sliced"
ROLE = "awx-sliced-runner"  # unique in the session's shared cluster account
ACCOUNTS = {"slice-tools": CLUSTER_ACCOUNT, **{f"slice-{name}": f"7777777777{index:02d}" for index, name in enumerate(
    ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"), start=1)}}
SLICES = 3
POLICY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def awx_slices(hosts, count):
    """AWX's slicing rule: the hosts sorted by name, slice i of ``count`` (from 1) gets ``hosts[i-1::count]``."""
    ordered = sorted(hosts)
    return [ordered[index::count] for index in range(count)]


def write_inventory(path, stack, hosts):
    entries = {host: dict({"eks_irsa_account_id": ACCOUNTS[host]}, **(
        {} if ACCOUNTS[host] == CLUSTER_ACCOUNT else {"eks_irsa_assume_role_arn": f"arn:aws:iam::{ACCOUNTS[host]}:role/irsa-deployer"}))
        for host in hosts}
    path.write_text(yaml.safe_dump({"all": {"children": {"eks_irsa_accounts": {
        "vars": {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "eks_irsa_cluster_name": stack.cluster_name,
            "eks_irsa_region": stack.region,
            "eks_irsa_namespace": NAMESPACE,
            "eks_irsa_create_namespace": True,
            "eks_irsa_roles": [{"name": ROLE, "managed_policies": [POLICY]}],
        },
        "hosts": entries,
    }}}}, sort_keys=False))
    return str(path)


class Jobs:
    """AWX jobs of one playbook over an inventory, unsliced or sliced; each job its own ansible-runner private data dir."""

    def __init__(self, stack, base):
        self.stack, self.base, self.count = stack, base, 0

    def _envvars(self, home):
        os.makedirs(home, exist_ok=True)
        return dict(DUMMY_CREDENTIALS, AWS_ENDPOINT_URL=self.stack.aws_url, K8S_AUTH_KUBECONFIG=self.stack.kubeconfig, HOME=home,
                    PATH=os.pathsep.join([ANSIBLE_BIN, TOOLS_BIN, os.environ.get("PATH", "")]), ANSIBLE_LOCALHOST_WARNING="false")

    def start(self, playbook, hosts, finished):
        self.count += 1
        job_dir = self.base / f"job-{self.count}"
        job_dir.mkdir()
        inventory = write_inventory(job_dir / "inventory.yml", self.stack, hosts)
        _thread, runner = ansible_runner.run_async(
            private_data_dir=str(job_dir), playbook=playbook, inventory=inventory, envvars=self._envvars(str(job_dir / "home")),
            quiet=True, timeout=600, finished_callback=finished)
        return _thread, runner

    def report(self, extravars):
        """Run the example's workflow node (examples/awx/report.yml) with ``extravars``, as AWX runs a node after a job."""
        self.count += 1
        job_dir = self.base / f"job-{self.count}"
        job_dir.mkdir()
        return ansible_runner.run(private_data_dir=str(job_dir), playbook=os.path.join(REPO_ROOT, "examples", "awx", "report.yml"),
                                  extravars=extravars, envvars=self._envvars(str(job_dir / "home")), quiet=True, timeout=300)

    def run(self, playbook, slices):
        """Run ``playbook`` as one job per slice, all at once, and return ``[(hosts, runner)]`` in the order they finished."""
        done, lock, started = [], threading.Lock(), []

        def finished(runner):
            with lock:
                done.append(runner)

        for hosts in slices:
            started.append((hosts, *self.start(playbook, hosts, finished)))
        for _hosts, thread, _runner in started:
            thread.join(timeout=660)
        by_runner = {id(runner): hosts for hosts, _thread, runner in started}
        assert len(done) == len(slices)
        return [(by_runner[id(runner)], runner) for runner in done]


def artifact_data(runner):
    """A job's set_stats data, as AWX reads it from the playbook_on_stats event."""
    events = [event for event in runner.events if event["event"] == "playbook_on_stats"]
    return events[0]["event_data"].get("artifact_data") or {}


def merged_artifacts(finished):
    """What an AWX workflow hands the node after a sliced job: the slices' artifacts, a shallow update in finish order."""
    merged = {}
    for _hosts, runner in finished:
        merged.update(artifact_data(runner))
    return merged


def per_account(artifacts, kind):
    prefix = f"eks_irsa_{kind}_account_"
    return {key: value for key, value in artifacts.items() if key.startswith(prefix)}


def end_state(stack):
    """Every account's role (ARN, trust policy, attached policies) and the namespace's ServiceAccounts (annotations)."""
    roles = {}
    for host, account in ACCOUNTS.items():
        iam = stack.account_client("iam", account)
        try:
            role = iam.get_role(RoleName=ROLE)["Role"]
        except iam.exceptions.NoSuchEntityException:
            roles[host] = None
            continue
        attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]]
        roles[host] = {"arn": role["Arn"], "trust": role["AssumeRolePolicyDocument"], "attached": attached}
    service_accounts = {obj["metadata"]["name"]: obj["metadata"].get("annotations") for obj in stack.kube_objects()
                        if obj["kind"] == "ServiceAccount" and obj["metadata"]["namespace"] == NAMESPACE
                        and obj["metadata"]["name"] != "default"}
    return roles, service_accounts


def succeeded(finished):
    for hosts, runner in finished:
        assert (runner.status, runner.rc) == ("successful", 0), (hosts, runner.stdout.read()[-4000:])


def test_a_sliced_job_converges_each_slices_accounts_and_its_merged_artifacts_hold_every_accounts_result(local_stack, tmp_path,
                                                                                                         monkeypatch):
    for name in list(os.environ):  # nothing from the test process reaches the jobs but what a job is given
        if name.startswith(("AWS_", "K8S_AUTH_", "ANSIBLE_")) or name in ("KUBECONFIG", "BOTO_CONFIG"):
            monkeypatch.delenv(name)
    jobs = Jobs(local_stack, tmp_path)
    slices = awx_slices(ACCOUNTS, SLICES)
    assert [len(hosts) for hosts in slices] == [3, 3, 2] and sorted(sum(slices, [])) == sorted(ACCOUNTS)
    try:
        # One unsliced job first: its results and end state are the reference.
        (whole,) = jobs.run("torque.eks_irsa.rollout", [list(ACCOUNTS)])
        succeeded([whole])
        unsliced = artifact_data(whole[1])
        reference_state = end_state(local_stack)
        assert all(reference_state[0].values()) and len(reference_state[1]) == len(ACCOUNTS)
        succeeded(jobs.run("torque.eks_irsa.teardown", [list(ACCOUNTS)]))
        assert end_state(local_stack) == ({host: None for host in ACCOUNTS}, {})

        # The same rollout as 3 slices at once.
        finished = jobs.run("torque.eks_irsa.rollout", slices)
        succeeded(finished)
        for hosts, runner in finished:  # each slice converged exactly its own accounts
            assert sorted(runner.stats["processed"]) == sorted(hosts)
            assert sorted(artifact_data(runner)["eks_irsa_rollout"]["accounts"]) == sorted(hosts)
        assert end_state(local_stack) == reference_state
        merged = merged_artifacts(finished)
        # Every account's result survives the merge, equal to the unsliced job's; the run-level key is the last slice's.
        assert per_account(merged, "rollout") == per_account(unsliced, "rollout")
        assert len(per_account(merged, "rollout")) == len(ACCOUNTS)
        for key, entry in per_account(merged, "rollout").items():
            assert entry["error"] is None and entry["roles"][0]["status"] == "created", (key, entry)
            assert entry["roles"][0]["arn"] == f"arn:aws:iam::{ACCOUNTS[entry['host']]}:role/{ROLE}"
            assert entry["roles"][0]["service_account_status"] == "created"
        assert sorted(merged["eks_irsa_rollout"]["accounts"]) == sorted(finished[-1][0])
        # The workflow's next node gets them as extra variables: the example play there lists every account's result.
        report = jobs.report(json.loads(json.dumps(merged)))  # AWX stores the artifacts as JSON
        assert (report.status, report.rc) == ("successful", 0), report.stdout.read()[-3000:]
        shown = [event["event_data"]["res"]["msg"] for event in report.events
                 if event["event"] == "runner_item_on_ok" and event["event_data"]["task"] == "Show each account's result"]
        assert shown == [f"{ACCOUNTS[host]} {host}: {ROLE} created" for host in sorted(ACCOUNTS)]
        key, entry = sorted(per_account(merged, "rollout").items())[0]
        failed = jobs.report(dict(merged, **{key: dict(entry, error="could not assume the role: AccessDenied")}))
        assert failed.status == "failed" and f"The rollout failed for {entry['host']};" in failed.stdout.read()
        nothing = jobs.report({})
        assert nothing.status == "failed" and "No eks_irsa_rollout_account_* variable" in nothing.stdout.read()

        # Again, sliced: nothing changes anywhere.
        again = jobs.run("torque.eks_irsa.rollout", slices)
        succeeded(again)
        assert all(runner.stats["changed"] == {} for _hosts, runner in again)
        statuses = {entry["host"]: entry["roles"][0]["status"] for entry in per_account(merged_artifacts(again), "rollout").values()}
        assert statuses == {host: "ok" for host in ACCOUNTS}

        # Verify, sliced: every account's findings reach the merged artifacts.
        verified = jobs.run("torque.eks_irsa.verify", slices)
        succeeded(verified)
        findings = per_account(merged_artifacts(verified), "verify")
        assert sorted(entry["host"] for entry in findings.values()) == sorted(ACCOUNTS)
        assert all(entry["errors"] == 0 and entry["error"] is None and entry["findings"] for entry in findings.values())
    finally:
        torn_down = jobs.run("torque.eks_irsa.teardown", slices)
    succeeded(torn_down)
    assert end_state(local_stack) == ({host: None for host in ACCOUNTS}, {})
