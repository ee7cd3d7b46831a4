# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's rollout inventory: N target accounts, each with the same two roles.

One inventory serves both playbooks (ours and the baseline): they read the same ``eks_irsa_*`` variables.
Each target account is a host reached by assuming ``irsa-deployer`` in it; each account gets two roles,
each with one AWS managed policy and one inline policy, and so two ServiceAccounts.
"""

import os

import yaml

ROLE_TEMPLATES = (
    {
        "name": "bench-deployer",
        "description": "Benchmark: runner pods deploying infrastructure",
        "managed_policies": ["arn:aws:iam::aws:policy/PowerUserAccess"],
        "inline_policies": {
            "pass-deployment-roles": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/deployed-by-torque/*"}],
            },
        },
    },
    {
        "name": "bench-reader",
        "description": "Benchmark: read-only pods",
        "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "inline_policies": {
            "read-state-bucket": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                               "Resource": ["arn:aws:s3:::torque-state", "arn:aws:s3:::torque-state/*"]}],
            },
        },
    },
)
ROLES_PER_ACCOUNT = len(ROLE_TEMPLATES)
DEPLOYER_ROLE = "irsa-deployer"


def account_ids(tool_index, count):
    """``count`` 12-digit account IDs of their own for one tool: 3TT000000NNN (TT = tool index, NNN = 1..count)."""
    return [f"3{tool_index:02d}{number:09d}" for number in range(1, count + 1)]


def host_name(account_id):
    """The inventory host of an account (also the suffix of its ServiceAccount names)."""
    return f"acct-{account_id}"


def service_account_names(account_id):
    """The ServiceAccounts both playbooks create for an account: ``<role>-<host>``."""
    return [f"{role['name']}-{host_name(account_id)}".lower() for role in ROLE_TEMPLATES]


def roles(managed_policies=True):
    """The two roles; without their AWS managed policies when ``managed_policies`` is false (see run.py --managed-policies)."""
    return [dict(role) if managed_policies else {k: v for k, v in role.items() if k != "managed_policies"} for role in ROLE_TEMPLATES]


def group_vars(cluster_name, region, namespace, managed_policies=True, second=None):
    """What every account gets (the group's variables); with ``second`` (LocalStack.add_cluster's), the run's clusters
    are the stack's and that one."""
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "eks_irsa_cluster_name": cluster_name,
        "eks_irsa_region": region,
        "eks_irsa_namespace": namespace,
        "eks_irsa_create_namespace": False,  # the benchmark creates it first, as an environment namespace exists
        "eks_irsa_tags": {"owner": "benchmark"},
        "eks_irsa_roles": roles(managed_policies),
    }
    if second:
        del variables["eks_irsa_cluster_name"]
        variables["eks_irsa_clusters"] = [{"name": cluster_name, "region": region},
                                          {"name": second["name"], "region": second["region"], "kubeconfig": second["kubeconfig"]}]
    return variables


def inventory(accounts, cluster_name, region, namespace, managed_policies=True, second=None):
    """The inventory document for ``accounts`` (list of account IDs), with :func:`group_vars`."""
    hosts = {
        host_name(account): {
            "eks_irsa_account_id": account,
            "eks_irsa_assume_role_arn": f"arn:aws:iam::{account}:role/{DEPLOYER_ROLE}",
        }
        for account in accounts
    }
    return {"all": {"children": {"eks_irsa_accounts": {"vars": group_vars(cluster_name, region, namespace, managed_policies, second),
                                                       "hosts": hosts}}}}


def write_inventory(path, accounts, cluster_name, region, namespace, managed_policies=True, second=None):
    """Write the inventory YAML to ``path`` and return ``path``."""
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory(accounts, cluster_name, region, namespace, managed_policies, second), handle, sort_keys=False)
    return path


def write_organization_inventory(folder, management_role_arn, cluster_name, region, namespace, managed_policies=True, second=None):
    """An inventory folder for the inventory plugin (``--organization``): ``bench.aws_accounts.yml`` lists every account
    of the organization but the management account, as the same hosts (``acct-<id>``, role ``irsa-deployer``) as
    :func:`inventory`; ``group_vars/eks_irsa_accounts.yml`` holds :func:`group_vars`. Returns the plugin file's path."""
    os.makedirs(os.path.join(folder, "group_vars"), exist_ok=True)
    with open(os.path.join(folder, "group_vars", "eks_irsa_accounts.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(group_vars(cluster_name, region, namespace, managed_policies, second), handle, sort_keys=False)
    path = os.path.join(folder, "bench.aws_accounts.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"plugin": "torque.eks_irsa.aws_accounts", "assume_role_arn": management_role_arn,
                        "account_role_name": DEPLOYER_ROLE, "hostname": "acct-{{ account_id }}"}, handle, sort_keys=False)
    return path
