# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The inventory's entries (plugins/plugin_utils/inventory_schema.py) agree with the module whose options they pass
on, and with the service_account role the planned ServiceAccounts go to."""

import os

import yaml

from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import ROLE_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import inventory_schema as schema
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_account_groups import planned_service_account_groups

ROLE_SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "service_account", "meta", "argument_specs.yml")


def _role_spec():
    with open(ROLE_SPECS, encoding="utf-8") as stream:
        return yaml.safe_load(stream)["argument_specs"]


def test_a_role_entry_has_the_modules_own_options_and_names_every_other_one():
    shared = schema.ROLE_ENTRY.keys & set(ROLE_ARGUMENT_SPEC)
    assert all(schema.ROLE_ENTRY.options[key] is ROLE_ARGUMENT_SPEC[key] for key in shared)
    assert set(schema.PASSED_THROUGH) <= shared and {"name", "tags"} <= shared
    # Every option of the module is a role entry's but those the plan sets itself or leaves at the module's default.
    left_out = set(schema.PLANNED_OPTIONS) | set(schema.MODULE_DEFAULT_OPTIONS)
    assert left_out <= set(ROLE_ARGUMENT_SPEC) and not left_out & schema.ROLE_ENTRY.keys
    assert set(ROLE_ARGUMENT_SPEC) - left_out == shared
    assert schema.ROLE_ENTRY.keys - shared == set(schema.TRUSTED_OPTIONS)


def test_a_spoke_and_the_hub_role_have_a_role_entrys_options_but_its_trust():
    assert schema.SPOKE.keys < schema.ROLE_ENTRY.keys and not schema.SPOKE.keys & set(schema.TRUSTED_OPTIONS)
    assert set(schema.HUB_ROLE_OPTIONS) == schema.SPOKE.keys - {"name", "path"} and set(schema.HUB_ROLE_OPTIONS) < schema.HUB_ENTRY.keys
    assert schema.HUB_ENTRY.required() == ["role_arn", "service_account", "spokes"]


def test_the_service_account_roles_argument_specs_take_what_the_plan_gives_them():
    groups = _role_spec()["groups"]["options"]["service_account_groups"]
    group_options, item_options = groups["options"], groups["options"]["service_accounts"]["options"]
    assert _role_spec()["main"]["options"]["service_account_items"]["options"] == item_options
    plans = {"dev": {"roles": [{"params": {"adopt": True}, "source": "eks_irsa_roles[0] (r)",
                                "service_accounts": [{"cluster": "blue", "namespace": "team-a", "name": "runner"}]}]}}
    (group,) = planned_service_account_groups(plans, [{"name": "blue", "kubeconfig": "/k", "context": "c", "state": "present"}])
    assert set(group) <= set(group_options) and set(group["service_accounts"][0]) <= set(item_options)
    # What a cluster, a subject and a role entry say of a ServiceAccount reaches the role with the role's types.
    for key in ("kubeconfig", "context"):
        assert schema.CLUSTER.options[key]["type"] == group_options[key]["type"], key
    assert schema.CLUSTER.options["state"]["choices"] == group_options["state"]["choices"]
    assert schema.SUBJECT.options["namespace"]["type"] == group_options["namespace"]["type"]
    assert schema.SUBJECT.options["name"]["type"] == item_options["name"]["type"]
    assert schema.SUBJECT.options["cluster"]["type"] == group_options["cluster"]["type"]
    adopt = schema.ROLE_ENTRY.options["adopt"]
    assert (adopt["type"], adopt["default"]) == (item_options["adopt"]["type"], item_options["adopt"]["default"])


def test_an_unknown_key_is_named_with_the_nearest_known_one_and_the_keys_listed_in_order():
    assert schema.CLUSTER.unsupported({"name": "blue", "kube_context": "x"}) == "unsupported parameters kube_context (did you mean context?)"
    assert schema.CLUSTER.listing == "; a cluster has name, region, issuer, kubeconfig, context, state"
    assert schema.ROLE_ENTRY.unsupported({"name": "r", "zzz": 1}) == "unsupported parameters eks_irsa_roles.zzz (a typo?)"
    assert schema.ROLE_ENTRY.listing == ". Supported parameters include: " + ", ".join(sorted(schema.ROLE_ENTRY.keys))
    assert schema.SPOKE.unsupported({"name": "s"}) == ""
