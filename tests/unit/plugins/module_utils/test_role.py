# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The role layer against botocore's Stubber: the exact IAM calls, in order, and none in check mode.

Stubber fails on any call that was not queued, so "no mutating call" is proven by queueing only reads.
Existing roles carry the collection's ownership tag unless a test is about a role someone else made.
IAM's eventual consistency (NoSuchEntity right after CreateRole) and a concurrent creator
(EntityAlreadyExists) cannot be produced with moto; they are covered here.
"""

from __future__ import annotations

import datetime
import json
import urllib.parse

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.iam import AnsibleIAMError
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import OWNER_TAG_KEY
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import OWNER_TAG_VALUE
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import not_owned
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import RoleConverger
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Refusal
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import RoleSpec
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import compact_json
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import role_account
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import role_result
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import role_spec
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import DesiredTrust
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import check_role_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import parse_trust

ACCOUNT = "222222222222"
NAME = "runner"
ARN = f"arn:aws:iam::{ACCOUNT}:role/{NAME}"
ROLE_ID = "AROADBQP57FF2AEXAMPLE"
HOST = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
CREATED = datetime.datetime(2025, 1, 31, 10, 15, tzinfo=datetime.timezone.utc)
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
AUDIT = "arn:aws:iam::aws:policy/SecurityAudit"
BOUNDARY = "arn:aws:iam::222222222222:policy/boundary"
BUCKET = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}]}
LOGS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
ROLE = {"RoleName": NAME}
OWNER = {OWNER_TAG_KEY: OWNER_TAG_VALUE}
OWNER_TAG = {"Key": OWNER_TAG_KEY, "Value": OWNER_TAG_VALUE}


def desired_trust(service_accounts=("torque-agents:runner",), exclusive=True):
    trusted = parse_trust([{"issuer": HOST, "service_accounts": list(service_accounts)}], "aws", ACCOUNT)
    return DesiredTrust(trusted, "sts.amazonaws.com", exclusive, 2048)


TRUST = desired_trust().document()


def spec(**overrides):
    fields = dict(name=NAME, path="/", account_id=ACCOUNT, partition="aws", trust=desired_trust(), description=None,
                  max_session_duration=None, permissions_boundary=None, managed_policies=None, purge_managed_policies=True, managed_policy_quota=10,
                  inline_policies=None, purge_inline_policies=True, tags=None, purge_tags=True, adopt=False)
    fields.update(overrides)
    return RoleSpec(**fields)


def aws_role(trust=None, tags=None, owned=True, **extra):
    """A GetRole ``Role`` as IAM sends it: policy documents URL-encoded JSON; ``tags`` plus, when ``owned``, the ownership tag."""
    tags = dict(tags or {}, **(OWNER if owned else {}))
    role = dict(Path="/", RoleName=NAME, RoleId=ROLE_ID, Arn=ARN, CreateDate=CREATED, MaxSessionDuration=3600,
                AssumeRolePolicyDocument=urllib.parse.quote(json.dumps(trust or TRUST)),
                Tags=[{"Key": key, "Value": value} for key, value in tags.items()])
    role.update(extra)
    return role


@pytest.fixture
def iam():
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff()), stubber
        stubber.assert_no_pending_responses()


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    monkeypatch.setattr(cloud.time, "sleep", lambda seconds: None)


def expect_read(stubber, role, inline=None, attached=(), with_documents=False):
    """Queue the reads of an existing role; ``inline`` maps names to documents."""
    inline = inline or {}
    stubber.add_response("get_role", {"Role": role}, ROLE)
    stubber.add_response("list_role_policies", {"PolicyNames": sorted(inline)}, ROLE)
    stubber.add_response("list_attached_role_policies",
                         {"AttachedPolicies": [{"PolicyArn": arn, "PolicyName": arn.rsplit("/", 1)[-1]} for arn in attached]}, ROLE)
    if with_documents:
        for name in sorted(inline):
            stubber.add_response("get_role_policy", {"RoleName": NAME, "PolicyName": name,
                                                     "PolicyDocument": urllib.parse.quote(json.dumps(inline[name]))},
                                 dict(ROLE, PolicyName=name))


def expect_policies(stubber, *arns):
    """Queue the existence check (GetPolicy) of managed policies the role does not have yet."""
    for arn in arns:
        name = arn.rsplit("/", 1)[-1]
        stubber.add_response("get_policy", {"Policy": {"PolicyName": name, "Arn": arn, "Path": "/", "DefaultVersionId": "v1",
                                                       "AttachmentCount": 0, "IsAttachable": True}}, {"PolicyArn": arn})


def expect_missing(stubber):
    stubber.add_client_error("get_role", "NoSuchEntity", "The role with name runner cannot be found.", 404, expected_params=ROLE)


def converge(iam, role_spec, check_mode=False):
    client, _stubber = iam
    converger = RoleConverger(client, role_spec.name, check_mode)
    converger.plan_present(role_spec)
    return converger, converger.apply().after


def ensure_absent(client, name, check_mode, force=False):
    """``(changed, diff)`` of deleting the role."""
    converger = RoleConverger(client, name, check_mode)
    converger.plan_absent(force)
    outcome = converger.apply()
    return outcome.changed, outcome.diff


# -- create -------------------------------------------------------------------------------------


def test_create_retries_no_such_entity_right_after_create(iam):
    client, stubber = iam
    wanted = spec(managed_policies=[READ_ONLY], inline_policies={"bucket": BUCKET}, tags={"owner": "platform"},
                  max_session_duration=7200, permissions_boundary=BOUNDARY, description="runner pods")
    expect_missing(stubber)
    expect_policies(stubber, READ_ONLY, BOUNDARY)
    stubber.add_response("create_role", {"Role": aws_role(Description="runner pods", MaxSessionDuration=7200)}, dict(
        ROLE, Path="/", AssumeRolePolicyDocument=compact_json(TRUST), Description="runner pods", MaxSessionDuration=7200,
        PermissionsBoundary=BOUNDARY, Tags=[{"Key": "owner", "Value": "platform"}, OWNER_TAG]))
    # The new role is not visible everywhere yet: retried, not failed.
    stubber.add_client_error("attach_role_policy", "NoSuchEntity", "cannot be found", 404, dict(ROLE, PolicyArn=READ_ONLY))
    stubber.add_response("attach_role_policy", {}, dict(ROLE, PolicyArn=READ_ONLY))
    stubber.add_client_error("put_role_policy", "NoSuchEntity", "cannot be found", 404,
                             dict(ROLE, PolicyName="bucket", PolicyDocument=compact_json(BUCKET)))
    stubber.add_response("put_role_policy", {}, dict(ROLE, PolicyName="bucket", PolicyDocument=compact_json(BUCKET)))
    stubber.add_client_error("get_role", "NoSuchEntity", "cannot be found", 404, ROLE)
    expect_read(stubber, aws_role(Description="runner pods", MaxSessionDuration=7200, tags={"owner": "platform"},
                                  PermissionsBoundary={"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": BOUNDARY}),
                inline={"bucket": BUCKET}, attached=[READ_ONLY])

    converger, role = converge(iam, wanted)

    assert converger.changed is True
    assert role_result(role) == dict(
        name=NAME, arn=ARN, role_id=ROLE_ID, path="/", create_date=CREATED.isoformat(), description="runner pods",
        trust_policy=TRUST, max_session_duration=7200, permissions_boundary=BOUNDARY, managed_policies=[READ_ONLY],
        inline_policies=["bucket"], tags={"owner": "platform", OWNER_TAG_KEY: OWNER_TAG_VALUE})
    assert converger.diff["before"] == {}
    assert converger.diff["after"] == dict(path="/", description="runner pods", trust_policy=TRUST, max_session_duration=7200,
                                           permissions_boundary=BOUNDARY, tags={"owner": "platform", OWNER_TAG_KEY: OWNER_TAG_VALUE},
                                           managed_policies=[READ_ONLY], inline_policies={"bucket": BUCKET})


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_managed_policy_or_boundary_that_does_not_exist_is_refused_before_any_write(iam, check_mode):
    _client, stubber = iam
    nope = "arn:aws:iam::aws:policy/Nope"
    for wanted, field in ((spec(managed_policies=[READ_ONLY, nope]), "managed_policies[1]"),
                          (spec(permissions_boundary=nope), "permissions_boundary")):
        expect_missing(stubber)  # a new role: nothing is created (only reads are queued)
        if field.startswith("managed"):
            expect_policies(stubber, READ_ONLY)
        stubber.add_client_error("get_policy", "NoSuchEntity", f"Policy {nope} was not found.", 404, expected_params={"PolicyArn": nope})
        with pytest.raises(Refusal) as error:
            converge(iam, wanted, check_mode)
        assert str(error.value).startswith(f"{field}: the managed policy {nope} does not exist")
        assert "nothing was written" in str(error.value)


def test_a_policy_the_role_already_has_is_not_looked_up(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(PermissionsBoundary={"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": BOUNDARY}),
                attached=[READ_ONLY])  # no GetPolicy queued: a call would fail the Stubber
    converger, _role = converge(iam, spec(managed_policies=[READ_ONLY], permissions_boundary=BOUNDARY))
    assert converger.changed is False


def test_after_create_a_no_such_entity_about_the_policy_is_not_retried(iam):
    client, stubber = iam
    expect_missing(stubber)
    expect_policies(stubber, READ_ONLY)  # it existed when the plan looked
    stubber.add_response("create_role", {"Role": aws_role()}, dict(
        ROLE, Path="/", AssumeRolePolicyDocument=compact_json(TRUST), Tags=[OWNER_TAG]))
    stubber.add_client_error("attach_role_policy", "NoSuchEntity", f"Policy {READ_ONLY} does not exist or is not attachable.", 404,
                             dict(ROLE, PolicyArn=READ_ONLY))  # queued once: a retry would fail the Stubber
    with pytest.raises(AnsibleIAMError, match="iam:AttachRolePolicy"):
        converge(iam, spec(managed_policies=[READ_ONLY]))


def test_no_such_entity_on_an_existing_role_is_not_retried(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role())
    expect_policies(stubber, "arn:aws:iam::aws:policy/Nope")  # it existed when the plan looked, then went away
    stubber.add_client_error("attach_role_policy", "NoSuchEntity", "Policy arn:aws:iam::aws:policy/Nope does not exist", 404,
                             dict(ROLE, PolicyArn="arn:aws:iam::aws:policy/Nope"))
    with pytest.raises(AnsibleIAMError, match=r"Failed to attach managed policy arn:aws:iam::aws:policy/Nope \(role runner; iam:AttachRolePolicy\)"):
        converge(iam, spec(managed_policies=["arn:aws:iam::aws:policy/Nope"]))


def test_check_mode_create_predicts_without_mutating(iam):
    _client, stubber = iam
    expect_missing(stubber)
    expect_policies(stubber, READ_ONLY)
    converger, role = converge(iam, spec(path="/irsa/", managed_policies=[READ_ONLY], inline_policies={"bucket": BUCKET}), check_mode=True)
    assert converger.changed is True
    assert role["arn"] == f"arn:aws:iam::{ACCOUNT}:role/irsa/{NAME}"
    assert role["role_id"] is None and role["create_date"] is None
    assert role_result(role)["managed_policies"] == [READ_ONLY]
    assert role_result(role)["inline_policies"] == ["bucket"]
    assert role["max_session_duration"] == 3600
    assert role["tags"] == OWNER
    assert converger.diff["before"] == {}
    assert converger.diff["after"]["trust_policy"] == TRUST
    assert converger.diff["after"]["tags"] == OWNER


def test_create_without_tags_still_sends_the_ownership_tag(iam):
    _client, stubber = iam
    expect_missing(stubber)
    stubber.add_response("create_role", {"Role": aws_role()},
                         dict(ROLE, Path="/", AssumeRolePolicyDocument=compact_json(TRUST), Tags=[OWNER_TAG]))
    expect_read(stubber, aws_role())

    converger, role = converge(iam, spec())

    assert converger.created is True
    assert role["tags"] == OWNER


def test_entity_already_exists_converges_what_the_concurrent_creator_made(iam):
    _client, stubber = iam
    other_trust = desired_trust(["torque-agents:other"]).document()
    expect_missing(stubber)
    stubber.add_client_error("create_role", "EntityAlreadyExists", "Role with name runner already exists.", 409)
    stubber.add_client_error("get_role", "NoSuchEntity", "cannot be found", 404, ROLE)  # not visible to this reader yet
    expect_read(stubber, aws_role(other_trust))  # our concurrent twin made it: it carries the ownership tag
    stubber.add_response("update_assume_role_policy", {}, dict(ROLE, PolicyDocument=compact_json(TRUST)))
    expect_read(stubber, aws_role())

    converger, role = converge(iam, spec())

    assert converger.changed is True
    assert converger.created is False
    assert converger.diff == {"before": {"trust_policy": other_trust}, "after": {"trust_policy": TRUST}}
    assert role["trust_policy"] == TRUST


def test_entity_already_exists_from_someone_else_is_refused_without_a_write(iam):
    _client, stubber = iam
    expect_missing(stubber)
    stubber.add_client_error("create_role", "EntityAlreadyExists", "Role with name runner already exists.", 409)
    expect_read(stubber, aws_role(desired_trust(["torque-agents:other"]).document(), owned=False))

    with pytest.raises(Refusal, match="set adopt=true"):
        converge(iam, spec())


# -- update -------------------------------------------------------------------------------------


def test_converged_role_gets_reads_only(iam):
    _client, stubber = iam
    reordered_bucket = {"Statement": [{"Resource": "*", "Action": ["s3:PutObject", "s3:GetObject"], "Effect": "Allow"}], "Version": "2012-10-17"}
    reordered_trust = json.loads(json.dumps(TRUST))
    reordered_trust["Statement"][0]["Condition"] = dict(reversed(list(reordered_trust["Statement"][0]["Condition"]["StringEquals"].items())))
    reordered_trust["Statement"][0]["Condition"] = {"StringEquals": reordered_trust["Statement"][0]["Condition"]}
    expect_read(stubber, aws_role(reordered_trust, Description="d", tags={"owner": "platform"},
                                  PermissionsBoundary={"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": BOUNDARY}),
                inline={"bucket": reordered_bucket}, attached=[AUDIT, READ_ONLY], with_documents=True)

    converger, role = converge(iam, spec(description="d", max_session_duration=3600, permissions_boundary=BOUNDARY,
                                         managed_policies=[READ_ONLY, AUDIT], inline_policies={"bucket": BUCKET}, tags={"owner": "platform"}))

    assert converger.changed is False
    assert converger.diff == {"before": {}, "after": {}}
    assert role["inline_policies"] == {"bucket": reordered_bucket}


def test_options_left_out_are_neither_compared_nor_changed(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(Description="kept", MaxSessionDuration=7200, tags={"a": "b"}),
                inline={"other": LOGS}, attached=[AUDIT])
    converger, role = converge(iam, spec())
    assert converger.changed is False
    assert role_result(role)["inline_policies"] == ["other"]


def test_managed_and_inline_policies_are_purged(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(), inline={"bucket": BUCKET, "logs": LOGS}, attached=[AUDIT, READ_ONLY], with_documents=True)
    stubber.add_response("detach_role_policy", {}, dict(ROLE, PolicyArn=AUDIT))
    stubber.add_response("delete_role_policy", {}, dict(ROLE, PolicyName="logs"))
    stubber.add_response("put_role_policy", {}, dict(ROLE, PolicyName="bucket", PolicyDocument=compact_json(LOGS)))
    expect_read(stubber, aws_role(), inline={"bucket": LOGS}, attached=[READ_ONLY])

    converger, role = converge(iam, spec(managed_policies=[READ_ONLY], inline_policies={"bucket": LOGS}))

    assert converger.changed is True
    assert converger.diff == {
        "before": {"managed_policies": sorted([AUDIT, READ_ONLY]), "inline_policies": {"bucket": BUCKET, "logs": LOGS}},
        "after": {"managed_policies": [READ_ONLY], "inline_policies": {"bucket": LOGS}},
    }
    assert role_result(role)["managed_policies"] == [READ_ONLY]


def test_without_purge_policies_are_only_added(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(), inline={"logs": LOGS}, attached=[AUDIT], with_documents=True)
    expect_policies(stubber, READ_ONLY)
    stubber.add_response("attach_role_policy", {}, dict(ROLE, PolicyArn=READ_ONLY))
    stubber.add_response("put_role_policy", {}, dict(ROLE, PolicyName="bucket", PolicyDocument=compact_json(BUCKET)))
    expect_read(stubber, aws_role(), inline={"bucket": BUCKET, "logs": LOGS}, attached=[AUDIT, READ_ONLY])

    converger, _role = converge(iam, spec(managed_policies=[READ_ONLY], purge_managed_policies=False,
                                          inline_policies={"bucket": BUCKET}, purge_inline_policies=False))
    assert converger.diff["after"] == {"managed_policies": sorted([AUDIT, READ_ONLY]), "inline_policies": {"bucket": BUCKET, "logs": LOGS}}


def test_check_mode_update_reads_only_and_predicts(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(), inline={"logs": LOGS}, attached=[AUDIT], with_documents=True)
    expect_policies(stubber, READ_ONLY)
    converger, role = converge(iam, spec(managed_policies=[READ_ONLY], inline_policies={}, tags={"a": "b"},
                                         trust=desired_trust(["torque-agents:runner", "ci:deployer"])), check_mode=True)
    assert converger.changed is True
    assert set(converger.diff["after"]) == {"trust_policy", "managed_policies", "inline_policies", "tags"}
    assert role_result(role)["managed_policies"] == [READ_ONLY]
    assert role_result(role)["inline_policies"] == []
    assert role["tags"] == {"a": "b", OWNER_TAG_KEY: OWNER_TAG_VALUE}


def test_empty_boundary_removes_it_and_is_then_no_change(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(PermissionsBoundary={"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": BOUNDARY}))
    stubber.add_response("delete_role_permissions_boundary", {}, ROLE)
    expect_read(stubber, aws_role())
    converger, role = converge(iam, spec(permissions_boundary=""))
    assert converger.diff == {"before": {"permissions_boundary": BOUNDARY}, "after": {"permissions_boundary": ""}}
    assert role["permissions_boundary"] == ""

    expect_read(stubber, aws_role())
    assert converge(iam, spec(permissions_boundary=""))[0].changed is False


def test_boundary_is_set(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role())
    expect_policies(stubber, BOUNDARY)
    stubber.add_response("put_role_permissions_boundary", {}, dict(ROLE, PermissionsBoundary=BOUNDARY))
    expect_read(stubber, aws_role(PermissionsBoundary={"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": BOUNDARY}))
    assert converge(iam, spec(permissions_boundary=BOUNDARY))[1]["permissions_boundary"] == BOUNDARY


def test_description_and_session_duration_share_one_update(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(Description="old"))
    stubber.add_response("update_role", {}, dict(ROLE, Description="", MaxSessionDuration=43200))
    expect_read(stubber, aws_role(MaxSessionDuration=43200))
    converger, _role = converge(iam, spec(description="", max_session_duration=43200))
    assert converger.diff == {"before": {"description": "old", "max_session_duration": 3600},
                              "after": {"description": "", "max_session_duration": 43200}}


def test_tags_are_set_and_purged_but_aws_tags_are_kept(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(tags={"owner": "x", "old": "1", "aws:origin": "y"}))
    stubber.add_response("untag_role", {}, dict(ROLE, TagKeys=["old"]))
    stubber.add_response("tag_role", {}, dict(ROLE, Tags=[{"Key": "owner", "Value": "platform"}]))
    expect_read(stubber, aws_role(tags={"owner": "platform", "aws:origin": "y"}))
    converger, role = converge(iam, spec(tags={"owner": "platform"}))
    assert converger.diff["after"] == {"tags": {"owner": "platform", "aws:origin": "y", OWNER_TAG_KEY: OWNER_TAG_VALUE}}
    assert role["tags"] == {"owner": "platform", "aws:origin": "y", OWNER_TAG_KEY: OWNER_TAG_VALUE}


def test_shared_mode_keeps_the_foreign_statement(iam):
    _client, stubber = iam
    foreign = {"Sid": "Ci", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "sts:AssumeRole"}
    current = {"Version": "2012-10-17", "Statement": [foreign]}
    merged = {"Version": "2012-10-17", "Statement": [foreign] + desired_trust(exclusive=False).statements()}
    expect_read(stubber, aws_role(current))
    stubber.add_response("update_assume_role_policy", {}, dict(ROLE, PolicyDocument=compact_json(merged)))
    expect_read(stubber, aws_role(merged))
    converger, role = converge(iam, spec(trust=desired_trust(exclusive=False)))
    assert converger.diff["after"]["trust_policy"] == merged
    assert role["trust_policy"] == merged


def test_path_and_account_cannot_change_and_nothing_is_written(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(Path="/irsa/", Arn=f"arn:aws:iam::{ACCOUNT}:role/irsa/{NAME}"))
    with pytest.raises(Refusal, match="IAM cannot move a role to another path"):
        converge(iam, spec(managed_policies=[READ_ONLY]))
    expect_read(stubber, aws_role(Arn=f"arn:aws:iam::111111111111:role/{NAME}"))
    with pytest.raises(Refusal, match="role runner is in account 111111111111, but account_id is 222222222222"):
        converge(iam, spec())


def test_other_errors_name_the_step_and_the_role(iam):
    _client, stubber = iam
    stubber.add_client_error("get_role", "AccessDenied", "not authorized to perform: iam:GetRole", 403, expected_params=ROLE)
    with pytest.raises(AnsibleIAMError, match=r"Failed to get role \(role runner; iam:GetRole\)"):
        converge(iam, spec())


# -- ownership ----------------------------------------------------------------------------------


@pytest.mark.parametrize("check_mode", [False, True])
def test_role_made_by_someone_else_is_refused_before_any_write(iam, check_mode):
    _client, stubber = iam
    expect_read(stubber, aws_role(desired_trust(["kube-system:eksctl"]).document(), tags={"alpha.eksctl.io/cluster-name": "agents"},
                                  owned=False), inline={"logs": LOGS}, with_documents=True)

    with pytest.raises(Refusal) as error:  # only reads are queued: any write would fail the Stubber
        converge(iam, spec(managed_policies=[READ_ONLY], inline_policies={"bucket": BUCKET}, tags={"owner": "platform"}), check_mode)

    assert str(error.value).startswith(not_owned("role", NAME))
    assert "changes nothing" in str(error.value) and "adopt=true" in str(error.value)


def test_ownership_is_checked_before_the_path(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(Path="/irsa/", Arn=f"arn:aws:iam::{ACCOUNT}:role/irsa/{NAME}", owned=False))
    with pytest.raises(Refusal, match="adopt=true"):
        converge(iam, spec())


def test_adopt_converges_the_role_and_tags_it(iam):
    _client, stubber = iam
    other_trust = desired_trust(["kube-system:eksctl"]).document()
    expect_read(stubber, aws_role(other_trust, tags={"alpha.eksctl.io/cluster-name": "agents"}, owned=False))
    stubber.add_response("update_assume_role_policy", {}, dict(ROLE, PolicyDocument=compact_json(TRUST)))
    # tags=None: the user's tags are not managed, so nothing is purged; only the ownership tag is added.
    stubber.add_response("tag_role", {}, dict(ROLE, Tags=[OWNER_TAG]))
    expect_read(stubber, aws_role(tags={"alpha.eksctl.io/cluster-name": "agents"}))

    converger, role = converge(iam, spec(adopt=True))

    assert converger.changed is True and converger.created is False
    assert converger.diff == {
        "before": {"trust_policy": other_trust, "tags": {"alpha.eksctl.io/cluster-name": "agents"}},
        "after": {"trust_policy": TRUST, "tags": {"alpha.eksctl.io/cluster-name": "agents", OWNER_TAG_KEY: OWNER_TAG_VALUE}},
    }
    assert role["tags"] == {"alpha.eksctl.io/cluster-name": "agents", OWNER_TAG_KEY: OWNER_TAG_VALUE}

    # Adopted once, the role is ours: no adopt needed any more, and nothing to change.
    expect_read(stubber, aws_role(tags={"alpha.eksctl.io/cluster-name": "agents"}))
    assert converge(iam, spec())[0].changed is False


def test_adopt_in_check_mode_predicts_the_tag_and_only_reads(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(owned=False))
    converger, role = converge(iam, spec(adopt=True), check_mode=True)
    assert converger.changed is True
    assert converger.diff == {"before": {"tags": {}}, "after": {"tags": OWNER}}
    assert role["tags"] == OWNER


def test_adopt_on_an_owned_role_changes_nothing(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role())
    assert converge(iam, spec(adopt=True))[0].changed is False


def test_unmanaged_tags_leave_every_tag_as_it_is(iam):
    _client, stubber = iam
    expect_read(stubber, aws_role(tags={"team": "a"}))
    converger, role = converge(iam, spec(tags=None, purge_tags=True))
    assert converger.changed is False
    assert role["tags"] == {"team": "a", OWNER_TAG_KEY: OWNER_TAG_VALUE}


@pytest.mark.parametrize("tags", [{}, {"owner": "platform"}, {OWNER_TAG_KEY: "someone-else"}])
def test_purge_tags_never_removes_the_ownership_tag(iam, tags):
    _client, stubber = iam
    expect_read(stubber, aws_role(tags={"old": "1"}))
    stubber.add_response("untag_role", {}, dict(ROLE, TagKeys=["old"]))
    user_tags = {key: value for key, value in tags.items() if key != OWNER_TAG_KEY}
    if user_tags:
        stubber.add_response("tag_role", {}, dict(ROLE, Tags=[{"Key": key, "Value": value} for key, value in user_tags.items()]))
    expect_read(stubber, aws_role(tags=user_tags))

    converger, role = converge(iam, spec(tags=tags, purge_tags=True))

    assert converger.diff["before"]["tags"] == {"old": "1", OWNER_TAG_KEY: OWNER_TAG_VALUE}
    assert converger.diff["after"]["tags"] == dict(user_tags, **OWNER)
    assert role["tags"] == dict(user_tags, **OWNER)


# -- delete -------------------------------------------------------------------------------------


def test_absent_removes_what_blocks_deletion_then_the_role(iam):
    client, stubber = iam
    expect_read(stubber, aws_role(), inline={"bucket": BUCKET}, attached=[READ_ONLY])
    stubber.add_response("detach_role_policy", {}, dict(ROLE, PolicyArn=READ_ONLY))
    stubber.add_response("delete_role_policy", {}, dict(ROLE, PolicyName="bucket"))
    stubber.add_response("list_instance_profiles_for_role", {"InstanceProfiles": [{
        "Path": "/", "InstanceProfileName": "runner-profile", "InstanceProfileId": "AIPAEXAMPLEEXAMPLE1",
        "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/runner-profile", "CreateDate": CREATED, "Roles": []}]}, ROLE)
    stubber.add_response("remove_role_from_instance_profile", {}, dict(ROLE, InstanceProfileName="runner-profile"))
    stubber.add_client_error("delete_role", "NoSuchEntity", "already gone", 404, ROLE)  # a concurrent delete is fine

    changed, diff = ensure_absent(client, NAME, check_mode=False)

    assert changed is True
    assert diff["after"] == {}
    assert diff["before"]["managed_policies"] == [READ_ONLY] and diff["before"]["inline_policies"] == ["bucket"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_refuses_a_role_made_by_someone_else(iam, check_mode):
    client, stubber = iam
    expect_read(stubber, aws_role(owned=False), attached=[READ_ONLY])  # only reads are queued
    with pytest.raises(Refusal) as error:
        ensure_absent(client, NAME, check_mode)
    assert str(error.value).startswith(not_owned("role", NAME))
    assert "does not delete it" in str(error.value) and "force=true" in str(error.value)


def test_absent_with_force_deletes_a_role_made_by_someone_else(iam):
    client, stubber = iam
    expect_read(stubber, aws_role(tags={"alpha.eksctl.io/cluster-name": "agents"}, owned=False), attached=[READ_ONLY])
    stubber.add_response("detach_role_policy", {}, dict(ROLE, PolicyArn=READ_ONLY))
    stubber.add_response("list_instance_profiles_for_role", {"InstanceProfiles": []}, ROLE)
    stubber.add_response("delete_role", {}, ROLE)

    changed, diff = ensure_absent(client, NAME, check_mode=False, force=True)

    assert changed is True
    assert diff["before"]["tags"] == {"alpha.eksctl.io/cluster-name": "agents"} and diff["after"] == {}


def test_absent_with_force_in_check_mode_only_reads(iam):
    client, stubber = iam
    expect_read(stubber, aws_role(owned=False))
    assert ensure_absent(client, NAME, check_mode=True, force=True)[0] is True


def test_absent_in_check_mode_and_on_a_missing_role(iam):
    client, stubber = iam
    expect_read(stubber, aws_role())
    assert ensure_absent(client, NAME, check_mode=True)[0] is True
    expect_missing(stubber)
    assert ensure_absent(client, NAME, check_mode=False) == (False, {"before": {}, "after": {}})


# -- account ------------------------------------------------------------------------------------


class FakeModule:
    def __init__(self, region):
        self.region = region

    def client(self, *args, **kwargs):
        raise AssertionError("no AWS client may be created when account_id is given")


@pytest.mark.parametrize("region, partition", [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"),
                                               (None, "aws"), ("xx-nowhere-9", "aws")])
def test_given_account_needs_no_call_and_partition_follows_the_region(region, partition):
    assert role_account(FakeModule(region), ACCOUNT) == (ACCOUNT, partition)


def test_role_spec_from_module_options():
    options = check_role_options(dict(
        name=NAME, state="present", path="/", description=None, audience="sts.amazonaws.com", allow_wildcard_subjects=False,
        trust=[{"issuer": "https://" + HOST, "provider_arn": None, "service_accounts": ["torque-agents:runner"]}],
        trust_policy_mode="exclusive", trust_policy_size_limit=2048, managed_policies=[READ_ONLY], purge_managed_policies=False, managed_policy_quota=10,
        inline_policies={"bucket": json.dumps(BUCKET)}, purge_inline_policies=True, permissions_boundary="", max_session_duration=None,
        account_id=None, tags={"n": 1}, purge_tags=True, adopt=True, force=False))
    assert role_spec(options, ACCOUNT, "aws") == spec(
        managed_policies=[READ_ONLY], purge_managed_policies=False, inline_policies={"bucket": BUCKET}, permissions_boundary="", tags={"n": "1"},
        adopt=True)


def test_kept_managed_policies_count_against_the_quota_and_nothing_is_written(iam):
    _client, stubber = iam
    kept = [f"arn:aws:iam::aws:policy/Kept{index}" for index in range(9)]
    wanted = ["arn:aws:iam::aws:policy/New0", "arn:aws:iam::aws:policy/New1"]
    expect_read(stubber, aws_role(), attached=kept)
    expect_policies(stubber, *wanted)
    with pytest.raises(Refusal) as refusal:
        converge(iam, spec(managed_policies=wanted, purge_managed_policies=False))
    assert str(refusal.value) == (
        "managed_policies: 11 managed policies, but a role may have 10 (managed_policy_quota): attach fewer, or raise the "
        "account's quota (Service Quotas, up to 20) and set managed_policy_quota; with purge_managed_policies=false the 9 the "
        "role has count too (or set it to true); nothing was written for this role")
    stubber.assert_no_pending_responses()  # the reads only: no write was sent
