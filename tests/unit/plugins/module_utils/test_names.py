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


@pytest.mark.parametrize("host, key", [
    ("dev", "eks_irsa_rollout_account_222222222222_dev"),
    ("Team-A.prod", "eks_irsa_rollout_account_222222222222_Team_A_prod"),
    ("--edge--", "eks_irsa_rollout_account_222222222222_edge"),
    ("a  b", "eks_irsa_rollout_account_222222222222_a_b"),
])
def test_an_accounts_stats_key_is_a_variable_name_made_of_its_id_and_host(host, key):
    assert names.account_stats_key("rollout", "222222222222", host) == key
    assert key.isidentifier()
    assert names.account_stats_key("verify", "222222222222", host) == key.replace("_rollout_", "_verify_")
