# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The preflight's filters: the plan of the whole inventory (plugins/plugin_utils/plan.py and the modules it plans with), adapted to Jinja.

They run once for the inventory, in the controller: a task per account would cost a forked worker each, and checks
need none.
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import checked_inventory
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.plan import account_plans
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.run_clusters import looked_up_cluster_arns
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.run_clusters import looked_up_issuers
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.run_clusters import run_clusters
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_account_groups import planned_service_account_groups
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_account_groups import planned_service_accounts


def _filter(function):
    def adapted(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except EksIrsaError as e:  # the collection's one root: every rule's refusal
            raise AnsibleFilterError(str(e)) from None  # the message is the whole story; no cause appended
    adapted.__name__ = function.__name__
    adapted.__doc__ = function.__doc__
    return adapted


class FilterModule:
    """The plan of an inventory."""

    def filters(self):
        return {function.__name__: _filter(function)
                for function in (checked_inventory, run_clusters, looked_up_issuers, looked_up_cluster_arns, account_plans, planned_service_accounts,
                                 planned_service_account_groups)}
