# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proxy's fault injection answers as AWS does, and retries behave against it as they will against AWS.

Each mode is checked through boto3 with botocore's own retries off (``total_max_attempts: 1``), so
what the test sees is exactly what the proxy answered. moto runs as ``moto_server`` on a free port;
the proxy runs in this process, so its log and plan can also be read directly.
"""

from __future__ import annotations

import json
import types
import urllib.request

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from tests.stack.aws_proxy import FaultError, FaultPlan, RecordingProxy

REGION = "eu-west-1"
OTHER_ACCOUNT = "222222222222"
NO_RETRIES = Config(retries={"total_max_attempts": 1})
# botocore's default mode, 3 attempts in all (in Config, "max_attempts" counts retries: 3 there means 4 attempts).
STANDARD_RETRIES = Config(retries={"mode": "standard"})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
READ_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}]})
CLUSTER = dict(roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]})


@pytest.fixture(scope="module")
def module_proxy(moto_url):
    proxy = RecordingProxy(moto_url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(module_proxy):
    """The proxy with no faults and an empty log; the plan is cleared after the test whatever happens."""
    module_proxy.clear_faults()
    module_proxy.reset_requests()
    yield module_proxy
    module_proxy.clear_faults()


def client(endpoint, service, config=NO_RETRIES, credentials=None):
    keys = dict(aws_access_key_id="testing", aws_secret_access_key="testing")
    if credentials:
        keys = dict(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"])
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, config=config, **keys)


def other_account_credentials(endpoint):
    """Keys acting in OTHER_ACCOUNT, obtained through the proxy so that it learns which account they act in."""
    role_arn = f"arn:aws:iam::{OTHER_ACCOUNT}:role/inspector"
    return client(endpoint, "sts").assume_role(RoleArn=role_arn, RoleSessionName="faults")["Credentials"]


def control(proxy, method, document=None, path="/_proxy/faults"):
    """``(status, JSON body)`` of one call to the proxy's control API."""
    data = None if document is None else (document if isinstance(document, bytes) else json.dumps(document).encode())
    request = urllib.request.Request(proxy.url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.request.HTTPError as e:
        return e.code, json.load(e)


def error_of(call, *args, **kwargs):
    """The ClientError a call raises: what botocore parsed from the proxy's answer."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(*args, **kwargs)
    return info.value.response


def faults_logged(proxy):
    return [record["fault"] for record in proxy.requests()]


def role_exists(moto_url, name):
    try:
        client(moto_url, "iam").get_role(RoleName=name)
        return True
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchEntity"
        return False


# -- no plan: the recorder as before -----------------------------------------------------------


def test_without_a_plan_every_request_reaches_moto_and_is_recorded_as_before(proxy, moto_url):
    assert control(proxy, "GET") == (200, {"seed": 0, "rules": [], "lagging_roles": {}})
    iam = client(proxy.url, "iam")
    iam.create_role(RoleName="plain", AssumeRolePolicyDocument=TRUST)
    iam.get_role(RoleName="plain")
    assert role_exists(moto_url, "plain")
    assert proxy.requests() == [
        {"service": "iam", "action": "CreateRole", "account": "123456789012", "mutating": True, "fault": None,
         "refused": None, "page_token": None, "sdk_attempt": 1},
        {"service": "iam", "action": "GetRole", "account": "123456789012", "mutating": False, "fault": None,
         "refused": None, "page_token": None, "sdk_attempt": 1},
    ]


# -- control API -------------------------------------------------------------------------------


def test_the_plan_is_set_with_put_or_post_read_with_get_and_cleared_with_delete(proxy):
    plan = {"seed": 3, "rules": [{"mode": "throttle", "rate": 0.5, "services": ["IAM"], "actions": ["Get*"], "limit": 4}]}
    status, held = control(proxy, "PUT", plan)
    assert status == 200
    assert held == {"seed": 3, "lagging_roles": {}, "rules": [dict(plan["rules"][0], injected=0)]}
    assert control(proxy, "GET") == (200, held)
    status, held = control(proxy, "POST", {"rules": [{"mode": "drop", "rate": 0.1}]})
    assert (status, held["seed"], held["rules"]) == (200, 0, [{"mode": "drop", "rate": 0.1, "injected": 0}])
    assert control(proxy, "DELETE") == (200, {"seed": 0, "rules": [], "lagging_roles": {}})
    assert proxy.faults()["rules"] == []


@pytest.mark.parametrize("plan, named", [
    ({"rules": [{"mode": "slow"}]}, "rules[0].mode"),
    ({"rules": [{"mode": "throttle", "rate": 1.5}]}, "rules[0].rate"),
    ({"rules": [{"mode": "throttle", "rate": True}]}, "rules[0].rate"),
    ({"rules": [{"mode": "throttle", "servces": ["iam"]}]}, "servces"),
    ({"rules": [{"mode": "drop", "code": "Throttling"}]}, "code"),
    ({"rules": [{"mode": "throttle", "reads": 2}]}, "rules[0].reads"),
    ({"rules": [{"mode": "eventual_consistency", "reads": 0}]}, "rules[0].reads"),
    ({"rules": [{"mode": "unavailable", "status": 200}]}, "rules[0].status"),
    ({"rules": [{"mode": "throttle", "actions": "GetRole,ListRoles".split(",") + [3]}]}, "rules[0].actions"),
    ({"rules": {"mode": "throttle"}}, "rules"),
    ({"seed": "x", "rules": []}, "seed"),
    ({"rule": []}, "rule"),
    (b"{not json", "invalid fault plan"),
])
def test_an_invalid_plan_is_refused_with_a_message_naming_the_key_and_the_old_plan_stays(proxy, plan, named):
    control(proxy, "PUT", {"seed": 1, "rules": [{"mode": "drop", "rate": 0.25}]})
    status, answer = control(proxy, "PUT", plan)
    assert status == 400
    assert named in answer["error"]
    assert proxy.faults()["rules"] == [{"mode": "drop", "rate": 0.25, "injected": 0}]


def test_control_endpoints_and_moto_api_are_never_faulted(proxy):
    control(proxy, "PUT", {"rules": [{"mode": "drop"}]})
    assert control(proxy, "GET", path="/_proxy/requests") == (200, [])
    assert control(proxy, "DELETE", path="/_proxy/requests") == (200, [])
    assert control(proxy, "GET")[0] == 200
    with urllib.request.urlopen(proxy.url + "/moto-api/data.json", timeout=10) as response:
        assert response.status == 200
    assert faults_logged(proxy) == [None]  # the moto-api call, forwarded


# -- each mode, as boto3 sees it ---------------------------------------------------------------


def test_iam_throttling_is_http_400_throttling_in_query_xml_and_the_write_does_not_happen(proxy, moto_url):
    proxy.set_faults({"rules": [{"mode": "throttle", "services": ["iam"], "actions": ["CreateRole"]}]})
    response = error_of(client(proxy.url, "iam").create_role, RoleName="throttled", AssumeRolePolicyDocument=TRUST)
    assert response["Error"] == {"Type": "Sender", "Code": "Throttling", "Message": "Rate exceeded"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "text/xml"
    assert response["ResponseMetadata"]["RequestId"]
    assert not role_exists(moto_url, "throttled")
    assert proxy.requests() == [
        {"service": "iam", "action": "CreateRole", "account": "123456789012", "mutating": True, "fault": "throttle",
         "refused": None, "page_token": None, "sdk_attempt": 1}]


def test_sts_throttling_is_http_400_throttling(proxy):
    proxy.set_faults({"rules": [{"mode": "throttle", "services": ["sts"]}]})
    response = error_of(client(proxy.url, "sts").get_caller_identity)
    assert (response["Error"]["Code"], response["Error"]["Message"]) == ("Throttling", "Rate exceeded")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    client(proxy.url, "iam").list_roles()  # the rule is for STS only
    assert faults_logged(proxy) == ["throttle", None]


def test_eks_throttling_is_http_429_too_many_requests_and_the_write_does_not_happen(proxy, moto_url):
    proxy.set_faults({"rules": [{"mode": "throttle", "services": ["eks"]}]})
    eks = client(proxy.url, "eks")
    response = error_of(eks.describe_cluster, name="agents")
    assert response["Error"] == {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "TooManyRequestsException"
    assert error_of(eks.create_cluster, name="throttled", **CLUSTER)["Error"]["Code"] == "TooManyRequestsException"
    assert "throttled" not in client(moto_url, "eks").list_clusters()["clusters"]
    assert [(r["action"], r["mutating"], r["fault"]) for r in proxy.requests()] == [
        ("GET /clusters/agents", False, "throttle"), ("POST /clusters", True, "throttle")]


@pytest.mark.parametrize("service, call, error", [
    ("iam", lambda c: c.list_roles(), {"Type": "Receiver", "Code": "ServiceUnavailable"}),
    ("sts", lambda c: c.get_caller_identity(), {"Type": "Receiver", "Code": "ServiceUnavailable"}),
    ("eks", lambda c: c.list_clusters(), {"Code": "ServiceUnavailableException"}),
])
def test_service_unavailable_is_http_503_in_the_service_protocol(proxy, service, call, error):
    proxy.set_faults({"rules": [{"mode": "unavailable"}]})
    response = error_of(call, client(proxy.url, service))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert {key: response["Error"][key] for key in error} == error
    assert faults_logged(proxy) == ["unavailable"]


def test_the_error_code_and_status_can_be_overridden(proxy):
    proxy.set_faults({"rules": [{"mode": "unavailable", "services": ["eks"], "code": "ServiceUnavailable", "status": 500}]})
    response = error_of(client(proxy.url, "eks").list_clusters)
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("ServiceUnavailable", 500)


@pytest.mark.parametrize("service, call", [
    ("iam", lambda c: c.create_role(RoleName="dropped", AssumeRolePolicyDocument=TRUST)),
    ("sts", lambda c: c.get_caller_identity()),
    ("eks", lambda c: c.create_cluster(name="dropped", **CLUSTER)),
])
def test_a_dropped_connection_is_a_connection_closed_error_and_the_write_does_not_happen(proxy, moto_url, service, call):
    proxy.set_faults({"rules": [{"mode": "drop"}]})
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        call(client(proxy.url, service))
    assert faults_logged(proxy) == ["drop"]
    proxy.clear_faults()
    assert not role_exists(moto_url, "dropped")
    assert "dropped" not in client(moto_url, "eks").list_clusters()["clusters"]


def test_a_new_role_answers_its_first_reads_with_no_such_entity_then_exists(proxy):
    iam = client(proxy.url, "iam")
    iam.create_role(RoleName="older", AssumeRolePolicyDocument=TRUST)
    proxy.set_faults({"rules": [{"mode": "eventual_consistency", "reads": 3}]})
    iam.create_role(RoleName="fresh", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName="fresh", PolicyName="inline", PolicyDocument=READ_ALL)  # writes are not delayed
    iam.get_role(RoleName="older")  # a role created before the plan is consistent
    for read in (lambda: iam.get_role(RoleName="fresh"), lambda: iam.list_attached_role_policies(RoleName="fresh"),
                 lambda: iam.list_role_tags(RoleName="fresh")):
        response = error_of(read)
        assert response["Error"] == {"Type": "Sender", "Code": "NoSuchEntity", "Message": "The role with name fresh cannot be found."}
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert iam.get_role(RoleName="fresh")["Role"]["RoleName"] == "fresh"
    assert iam.list_role_policies(RoleName="fresh")["PolicyNames"] == ["inline"]
    assert [(r["action"], r["fault"]) for r in proxy.requests()] == [
        ("CreateRole", None), ("CreateRole", None), ("PutRolePolicy", None), ("GetRole", None),
        ("GetRole", "eventual_consistency"), ("ListAttachedRolePolicies", "eventual_consistency"),
        ("ListRoleTags", "eventual_consistency"), ("GetRole", None), ("ListRolePolicies", None)]
    assert proxy.faults()["rules"][0]["injected"] == 3


def test_eventual_consistency_is_per_account_and_can_be_limited_to_some_reads(proxy):
    credentials = other_account_credentials(proxy.url)
    proxy.set_faults({"rules": [{"mode": "eventual_consistency", "accounts": [OTHER_ACCOUNT], "actions": ["GetRole"]}]})
    here, there = client(proxy.url, "iam"), client(proxy.url, "iam", credentials=credentials)
    here.create_role(RoleName="twin", AssumeRolePolicyDocument=TRUST)
    there.create_role(RoleName="twin", AssumeRolePolicyDocument=TRUST)
    assert proxy.faults()["lagging_roles"] == {f"{OTHER_ACCOUNT}/twin": 1}
    here.get_role(RoleName="twin")
    there.list_role_policies(RoleName="twin")  # not a listed action: answered, and does not use up the lag
    assert error_of(there.get_role, RoleName="twin")["Error"]["Code"] == "NoSuchEntity"
    there.get_role(RoleName="twin")
    assert [(r["account"], r["action"], r["fault"]) for r in proxy.requests() if r["action"] not in ("AssumeRole", "CreateRole")] == [
        ("123456789012", "GetRole", None), (OTHER_ACCOUNT, "ListRolePolicies", None),
        (OTHER_ACCOUNT, "GetRole", "eventual_consistency"), (OTHER_ACCOUNT, "GetRole", None)]


def test_a_deleted_role_stops_lagging(proxy):
    proxy.set_faults({"rules": [{"mode": "eventual_consistency", "reads": 5}]})
    iam = client(proxy.url, "iam")
    iam.create_role(RoleName="short-lived", AssumeRolePolicyDocument=TRUST)
    iam.delete_role(RoleName="short-lived")
    assert proxy.faults()["lagging_roles"] == {}
    with pytest.raises(botocore.exceptions.ClientError):
        iam.get_role(RoleName="short-lived")
    assert faults_logged(proxy)[-1] is None  # moto's own NoSuchEntity, not an injected one


# -- shares, seeds, limits ---------------------------------------------------------------------


def fault_pattern(proxy, seed, rate, calls):
    proxy.set_faults({"seed": seed, "rules": [{"mode": "throttle", "rate": rate}]})
    proxy.reset_requests()
    sts = client(proxy.url, "sts")
    for _call in range(calls):
        try:
            sts.get_caller_identity()
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "Throttling"
    return [record["fault"] == "throttle" for record in proxy.requests()]


def test_the_share_of_faulted_requests_follows_the_rate_and_the_seed_makes_it_repeatable(proxy):
    pattern = fault_pattern(proxy, seed=11, rate=0.2, calls=400)
    assert len(pattern) == 400
    assert 0.15 <= sum(pattern) / 400 <= 0.25
    assert fault_pattern(proxy, seed=11, rate=0.2, calls=400) == pattern
    assert fault_pattern(proxy, seed=12, rate=0.2, calls=400) != pattern


def test_rules_share_one_draw_so_their_rates_add_up():
    plan = FaultPlan({"seed": 5, "rules": [{"mode": "throttle", "rate": 0.1}, {"mode": "unavailable", "rate": 0.1},
                                           {"mode": "drop", "rate": 0.05, "services": ["eks"]}]})
    modes = [getattr(plan.decide("iam", "GetRole", "123456789012", "query", {}), "mode", None) for _request in range(5000)]
    assert 0.08 <= modes.count("throttle") / 5000 <= 0.12
    assert 0.08 <= modes.count("unavailable") / 5000 <= 0.12
    assert "drop" not in modes  # the drop rule is for EKS only


def test_a_limit_caps_the_faults_a_rule_injects(proxy):
    proxy.set_faults({"rules": [{"mode": "throttle", "limit": 2}]})
    sts = client(proxy.url, "sts")
    outcomes = []
    for _call in range(4):
        try:
            sts.get_caller_identity()
            outcomes.append("ok")
        except botocore.exceptions.ClientError as e:
            outcomes.append(e.response["Error"]["Code"])
    assert outcomes == ["Throttling", "Throttling", "ok", "ok"]


def test_a_listings_later_pages_are_logged_with_their_token_and_can_be_faulted_alone(proxy):
    iam = client(proxy.url, "iam", config=STANDARD_RETRIES)
    for index in range(3):
        iam.create_role(RoleName=f"paged-{index}", AssumeRolePolicyDocument=TRUST)
    proxy.reset_requests()
    proxy.set_faults({"rules": [{"mode": "throttle", "actions": ["ListRoles"], "continued": True, "limit": 1}]})
    pages = iam.get_paginator("list_roles").paginate(PathPrefix="/", PaginationConfig={"PageSize": 1}).build_full_result()
    assert sorted(role["RoleName"] for role in pages["Roles"] if role["RoleName"].startswith("paged-")) == ["paged-0", "paged-1", "paged-2"]
    listed = [(r["page_token"] is not None, r["fault"], r["sdk_attempt"]) for r in proxy.requests()]
    # The first page is not faulted; the second is throttled once and botocore's second attempt sends it again.
    assert listed[:3] == [(False, None, 1), (True, "throttle", 1), (True, None, 2)]
    tokens = [r["page_token"] for r in proxy.requests()]
    assert tokens[1] == tokens[2] and len(set(tokens[1:])) == len(tokens) - 2  # each later page once, but the re-sent one


@pytest.mark.parametrize("rule, named", [({"continued": "yes"}, r"rules\[0\]\.continued")])
def test_continued_is_true_or_false(rule, named):
    with pytest.raises(FaultError, match=named):
        FaultPlan({"rules": [dict({"mode": "throttle"}, **rule)]})


def test_plan_errors_are_raised_in_process_too():
    with pytest.raises(FaultError, match=r"rules\[1\]\.mode"):
        FaultPlan({"rules": [{"mode": "drop"}, {"mode": "timeout"}]})


# -- what retries make of the faults -----------------------------------------------------------

TWENTY_PERCENT = [{"mode": "throttle", "rate": 0.1}, {"mode": "unavailable", "rate": 0.05}, {"mode": "drop", "rate": 0.05}]


def test_botocore_standard_retries_hide_twenty_percent_faults_from_the_caller(proxy):
    # Three attempts still leave 0.2 ** 3 = 0.8 % of calls failing: seed 2 gives 30 calls that all get
    # through (the draws are deterministic). It is AWSRetry's ten attempts that make a failure negligible.
    proxy.set_faults({"seed": 2, "rules": TWENTY_PERCENT})
    iam = client(proxy.url, "iam", config=STANDARD_RETRIES)
    for index in range(30):
        iam.create_role(RoleName=f"retried-{index}", AssumeRolePolicyDocument=TRUST)
    faults = [fault for fault in faults_logged(proxy) if fault]
    assert {"throttle", "unavailable", "drop"} <= set(faults)
    assert len(proxy.requests()) == 30 + len(faults)  # each fault cost one more attempt, and nothing failed


def test_botocore_standard_retries_give_up_after_three_attempts(proxy):
    proxy.set_faults({"rules": [{"mode": "unavailable"}]})
    assert error_of(client(proxy.url, "iam", config=STANDARD_RETRIES).list_roles)["Error"]["Code"] == "ServiceUnavailable"
    assert faults_logged(proxy) == ["unavailable"] * 3


def test_botocore_does_not_retry_no_such_entity(proxy):
    proxy.set_faults({"rules": [{"mode": "eventual_consistency"}]})
    iam = client(proxy.url, "iam", config=STANDARD_RETRIES)
    iam.create_role(RoleName="lagging", AssumeRolePolicyDocument=TRUST)
    assert error_of(iam.get_role, RoleName="lagging")["Error"]["Code"] == "NoSuchEntity"
    assert faults_logged(proxy) == [None, "eventual_consistency"]


@pytest.fixture
def sleeps(monkeypatch):
    """The waits AWSRetry asks for, recorded instead of slept, so default arguments can be tested quickly."""
    recorded = []
    monkeypatch.setattr(cloud, "time", types.SimpleNamespace(sleep=recorded.append))
    return recorded


def test_aws_retry_jittered_backoff_gets_through_twenty_percent_throttling_and_outages(proxy, sleeps):
    proxy.set_faults({"seed": 4, "rules": [{"mode": "throttle", "rate": 0.1}, {"mode": "unavailable", "rate": 0.1}]})
    iam = client(proxy.url, "iam")
    create = AWSRetry.jittered_backoff()(iam.create_role)
    for index in range(30):
        create(RoleName=f"backed-off-{index}", AssumeRolePolicyDocument=TRUST)
    faults = [fault for fault in faults_logged(proxy) if fault]
    assert len(faults) == len(sleeps) > 0
    assert len(proxy.requests()) == 30 + len(faults)


def test_aws_retry_default_worst_case_is_ten_attempts_and_nine_waits_of_at_most_333_seconds(proxy, sleeps):
    proxy.set_faults({"rules": [{"mode": "throttle", "services": ["iam"]}]})
    assert error_of(AWSRetry.jittered_backoff()(client(proxy.url, "iam").list_roles))["Error"]["Code"] == "Throttling"
    assert faults_logged(proxy) == ["throttle"] * 10
    caps = [3, 6, 12, 24, 48, 60, 60, 60, 60]
    assert len(sleeps) == 9
    assert all(0 <= wait <= cap for wait, cap in zip(sleeps, caps))
    assert sum(caps) == 333


def test_aws_retry_does_not_retry_a_dropped_connection(proxy, sleeps):
    proxy.set_faults({"rules": [{"mode": "drop", "limit": 1}]})
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        AWSRetry.jittered_backoff()(client(proxy.url, "iam").list_roles)()
    assert (faults_logged(proxy), sleeps) == (["drop"], [])


def test_aws_retry_needs_extra_codes_for_eks_service_unavailable_exception(proxy, sleeps):
    proxy.set_faults({"rules": [{"mode": "unavailable", "services": ["eks"], "limit": 1}]})
    eks = client(proxy.url, "eks")
    assert error_of(AWSRetry.jittered_backoff()(eks.list_clusters))["Error"]["Code"] == "ServiceUnavailableException"
    proxy.set_faults({"rules": [{"mode": "unavailable", "services": ["eks"], "limit": 1}]})
    AWSRetry.jittered_backoff(catch_extra_error_codes=["ServiceUnavailableException"])(eks.list_clusters)()
    assert faults_logged(proxy) == ["unavailable", "unavailable", None]
    assert len(sleeps) == 1


def test_aws_retry_waits_out_eventual_consistency_only_when_told_to(proxy, sleeps):
    proxy.set_faults({"rules": [{"mode": "eventual_consistency", "reads": 2}]})
    iam = client(proxy.url, "iam")
    iam.create_role(RoleName="settling", AssumeRolePolicyDocument=TRUST)
    assert error_of(AWSRetry.jittered_backoff()(iam.get_role), RoleName="settling")["Error"]["Code"] == "NoSuchEntity"
    role = AWSRetry.jittered_backoff(catch_extra_error_codes=["NoSuchEntity"])(iam.get_role)(RoleName="settling")
    assert role["Role"]["RoleName"] == "settling"
    assert faults_logged(proxy) == [None, "eventual_consistency", "eventual_consistency", None]
    assert len(sleeps) == 1


# -- through LocalStack ------------------------------------------------------------------------


def test_local_stack_sets_and_clears_faults_on_its_proxy(local_stack):
    try:
        held = local_stack.set_faults({"mode": "throttle", "services": ["sts"], "actions": ["GetCallerIdentity"]}, seed=9)
        assert (held["seed"], held["rules"][0]["mode"]) == (9, "throttle")
        local_stack.reset_aws_requests()
        sts = local_stack.client("sts")  # botocore's default retries: standard mode, 3 attempts
        assert error_of(sts.get_caller_identity)["Error"]["Code"] == "Throttling"
        assert [r["fault"] for r in local_stack.aws_requests()] == ["throttle"] * 3
        with pytest.raises(ValueError, match=r"rules\[0\]\.rate"):
            local_stack.set_faults([{"mode": "drop", "rate": 2}])
    finally:
        local_stack.clear_faults()
    assert local_stack.client("sts").get_caller_identity()["Account"] == "123456789012"
