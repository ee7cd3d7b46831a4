# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""``python -m tests.stack up|down [--env-file PATH]``: start or stop the local stack.

``up`` starts moto, the recording AWS proxy and the Kubernetes emulator, seeds the EKS cluster and
writes an env file (``export`` lines: endpoint, kubeconfig, cluster name, region) to source before
running playbooks. ``down`` stops the servers that file names and removes it.
"""

import argparse
import os
import sys

from tests.stack.local_stack import DEFAULT_CLUSTER, DEFAULT_REGION, REPO_ROOT, LocalStack, stop_from_env_file

DEFAULT_STATE_DIR = os.path.join(REPO_ROOT, ".build", "stack")


def main():
    parser = argparse.ArgumentParser(prog="python -m tests.stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--env-file", default=os.path.join(DEFAULT_STATE_DIR, "stack.env"))
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("--cluster-name", default=DEFAULT_CLUSTER)
    args = parser.parse_args()

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


if __name__ == "__main__":
    sys.exit(main())
