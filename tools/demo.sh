#!/usr/bin/env bash
# `make demo`: start the local stack, run the demo playbook against it, and always stop the stack.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
env_file=.build/demo/stack.env
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "starting the local stack (moto for AWS, the Kubernetes emulator)"
.venv/bin/python -m tests.stack up --env-file "$env_file"
trap '.venv/bin/python -m tests.stack down --env-file "$env_file"' EXIT
# shellcheck source=/dev/null
source "$env_file"
export PATH=$root/.venv/bin:$PATH ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false

step "looking up the cluster's OIDC issuer and the provider ARN in each target account"
ansible-playbook tools/demo/issuer.yml -e "cluster_name=$EKS_IRSA_CLUSTER_NAME"
