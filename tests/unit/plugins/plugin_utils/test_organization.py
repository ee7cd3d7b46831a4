# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Listing an organization's accounts (plugins/plugin_utils/organization.py), on moto's Organizations."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ansible_collections.torque.eks_irsa.plugins.plugin_utils import organization
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.organization import OrganizationError


@pytest.fixture
def org(monkeypatch):
    """An organization: root / Workloads / {Prod, Dev}, Sandbox; an account in each, one closed, one at the root."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # moto's in-process mock answers only AWS's own endpoints
    with mock_aws():
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        root = client.list_roots()["Roots"][0]["Id"]

        def unit(parent, name):
            return client.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]

        def account(name, parent, **tags):
            account_id = client.create_account(AccountName=name, Email=f"{name.replace(' ', '')}@example.com",
                                               Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["CreateAccountStatus"]["AccountId"]
            client.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=parent)
            return account_id

        units = {"root": root}
        units["workloads"] = unit(root, "Workloads")
        units["prod"], units["dev"] = unit(units["workloads"], "Prod"), unit(units["workloads"], "Dev")
        units["sandbox"] = unit(root, "Sandbox")
        ids = {"prod-eu": account("Prod EU", units["prod"], env="prod", torque="enabled"),
               "dev": account("dev", units["dev"], env="dev", torque="enabled"),
               "workloads-shared": account("workloads-shared", units["workloads"], torque="disabled"),
               "play": account("play-sandbox", units["sandbox"]),
               "closed": account("closed", units["dev"])}
        client.close_account(AccountId=ids["closed"])
        yield client, units, ids


def names(listed):
    return sorted(account["name"] for account in listed["accounts"])


def test_the_whole_organization_lists_every_active_account_with_its_ou_path_and_tags(org):
    client, units, ids = org
    listed = organization.organization_accounts(client, management=True)
    assert listed["partition"] == "aws" and listed["management_account_id"] == "123456789012"
    assert names(listed) == ["Prod EU", "dev", "master", "play-sandbox", "workloads-shared"]  # the closed one is not
    assert names(organization.organization_accounts(client)) == ["Prod EU", "dev", "play-sandbox", "workloads-shared"]
    by_name = {account["name"]: account for account in listed["accounts"]}
    assert by_name["Prod EU"] == {"id": ids["prod-eu"], "name": "Prod EU", "email": "ProdEU@example.com",
                                  "arn": by_name["Prod EU"]["arn"], "ou_id": units["prod"], "ou_path": "/Workloads/Prod",
                                  "tags": {"env": "prod", "torque": "enabled"}}
    assert by_name["Prod EU"]["arn"].endswith("/" + ids["prod-eu"])
    assert by_name["master"]["ou_path"] == "/" and by_name["play-sandbox"]["ou_path"] == "/Sandbox"


def test_ous_by_path_or_id_recursive_or_not(org):
    client, units, _ids = org
    assert names(organization.organization_accounts(client, ["/Workloads"])) == ["Prod EU", "dev", "workloads-shared"]
    assert names(organization.organization_accounts(client, ["Workloads/"], recursive=False)) == ["workloads-shared"]
    assert names(organization.organization_accounts(client, [units["prod"], "/Sandbox"])) == ["Prod EU", "play-sandbox"]
    assert names(organization.organization_accounts(client, [units["root"]], recursive=False, management=True)) == ["master"]
    # overlapping OUs give each account once
    assert names(organization.organization_accounts(client, ["/Workloads", "/Workloads/Prod"])) == ["Prod EU", "dev", "workloads-shared"]


def test_an_ou_that_does_not_exist_is_refused_naming_the_option_and_what_exists(org):
    client, _units, _ids = org
    with pytest.raises(OrganizationError) as error:
        organization.organization_accounts(client, ["/Workloads", "/Workloads/Staging"])
    message = str(error.value)
    assert message.startswith("organizational_units[1]: no OU '/Workloads/Staging' in the organization")
    assert "/Workloads/Prod (ou-" in message and "/ (r-" in message
    with pytest.raises(OrganizationError, match=r"organizational_units\[0\]: no OU 'ou-abcd-12345678'"):
        organization.organization_accounts(client, ["ou-abcd-12345678"])


def test_filters_by_id_and_name_patterns_and_tags(org):
    client, _units, ids = org

    def kept(tags=None, **patterns):
        return sorted(account["name"] for account in organization.organization_accounts(client, **patterns)["accounts"]
                      if organization.has_tags(account, tags))

    assert kept(include=["*-sandbox", ids["dev"]]) == ["dev", "play-sandbox"]
    assert kept(exclude=["*-sandbox"], management=True) == ["Prod EU", "dev", "master", "workloads-shared"]
    assert kept(include=["master"]) == []  # the management account only on request
    assert kept(tags={"torque": "enabled"}) == ["Prod EU", "dev"]
    assert kept(tags={"env": ["prod", "staging"]}) == ["Prod EU"]
    assert kept(tags={"env": "*"}, exclude=["dev"]) == ["Prod EU"]
    assert kept(tags={"torque": "enabled", "env": "dev"}) == ["dev"]
    assert kept(include=["Prod*"], tags={"env": "dev"}) == []


def test_host_names_are_valid_and_collisions_name_both_accounts():
    assert organization.host_name("Prod EU (payments)", "111111111111") == "prod-eu-payments"
    assert organization.host_name("team_a.dev", "111111111111") == "team_a.dev"
    assert organization.host_name("  ***  ", "111111111111") == "111111111111"
    one, two = {"id": "111111111111", "name": "Prod EU"}, {"id": "222222222222", "name": "prod-eu"}
    with pytest.raises(OrganizationError) as error:
        organization.unique_host_names([("prod-eu", one), ("prod-eu", two)])
    assert "accounts 111111111111 (Prod EU) and 222222222222 (prod-eu) both get the host name 'prod-eu'" in str(error.value)
    assert "{{ account_name }}-{{ account_id }}" in str(error.value)


@pytest.mark.parametrize("code, expected", [
    ("AccessDeniedException", "the credentials may not describe the organization (organizations:DescribeOrganization)"),
    ("AWSOrganizationsNotInUseException", "the credentials' account is not in an AWS organization"),
    ("ServiceException", "could not describe the organization"),
])
def test_refusals_say_which_permission_and_which_credentials(code, expected):
    client = boto3.client("organizations", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_organization", code, "no")
        with pytest.raises(OrganizationError) as error:
            organization.organization_accounts(client)
    assert str(error.value).startswith(expected)
    if code == "AccessDeniedException":
        assert "management account or of a delegated administrator" in str(error.value) and "ListAccountsForParent" in str(error.value)


def test_pages_are_followed():
    client = boto3.client("organizations", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        stubber.add_response("describe_organization", {"Organization": {
            "Arn": "arn:aws-cn:organizations::111111111111:organization/o-abcdefghij", "MasterAccountId": "111111111111"}})
        stubber.add_response("list_roots", {"Roots": [{"Id": "r-ab12"}]})
        stubber.add_response("list_organizational_units_for_parent", {"OrganizationalUnits": []}, {"ParentId": "r-ab12"})
        for page, token in ((["222222222222"], "next"), (["333333333333"], None)):
            stubber.add_response("list_accounts_for_parent", dict(
                {"Accounts": [{"Id": i, "Name": f"a{i}", "State": "ACTIVE", "Arn": f"arn:aws-cn:organizations::x:account/{i}"}
                              for i in page]}, **({"NextToken": token} if token else {})),
                dict({"ParentId": "r-ab12"}, **({"NextToken": "next"} if token is None else {})))
        for account_id in ("333333333333",):  # only the accounts kept have their tags read
            stubber.add_response("list_tags_for_resource", {"Tags": [{"Key": "env", "Value": "prod"}]}, {"ResourceId": account_id})
        listed = organization.organization_accounts(client, exclude=["222222222222"])
        stubber.assert_no_pending_responses()
    assert listed["partition"] == "aws-cn" and [(a["id"], a["tags"]) for a in listed["accounts"]] == [("333333333333", {"env": "prod"})]


def test_the_management_account_is_added_outside_the_ous_asked_for_and_the_patterns_do_not_apply_to_it(org):
    client, _units, _ids = org
    client.tag_resource(ResourceId="123456789012", Tags=[{"Key": "role", "Value": "management"}])
    listed = organization.organization_accounts(client, ["/Workloads/Prod"], management=True, include=["Prod*"])
    assert names(listed) == ["Prod EU", "master"]
    master = listed["accounts"][-1]  # after the accounts of the OUs
    assert master == {"id": "123456789012", "name": "master", "email": master["email"], "arn": master["arn"],
                      "ou_id": master["ou_id"], "ou_path": "/", "tags": {"role": "management"}}
    assert master["ou_id"].startswith("r-") and master["arn"].endswith("/123456789012") and master["email"]
    assert names(organization.organization_accounts(client, ["/Sandbox"], management=True, exclude=["master", "*"])) == ["master"]
    assert names(organization.organization_accounts(client, ["/Sandbox"])) == ["play-sandbox"]  # only on request
    # Once, where it is, when the OUs asked for hold it.
    assert names(organization.organization_accounts(client, ["/"], recursive=False, management=True)) == ["master"]


def test_a_throttled_page_of_accounts_is_retried_alone():
    client = boto3.client("organizations", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        stubber.add_response("describe_organization", {"Organization": {
            "Arn": "arn:aws:organizations::111111111111:organization/o-abcdefghij", "MasterAccountId": "111111111111"}})
        stubber.add_client_error("list_roots", "TooManyRequestsException", "slow down", 400)
        stubber.add_response("list_roots", {"Roots": [{"Id": "r-ab12"}]})
        stubber.add_response("list_organizational_units_for_parent", {"OrganizationalUnits": []}, {"ParentId": "r-ab12"})
        account = {"Id": "222222222222", "Name": "a", "State": "ACTIVE", "Arn": "arn:aws:organizations::x:account/222222222222"}
        stubber.add_response("list_accounts_for_parent", {"Accounts": [account], "NextToken": "next"}, {"ParentId": "r-ab12"})
        stubber.add_client_error("list_accounts_for_parent", "TooManyRequestsException", "slow down", 400,
                                 expected_params={"ParentId": "r-ab12", "NextToken": "next"})
        stubber.add_response("list_accounts_for_parent", {"Accounts": [dict(account, Id="333333333333")]},
                             {"ParentId": "r-ab12", "NextToken": "next"})
        for account_id in ("222222222222", "333333333333"):
            stubber.add_response("list_tags_for_resource", {"Tags": []}, {"ResourceId": account_id})
        listed = organization.organization_accounts(client)
        stubber.assert_no_pending_responses()
    assert [a["id"] for a in listed["accounts"]] == ["222222222222", "333333333333"]


def test_an_organization_arn_that_is_not_an_arn_is_refused():
    client = boto3.client("organizations", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        stubber.add_response("describe_organization", {"Organization": {"Arn": "o-abcdefghij", "MasterAccountId": "111111111111"}})
        with pytest.raises(OrganizationError, match="organizations:DescribeOrganization answered 'o-abcdefghij', which is not an ARN"):
            organization.organization_accounts(client)
