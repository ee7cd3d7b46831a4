#!/usr/bin/env bash
# `make demo`: the whole job on the local stack, as a new user would run it, then the checks a person
# would make by hand. The stack is always stopped at the end.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mkdir -p .build
state=$(mktemp -d "$root/.build/demo-XXXXXX")  # one stack per demo run, so two runs cannot stop each other's
env_file=$state/stack.env
inventory=examples/inventory.yml
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

step "Starting the local stack: moto (AWS, accounts 123456789012, 222222222222, 333333333333) and the Kubernetes emulator"
.venv/bin/python -m tests.stack up --env-file "$env_file"
trap '.venv/bin/python -m tests.stack down --env-file "$env_file"; rm -rf "$state"' EXIT
# shellcheck source=/dev/null
source "$env_file"
export PATH=$root/.venv/bin:$PATH ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-1}

step "Rollout, first run: providers, roles and ServiceAccounts are created; the Torque blueprint snippets are written"
show ansible-playbook torque.eks_irsa.rollout -i "$inventory" -e eks_irsa_blueprint_dir="$state/blueprints"

step "Rollout, second run: nothing to change (changed=0 on every host)"
show ansible-playbook torque.eks_irsa.rollout -i "$inventory" | sed -n '/PLAY RECAP/,$p'

step "Verify: the whole chain a pod depends on, per account and ServiceAccount (read-only)"
show ansible-playbook torque.eks_irsa.verify -i "$inventory" | sed -n '/TASK \[Show the findings\]/,/^$/p;/PLAY RECAP/,$p'

step "Checking by hand, as a person would"
show aws eks describe-cluster --name "$EKS_IRSA_CLUSTER_NAME" --query cluster.identity.oidc.issuer --output text
for account in 222222222222 333333333333; do
    echo "# OIDC providers and IRSA roles in account $account (through sts:AssumeRole)"
    read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN < <(aws sts assume-role \
        --role-arn "arn:aws:iam::$account:role/irsa-deployer" --role-session-name demo \
        --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)
    AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN=$AWS_SESSION_TOKEN \
        show aws iam list-open-id-connect-providers --query 'OpenIDConnectProviderList[].Arn' --output text
    AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN=$AWS_SESSION_TOKEN \
        show aws iam list-roles --query "Roles[?starts_with(RoleName, 'torque-')].Arn" --output text
done
show kubectl get serviceaccounts -n torque-envs -l app.kubernetes.io/managed-by=torque.eks_irsa \
    -o custom-columns='NAME:.metadata.name,ROLE ARN:.metadata.annotations.eks\.amazonaws\.com/role-arn'
show kubectl get serviceaccount torque-runner-dev -n torque-envs -o yaml

step "The Torque blueprint snippets: one per account, and one whose input picks the account"
show ls "$state/blueprints" "$state/blueprints/accounts"
show cat "$state/blueprints/accounts/dev-222222222222.yaml" "$state/blueprints/all-accounts-torque-envs.yaml"

step "Done: copy a snippet's spec.agent into the grains of your Torque blueprint. Stopping the stack."
