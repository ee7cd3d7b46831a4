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
    # (the session's keys in shell variables of their own: the stack's credentials stay those of the commands below)
    read -r key secret session < <(aws sts assume-role \
        --role-arn "arn:aws:iam::$account:role/irsa-deployer" --role-session-name demo \
        --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)
    AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_SESSION_TOKEN=$session \
        show aws iam list-open-id-connect-providers --query 'OpenIDConnectProviderList[].Arn' --output text
    AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_SESSION_TOKEN=$session \
        show aws iam list-roles --query "Roles[?starts_with(RoleName, 'torque-')].Arn" --output text
done
show kubectl get serviceaccounts -n torque-envs -l app.kubernetes.io/managed-by=torque.eks_irsa \
    -o custom-columns='NAME:.metadata.name,ROLE ARN:.metadata.annotations.eks\.amazonaws\.com/role-arn'
show kubectl get serviceaccount torque-runner-dev -n torque-envs -o yaml

step "The Torque blueprint snippets: one per account, and one whose input picks the account"
show ls "$state/blueprints" "$state/blueprints/accounts"
show cat "$state/blueprints/accounts/dev-222222222222.yaml" "$state/blueprints/all-accounts-torque-envs.yaml"

pod() { show .venv/bin/python -m tests.stack pod --env-file "$env_file" --namespace torque-envs "$@"; }
step "A runner pod of each ServiceAccount gets credentials in its account, through the AWS SDK's own chain"
echo "# Each pod holds only what the EKS webhook injects. The stack's STS checks its token as AWS does:"
echo "# signature against the cluster's keys, the account's OIDC provider and client ID, expiry, the role's trust policy."
for service_account in torque-runner-tools torque-runner-dev torque-runner-prod torque-reader-prod; do
    pod "$service_account"
done

step "A broken setup: someone deletes the OIDC provider in prod; the pod's real error, and what verify says"
issuer_path=${EKS_IRSA_ISSUER#https://}
read -r key secret session < <(aws sts assume-role \
    --role-arn arn:aws:iam::333333333333:role/irsa-deployer --role-session-name demo \
    --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)
AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_SESSION_TOKEN=$session \
    show aws iam delete-open-id-connect-provider --open-id-connect-provider-arn "arn:aws:iam::333333333333:oidc-provider/$issuer_path"
pod torque-runner-prod || true
show ansible-playbook torque.eks_irsa.verify -i "$inventory" --limit prod \
    -e eks_irsa_verify_token_proof=true -e eks_irsa_verify_proof_attempts=1 | sed -n '/TASK \[Show the findings\]/,/^$/p' || true

step "The rollout repairs it, and the pod gets credentials again"
show ansible-playbook torque.eks_irsa.rollout -i "$inventory" --limit prod | sed -n '/PLAY RECAP/,$p'
pod torque-runner-prod

step "Done: copy a snippet's spec.agent into the grains of your Torque blueprint. Stopping the stack."
