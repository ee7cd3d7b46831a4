# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one retry policy (plugins/module_utils/retry.py): what it retries, and that no call outlasts its bound."""

import functools

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.torque.eks_irsa.plugins.module_utils import retry


class Clock:
    """A fake clock: sleeping and each attempt move it on; nothing really waits."""

    def __init__(self, attempt_takes=0.0):
        self.now = 0.0
        self.attempt_takes = attempt_takes
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def client_error(code, status=400):
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": code},
                                            "ResponseMetadata": {"HTTPStatusCode": status}}, "Call")


def failing(clock, errors, forever=False):
    """A call that raises each of ``errors`` in turn (the last one on every later call when ``forever``), then returns."""
    calls = []

    def call():
        calls.append(clock.now)
        clock.now += clock.attempt_takes
        if len(calls) <= len(errors) or forever:
            raise errors[min(len(calls), len(errors)) - 1]
        return "done"
    return call, calls


def policy(clock, **kwargs):
    return retry.Retry(sleep=clock.sleep, clock=clock, **kwargs)


@pytest.mark.parametrize("error", [
    client_error("Throttling"), client_error("ThrottlingException"), client_error("TooManyRequestsException", 429),
    client_error("ServiceUnavailable", 503), client_error("ServiceUnavailableException", 503),
    client_error("SomethingNew", 500), client_error("RequestLimitExceeded"),
    botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    botocore.exceptions.ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
    botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    botocore.exceptions.ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
], ids=lambda e: e.response["Error"]["Code"] if isinstance(e, botocore.exceptions.ClientError) else type(e).__name__)
def test_transient_errors_are_retried_until_the_call_gets_through(error):
    clock = Clock()
    call, calls = failing(clock, [error, error])
    assert policy(clock)(call)() == "done"
    assert len(calls) == 3 and len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 1 and 0 <= clock.sleeps[1] <= 2  # full jitter up to 1, 2, 4, ... seconds


@pytest.mark.parametrize("code", ["AccessDenied", "NoSuchEntity", "EntityAlreadyExists", "ValidationError"])
def test_other_errors_are_raised_at_once(code):
    clock = Clock()
    call, calls = failing(clock, [client_error(code)])
    with pytest.raises(botocore.exceptions.ClientError):
        policy(clock)(call)()
    assert len(calls) == 1 and clock.sleeps == []


def test_extra_codes_are_retried_only_where_given():
    clock = Clock()
    call, calls = failing(clock, [client_error("NoSuchEntity", 404)] * 2)
    assert policy(clock, extra_codes=["NoSuchEntity"])(call)() == "done"
    assert len(calls) == 3


@pytest.mark.parametrize("attempt_takes", [0.0, 0.5, retry.CONNECT_TIMEOUT + retry.READ_TIMEOUT])
def test_no_call_outlasts_the_bound_under_unbroken_throttling(attempt_takes):
    clock = Clock(attempt_takes)
    call, calls = failing(clock, [client_error("Throttling")], forever=True)
    with pytest.raises(botocore.exceptions.ClientError):
        policy(clock)(call)()
    assert clock.now <= retry.CALL_BOUND
    assert len(calls) >= 2 and all(wait <= retry.MAX_DELAY for wait in clock.sleeps)
    # It keeps trying while another attempt still fits: the last wait would have overrun the bound.
    assert clock.now + retry.CONNECT_TIMEOUT + retry.READ_TIMEOUT > retry.CALL_BOUND - retry.MAX_DELAY


def test_a_smaller_bound_gives_up_sooner():
    clock = Clock()
    call, _calls = failing(clock, [client_error("NoSuchEntity")], forever=True)
    with pytest.raises(botocore.exceptions.ClientError):
        policy(clock, extra_codes=["NoSuchEntity"], bound=45)(call)()
    assert clock.now <= 45 - retry.CONNECT_TIMEOUT - retry.READ_TIMEOUT


def test_longest_waits_double_up_to_twenty_seconds():
    delays = retry.Retry().delays()
    assert [next(delays) for _attempt in range(8)] == [1, 2, 4, 8, 16, 20, 20, 20]


def test_botocore_makes_one_attempt_per_request():
    assert retry.CLIENT_CONFIG["retries"] == {"mode": "standard", "total_max_attempts": 1}
    assert (retry.CLIENT_CONFIG["connect_timeout"], retry.CLIENT_CONFIG["read_timeout"]) == (retry.CONNECT_TIMEOUT, retry.READ_TIMEOUT)


def test_a_function_a_policy_retries_is_retried_by_the_outer_policy_only():
    clock = Clock()
    call, calls = failing(clock, [client_error("Throttling")], forever=True)
    with pytest.raises(botocore.exceptions.ClientError):
        policy(clock, bound=45)(policy(clock)(call))()
    assert clock.now <= 45  # one layer, the outer one's bound: not 45 s of 120 s attempts
    assert len(calls) == len(clock.sleeps) + 1


def test_a_decorator_over_a_policys_function_is_not_taken_for_it():
    clock = Clock()
    call, calls = failing(clock, [client_error("Throttling")] * 2)
    handled = []

    def handler(function):
        @functools.wraps(function)  # copies the function's attributes, as amazon.aws's error handlers do
        def handling(*args, **kwargs):
            handled.append(True)
            return function(*args, **kwargs)
        return handling

    assert policy(clock)(handler(policy(clock)(call)))() == "done"
    assert handled == [True] and len(calls) == 3  # the inner policy retried, under the handler, which ran once


# -- paginate: each page a call of its own ------------------------------------------------------------------------

def page(names, marker=None):
    response = {"Roles": [{"RoleName": name, "RoleId": "AROAEXAMPLEEXAMPLE0" + name[-1], "Arn": f"arn:aws:iam::123456789012:role/{name}",
                           "Path": "/", "CreateDate": "2026-01-01T00:00:00Z"} for name in names], "IsTruncated": bool(marker)}
    return dict(response, Marker=marker) if marker else response


@pytest.fixture
def iam():
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber


def test_a_throttled_page_is_retried_alone_and_the_pages_before_it_are_not_read_again(iam):
    client, stubber = iam
    stubber.add_response("list_roles", page(["role-1"], "m1"), {})
    stubber.add_client_error("list_roles", "Throttling", "Rate exceeded", 400, expected_params={"Marker": "m1"})
    stubber.add_client_error("list_roles", "Throttling", "Rate exceeded", 400, expected_params={"Marker": "m1"})
    stubber.add_response("list_roles", page(["role-2"], "m2"), {"Marker": "m1"})
    stubber.add_response("list_roles", page(["role-3"]), {"Marker": "m2"})
    clock = Clock()
    roles = retry.paginate(client, "list_roles", "Roles", retry=policy(clock))
    assert [role["RoleName"] for role in roles] == ["role-1", "role-2", "role-3"]
    stubber.assert_no_pending_responses()  # five requests: the second page three times, the others once
    assert len(clock.sleeps) == 2


def test_a_page_throttled_without_end_gives_up_within_the_bound(iam):
    client, stubber = iam
    stubber.add_response("list_roles", page(["role-1"], "m1"), {})
    clock = Clock(attempt_takes=1.0)
    for _attempt in range(100):
        stubber.add_client_error("list_roles", "Throttling", "Rate exceeded", 400, expected_params={"Marker": "m1"})
    with pytest.raises(botocore.exceptions.ClientError):
        retry.paginate(client, "list_roles", "Roles", retry=policy(clock))
    assert clock.now <= retry.CALL_BOUND and len(clock.sleeps) >= 2


def test_parameters_reach_every_page_and_an_empty_listing_is_empty(iam):
    client, stubber = iam
    stubber.add_response("list_role_policies", {"PolicyNames": ["a"], "IsTruncated": True, "Marker": "m1"}, {"RoleName": "r"})
    stubber.add_response("list_role_policies", {"PolicyNames": [], "IsTruncated": False}, {"RoleName": "r", "Marker": "m1"})
    assert retry.paginate(client, "list_role_policies", "PolicyNames", RoleName="r") == ["a"]
    stubber.add_response("list_attached_role_policies", {"AttachedPolicies": [], "IsTruncated": False}, {"RoleName": "r"})
    assert retry.paginate(client, "list_attached_role_policies", "AttachedPolicies", RoleName="r") == []


def test_an_amazon_aws_retrying_wrapper_is_paginated_under_the_policy_once(iam):
    client, stubber = iam
    stubber.add_client_error("list_roles", "Throttling", "Rate exceeded", 400, expected_params={})
    stubber.add_response("list_roles", page(["role-1"]), {})
    clock = Clock()
    wrapped = RetryingBotoClientWrapper(client, retry.Retry(bound=1))  # a call made with aws_retry=True would give up sooner
    assert [r["RoleName"] for r in retry.paginate(wrapped, "list_roles", "Roles", retry=policy(clock))] == ["role-1"]
    assert len(clock.sleeps) == 1


def test_a_policy_client_retries_each_api_call_and_passes_the_rest_through(iam):
    client, stubber = iam
    stubber.add_client_error("get_role", "Throttling", "Rate exceeded", 400, expected_params={"RoleName": "r"})
    stubber.add_response("get_role", {"Role": page(["role-1"])["Roles"][0]}, {"RoleName": "r"})
    clock = Clock()
    policy_client = retry.PolicyClient(client, policy(clock))
    assert policy_client.get_role(RoleName="r")["Role"]["RoleName"] == "role-1"
    assert len(clock.sleeps) == 1 and policy_client.meta is client.meta and policy_client.can_paginate("list_roles")
    # Its listings are paginated under one policy, the one paginate is given, not under both.
    stubber.add_client_error("list_roles", "Throttling", "Rate exceeded", 400, expected_params={})
    stubber.add_response("list_roles", page(["role-1"]), {})
    inner = retry.PolicyClient(client, retry.Retry(sleep=lambda seconds: pytest.fail("retried by the client's policy too")))
    assert len(retry.paginate(inner, "list_roles", "Roles", retry=policy(clock))) == 1
    assert len(clock.sleeps) == 2
    stubber.assert_no_pending_responses()
