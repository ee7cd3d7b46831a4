# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the summaries publish (plugins/plugin_utils/summary.py): the set_stats key of one account."""

import pytest

from ansible_collections.torque.eks_irsa.plugins.plugin_utils import summary


@pytest.mark.parametrize("host, key", [
    ("dev", "eks_irsa_rollout_account_222222222222_dev"),
    ("Team-A.prod", "eks_irsa_rollout_account_222222222222_Team_A_prod"),
    ("--edge--", "eks_irsa_rollout_account_222222222222_edge"),
    ("a  b", "eks_irsa_rollout_account_222222222222_a_b"),
])
def test_an_accounts_stats_key_is_a_variable_name_made_of_its_id_and_host(host, key):
    assert summary.account_stats_key("rollout", "222222222222", host) == key
    assert key.isidentifier()
    assert summary.account_stats_key("verify", "222222222222", host) == key.replace("_rollout_", "_verify_")
