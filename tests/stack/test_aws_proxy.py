# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recording proxy classifies calls the way the idempotence tests rely on."""

import pytest

from tests.stack.aws_proxy import classify, is_mutating

SIGNED = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261129/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=x"


def test_query_protocol_action_from_the_form_body():
    headers = {"Authorization": SIGNED.format("iam"), "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    assert classify("POST", "/", headers, b"Action=GetRole&Version=2010-05-08&RoleName=x") == ("iam", "AKIAEXAMPLE", "GetRole")


def test_query_protocol_action_from_the_url():
    headers = {"Authorization": SIGNED.format("sts")}
    assert classify("GET", "/?Action=GetCallerIdentity&Version=2011-06-15", headers, b"") == (
        "sts", "AKIAEXAMPLE", "GetCallerIdentity")


def test_json_protocol_action_from_the_target_header():
    headers = {"Authorization": SIGNED.format("logs"), "X-Amz-Target": "Logs_20140328.DescribeLogGroups"}
    assert classify("POST", "/", headers, b"{}")[2] == "DescribeLogGroups"


def test_rest_protocol_is_method_and_path():
    headers = {"Authorization": SIGNED.format("eks")}
    assert classify("GET", "/clusters/agents?x=1", headers, b"") == ("eks", "AKIAEXAMPLE", "GET /clusters/agents")


@pytest.mark.parametrize("service, action, mutating", [
    ("iam", "GetRole", False),
    ("iam", "ListAttachedRolePolicies", False),
    ("iam", "CreateRole", True),
    ("iam", "TagOpenIDConnectProvider", True),
    ("iam", "UpdateAssumeRolePolicy", True),
    ("sts", "AssumeRole", False),
    ("eks-auth", "POST /clusters/agents/assume-role-for-pod-identity", False),
    ("eks", "GET /clusters/agents", False),
    ("eks", "POST /clusters", True),
    ("eks", "DELETE /clusters/agents", True),
])
def test_mutating_calls_are_told_apart(service, action, mutating):
    assert is_mutating(service, action) is mutating
