# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""``python -m tests.stack up|down|pod [--env-file PATH]``: start or stop the local stack, or run a pod on it.

``up`` starts moto, the recording AWS proxy and the Kubernetes emulator, seeds the EKS cluster and
writes an env file (``export`` lines: endpoint, kubeconfig, cluster name, region) to source before
running playbooks. ``down`` stops the servers that file names and removes it. ``pod --namespace NS
SERVICE_ACCOUNT [AWS CLI ARGUMENTS]`` runs the aws CLI (default ``sts get-caller-identity``) in a pod of that
ServiceAccount (:mod:`tests.stack.pod`: what the EKS webhook injects, the SDK's own credential chain) and shows
what it got; it exits 1 when the CLI failed.
"""

import argparse
import json
import os
import shlex
import sys
import tempfile

from tests.stack.local_stack import DEFAULT_CLUSTER, DEFAULT_REGION, REPO_ROOT, LocalStack, stop_from_env_file
from tests.stack.pod import Pod, PodCannotStart
from tests.stack.pod_identity_agent import PodIdentityAgent

DEFAULT_STATE_DIR = os.path.join(REPO_ROOT, ".build", "stack")


def main():
    parser = argparse.ArgumentParser(prog="python -m tests.stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "pod"])
    parser.add_argument("--env-file", default=os.path.join(DEFAULT_STATE_DIR, "stack.env"))
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("--cluster-name", default=DEFAULT_CLUSTER)
    parser.add_argument("--namespace", default="default", help="pod: the ServiceAccount's namespace")
    parser.add_argument("arguments", nargs="*", help="pod: SERVICE_ACCOUNT [AWS CLI ARGUMENTS]")
    args = parser.parse_intermixed_args()

    if args.command == "pod":
        if not args.arguments:
            parser.error("pod needs the ServiceAccount's name")
        return run_pod(read_env_file(args.env_file), args.namespace, args.arguments[0], args.arguments[1:] or ["sts", "get-caller-identity"])

    if args.command == "down":
        stopped = stop_from_env_file(args.env_file)
        print(f"local stack stopped ({stopped} servers)" if stopped else "local stack was not running")
        return 0

    if os.path.exists(args.env_file):
        stop_from_env_file(args.env_file)  # a previous `up` that was never brought down
    stack = LocalStack(os.path.dirname(os.path.abspath(args.env_file)), args.region, args.cluster_name).start()
    stack.write_env_file(args.env_file)
    stack.detach()
    print(f"local stack up: AWS {stack.aws_url}, Kubernetes {stack.kube_url}, "
          f"cluster {stack.cluster_name!r} in {stack.region}\n  source {args.env_file}")
    return 0


def read_env_file(path):
    """The variables an ``up`` wrote (``export NAME=value`` lines)."""
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("export "):
                name, _equals, value = line[len("export "):].strip().partition("=")
                values[name] = shlex.split(value)[0] if value else ""
    return values


def run_pod(env, namespace, service_account, aws_args):
    agent = PodIdentityAgent(env["AWS_ENDPOINT_URL"], env["AWS_REGION"], env["EKS_IRSA_CLUSTER_NAME"])
    with tempfile.TemporaryDirectory(prefix="pod-") as workdir:
        pod = Pod(env["EKS_IRSA_KUBE_URL"], env["AWS_ENDPOINT_URL"], env["AWS_REGION"], namespace, service_account, workdir, agent=agent)
        try:
            pod.start()
        except PodCannotStart as e:
            agent.stop()
            print(f"pod of {namespace}/{service_account}: cannot start: {e}")
            return 1
        injected = [f"AWS_ROLE_ARN={pod.role_arn}, AWS_WEB_IDENTITY_TOKEN_FILE=<a token of {namespace}/{service_account}>"] if pod.role_arn else []
        if pod.pod_identity:
            injected.append("AWS_CONTAINER_CREDENTIALS_FULL_URI=<the Pod Identity Agent>, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=<a token>")
        injected = "; ".join(injected) or "nothing (no eks.amazonaws.com/role-arn annotation, no pod identity association)"
        print(f"pod of {namespace}/{service_account}: the webhook injects {injected}")
        print(f"  $ aws {' '.join(aws_args)}")
        result = pod.cli(*aws_args)
        agent.stop()
        if "output" in result:
            print("  " + json.dumps(result["output"], sort_keys=True))
            return 0
        print(f"  {result['error']} from {result['operation']}: {result['message']}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
