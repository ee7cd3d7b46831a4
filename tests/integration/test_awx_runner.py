# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rollout as an AWX / Automation Controller job template runs it: through ansible-runner, AWX's engine.

AWX hands a job its credentials as environment variables: the "Amazon Web Services" credential type injects
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SECURITY_TOKEN`` for a session), the
"OpenShift or Kubernetes API Bearer Token" type injects ``K8S_AUTH_HOST``, ``K8S_AUTH_API_KEY`` and
``K8S_AUTH_VERIFY_SSL``; survey answers arrive as extra vars. The test passes exactly that (plus the local
stack's endpoint, which a custom credential type would inject), with no kubeconfig and nothing inherited
from the test process, then reads the job artifacts AWX reads: status, rc, and the ``set_stats`` data of the
``playbook_on_stats`` event (``artifact_data``), which AWX hands to the next node of a workflow.
"""

from __future__ import annotations

import json
import os

import ansible_runner
import pytest
import yaml

from tests.conftest import ANSIBLE_BIN, TOOLS_BIN
from tests.stack.local_stack import CLUSTER_ACCOUNT

pytestmark = pytest.mark.integration

NAMESPACE = "awx-job"
ACCOUNTS = {"awx-tools": CLUSTER_ACCOUNT, "awx-dev": "555555555501", "awx-prod": "555555555502"}
ROLE = "awx-runner"  # unique in the session's shared cluster account


def inventory(stack):
    hosts = {}
    for host, account in ACCOUNTS.items():
        hosts[host] = {"eks_irsa_account_id": account}
        if account != CLUSTER_ACCOUNT:
            hosts[host]["eks_irsa_assume_role_arn"] = f"arn:aws:iam::{account}:role/irsa-deployer"
    return {"all": {"children": {"eks_irsa_accounts": {
        "vars": {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "eks_irsa_cluster_name": stack.cluster_name,
            "eks_irsa_region": stack.region,
            "eks_irsa_namespace": "set-by-the-survey",
            "eks_irsa_create_namespace": True,
            "eks_irsa_roles": [{"name": ROLE, "managed_policies": ["arn:aws:iam::aws:policy/PowerUserAccess"]}],
        },
        "hosts": hosts,
    }}}}


def awx_job(stack, private_data_dir, playbook):
    """Run ``playbook`` as an AWX job would, and return the runner."""
    envvars = {
        # "Amazon Web Services" credential
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # "OpenShift or Kubernetes API Bearer Token" credential (the emulator takes any token)
        "K8S_AUTH_HOST": stack.kube_url,
        "K8S_AUTH_API_KEY": "awx-job-token",
        "K8S_AUTH_VERIFY_SSL": "False",
        # what the execution environment provides, and the local stack's endpoint
        "AWS_ENDPOINT_URL": stack.aws_url,
        "PATH": os.pathsep.join([ANSIBLE_BIN, TOOLS_BIN, os.environ.get("PATH", "")]),
        "HOME": str(private_data_dir / "home"),  # no ~/.kube/config, no ~/.aws
        "ANSIBLE_LOCALHOST_WARNING": "false",
    }
    os.makedirs(envvars["HOME"], exist_ok=True)
    return ansible_runner.run(
        private_data_dir=str(private_data_dir),
        playbook=playbook,
        inventory=str(private_data_dir / "inventory.yml"),
        envvars=envvars,
        extravars={"eks_irsa_namespace": NAMESPACE},  # a survey answer
        quiet=True,
        timeout=600,
    )


def read_artifacts(runner):
    """What AWX stores for a job: status, rc, and the events (from the files ansible-runner wrote)."""
    artifact_dir = runner.config.artifact_dir
    with open(os.path.join(artifact_dir, "status"), encoding="utf-8") as handle:
        status = handle.read().strip()
    with open(os.path.join(artifact_dir, "rc"), encoding="utf-8") as handle:
        rc = int(handle.read().strip())
    events = []
    for name in os.listdir(os.path.join(artifact_dir, "job_events")):
        if name.endswith(".json"):
            with open(os.path.join(artifact_dir, "job_events", name), encoding="utf-8") as handle:
                events.append(json.load(handle))
    return status, rc, sorted(events, key=lambda event: event["counter"])


@pytest.fixture
def job_dir(tmp_path, monkeypatch, local_stack):
    """A private data dir with the inventory; nothing from the test process's environment reaches the job."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "K8S_AUTH_", "ANSIBLE_")) or name in ("KUBECONFIG", "BOTO_CONFIG"):
            monkeypatch.delenv(name)
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory(local_stack), sort_keys=False))
    return tmp_path


def test_rollout_through_ansible_runner_publishes_set_stats_for_awx(local_stack, job_dir):
    try:
        runner = awx_job(local_stack, job_dir, "torque.eks_irsa.rollout")
        status, rc, events = read_artifacts(runner)
        assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()[-4000:]
        assert (status, rc) == ("successful", 0)
        assert runner.stats["failures"] == {} and sorted(runner.stats["processed"]) == sorted(ACCOUNTS)

        # The set_stats data, as AWX reads it from the job's last event.
        (stats_event,) = [event for event in events if event["event"] == "playbook_on_stats"]
        published = stats_event["event_data"]["artifact_data"]["eks_irsa_rollout"]
        assert published["namespace"] == NAMESPACE and published["failed"] == []
        assert published["service_account_error"] is None
        assert sorted(published["accounts"]) == sorted(ACCOUNTS)
        for host, account in ACCOUNTS.items():
            entry = published["accounts"][host]
            assert entry["account_id"] == account and entry["error"] is None
            assert entry["provider"] in ("created", "ok")
            (role,) = entry["roles"]
            assert role == {"name": ROLE, "arn": f"arn:aws:iam::{account}:role/{ROLE}", "status": "created",
                            "service_account": f"{ROLE}-{host}", "service_account_status": "created"}
            # ...and it is true: the role exists in that account, the ServiceAccount carries its ARN.
            assert local_stack.account_client("iam", account).get_role(RoleName=ROLE)["Role"]["Arn"] == role["arn"]
        service_accounts = {obj["metadata"]["name"]: obj for obj in local_stack.kube_objects()
                            if obj["kind"] == "ServiceAccount" and obj["metadata"]["namespace"] == NAMESPACE}
        for host, account in ACCOUNTS.items():
            annotations = service_accounts[f"{ROLE}-{host}"]["metadata"]["annotations"]
            assert annotations["eks.amazonaws.com/role-arn"] == f"arn:aws:iam::{account}:role/{ROLE}"
        # The job output shows the summary table and never the AWS secret.
        stdout = "".join(event.get("stdout", "") for event in events)
        assert "Blueprint: in namespace awx-job" in stdout
        assert "testing" not in stdout
    finally:
        teardown = awx_job(local_stack, job_dir, "torque.eks_irsa.teardown")
    assert (teardown.status, teardown.rc) == ("successful", 0), teardown.stdout.read()[-4000:]
    for account in ACCOUNTS.values():
        roles = local_stack.account_client("iam", account).list_roles()["Roles"]
        assert ROLE not in [role["RoleName"] for role in roles]
    assert not [obj for obj in local_stack.kube_objects()
                if obj["kind"] == "ServiceAccount" and obj["metadata"].get("namespace") == NAMESPACE
                and obj["metadata"]["name"] != "default"]
