# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The OIDC provider layer against botocore's Stubber: the exact IAM calls, and none in check mode.

Stubber fails on any call that was not queued, so "no mutating call" is proven by queueing only reads.
moto does not implement the client-ID calls at all; these tests are where they are covered.
Existing providers carry the collection's ownership tag unless a test is about one someone else made (eksctl).
"""

from __future__ import annotations

import datetime
import json
import urllib.parse

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.iam import AnsibleIAMError
from ansible_collections.torque.eks_irsa.plugins.module_utils import oidc_provider
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Refusal
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Refusal
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import ProviderConverger
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import ProviderInUseError
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import ProviderNotOwnedError
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import diff_view
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import wanted_provider
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import OWNER_TAG_KEY
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import OWNER_TAG_VALUE
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import not_owned

HOST_PATH = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
URL = "https://" + HOST_PATH
ARN = "arn:aws:iam::222222222222:oidc-provider/" + HOST_PATH
OTHER_ARN = "arn:aws:iam::222222222222:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OTHER"
CREATED = datetime.datetime(2025, 1, 31, 10, 15, tzinfo=datetime.timezone.utc)
THUMB_A = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
THUMB_B = "a" * 40
ARN_PARAM = {"OpenIDConnectProviderArn": ARN}
OWNER = {OWNER_TAG_KEY: OWNER_TAG_VALUE}
OWNER_TAG = {"Key": OWNER_TAG_KEY, "Value": OWNER_TAG_VALUE}
EKSCTL_TAGS = {"alpha.eksctl.io/cluster-name": "agents", "alpha.eksctl.io/eksctl-version": "0.190.0"}


def provider_response(client_ids=("sts.amazonaws.com",), thumbprints=(), tags=None, owned=True):
    """A GetOpenIDConnectProvider response; ``tags`` plus, when ``owned``, the ownership tag."""
    tags = dict(tags or {}, **(OWNER if owned else {}))
    return {
        "Url": HOST_PATH,  # IAM answers without the scheme
        "ClientIDList": list(client_ids),
        "ThumbprintList": list(thumbprints),
        "CreateDate": CREATED,
        "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
    }


def ensure_present(client, check_mode, arn, wanted, confirm_account=None):
    converger = ProviderConverger(client, arn, check_mode)
    converger.plan_present(wanted, confirm_account)
    return converger.apply()


def ensure_absent(client, check_mode, arn, force=False, planned_trust=None):
    converger = ProviderConverger(client, arn, check_mode)
    converger.plan_absent(force, planned_trust)
    return converger.apply()


def expect_get(stubber, response=None):
    if response is None:
        stubber.add_client_error("get_open_id_connect_provider", "NoSuchEntity", http_status_code=404, expected_params=ARN_PARAM)
    else:
        stubber.add_response("get_open_id_connect_provider", response, ARN_PARAM)


def expect_mutation(stubber, operation, **params):
    stubber.add_response(operation, {}, dict(ARN_PARAM, **params))


def role(name, federated=None):
    """A ListRoles entry; the trust policy URL-encoded, as the IAM API sends it."""
    principal = {"Federated": federated} if federated else {"Service": "ec2.amazonaws.com"}
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]}
    return {"Path": "/", "RoleName": name, "RoleId": "AROA" + name.upper().ljust(17, "X"), "CreateDate": CREATED,
            "Arn": f"arn:aws:iam::222222222222:role/{name}", "AssumeRolePolicyDocument": urllib.parse.quote(json.dumps(document))}


# -- validation -----------------------------------------------------------------------------------


def test_wanted_provider_normalises_url_client_ids_thumbprints_and_tags():
    wanted = wanted_provider("OIDC.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE/",
                             client_ids=["b", "a", "b"], thumbprints=[THUMB_B.upper(), THUMB_A], tags={"n": 1})
    assert wanted.issuer.url == URL
    assert wanted.client_ids == ["a", "b"]
    assert wanted.thumbprints == [THUMB_A, THUMB_B]
    assert wanted.tags == {"n": "1"}


def test_wanted_provider_leaves_unset_options_unmanaged():
    wanted = wanted_provider(URL)
    assert (wanted.client_ids, wanted.thumbprints, wanted.tags) == (None, None, None)


@pytest.mark.parametrize("kwargs, option, hint", [
    (dict(url="http://" + HOST_PATH), "url", "https"),
    (dict(url=URL, thumbprints=["9e:99:a4"]), "thumbprints", "40 hex digits"),
    (dict(url=URL, thumbprints=["g" * 40]), "thumbprints", "40 hex digits"),
    (dict(url=URL, thumbprints=[f"{n:040x}" for n in range(6)]), "thumbprints", "at most 5"),
    (dict(url=URL, client_ids=[""]), "client_ids", "1 to 255"),
    (dict(url=URL, client_ids=["x" * 256]), "client_ids", "1 to 255"),
    (dict(url=URL, client_ids=[f"id-{n}" for n in range(101)]), "client_ids", "at most 100"),
])
def test_bad_options_are_refused_naming_the_option(kwargs, option, hint):
    with pytest.raises(IssuerError) as error:
        wanted_provider(**kwargs)
    assert str(error.value).startswith(option) and hint in str(error.value)


# -- create ---------------------------------------------------------------------------------------


def test_create_sends_the_default_audience_and_no_thumbprints(iam):
    client, stubber = iam
    expect_get(stubber)
    stubber.add_response("create_open_id_connect_provider", {"OpenIDConnectProviderArn": ARN},
                         {"Url": URL, "ClientIDList": ["sts.amazonaws.com"], "Tags": [OWNER_TAG]})
    expect_get(stubber, provider_response())

    outcome = ensure_present(client, False, ARN, wanted_provider(HOST_PATH + "/"))

    assert outcome.changed and outcome.before is None
    assert outcome.after == dict(arn=ARN, url=URL, client_ids=["sts.amazonaws.com"], thumbprints=[], tags=OWNER,
                                 create_date=CREATED.isoformat())


def test_create_with_client_ids_thumbprints_and_tags(iam):
    client, stubber = iam
    expect_get(stubber)
    stubber.add_response("create_open_id_connect_provider", {"OpenIDConnectProviderArn": ARN}, {
        "Url": URL, "ClientIDList": ["a", "sts.amazonaws.com"], "ThumbprintList": [THUMB_A],
        "Tags": [{"Key": "owner", "Value": "platform"}, OWNER_TAG]})
    expect_get(stubber, provider_response(["sts.amazonaws.com", "a"], [THUMB_A], {"owner": "platform"}))

    wanted = wanted_provider(URL, client_ids=["sts.amazonaws.com", "a"], thumbprints=[THUMB_A.upper()], tags={"owner": "platform"})
    outcome = ensure_present(client, False, ARN, wanted)

    assert outcome.changed
    assert outcome.after["client_ids"] == ["a", "sts.amazonaws.com"] and outcome.after["thumbprints"] == [THUMB_A]
    assert outcome.after["tags"] == {"owner": "platform", OWNER_TAG_KEY: OWNER_TAG_VALUE}


def test_create_in_check_mode_only_reads_and_predicts_the_real_result(iam):
    client, stubber = iam
    wanted = wanted_provider(URL, thumbprints=[THUMB_A], tags={"owner": "platform"})
    expect_get(stubber)

    predicted = ensure_present(client, True, ARN, wanted)

    assert predicted.changed and predicted.before is None
    assert predicted.after == dict(arn=ARN, url=URL, client_ids=["sts.amazonaws.com"], thumbprints=[THUMB_A],
                                   tags={"owner": "platform", OWNER_TAG_KEY: OWNER_TAG_VALUE}, create_date=None)


def test_entity_already_exists_on_create_converges_on_the_concurrent_provider(iam):
    client, stubber = iam
    expect_get(stubber)
    stubber.add_client_error("create_open_id_connect_provider", "EntityAlreadyExists", http_status_code=409)
    expect_get(stubber, provider_response(["sts.amazonaws.com", "other"]))
    expect_mutation(stubber, "remove_client_id_from_open_id_connect_provider", ClientID="other")

    outcome = ensure_present(client, False, ARN, wanted_provider(URL, client_ids=["sts.amazonaws.com"]))

    assert outcome.changed
    assert outcome.before["client_ids"] == ["other", "sts.amazonaws.com"]
    assert outcome.after["client_ids"] == ["sts.amazonaws.com"]


def test_entity_already_exists_and_nothing_to_change_is_no_change(iam):
    client, stubber = iam
    expect_get(stubber)
    stubber.add_client_error("create_open_id_connect_provider", "EntityAlreadyExists", http_status_code=409)
    expect_get(stubber, provider_response())

    outcome = ensure_present(client, False, ARN, wanted_provider(URL))

    assert not outcome.changed


def test_entity_already_exists_from_eksctl_is_used_as_is_and_not_tagged_as_ours(iam):
    client, stubber = iam
    expect_get(stubber)
    stubber.add_client_error("create_open_id_connect_provider", "EntityAlreadyExists", http_status_code=409)
    expect_get(stubber, provider_response(tags=EKSCTL_TAGS, owned=False))
    # tags given, so they are applied; without purge nothing of eksctl's goes, and the ownership tag is not added.
    expect_mutation(stubber, "tag_open_id_connect_provider", Tags=[{"Key": "owner", "Value": "platform"}])

    outcome = ensure_present(client, False, ARN, wanted_provider(URL, tags={"owner": "platform"}, purge_tags=False))

    assert outcome.changed
    assert outcome.after["tags"] == dict(EKSCTL_TAGS, owner="platform")


def test_create_answering_another_arn_reports_the_account_mismatch(iam):
    client, stubber = iam
    expect_get(stubber)
    stubber.add_response("create_open_id_connect_provider",
                         {"OpenIDConnectProviderArn": ARN.replace("222222222222", "333333333333")})

    with pytest.raises(Refusal, match="credentials act in another account or partition"):
        ensure_present(client, False, ARN, wanted_provider(URL))


def test_account_confirmation_runs_before_a_create_and_stops_it(iam):
    client, stubber = iam
    expect_get(stubber)

    def wrong_account():
        raise Refusal("account_id 222222222222 is not the account the credentials act in (333333333333)")

    with pytest.raises(Refusal, match="not the account the credentials act in"):
        ensure_present(client, True, ARN, wanted_provider(URL), confirm_account=wrong_account)


def test_account_confirmation_is_skipped_when_the_provider_exists(iam):
    client, stubber = iam
    expect_get(stubber, provider_response())

    def must_not_run():
        raise AssertionError("the account needs no confirmation when nothing is created")

    assert not ensure_present(client, False, ARN, wanted_provider(URL), confirm_account=must_not_run).changed


# -- update ---------------------------------------------------------------------------------------


def test_matching_provider_is_left_alone_with_a_single_read(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(["sts.amazonaws.com"], [THUMB_A.upper()], {"owner": "platform"}))

    wanted = wanted_provider(URL, client_ids=["sts.amazonaws.com"], thumbprints=[THUMB_A], tags={"owner": "platform"})
    outcome = ensure_present(client, False, ARN, wanted)

    assert not outcome.changed and outcome.before == outcome.after


def test_unmanaged_options_are_not_touched(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(["a", "b"], [THUMB_A], {"owner": "someone-else"}))

    outcome = ensure_present(client, False, ARN, wanted_provider(URL))

    assert not outcome.changed


def test_client_ids_become_exactly_the_given_set(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(["sts.amazonaws.com", "old-b", "old-a"]))
    # Removals first, then additions, each a real per-ID call.
    expect_mutation(stubber, "remove_client_id_from_open_id_connect_provider", ClientID="old-a")
    expect_mutation(stubber, "remove_client_id_from_open_id_connect_provider", ClientID="old-b")
    expect_mutation(stubber, "add_client_id_to_open_id_connect_provider", ClientID="new")

    outcome = ensure_present(client, False, ARN, wanted_provider(URL, client_ids=["new", "sts.amazonaws.com"]))

    assert outcome.changed
    assert diff_view(outcome.before)["client_ids"] == ["old-a", "old-b", "sts.amazonaws.com"]
    assert diff_view(outcome.after)["client_ids"] == ["new", "sts.amazonaws.com"]


def test_thumbprints_are_replaced_in_lower_case(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(thumbprints=[THUMB_A]))
    expect_mutation(stubber, "update_open_id_connect_provider_thumbprint", ThumbprintList=[THUMB_B])

    outcome = ensure_present(client, False, ARN, wanted_provider(URL, thumbprints=[THUMB_B.upper()]))

    assert outcome.changed and outcome.after["thumbprints"] == [THUMB_B]


def test_empty_thumbprint_list_clears_them(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(thumbprints=[THUMB_A]))
    expect_mutation(stubber, "update_open_id_connect_provider_thumbprint", ThumbprintList=[])

    assert ensure_present(client, False, ARN, wanted_provider(URL, thumbprints=[])).changed


def test_tags_are_set_and_purged(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(tags={"keep": "1", "change": "old", "drop": "x", "aws:reserved": "r"}))
    expect_mutation(stubber, "untag_open_id_connect_provider", TagKeys=["drop"])
    expect_mutation(stubber, "tag_open_id_connect_provider", Tags=[{"Key": "change", "Value": "new"}])

    outcome = ensure_present(client, False, ARN, wanted_provider(URL, tags={"keep": "1", "change": "new"}))

    # Reserved aws: tags are never purged, nor is the ownership tag of a provider the module created.
    assert outcome.after["tags"] == {"keep": "1", "change": "new", "aws:reserved": "r", OWNER_TAG_KEY: OWNER_TAG_VALUE}


@pytest.mark.parametrize("check_mode", [False, True])
def test_empty_tags_with_purge_keep_only_the_ownership_tag(iam, check_mode):
    client, stubber = iam
    expect_get(stubber, provider_response(tags={"team": "a"}))
    if not check_mode:
        expect_mutation(stubber, "untag_open_id_connect_provider", TagKeys=["team"])

    outcome = ensure_present(client, check_mode, ARN, wanted_provider(URL, tags={}))

    assert outcome.changed and outcome.after["tags"] == OWNER


def test_ownership_tag_named_by_the_user_keeps_our_value(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(tags={"owner": "platform"}))

    outcome = ensure_present(client, False, ARN, wanted_provider(URL, tags={"owner": "platform", OWNER_TAG_KEY: "someone-else"}))

    assert not outcome.changed


def test_eksctl_provider_is_used_as_is_when_nothing_is_asked(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(tags=EKSCTL_TAGS, owned=False))

    outcome = ensure_present(client, False, ARN, wanted_provider(URL))

    assert not outcome.changed and outcome.after["tags"] == EKSCTL_TAGS


@pytest.mark.parametrize("check_mode", [False, True])
def test_eksctl_provider_gets_exactly_the_asked_tags_and_never_the_ownership_tag(iam, check_mode):
    client, stubber = iam
    expect_get(stubber, provider_response(["sts.amazonaws.com"], tags=EKSCTL_TAGS, owned=False))
    if not check_mode:
        expect_mutation(stubber, "add_client_id_to_open_id_connect_provider", ClientID="extra")
        expect_mutation(stubber, "untag_open_id_connect_provider", TagKeys=sorted(EKSCTL_TAGS))
        expect_mutation(stubber, "tag_open_id_connect_provider", Tags=[{"Key": "owner", "Value": "platform"}])

    wanted = wanted_provider(URL, client_ids=["sts.amazonaws.com", "extra"], tags={"owner": "platform"}, purge_tags=True)
    outcome = ensure_present(client, check_mode, ARN, wanted)

    assert outcome.changed
    assert outcome.after["client_ids"] == ["extra", "sts.amazonaws.com"]
    assert outcome.after["tags"] == {"owner": "platform"}


def test_eksctl_provider_with_empty_tags_and_no_purge_is_no_change(iam):
    """What the oidc_provider role sends by default (tags {}, purge_tags false) leaves eksctl's provider untouched."""
    client, stubber = iam
    expect_get(stubber, provider_response(tags=EKSCTL_TAGS, owned=False))

    outcome = ensure_present(client, False, ARN, wanted_provider(URL, tags={}, purge_tags=False))

    assert not outcome.changed and outcome.after["tags"] == EKSCTL_TAGS


def test_tags_without_purge_only_add(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(tags={"other": "x"}))
    expect_mutation(stubber, "tag_open_id_connect_provider", Tags=[{"Key": "owner", "Value": "platform"}])

    outcome = ensure_present(client, False, ARN, wanted_provider(URL, tags={"owner": "platform"}, purge_tags=False))

    assert outcome.after["tags"] == {"other": "x", "owner": "platform", OWNER_TAG_KEY: OWNER_TAG_VALUE}


def test_update_in_check_mode_only_reads_and_predicts_the_real_result(iam):
    client, stubber = iam
    current = provider_response(["sts.amazonaws.com", "old"], [THUMB_A], {"drop": "x"})
    wanted = wanted_provider(URL, client_ids=["sts.amazonaws.com", "new"], thumbprints=[THUMB_B], tags={"owner": "platform"})
    expect_get(stubber, current)
    predicted = ensure_present(client, True, ARN, wanted)
    stubber.assert_no_pending_responses()

    expect_get(stubber, current)
    expect_mutation(stubber, "remove_client_id_from_open_id_connect_provider", ClientID="old")
    expect_mutation(stubber, "add_client_id_to_open_id_connect_provider", ClientID="new")
    expect_mutation(stubber, "update_open_id_connect_provider_thumbprint", ThumbprintList=[THUMB_B])
    expect_mutation(stubber, "untag_open_id_connect_provider", TagKeys=["drop"])
    expect_mutation(stubber, "tag_open_id_connect_provider", Tags=[{"Key": "owner", "Value": "platform"}])
    real = ensure_present(client, False, ARN, wanted)

    assert predicted == real and predicted.changed


def test_aws_errors_name_the_action(iam):
    client, stubber = iam
    expect_get(stubber, provider_response())
    stubber.add_client_error("add_client_id_to_open_id_connect_provider", "AccessDenied", http_status_code=403)

    with pytest.raises(AnsibleIAMError) as error:
        ensure_present(client, False, ARN, wanted_provider(URL, client_ids=["sts.amazonaws.com", "new"]))
    assert "iam:AddClientIDToOpenIDConnectProvider" in error.value.message


# -- absent ---------------------------------------------------------------------------------------


def test_absent_on_a_missing_provider_is_no_change(iam):
    client, stubber = iam
    expect_get(stubber)

    assert ensure_absent(client, False, ARN) == ("ok", None, None, {"before": {}, "after": {}})


def test_absent_refuses_while_roles_trust_the_provider_listing_them(iam):
    client, stubber = iam
    expect_get(stubber, provider_response())
    # Two pages, so the whole account is searched; only roles federating this provider count.
    stubber.add_response("list_roles", {"Roles": [role("web-b", ARN), role("ec2-role")], "IsTruncated": True, "Marker": "m1"}, {})
    stubber.add_response("list_roles", {"Roles": [role("web-a", ARN), role("other-cluster", OTHER_ARN)], "IsTruncated": False},
                         {"Marker": "m1"})

    with pytest.raises(ProviderInUseError) as error:
        ensure_absent(client, False, ARN)

    assert error.value.details == {"trusted_by": ["web-a", "web-b"]}
    assert "web-a, web-b" in str(error.value) and "force=true" in str(error.value)


def test_absent_deletes_when_no_role_trusts_the_provider(iam):
    client, stubber = iam
    expect_get(stubber, provider_response())
    stubber.add_response("list_roles", {"Roles": [role("other-cluster", OTHER_ARN)], "IsTruncated": False}, {})
    expect_mutation(stubber, "delete_open_id_connect_provider")

    outcome = ensure_absent(client, False, ARN)

    assert outcome.changed and outcome.before["arn"] == ARN and outcome.after is None


def test_absent_when_deleted_concurrently_is_no_change(iam):
    client, stubber = iam
    expect_get(stubber, provider_response())
    stubber.add_client_error("delete_open_id_connect_provider", "NoSuchEntity", http_status_code=404, expected_params=ARN_PARAM)

    assert not ensure_absent(client, False, ARN, force=True).changed


def test_absent_with_force_deletes_without_looking_at_roles(iam):
    client, stubber = iam
    expect_get(stubber, provider_response())
    expect_mutation(stubber, "delete_open_id_connect_provider")

    assert ensure_absent(client, False, ARN, force=True).changed


def test_absent_in_check_mode_only_reads(iam):
    client, stubber = iam
    expect_get(stubber, provider_response())
    stubber.add_response("list_roles", {"Roles": [], "IsTruncated": False}, {})

    assert ensure_absent(client, True, ARN).changed


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_refuses_a_provider_made_by_someone_else(iam, check_mode):
    client, stubber = iam
    expect_get(stubber, provider_response(tags=EKSCTL_TAGS, owned=False))
    stubber.add_response("list_roles", {"Roles": [], "IsTruncated": False}, {})

    with pytest.raises(ProviderNotOwnedError) as error:  # no delete is queued
        ensure_absent(client, check_mode, ARN)

    assert str(error.value).startswith(not_owned("OIDC provider", ARN))
    assert "does not delete it" in str(error.value) and "force=true" in str(error.value)
    assert error.value.details == {}


def test_absent_refusing_a_provider_made_by_someone_else_names_the_roles_that_trust_it(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(owned=False))
    stubber.add_response("list_roles", {"Roles": [role("web", ARN), role("ec2-role")], "IsTruncated": False}, {})

    with pytest.raises(ProviderNotOwnedError) as error:
        ensure_absent(client, False, ARN)

    assert str(error.value).startswith(not_owned("OIDC provider", ARN))
    assert "1 role(s) in this account also still trust it (web)" in str(error.value)
    # trusted_by is only for refusals that the trusting roles alone cause (the teardown relies on that).
    assert "trusted_by" not in error.value.details


def test_absent_with_force_deletes_a_provider_made_by_someone_else(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(tags=EKSCTL_TAGS, owned=False))
    expect_mutation(stubber, "delete_open_id_connect_provider")

    outcome = ensure_absent(client, False, ARN, force=True)

    assert outcome.changed and outcome.before["tags"] == EKSCTL_TAGS and outcome.after is None


def test_absent_in_check_mode_still_refuses_while_trusted(iam):
    client, stubber = iam
    expect_get(stubber, provider_response())
    stubber.add_response("list_roles", {"Roles": [role("web", ARN)], "IsTruncated": False}, {})

    with pytest.raises(ProviderInUseError):
        ensure_absent(client, True, ARN)


@pytest.mark.parametrize("check_mode", [True, False])
def test_absent_does_not_count_the_roles_the_same_run_deletes(iam, check_mode):
    # A check run of irsa_account state=absent only predicts the roles' deletion, so IAM still lists them: they must
    # not make the prediction a refusal; any other role that trusts the provider still does.
    client, stubber = iam
    expect_get(stubber, provider_response())
    stubber.add_response("list_roles", {"Roles": [role("Torque-Runner", ARN), role("other-cluster", OTHER_ARN)],
                                        "IsTruncated": False}, {})
    if not check_mode:
        expect_mutation(stubber, "delete_open_id_connect_provider")
    assert ensure_absent(client, check_mode, ARN, planned_trust={"torque-runner": None}).changed

    expect_get(stubber, provider_response())
    stubber.add_response("list_roles", {"Roles": [role("torque-runner", ARN), role("hand-made", ARN)], "IsTruncated": False}, {})
    with pytest.raises(ProviderInUseError) as error:
        ensure_absent(client, check_mode, ARN, planned_trust={"torque-runner": None})
    assert error.value.details == {"trusted_by": ["hand-made"]}


@pytest.mark.parametrize("check_mode", [True, False])
def test_absent_with_keep_keeps_a_provider_other_roles_trust_and_says_which(iam, check_mode):
    # What irsa_account asks: the run's own roles go, a provider roles outside the run still need stays, reported.
    client, stubber = iam
    expect_get(stubber, provider_response())
    stubber.add_response("list_roles", {"Roles": [role("torque-runner", ARN), role("team-b", ARN), role("team-a", ARN)],
                                        "IsTruncated": False}, {})
    converger = ProviderConverger(client, ARN, check_mode)

    predicted = converger.plan_absent(planned_trust={"torque-runner": None}, keep=True)
    outcome = converger.apply()  # no delete stubbed: a write would fail the stubber

    assert predicted == outcome and outcome.status == "kept" and not outcome.changed
    assert outcome.before == outcome.after and outcome.after["arn"] == ARN
    assert outcome.diff == {"before": {}, "after": {}}
    assert converger.kept == "still trusted by team-a, team-b" and converger.trusted_by == ["team-a", "team-b"]
    stubber.assert_no_pending_responses()


def test_absent_with_keep_keeps_a_provider_made_by_someone_else(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(tags=EKSCTL_TAGS, owned=False))
    stubber.add_response("list_roles", {"Roles": [role("web", ARN)], "IsTruncated": False}, {})
    converger = ProviderConverger(client, ARN, False)

    converger.plan_absent(keep=True)

    assert converger.apply().status == "kept"
    assert converger.kept.startswith("not created by torque.eks_irsa") and converger.trusted_by == ["web"]


def test_absent_with_keep_still_deletes_what_only_the_run_used(iam):
    client, stubber = iam
    expect_get(stubber, provider_response())
    stubber.add_response("list_roles", {"Roles": [role("torque-runner", ARN)], "IsTruncated": False}, {})
    expect_mutation(stubber, "delete_open_id_connect_provider")
    converger = ProviderConverger(client, ARN, False)

    converger.plan_absent(planned_trust={"torque-runner": None}, keep=True)

    assert converger.apply().status == "deleted" and converger.kept is None

# -- account --------------------------------------------------------------------------------------


def test_given_account_id_needs_no_aws_call_and_takes_the_endpoint_partition():
    client = boto3.client("iam", region_name="cn-north-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client):  # any call would fail: none is queued
        assert oidc_provider.target_account(None, client, "222222222222") == ("222222222222", "aws-cn")


def test_without_purge_client_ids_are_only_added_and_none_removed(iam):
    client, stubber = iam
    expect_get(stubber, provider_response(["sts.amazonaws.com", "other"]))
    expect_mutation(stubber, "add_client_id_to_open_id_connect_provider", ClientID="vault")

    outcome = ensure_present(client, False, ARN, wanted_provider(URL, client_ids=["vault", "sts.amazonaws.com"], purge_client_ids=False))

    assert outcome.changed and outcome.after["client_ids"] == ["other", "sts.amazonaws.com", "vault"]
    expect_get(stubber, provider_response(["sts.amazonaws.com", "other", "vault"]))
    assert not ensure_present(client, False, ARN, wanted_provider(URL, client_ids=["vault"], purge_client_ids=False)).changed


def test_adding_client_ids_beyond_what_iam_holds_is_refused_before_a_write(iam):
    client, stubber = iam
    expect_get(stubber, provider_response([f"id-{index}" for index in range(100)]))
    with pytest.raises(Refusal, match=r"would accept 101 client IDs with the ones it has, IAM allows at most 100"):
        ensure_present(client, True, ARN, wanted_provider(URL, client_ids=["sts.amazonaws.com"], purge_client_ids=False))
