# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rollout as an AWX / Automation Controller job template runs it: through ansible-runner, AWX's engine.

AWX hands a job its credentials as environment variables: the "Amazon Web Services" credential type injects
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and, for a session, ``AWS_SESSION_TOKEN`` and ``AWS_SECURITY_TOKEN``),
the "OpenShift or Kubernetes API Bearer Token" type injects ``K8S_AUTH_HOST``, ``K8S_AUTH_API_KEY``,
``K8S_AUTH_VERIFY_SSL`` and ``K8S_AUTH_SSL_CA_CERT`` (a file of the job's private data dir); survey answers arrive as extra
vars. The tests pass exactly that (plus the local stack's endpoint, which a custom credential type would inject), with no
kubeconfig and nothing inherited from the test process, then read the job artifacts AWX reads: status, rc, and the
``set_stats`` data of the ``playbook_on_stats`` event (``artifact_data``), which AWX hands to the next node of a workflow.
The second test runs its jobs as AWX runs them on an execution node: ``transmit`` on the controller, ``ansible-runner
worker`` on the node, ``process`` back on the controller, against a Kubernetes API served over TLS.
"""

from __future__ import annotations

import json
import os
import subprocess

import ansible_runner
import pytest
import yaml

from tests.conftest import ANSIBLE_BIN, TOOLS_BIN
from tests.stack.kube_emulator import KubeEmulator
from tests.stack.local_stack import CLUSTER_ACCOUNT
from tests.stack.tls import write_server_certificate

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
        assert "Blueprint: the spec.agent of the grain that deploys into each account, in namespace awx-job:" in stdout
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


# -- on an execution node: ansible-runner transmit | worker | process -----------------------------------------------

STREAMED_ACCOUNTS = {"stream-tools": CLUSTER_ACCOUNT, "stream-dev": "777777777711", "stream-prod": "777777777712"}
STREAMED_ROLE = "awx-streamed-runner"
# Secrets the AWX credentials hold: distinctive, so that any copy of them in what the job leaves behind is found.
SECRET_KEY = "awx-secret-key-0d9f8e7c6b5a"
SESSION_TOKEN = "awx-session-token-5a4b3c2d1e0f"
KUBE_TOKEN = "awx-kube-token-1f2e3d4c5b6a"


def streamed_inventory(stack, namespace):
    hosts = {host: dict({"eks_irsa_account_id": account}, **(
        {} if account == CLUSTER_ACCOUNT else {"eks_irsa_assume_role_arn": f"arn:aws:iam::{account}:role/irsa-deployer"}))
        for host, account in STREAMED_ACCOUNTS.items()}
    return {"all": {"children": {"eks_irsa_accounts": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                 "eks_irsa_cluster_name": stack.cluster_name, "eks_irsa_region": stack.region, "eks_irsa_namespace": namespace,
                 "eks_irsa_create_namespace": True,
                 "eks_irsa_roles": [{"name": STREAMED_ROLE, "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}]},
        "hosts": hosts}}}}


@pytest.fixture
def tls_emulator(tmp_path):
    """A Kubernetes API emulator of its own, over TLS, and its CA certificate (what the cluster's credential carries)."""
    ca, certificate, key = write_server_certificate(str(tmp_path / "tls"))
    emulator = KubeEmulator(tls=(certificate, key)).start()
    yield emulator, ca
    emulator.stop()


def streamed_job(stack, base, playbook, emulator, ca):
    """Run ``playbook`` as AWX runs a job on an execution node: the controller transmits the job (private data dir,
    inventory, credentials as environment variables), the node's ``ansible-runner worker`` runs it, the controller
    processes the event stream back into its own artifacts. Returns the processed runner and the node's directory."""
    name = playbook.rsplit(".", 1)[-1]
    controller, node = base / f"{name}-controller", base / f"{name}-node"
    for directory in ("env", "inventory"):
        (controller / directory).mkdir(parents=True)
    # AWX writes the job's inventory into the private data dir's inventory/, which ansible-runner passes to -i.
    (controller / "inventory" / "hosts.yml").write_text(yaml.safe_dump(streamed_inventory(stack, "awx-streamed"), sort_keys=False))
    # The credential's CA certificate is a file of the job's private data dir; its variable names the node's copy (AWX
    # names it under /runner, where the execution environment mounts the directory).
    (controller / "env" / "k8s_ca.pem").write_bytes(open(ca, "rb").read())
    envvars = {
        "AWS_ACCESS_KEY_ID": "ASIAAWXJOBEXAMPLE001", "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_SECURITY_TOKEN": SESSION_TOKEN,  # AWX injects a session's token under both names
        "K8S_AUTH_HOST": emulator.url, "K8S_AUTH_API_KEY": KUBE_TOKEN, "K8S_AUTH_VERIFY_SSL": "True",
        "K8S_AUTH_SSL_CA_CERT": str(node / "env" / "k8s_ca.pem"),
        "AWS_ENDPOINT_URL": stack.aws_url,  # the local stack's endpoint, as a custom credential type would inject it
        "PATH": os.pathsep.join([ANSIBLE_BIN, TOOLS_BIN, os.environ.get("PATH", "")]),
        "HOME": str(node / "home"), "ANSIBLE_LOCALHOST_WARNING": "false",
    }
    transmitted, streamed = base / f"{name}.transmit", base / f"{name}.worker"
    with open(transmitted, "wb") as output:
        ansible_runner.run(streamer="transmit", _output=output, private_data_dir=str(controller), playbook=playbook,
                           envvars=envvars, quiet=True, timeout=600)
    with open(transmitted, "rb") as stdin, open(streamed, "wb") as stdout:
        worker = subprocess.run([os.path.join(TOOLS_BIN, "ansible-runner"), "worker", "--private-data-dir", str(node)],
                                stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=660, check=False,
                                env={"PATH": os.environ.get("PATH", ""), "HOME": str(node / "home")})
    assert worker.returncode == 0, worker.stderr.decode()[-3000:]
    with open(streamed, "rb") as stream:
        processed = ansible_runner.run(streamer="process", _input=stream, private_data_dir=str(controller), quiet=True)
    return processed, node


def files_holding(directories, secrets):
    """``{path: [secrets it holds]}`` of every file under ``directories``."""
    found = {}
    for directory in directories:
        for root, _dirs, names in os.walk(directory):
            for file_name in names:
                path = os.path.join(root, file_name)
                with open(path, "rb") as handle:
                    data = handle.read()
                held = [secret for secret in secrets if secret.encode() in data]
                if held:
                    found[os.path.relpath(path, directory)] = held
    return found


class Processed:
    """What the controller holds of a streamed job once ``process`` has read the node's stream: its artifacts."""

    def __init__(self, processor):
        self.artifact_dir = processor.artifact_dir
        with open(os.path.join(self.artifact_dir, "status"), encoding="utf-8") as handle:
            self.status = handle.read().strip()
        with open(os.path.join(self.artifact_dir, "rc"), encoding="utf-8") as handle:
            self.rc = int(handle.read().strip())
        with open(os.path.join(self.artifact_dir, "stdout"), encoding="utf-8") as handle:
            self.stdout = handle.read()
        self.events = []
        for name in os.listdir(os.path.join(self.artifact_dir, "job_events")):
            with open(os.path.join(self.artifact_dir, "job_events", name), encoding="utf-8") as handle:
                self.events.append(json.load(handle))
        self.events.sort(key=lambda event: event["counter"])
        (stats,) = [event for event in self.events if event["event"] == "playbook_on_stats"]
        self.stats, self.artifact_data = stats["event_data"], stats["event_data"].get("artifact_data") or {}


def test_a_job_streamed_to_an_execution_node_uses_the_awx_credentials_and_leaves_no_secret_behind(
        local_stack, tmp_path, monkeypatch, tls_emulator):
    for name in list(os.environ):
        if name.startswith(("AWS_", "K8S_AUTH_", "ANSIBLE_")) or name in ("KUBECONFIG", "BOTO_CONFIG"):
            monkeypatch.delenv(name)
    emulator, ca = tls_emulator
    secrets = [SECRET_KEY, SESSION_TOKEN, KUBE_TOKEN]
    jobs = {}
    try:
        for playbook in ("torque.eks_irsa.rollout", "torque.eks_irsa.verify"):
            processor, node = streamed_job(local_stack, tmp_path, playbook, emulator, ca)
            job = jobs[playbook] = (Processed(processor), node)
            assert (job[0].status, job[0].rc) == ("successful", 0), job[0].stdout[-4000:]
            assert sorted(job[0].stats["processed"]) == sorted(STREAMED_ACCOUNTS)
        published = jobs["torque.eks_irsa.rollout"][0].artifact_data
        for host, account in STREAMED_ACCOUNTS.items():
            entry = published[f"eks_irsa_rollout_account_{account}_{host.replace('-', '_')}"]
            assert entry["host"] == host and entry["error"] is None
            assert entry["roles"][0]["arn"] == f"arn:aws:iam::{account}:role/{STREAMED_ROLE}"
            assert entry["roles"][0]["service_account_status"] == "created"
        verified = jobs["torque.eks_irsa.verify"][0].artifact_data["eks_irsa_verify"]
        assert (verified["errors"], verified["failed"]) == (0, [])

        # The ServiceAccounts are in the TLS cluster, written with the credential's bearer token...
        service_accounts = {obj["metadata"]["name"]: obj["metadata"]["annotations"] for obj in emulator.objects()
                            if obj["kind"] == "ServiceAccount" and obj["metadata"]["namespace"] == "awx-streamed"
                            and obj["metadata"]["name"] != "default"}
        assert service_accounts == {f"{STREAMED_ROLE}-{host}": {"eks.amazonaws.com/role-arn":
                                                                f"arn:aws:iam::{account}:role/{STREAMED_ROLE}"}
                                    for host, account in STREAMED_ACCOUNTS.items()}
        assert emulator.requests and {request["token"] for request in emulator.requests} == {KUBE_TOKEN}
        # ...and the roles in the accounts, through the AWS credential.
        for account in STREAMED_ACCOUNTS.values():
            local_stack.account_client("iam", account).get_role(RoleName=STREAMED_ROLE)

        # No secret in what the job leaves behind, but where ansible-runner itself keeps the job's environment: the
        # "starting" status it streams and records (the command, its cwd and env: artifacts/<ident>/command on both
        # sides), and the node's env/envvars, where the worker unpacks the transmitted environment.
        for playbook, (job, node) in jobs.items():
            assert not [secret for secret in secrets if secret in job.stdout], playbook
            assert not [secret for secret in secrets if secret in json.dumps(job.events)], playbook
            kept = files_holding([job.artifact_dir], secrets)
            assert set(kept) <= {"command"}, (playbook, kept)
            node_kept = files_holding([str(node)], secrets)
            assert set(node_kept) <= {os.path.join("env", "envvars")} | {
                os.path.join("artifacts", ident, "command") for ident in os.listdir(node / "artifacts")}, \
                (playbook, node_kept)
    finally:
        processor, _node = streamed_job(local_stack, tmp_path, "torque.eks_irsa.teardown", emulator, ca)
    teardown = Processed(processor)
    assert (teardown.status, teardown.rc) == ("successful", 0), teardown.stdout[-4000:]
    for account in STREAMED_ACCOUNTS.values():
        roles = local_stack.account_client("iam", account).list_roles()["Roles"]
        assert STREAMED_ROLE not in [role["RoleName"] for role in roles]
    assert [obj["metadata"]["name"] for obj in emulator.objects()
            if obj["kind"] == "ServiceAccount" and obj["metadata"]["namespace"] == "awx-streamed"] == ["default"]
