# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A "pod" of a ServiceAccount: a process with exactly what EKS gives a pod, running the AWS SDK's own credential chain.

EKS's pod identity webhook reads the pod's ServiceAccount when the pod is created. When the ServiceAccount carries
``eks.amazonaws.com/role-arn``, the pod gets ``AWS_ROLE_ARN``, ``AWS_WEB_IDENTITY_TOKEN_FILE`` (a token of the
ServiceAccount that the kubelet asks the TokenRequest API for, with the audience of ``eks.amazonaws.com/audience``,
default ``sts.amazonaws.com``, and the lifetime of ``eks.amazonaws.com/token-expiration``, default a day),
``AWS_REGION`` / ``AWS_DEFAULT_REGION`` and ``AWS_STS_REGIONAL_ENDPOINTS=regional``. Without the annotation it gets
none of these, and the SDK falls back to the node's role (the stack has no node: no credentials at all); the region is
then the pod's own setting, which the stack's pods always have.

EKS Pod Identity: when the ServiceAccount has an association in the cluster (given an ``agent``,
:class:`tests.stack.pod_identity_agent.PodIdentityAgent`, which asks), the pod also gets
``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (the agent) and ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` (a token for the
audience ``pods.eks.amazonaws.com``), as EKS's webhook injects them. The SDK's chain tries web identity
(``AWS_ROLE_ARN``) before the container provider, so a ServiceAccount with both the IRSA annotation and an association
gets IRSA's role.

:class:`Pod` does the webhook's and the kubelet's part against the stack's emulator and moto-backed STS, then runs
:mod:`tests.stack.pod_probe` (boto3's default chain) or the aws CLI in a process whose environment holds only that,
with ``AWS_ENDPOINT_URL`` at the stack; no AWS keys, no config files, no instance metadata.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
AUDIENCE_ANNOTATION = "eks.amazonaws.com/audience"
EXPIRATION_ANNOTATION = "eks.amazonaws.com/token-expiration"
DEFAULT_AUDIENCE, DEFAULT_EXPIRATION = "sts.amazonaws.com", 86400
POD_IDENTITY_AUDIENCE = "pods.eks.amazonaws.com"
_CLI_ERROR = re.compile(r"An error occurred \(([^)]+)\) when calling the (\w+) operation: ?(.*)")


class PodCannotStart(Exception):
    """The pod would not start (its ServiceAccount does not exist): the API server refuses to create it."""


class Pod:
    """A pod of ServiceAccount ``namespace/service_account`` in the cluster served at ``kube_url``."""

    def __init__(self, kube_url, aws_url, region, namespace, service_account, workdir, kube_token="kube-emulator", agent=None):
        self.kube_url, self.aws_url, self.region = kube_url.rstrip("/"), aws_url, region
        self.namespace, self.service_account = namespace, service_account
        self.workdir, self.kube_token, self.agent = workdir, kube_token, agent
        self.token_file = os.path.join(workdir, "eks.amazonaws.com", "serviceaccount", "token")
        self.pod_identity_token_file = os.path.join(workdir, "pods.eks.amazonaws.com", "serviceaccount", "eks-pod-identity-token")
        self.role_arn = None
        self.pod_identity = False  # whether the ServiceAccount has an EKS Pod Identity association (the agent serves it)

    # -- what the webhook and the kubelet do ---------------------------------------------------------

    def _kube(self, method, path, body=None):
        request = urllib.request.Request(self.kube_url + path, method=method, data=json.dumps(body).encode() if body else None,
                                         headers={"Authorization": f"Bearer {self.kube_token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def start(self):
        """Read the ServiceAccount as the webhook does and project its token as the kubelet does; returns self."""
        base = f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{self.service_account}"
        try:
            account = self._kube("GET", base)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise PodCannotStart(f'serviceaccount "{self.service_account}" not found') from e
            raise
        annotations = account["metadata"].get("annotations") or {}
        self.role_arn = annotations.get(ROLE_ARN_ANNOTATION)
        if self.role_arn:
            self._project(base, self.token_file, annotations.get(AUDIENCE_ANNOTATION) or DEFAULT_AUDIENCE,
                          int(annotations.get(EXPIRATION_ANNOTATION) or DEFAULT_EXPIRATION))
        self.pod_identity = self.agent is not None and self.agent.has_association(self.namespace, self.service_account)
        if self.pod_identity:
            self._project(base, self.pod_identity_token_file, POD_IDENTITY_AUDIENCE, DEFAULT_EXPIRATION)
        return self

    def _project(self, base, path, audience, expiration):
        """A token of the ServiceAccount for ``audience`` in a 0600 file at ``path``, as the kubelet projects one."""
        spec = {"audiences": [audience], "expirationSeconds": expiration}
        token = self._kube("POST", base + "/token", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                                     "spec": spec})["status"]["token"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(token)

    def environment(self):
        """The process's whole environment: the webhook's variables (when annotated) and the stack's endpoint."""
        home = os.path.join(self.workdir, "home")
        os.makedirs(home, exist_ok=True)
        env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin", "HOME": home, "PYTHONPATH": REPO_ROOT,
               "AWS_ENDPOINT_URL": self.aws_url, "AWS_ENDPOINT_URL_STS": self.aws_url,
               "AWS_CONFIG_FILE": os.path.join(home, "no-config"), "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "no-credentials"),
               "AWS_EC2_METADATA_DISABLED": "true",
               # The pod's own setting (its deployment's): the webhook injects the region only into pods it mutates.
               "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.role_arn:
            env.update(AWS_ROLE_ARN=self.role_arn, AWS_WEB_IDENTITY_TOKEN_FILE=self.token_file, AWS_STS_REGIONAL_ENDPOINTS="regional")
        if self.pod_identity:
            env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=self.agent.url, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=self.pod_identity_token_file)
        return env

    # -- what runs in it -----------------------------------------------------------------------------

    def sdk(self, *steps):
        """Run :mod:`tests.stack.pod_probe`'s ``steps`` (lists such as ``["identity"]``); one result dict per step."""
        process = subprocess.run([sys.executable, "-m", "tests.stack.pod_probe", json.dumps([list(step) for step in steps])],
                                 env=self.environment(), cwd=self.workdir, capture_output=True, text=True, timeout=120, check=False)
        if process.returncode != 0:
            raise RuntimeError(f"the pod's program failed: {process.stderr[-2000:]}")
        return [json.loads(line) for line in process.stdout.splitlines() if line.strip()]

    def cli(self, *args):
        """Run ``aws <args> --output json`` in the pod: ``{"output": parsed JSON}`` or ``{"error", "operation", "message"}``."""
        aws = os.path.join(os.path.dirname(sys.executable), "aws")
        process = subprocess.run([aws, *args, "--output", "json"], env=self.environment(), cwd=self.workdir, capture_output=True,
                                 text=True, timeout=120, check=False)
        if process.returncode == 0:
            return {"output": json.loads(process.stdout or "{}")}
        match = _CLI_ERROR.search(process.stderr)
        if match:
            return {"error": match.group(1), "operation": match.group(2), "message": match.group(3).strip()}
        return {"error": "CliFailed", "operation": None, "message": process.stderr.strip()[-500:]}
