# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""No secret in any output: the assumed-role credentials and the Kubernetes token never reach stdout, stderr or artifacts.

To search for the real values, the test must know them. The playbook gets its temporary credentials from
``sts:AssumeRole`` answers, which neither the recording proxy nor moto's API expose; so the test puts a small
capturing endpoint in front of the stack (``AWS_ENDPOINT_URL``) that forwards every request unchanged and keeps the
``SecretAccessKey`` and ``SessionToken`` of every AssumeRole answer. Those are exactly the secrets the playbook held
(the base credentials ``testing``/``testing`` are dummies the test itself passes in the environment; they are not
searched for). The AWX-style run also gets a Kubernetes bearer token (``K8S_AUTH_API_KEY``) with a unique value.

Three runs, all at ``-vvv``: Ansible's default stdout callback (what a person sees), the json_report callback with
``--diff`` (every task result in full, as a log shipper would keep it), and ansible-runner (AWX's engine), whose
whole artifact directory (events, stdout, fact cache, command) is searched file by file. (ansible-runner writes the
environment it is given, credentials included, to ``artifacts/<id>/command``, readable by its owner only; that is where
the injected Kubernetes token may appear, and nowhere else.)
"""

from __future__ import annotations

import os
import re
import threading
import uuid

import ansible_runner
import pytest
import yaml

from tests.conftest import ANSIBLE_BIN, TOOLS_BIN
from tests.integration.reliability import ROLLOUT, InterceptingEndpoint, Scenario

pytestmark = pytest.mark.integration

ACCOUNTS = ("555555555520", "555555555521")
_SECRET_RE = re.compile(r"<(SecretAccessKey|SessionToken|AccessKeyId)>([^<]+)</\1>")


class CapturingEndpoint(InterceptingEndpoint):
    """Forwards everything to the stack and keeps the credentials of every sts:AssumeRole answer."""

    def __init__(self, upstream):
        self.captured = []  # [{"SecretAccessKey": ..., "SessionToken": ..., "AccessKeyId": ...}]
        self._lock = threading.Lock()
        super().__init__(upstream)

    def secrets(self):
        """Every secret access key and session token handed out so far."""
        with self._lock:
            return {value for creds in self.captured for key, value in creds.items() if key != "AccessKeyId"}

    def answer(self, method, path, headers, body):
        status, response_headers, payload = self.forward(method, path, headers, body)
        text = payload.decode("utf-8", "replace")
        if "<AssumeRoleResponse" in text:
            with self._lock:
                self.captured.append(dict(_SECRET_RE.findall(text)))
        return status, response_headers, payload


@pytest.fixture
def capturing_endpoint(local_stack):
    endpoint = CapturingEndpoint(local_stack.aws_url)
    yield endpoint
    endpoint.stop()


@pytest.fixture
def scenario(local_stack, tmp_path):
    made = Scenario(local_stack, tmp_path, "sec", ACCOUNTS)
    yield made
    made.purge()


def leaks(secrets, texts):
    """``[(where, secret prefix)]`` for every secret found in any of ``texts`` (``{where: text}``)."""
    return [(where, secret[:8] + "...") for where, text in texts.items() for secret in secrets if secret in text]


@pytest.mark.matrix
def test_verbose_runs_print_no_assumed_role_secret(local_stack, run_playbook, scenario, capturing_endpoint):
    env = {"AWS_ENDPOINT_URL": capturing_endpoint.url}

    default = run_playbook(ROLLOUT, inventory=scenario.inventory, args=["-vvv"],
                           env=dict(env, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default"))
    assert default.rc == 0, default.stdout[-3000:]
    secrets_first = capturing_endpoint.secrets()
    full = run_playbook(ROLLOUT, inventory=scenario.inventory, args=["-vvv", "--diff"], env=env)
    assert full.rc == 0, full

    secrets = capturing_endpoint.secrets()
    # Each run assumed a role in each account: the search is for real values, and there are some.
    assert len(capturing_endpoint.captured) >= 2 * len(ACCOUNTS) and len(secrets) >= 4 * len(ACCOUNTS)
    assert secrets_first < secrets
    assert all(len(secret) >= 16 for secret in secrets)
    # The runs did use those credentials (the roles exist in the assumed accounts) and printed a lot.
    assert scenario.role_names(ACCOUNTS[0]) == [scenario.runner]
    # (No module process runs any more, so no "ESTABLISH LOCAL CONNECTION": -vvv shows the controller's own lines.)
    assert "running in the controller" in default.stdout and "group(s) of ServiceAccounts in the controller" in default.stdout
    assert len(full.stdout) > 10000
    assert leaks(secrets, {"default stdout": default.stdout, "default stderr": default.stderr,
                           "json stdout": full.stdout, "json stderr": full.stderr}) == []


def test_ansible_runner_job_keeps_no_secret_in_output_or_artifacts(local_stack, scenario, capturing_endpoint, tmp_path,
                                                                   monkeypatch):
    """The rollout as an AWX job (ansible-runner, -vvv), with a Kubernetes bearer token as AWX injects it."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "K8S_AUTH_", "ANSIBLE_")) or name in ("KUBECONFIG", "BOTO_CONFIG"):
            monkeypatch.delenv(name)
    kube_token = f"sa-token-{uuid.uuid4().hex}"
    private_data_dir = tmp_path / "job"
    (private_data_dir / "home").mkdir(parents=True)
    with open(scenario.inventory, encoding="utf-8") as handle:
        (private_data_dir / "inventory.yml").write_text(yaml.safe_dump(yaml.safe_load(handle)))
    envvars = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": capturing_endpoint.url,
        "K8S_AUTH_HOST": local_stack.kube_url, "K8S_AUTH_API_KEY": kube_token, "K8S_AUTH_VERIFY_SSL": "False",
        "PATH": os.pathsep.join([ANSIBLE_BIN, TOOLS_BIN, os.environ.get("PATH", "")]),
        "HOME": str(private_data_dir / "home"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
    }

    runner = ansible_runner.run(private_data_dir=str(private_data_dir), playbook=ROLLOUT,
                                inventory=str(private_data_dir / "inventory.yml"), envvars=envvars, verbosity=3,
                                quiet=True, timeout=600)

    stdout = runner.stdout.read()
    assert (runner.status, runner.rc) == ("successful", 0), stdout[-4000:]
    secrets = capturing_endpoint.secrets()
    assert len(capturing_endpoint.captured) >= len(ACCOUNTS) and len(secrets) >= 2 * len(ACCOUNTS)
    assert scenario.service_accounts()[scenario.service_account(list(scenario.hosts)[0])]  # it did reach the cluster
    texts = {"runner stdout": stdout}
    artifact_dir = runner.config.artifact_dir
    for root, _dirs, files in os.walk(artifact_dir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, encoding="utf-8", errors="replace") as handle:
                texts[os.path.relpath(path, artifact_dir)] = handle.read()
    assert len(texts) > 10 and any(name.startswith("job_events") for name in texts)
    assert leaks(secrets, texts) == []
    # The bearer token: not in what the job printed or in its events (AWX shows and stores those). ansible-runner
    # itself records the environment it was handed (the token too) in the owner-only file artifacts/<id>/command.
    assert [where for where, _prefix in leaks({kube_token}, texts)] in ([], ["command"])
