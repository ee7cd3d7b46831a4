# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The names IRSA is made of (plugins/module_utils/names.py): each built and split back, and what is not one."""

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils import names

HOST_PATH = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def test_a_provider_arn_splits_back_into_its_parts():
    arn = names.provider_arn("aws-us-gov", "222222222222", HOST_PATH)
    assert arn == "arn:aws-us-gov:iam::222222222222:oidc-provider/" + HOST_PATH
    assert names.split_provider_arn(arn) == ("aws-us-gov", "222222222222", HOST_PATH)


@pytest.mark.parametrize("name, path", [("torque-runner", "/"), ("r+=,.@-_1", "/agents/torque/"), ("x" * 64, "/a/"),
                                        ("runner", "/team~1/a.b/"), ("runner", "/a//b/")])
def test_a_role_arn_splits_back_into_its_parts(name, path):
    arn = names.role_arn("aws", "222222222222", name, path)
    assert names.split_role_arn(arn) == ("aws", "222222222222", path, name)


@pytest.mark.parametrize("arn", [
    None, 42, "", "arn:aws:iam::222222222222:role/", "arn:aws:iam::22222222222:role/x", "arn:aws:iam::222222222222:user/x",
    "arn:aws:iam::222222222222:role/" + "x" * 65, "arn:aws:iam::222222222222:role/équipe", "arn:aws:iam::222222222222:role//x",
    "arn:aws:iam::222222222222:role/a b",
])
def test_what_is_not_a_role_arn_does_not_split(arn):
    assert names.split_role_arn(arn) is None


def test_a_subject_splits_back_and_other_claims_do_not():
    assert names.subject("torque-agents", "runner") == "system:serviceaccount:torque-agents:runner"
    assert names.split_subject("system:serviceaccount:torque-agents:runner") == ("torque-agents", "runner")
    for value in (None, "system:serviceaccount:too:many:parts", "system:node:ip-10-0-0-1", "repo:org/x:ref:refs/heads/main"):
        assert names.split_subject(value) is None
    assert names.split_provider_arn("arn:aws:iam::222222222222:role/x") is None


@pytest.mark.parametrize("arn, partition, account_id, resource", [
    ("arn:aws:s3:::tf-state/env:prod/key", "aws", "", "tf-state/env:prod/key"),  # no account; colons and slashes in the resource
    ("arn:aws-cn:iam::222222222222:role/agents/torque-runner", "aws-cn", "222222222222", "role/agents/torque-runner"),
    ("arn:aws-us-gov:eks:us-gov-west-1:222222222222:cluster/agents", "aws-us-gov", "222222222222", "cluster/agents"),
    ("arn:aws:iam::aws:policy/ReadOnlyAccess", "aws", "aws", "policy/ReadOnlyAccess"),
    ("arn:aws:logs:eu-west-1:222222222222:log-group:/aws/eks/agents:*", "aws", "222222222222", "log-group:/aws/eks/agents:*"),
])
def test_an_arn_splits_into_its_parts_whatever_its_resource_holds(arn, partition, account_id, resource):
    parts = names.split_arn(arn)
    assert (parts["partition"], parts["account_id"], parts["resource"]) == (partition, account_id, resource)
    assert (names.arn_partition(arn), names.arn_account_id(arn)) == (partition, account_id)


@pytest.mark.parametrize("text", [
    None, 42, "", "arn:aws:iam::222222222222", "see arn:aws:iam::222222222222:role/x", "xarn:aws:iam::222222222222:role/x",
    "arn:aws:iam::222222222222:role/x\nmore", "arn:amazon:iam::222222222222:role/x", "ARN:aws:iam::222222222222:role/x",
])
def test_what_is_not_one_whole_arn_does_not_split(text):
    assert names.split_arn(text) is None
    assert names.arn_partition(text) is None and names.arn_account_id(text) is None


@pytest.mark.parametrize("arn, parts", [
    ("arn:aws-cn:iam::222222222222:role/torque/runner", ("aws-cn", "222222222222", "/torque/", "runner")),
    ("arn:aws-us-gov:iam::222222222222:role/runner", ("aws-us-gov", "222222222222", "/", "runner")),
    ("arn:aws:iam::222222222222:role/team:a/b/runner", ("aws", "222222222222", "/team:a/b/", "runner")),  # IAM allows ':' in a path
    (" arn:aws:iam::222222222222:role/runner\n", ("aws", "222222222222", "/", "runner")),  # as a ServiceAccount annotation may hold it
])
def test_role_arns_of_every_partition_and_path_split(arn, parts):
    assert names.split_role_arn(arn) == parts


@pytest.mark.parametrize("arn", [
    "arn:aws:iam:us-east-1:222222222222:role/x", "arn:aws:sts::222222222222:assumed-role/x/session",
    "arn:aws:iam::222222222222:role:x", "arn:aws:iam::aws:role/x", "see arn:aws:iam::222222222222:role/x",
])
def test_other_arns_are_no_role_arns(arn):
    assert names.split_role_arn(arn) is None


@pytest.mark.parametrize("arn, host_path", [
    ("arn:aws-cn:iam::222222222222:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLE",
     "oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLE"),
    ("arn:aws-us-gov:iam::222222222222:oidc-provider/oidc.eks.us-gov-west-1.amazonaws.com/id/EXAMPLE",
     "oidc.eks.us-gov-west-1.amazonaws.com/id/EXAMPLE"),
])
def test_provider_arns_of_other_partitions_split(arn, host_path):
    assert names.split_provider_arn(arn) == (arn.split(":")[1], "222222222222", host_path)


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::222222222222:oidc-provider/", "arn:aws:iam:eu-west-1:222222222222:oidc-provider/" + HOST_PATH,
    "arn:aws:iam::aws:oidc-provider/" + HOST_PATH, "x arn:aws:iam::222222222222:oidc-provider/" + HOST_PATH, None,
])
def test_other_arns_are_no_provider_arns(arn):
    assert names.split_provider_arn(arn) is None
