# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EKS Pod Identity associations: what is refused before any call, and what an update sends."""

from __future__ import annotations

import json

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import changes
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import checked_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import trusts_pod_identity
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import view

ROLE = "arn:aws:iam::123456789012:role/runner"
TARGET = "arn:aws:iam::222222222222:role/deployer"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]})


def params(**values):
    return dict({"cluster_name": "agents", "namespace": "envs", "service_account": "runner", "state": "present", "role_arn": ROLE,
                 "target_role_arn": None, "disable_session_tags": None, "policy": None, "force": False, "tags": None,
                 "purge_tags": True}, **values)


@pytest.mark.parametrize("values, named", [
    ({"namespace": "Envs"}, "namespace 'Envs'"),
    ({"namespace": "a" * 64}, "namespace"),
    ({"service_account": "runner_1"}, "service_account 'runner_1'"),
    ({"role_arn": "runner"}, "role_arn 'runner' is not an IAM role ARN"),
    ({"role_arn": " " + ROLE}, "role_arn"),
    ({"target_role_arn": "arn:aws:iam::222222222222:user/someone"}, "target_role_arn"),
    ({"policy": "{not json"}, "policy is not JSON"),
    ({"policy": "[1]", "disable_session_tags": True}, "policy must be a policy document"),
    ({"policy": POLICY}, "disable_session_tags: true"),
    ({"policy": json.dumps({"Version": "2012-10-17", "Statement": [], "Sid": "x" * 2100}), "disable_session_tags": True}, "2048"),
])
def test_what_eks_would_refuse_is_refused_naming_the_option(values, named):
    with pytest.raises(EksIrsaError) as raised:
        checked_options(params(**values))
    assert named in str(raised.value)


def test_accepted_options_are_returned_as_given():
    given = params(target_role_arn="", policy=POLICY, disable_session_tags=True)
    assert checked_options(given) == given


EXISTING = {"clusterName": "agents", "namespace": "envs", "serviceAccount": "runner", "roleArn": ROLE, "targetRoleArn": TARGET,
            "externalId": "id-1", "disableSessionTags": True, "policy": POLICY, "associationId": "a-abcdefghijklmnopq",
            "associationArn": "arn:aws:eks:eu-west-1:123456789012:podidentityassociation/agents/a-abcdefghijklmnopq", "tags": {"a": "b"}}


@pytest.mark.parametrize("values, update", [
    ({}, {}),  # nothing given but the role it has
    ({"role_arn": None}, {}),
    ({"role_arn": "arn:aws:iam::123456789012:role/other"}, {"roleArn": "arn:aws:iam::123456789012:role/other"}),
    ({"target_role_arn": TARGET}, {}),
    ({"target_role_arn": ""}, {"targetRoleArn": ""}),
    ({"target_role_arn": "arn:aws:iam::333333333333:role/deployer"}, {"targetRoleArn": "arn:aws:iam::333333333333:role/deployer"}),
    ({"disable_session_tags": True}, {}),
    ({"disable_session_tags": False}, {"disableSessionTags": False}),
    ({"policy": json.dumps(json.loads(POLICY), indent=2)}, {}),  # the same document, written otherwise
    ({"policy": ""}, {"policy": ""}),
])
def test_an_update_sends_only_what_differs(values, update):
    assert changes(EXISTING, params(**values)) == update


def test_the_view_is_snake_case_and_says_none_for_what_eks_did_not_say():
    shown = view({"clusterName": "agents", "namespace": "envs", "serviceAccount": "runner", "roleArn": ROLE})
    assert shown["target_role_arn"] is None and shown["external_id"] is None and shown["disable_session_tags"] is False
    assert shown["tags"] == {} and shown["association_id"] is None
    assert view(EXISTING)["external_id"] == "id-1"


def trust(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


PODS = {"Service": "pods.eks.amazonaws.com"}


@pytest.mark.parametrize("document, session_tags, trusted", [
    (trust({"Effect": "Allow", "Principal": PODS, "Action": ["sts:AssumeRole", "sts:TagSession"]}), True, True),
    (trust({"Effect": "Allow", "Principal": PODS, "Action": "sts:AssumeRole"}), True, False),  # session tags need TagSession
    (trust({"Effect": "Allow", "Principal": PODS, "Action": "sts:AssumeRole"}), False, True),
    (trust({"Effect": "Allow", "Principal": PODS, "Action": "sts:*"}), True, True),
    (trust({"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "pods.eks.amazonaws.com"]},
            "Action": ["sts:AssumeRole", "sts:TagSession"], "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}),
     True, True),  # conditions are STS's to judge, when a pod asks
    (trust({"Effect": "Allow", "Principal": PODS, "Action": "sts:AssumeRole"}, {"Effect": "Allow", "Principal": PODS, "Action": "sts:TagSession"}),
     True, True),
    (trust({"Effect": "Deny", "Principal": PODS, "Action": ["sts:AssumeRole", "sts:TagSession"]}), True, False),
    (trust({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}), False, False),
    (trust({"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/x"},
            "Action": "sts:AssumeRoleWithWebIdentity"}), False, False),
    (json.dumps(trust({"Effect": "Allow", "Principal": PODS, "Action": ["sts:AssumeRole", "sts:TagSession"]})), True, True),
])
def test_a_trust_lets_eks_pod_identity_in_as_eks_checks_it(document, session_tags, trusted):
    assert trusts_pod_identity(document, session_tags) is trusted
