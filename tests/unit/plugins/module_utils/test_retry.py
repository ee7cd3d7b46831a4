# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one retry policy (plugins/module_utils/retry.py): what it retries, and that no call outlasts its bound."""

import botocore.exceptions
import pytest

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
