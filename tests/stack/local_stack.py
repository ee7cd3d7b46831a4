# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The local stack the tests and the demo run against: AWS (moto) and Kubernetes (the emulator).

Three processes, all bound to 127.0.0.1 on free ports:

- ``moto_server`` with ``MOTO_IAM_LOAD_MANAGED_POLICIES=true``, so AWS managed policies exist;
- :mod:`tests.stack.aws_proxy` in front of it, recording every AWS call (clients use its URL) and checking
  web-identity tokens and trust policies as STS does (:mod:`tests.stack.sts`);
- :mod:`tests.stack.kube_emulator`, a Kubernetes API for Namespaces and ServiceAccounts, plus a
  kubeconfig for it.

An EKS cluster is seeded in moto; the emulator signs its ServiceAccount tokens for that cluster's issuer and
serves the issuer's keys, and the proxy's STS fetches them from there (:meth:`LocalStack.connect_issuer`).
:meth:`LocalStack.env` gives the variables that point boto3, the aws CLI, ``kubernetes.core`` and ``kubectl`` at the
stack (dummy credentials, fixed region).
``python -m tests.stack up`` / ``down`` drive the same class from the command line.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_REGION = "eu-west-1"
DEFAULT_CLUSTER = "agents"
# moto puts calls made with the base credentials in this account: it plays the cluster account.
CLUSTER_ACCOUNT = "123456789012"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(process, name, timeout=60):
    """Read the child's ``READY <url>`` line; fail with its output if it dies or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("READY "):
            return line.split(" ", 1)[1].strip()
        if not line and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before it was ready")
    raise RuntimeError(f"{name} was not ready after {timeout} s")


def _wait_http(url, process, name, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} was not ready after {timeout} s at {url}")


def _put_json(url, document):
    request = urllib.request.Request(url, data=json.dumps(document).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


class LocalStack:
    """Start, seed, describe and stop the local AWS + Kubernetes stack."""

    def __init__(self, state_dir, region=DEFAULT_REGION, cluster_name=DEFAULT_CLUSTER, managed_policies=True):
        self.state_dir = os.path.abspath(state_dir)
        self.managed_policies = managed_policies  # moto loads the AWS managed policies into every account it serves
        self.region = region
        self.cluster_name = cluster_name
        self.kubeconfig = os.path.join(self.state_dir, "kubeconfig")
        self.moto_url = self.aws_url = self.kube_url = None
        self.issuer = None
        self._processes = []
        self._agents = {}  # (cluster, region) -> PodIdentityAgent, in this process

    # -- lifecycle -------------------------------------------------------------------------

    def start(self):
        os.makedirs(self.state_dir, exist_ok=True)
        try:
            self._start_moto()
            self._start_child("aws-proxy", ["-m", "tests.stack.aws_proxy", "--upstream", self.moto_url], "aws_url")
            self._start_child("kube-emulator", ["-m", "tests.stack.kube_emulator", "--kubeconfig", self.kubeconfig],
                              "kube_url")
            self.issuer = self.create_cluster(self.cluster_name, self.region)
            self.connect_issuer(self.issuer, self.kube_url)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for agent in self._agents.values():
            agent.stop()
        self._agents = {}
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()
        self._processes = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, argv, env=None, announces_ready=True):
        # A new session, so that Ctrl-C in a terminal reaches the servers only through stop().
        stdout = subprocess.PIPE if announces_ready else subprocess.DEVNULL
        process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=stdout, stderr=subprocess.DEVNULL,
                                   text=True, start_new_session=True)
        self._processes.append(process)
        return process

    def _start_moto(self):
        port = free_port()
        env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true" if self.managed_policies else "false", **DUMMY_CREDENTIALS)
        moto = os.path.join(os.path.dirname(sys.executable), "moto_server")
        process = self._spawn([moto, "-H", "127.0.0.1", "-p", str(port)], env=env, announces_ready=False)
        self.moto_url = f"http://127.0.0.1:{port}"
        _wait_http(self.moto_url + "/moto-api/data.json", process, "moto_server")

    def _start_child(self, name, args, attribute):
        process = self._spawn([sys.executable] + args)
        setattr(self, attribute, _wait_ready(process, name))

    # -- AWS -------------------------------------------------------------------------------

    def client(self, service, region=None, credentials=None):
        """A boto3 client on the stack, with the base credentials or ``sts.assume_role`` ones."""
        keys = dict(aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        if credentials:
            keys = dict(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])
        return boto3.client(service, region_name=region or self.region, endpoint_url=self.aws_url, **keys)

    def account_client(self, service, account_id, region=None):
        """A boto3 client acting in ``account_id`` (cross-account, as a rollout does it)."""
        if account_id == CLUSTER_ACCOUNT:
            return self.client(service, region)
        role_arn = f"arn:aws:iam::{account_id}:role/stack-inspector"
        credentials = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="stack")["Credentials"]
        return self.client(service, region, credentials)

    def create_cluster(self, name, region):
        """Create an EKS cluster in moto and return its OIDC issuer URL."""
        eks = self.client("eks", region)
        cluster = eks.create_cluster(
            name=name,
            roleArn=f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": ["subnet-00000000000000001", "subnet-00000000000000002"]},
        )["cluster"]
        return cluster["identity"]["oidc"]["issuer"]

    def add_cluster(self, name, region):
        """Another cluster, as a platform with several has them: an EKS cluster in moto and its own Kubernetes API.

        moto gives every cluster of one region the same issuer, so ``region`` should differ from the stack's (a
        cluster per region, or blue/green across regions). The API is a second emulator with its own kubeconfig,
        stopped with the stack. Returns ``{"name", "region", "issuer", "kubeconfig", "kube_url"}``.
        """
        kubeconfig = os.path.join(self.state_dir, f"kubeconfig-{name}")
        process = self._spawn([sys.executable, "-m", "tests.stack.kube_emulator", "--kubeconfig", kubeconfig])
        kube_url = _wait_ready(process, f"kube-emulator for {name}")
        issuer = self.create_cluster(name, region)
        self.connect_issuer(issuer, kube_url)
        return {"name": name, "region": region, "issuer": issuer, "kubeconfig": kubeconfig, "kube_url": kube_url}

    def connect_issuer(self, issuer, kube_url):
        """Make the emulator at ``kube_url`` sign its tokens as ``issuer`` and the stack's STS fetch its keys there."""
        _put_json(kube_url + "/_emulator/issuer", {"issuer": issuer})
        self.configure_sts(issuers={issuer: kube_url})

    def configure_sts(self, **settings):
        """Change the STS checks' settings (``issuers``, ``clock_offset``; see :mod:`tests.stack.aws_proxy`)."""
        return _put_json(self.aws_url + "/_proxy/sts", settings)

    def aws_requests(self):
        with urllib.request.urlopen(self.aws_url + "/_proxy/requests", timeout=10) as response:
            return json.load(response)

    def reset_aws_requests(self):
        request = urllib.request.Request(self.aws_url + "/_proxy/requests", method="DELETE")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def set_faults(self, rules, seed=0):
        """Make the AWS proxy fault requests from now on (rules as in :mod:`tests.stack.aws_proxy`).

        ``rules`` is one rule or a list of them, for example ``{"mode": "throttle", "rate": 0.2}``.
        Returns the plan the proxy now holds; raises ValueError with the proxy's reason when it refuses it.
        """
        plan = {"seed": seed, "rules": [rules] if isinstance(rules, dict) else list(rules)}
        request = urllib.request.Request(self.aws_url + "/_proxy/faults", data=json.dumps(plan).encode(), method="PUT",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except urllib.request.HTTPError as e:  # the proxy refused the plan: say why
            raise ValueError(json.load(e).get("error", str(e))) from e

    def clear_faults(self):
        """Stop injecting faults: the proxy forwards everything again."""
        request = urllib.request.Request(self.aws_url + "/_proxy/faults", method="DELETE")
        with urllib.request.urlopen(request, timeout=10):
            pass

    # -- Kubernetes ------------------------------------------------------------------------

    def kube_requests(self):
        with urllib.request.urlopen(self.kube_url + "/_emulator/requests", timeout=10) as response:
            return json.load(response)

    def kube_objects(self):
        with urllib.request.urlopen(self.kube_url + "/_emulator/objects", timeout=10) as response:
            return json.load(response)

    def pod(self, namespace, service_account, workdir, cluster=None):
        """A started :class:`tests.stack.pod.Pod` of ``namespace/service_account``, in the stack's cluster or in ``cluster``
        (what :meth:`add_cluster` returned); raises :class:`tests.stack.pod.PodCannotStart` when the ServiceAccount is missing."""
        from tests.stack.pod import Pod  # pylint: disable=import-outside-toplevel

        kube_url = cluster["kube_url"] if cluster else self.kube_url
        region = cluster["region"] if cluster else self.region
        agent = self.pod_identity_agent(cluster["name"] if cluster else self.cluster_name, region)
        return Pod(kube_url, self.aws_url, region, namespace, service_account, workdir, agent=agent).start()

    def pod_identity_agent(self, cluster_name, region):
        """The EKS Pod Identity Agent of a cluster (:mod:`tests.stack.pod_identity_agent`), started once, stopped with the stack."""
        from tests.stack.pod_identity_agent import PodIdentityAgent  # pylint: disable=import-outside-toplevel

        if (cluster_name, region) not in self._agents:
            self._agents[cluster_name, region] = PodIdentityAgent(self.aws_url, region, cluster_name)
        return self._agents[cluster_name, region]

    # -- description -----------------------------------------------------------------------

    def env(self):
        """Environment variables that point every client at this stack."""
        return dict(
            DUMMY_CREDENTIALS,
            AWS_ENDPOINT_URL=self.aws_url,
            AWS_REGION=self.region,
            AWS_DEFAULT_REGION=self.region,
            K8S_AUTH_KUBECONFIG=self.kubeconfig,
            KUBECONFIG=self.kubeconfig,
            KUBECACHEDIR=os.path.join(self.state_dir, "kube-cache"),  # kubectl's discovery cache, not ~/.kube
            EKS_IRSA_CLUSTER_NAME=self.cluster_name,
            EKS_IRSA_CLUSTER_ACCOUNT=CLUSTER_ACCOUNT,
            EKS_IRSA_ISSUER=self.issuer,
            EKS_IRSA_MOTO_URL=self.moto_url,
            EKS_IRSA_KUBE_URL=self.kube_url,
        )

    def write_env_file(self, path):
        """Write :meth:`env` as ``export`` lines plus the servers' process IDs, for ``down``."""
        lines = [f"export {key}={shlex.quote(value)}" for key, value in sorted(self.env().items())]
        lines.append("EKS_IRSA_STACK_PIDS=" + shlex.quote(" ".join(str(p.pid) for p in self._processes)))
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")

    def detach(self):
        """Leave the servers running after this process exits (``up``); ``stop_from_env_file`` ends them."""
        for process in self._processes:
            if process.stdout:
                process.stdout.close()
        self._processes = []


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _alive(pid)]
    return alive


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def stop_from_env_file(path):
    """Stop the servers an ``up`` recorded in ``path`` and wait until they are gone; returns how many there were."""
    if not os.path.exists(path):
        return 0
    pids = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("EKS_IRSA_STACK_PIDS="):
                pids = [int(pid) for pid in shlex.split(line.split("=", 1)[1])[0].split()]
    running = [pid for pid in pids if _alive(pid)]
    for pid in running:
        os.kill(pid, signal.SIGTERM)
    for pid in _wait_gone(running, timeout=10):
        os.kill(pid, signal.SIGKILL)  # did not honour SIGTERM in time
    _wait_gone(running, timeout=5)
    os.remove(path)
    return len(running)
