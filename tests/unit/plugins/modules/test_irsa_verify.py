# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""irsa_verify's reads against botocore's Stubber: only reads, and no more of them than the diagnosis needs.

Stubber fails on any call that was not queued, so the exact list of calls (and that none writes) is proven.
"""

from __future__ import annotations

from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import NOT_READ
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import make_context
from ansible_collections.torque.eks_irsa.plugins.modules import irsa_verify

ACCOUNT = "222222222222"
HOST = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
OLD_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/0LD"
CONTEXT = make_context("https://" + HOST, ACCOUNT, {})


def listed(*arns):
    return {"OpenIDConnectProviderList": [{"Arn": arn} for arn in arns]}


def test_only_the_issuers_own_provider_is_read_in_detail(iam):
    client, stubber = iam
    stubber.add_response("list_open_id_connect_providers", listed(OLD_PROVIDER, PROVIDER), {})
    stubber.add_response("get_open_id_connect_provider", {"Url": HOST, "ClientIDList": ["sts.amazonaws.com"], "ThumbprintList": []},
                         {"OpenIDConnectProviderArn": PROVIDER})
    assert irsa_verify.read_providers(client, CONTEXT) == {
        OLD_PROVIDER: None, PROVIDER: {"url": "https://" + HOST, "client_ids": ["sts.amazonaws.com"]}}


def test_other_providers_cost_no_call_and_a_provider_gone_meanwhile_is_missing(iam):
    client, stubber = iam
    stubber.add_response("list_open_id_connect_providers", listed(OLD_PROVIDER), {})
    assert irsa_verify.read_providers(client, CONTEXT) == {OLD_PROVIDER: None}
    stubber.add_response("list_open_id_connect_providers", listed(PROVIDER), {})
    stubber.add_client_error("get_open_id_connect_provider", "NoSuchEntity", http_status_code=404,
                             expected_params={"OpenIDConnectProviderArn": PROVIDER})
    assert irsa_verify.read_providers(client, CONTEXT) == {}


def test_one_get_role_per_distinct_role_and_a_missing_role_is_none(iam):
    client, stubber = iam
    role = {"RoleName": "runner", "Arn": f"arn:aws:iam::{ACCOUNT}:role/runner", "Path": "/", "RoleId": "AROAEXAMPLEEXAMPLE01",
            "CreateDate": "2025-01-31T10:15:00Z", "AssumeRolePolicyDocument": "%7B%7D"}
    stubber.add_response("get_role", {"Role": role}, {"RoleName": "runner"})
    stubber.add_client_error("get_role", "NoSuchEntity", http_status_code=404, expected_params={"RoleName": "gone"})
    roles = irsa_verify.read_roles(client, ["runner", "gone", "runner"])
    assert roles["runner"]["Arn"] == role["Arn"] and roles["gone"] is None


def test_arns_of_another_account_mean_the_wrong_credentials():
    assert irsa_verify.account_mismatch(ACCOUNT, {PROVIDER: None}, {"runner": {"Arn": f"arn:aws:iam::{ACCOUNT}:role/runner"}}) is None
    other = "arn:aws:iam::333333333333:role/runner"
    assert irsa_verify.account_mismatch(ACCOUNT, {}, {"runner": {"Arn": other}, "gone": None}) == other


def test_service_accounts_are_found_by_namespace_and_name_or_not_read_at_all():
    objects = [{"metadata": {"name": "runner", "namespace": "other"}}, {"metadata": {"name": "runner", "namespace": "envs"}}]
    assert irsa_verify.find_object(objects, "envs", "runner") is objects[1]
    assert irsa_verify.find_object(objects, "envs", "missing") is None
    assert irsa_verify.find_object([], "envs", "runner") is None
    assert irsa_verify.find_object(None, "envs", "runner") is NOT_READ


def test_the_argument_spec_matches_the_documentation():
    import yaml
    documented = yaml.safe_load(irsa_verify.DOCUMENTATION)["options"]
    assert set(documented) == set(irsa_verify.ARGUMENT_SPEC)
    assert set(documented["checks"]["suboptions"]) == set(irsa_verify.ARGUMENT_SPEC["checks"]["options"])
