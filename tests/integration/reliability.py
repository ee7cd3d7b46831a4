# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared by the reliability tests (test_bad_input, test_secrets, test_least_privilege, test_concurrency, test_faults).

A :class:`Scenario` is one test's rollout: its own target accounts (``5555555555xx``, reached by
``sts:AssumeRole`` as in a real multi-account inventory), its own namespace, and readers that ask the stack
directly (boto3 in each account, the Kubernetes emulator) rather than trusting the playbook's word.
:meth:`Scenario.purge` removes what a test made with boto3 and kubectl, so a test cleans up even when the
product under test is broken.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import subprocess
import threading
import urllib.parse

import yaml

from tests.conftest import ANSIBLE_BIN, TOOLS_BIN
from tests.stack.local_stack import CLUSTER_ACCOUNT

ANSIBLE_PLAYBOOK = os.path.join(ANSIBLE_BIN, "ansible-playbook")
KUBECTL = os.path.join(TOOLS_BIN, "kubectl")
ROLLOUT = "torque.eks_irsa.rollout"
PREFLIGHT_PLAY = "Check every account's inputs and look up the cluster's OIDC issuer"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
DEPLOYER = "arn:aws:iam::{}:role/irsa-deployer"


class Scenario:
    """One test's inventory (hosts ``<tag>-<n>``, one per account) and independent readers of what it made."""

    def __init__(self, stack, directory, tag, accounts, roles=None, **group_vars):
        self.stack, self.tag = stack, tag
        self.namespace = f"rel-{tag}"
        self.runner = f"rel-{tag}-runner"  # unique in every account, the shared cluster account included
        self.hosts = {f"{tag}-{index}": account for index, account in enumerate(accounts)}
        self.roles = roles if roles is not None else [
            {"name": self.runner, "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}]
        self.group_vars = group_vars
        self.inventory = os.path.join(str(directory), f"inventory-{tag}.yml")
        self._cluster_provider_before = None
        self._clients = {}
        if CLUSTER_ACCOUNT in accounts:
            self._cluster_provider_before = self.provider_arn(CLUSTER_ACCOUNT) in self.providers(CLUSTER_ACCOUNT)
        self.write()

    # -- the inventory -----------------------------------------------------------------------------------------

    def document(self):
        hosts = {}
        for host, account in self.hosts.items():
            hosts[host] = {"eks_irsa_account_id": account}
            if account != CLUSTER_ACCOUNT:
                hosts[host]["eks_irsa_assume_role_arn"] = DEPLOYER.format(account)
        group = dict({
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "eks_irsa_cluster_name": self.stack.cluster_name,
            "eks_irsa_region": self.stack.region,
            "eks_irsa_namespace": self.namespace,
            "eks_irsa_create_namespace": True,
            "eks_irsa_tags": {"test": f"reliability-{self.tag}"},
            "eks_irsa_roles": self.roles,
        }, **self.group_vars)
        return {"all": {"children": {"eks_irsa_accounts": {"vars": group, "hosts": hosts}}}}

    def write(self, document=None):
        with open(self.inventory, "w", encoding="utf-8") as handle:
            yaml.safe_dump(document or self.document(), handle, sort_keys=False)
        return self.inventory

    def service_account(self, host):
        return f"{self.runner}-{host}"

    # -- AWS, read with boto3 in each account -----------------------------------------------------------------

    @property
    def accounts(self):
        return sorted(set(self.hosts.values()))

    def iam(self, account):
        """An IAM client acting in ``account`` (made once: a client and its assume-role cost about a second here)."""
        if account not in self._clients:
            self._clients[account] = self.stack.account_client("iam", account)
        return self._clients[account]

    def provider_arn(self, account, issuer=None):
        host_path = (issuer or self.stack.issuer).removeprefix("https://").rstrip("/")
        return f"arn:aws:iam::{account}:oidc-provider/{host_path}"

    def providers(self, account):
        return sorted(p["Arn"] for p in self.iam(account).list_open_id_connect_providers()["OpenIDConnectProviderList"])

    def role_names(self, account):
        pages = self.iam(account).get_paginator("list_roles").paginate()
        return sorted(role["RoleName"] for page in pages for role in page["Roles"])

    def trust_policy(self, account, role_name):
        """The trust policy IAM holds, as a dict (boto3 decodes the URL-encoded JSON)."""
        document = self.iam(account).get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
        return document if isinstance(document, dict) else json.loads(urllib.parse.unquote(document))

    def aws_state(self):
        """``{account: {"providers": [...], "roles": [...]}}`` for every account of the scenario."""
        return {account: {"providers": self.providers(account), "roles": self.role_names(account)} for account in self.accounts}

    # -- Kubernetes ----------------------------------------------------------------------------------------------

    def kubectl(self, *args, check=True):
        process = subprocess.run([KUBECTL, "--kubeconfig", self.stack.kubeconfig, *args], capture_output=True, text=True,
                                 timeout=120, check=False)
        assert process.returncode == 0 or not check, f"kubectl {' '.join(args)}: {process.stderr}"
        return process

    def service_accounts(self):
        """``{name: ServiceAccount}`` of the scenario's namespace, from the emulator."""
        return {obj["metadata"]["name"]: obj for obj in self.stack.kube_objects()
                if obj["kind"] == "ServiceAccount" and obj["metadata"].get("namespace") == self.namespace}

    # -- clean-up ------------------------------------------------------------------------------------------------

    def purge(self):
        """Delete the scenario's roles and providers (boto3) and its namespace (kubectl); tolerant of what is gone.

        In the shared cluster account only the scenario's own role names go, and the provider only when this
        scenario created it; in its own accounts every role but the stack's and every provider go.
        """
        role_names = {role["name"].lower() for role in self.roles if isinstance(role, dict) and role.get("name")}
        for account in self.accounts:
            iam = self.iam(account)
            for name in self.role_names(account):
                if account == CLUSTER_ACCOUNT and name.lower() not in role_names:
                    continue
                if account != CLUSTER_ACCOUNT and name in ("stack-inspector", "irsa-deployer"):
                    continue
                delete_role(iam, name)
            for arn in self.providers(account):
                if account == CLUSTER_ACCOUNT and (arn != self.provider_arn(account) or self._cluster_provider_before):
                    continue
                iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        self.purge_namespace()

    def purge_namespace(self):
        if any(obj["kind"] == "Namespace" and obj["metadata"]["name"] == self.namespace for obj in self.stack.kube_objects()):
            self.kubectl("delete", "namespace", self.namespace, "--wait=false")


def delete_role(iam, name):
    for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    iam.delete_role(RoleName=name)


# -- what a run sent and did -------------------------------------------------------------------------------------

def mutating_aws_requests(stack, accounts=None):
    return [r for r in stack.aws_requests() if r["mutating"] and (accounts is None or r["account"] in accounts)]


def kube_writes(stack, since):
    """Writes the emulator stored (server-side dry runs excluded) after request number ``since``."""
    return [r for r in stack.kube_requests()[since:] if r["mutating"] and not r["dry_run"]]


def failures(run):
    """``[(play, task, host, msg)]`` of every failed (not rescued-away) task result of a json_report run."""
    return [(play["play"]["name"], task["task"]["name"], host, str(result.get("msg")))
            for play in run.report["plays"] for task in play["tasks"]
            for host, result in task["hosts"].items() if result.get("failed")]


def task_results(run, name):
    """``{host: result}`` of every task called ``name`` (merged over plays and repeats)."""
    found = {}
    for play in run.report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == name:
                found.update(task["hosts"])
    return found


class InterceptingEndpoint:
    """A small HTTP endpoint in front of the local stack: a test answers some requests itself, the rest go on.

    Subclasses override :meth:`answer` (``(status, headers, payload)`` for one request) and call :meth:`forward`
    for what they do not answer; every forwarded request still reaches the stack's recording proxy.
    """

    def __init__(self, upstream):
        self.upstream = urllib.parse.urlsplit(upstream)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method, path, headers, body):
        return self.forward(method, path, headers, body)

    def forward(self, method, path, headers, body, upstream=None):
        """Send the request on to ``upstream`` (default: the stack's AWS endpoint); its ``(status, headers, payload)``."""
        upstream = upstream or self.upstream
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        try:
            connection.request(method, path, body=body or None,
                               headers={k: v for k, v in headers.items() if k.lower() not in ("connection", "transfer-encoding")})
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler_class(self):
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                """Quiet."""

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = endpoint.answer(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        return Handler
