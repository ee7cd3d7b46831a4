# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one retry policy of every AWS call this collection makes, and its bound.

A call is retried when AWS throttles it, answers with a 5xx or an unavailability code, or the connection fails or
is dropped without an answer; a call site may add codes it expects to pass (``NoSuchEntity`` right after a create,
while IAM is not yet consistent). Each retry waits a random time up to 1, 2, 4, 8, 16, then 20 seconds. Whatever
happens, a call gives up within :data:`CALL_BOUND` seconds of its first attempt: a retry is made only when its
wait plus the longest an attempt may take (:data:`CONNECT_TIMEOUT` + :data:`READ_TIMEOUT`) still fits.

botocore itself makes one attempt per request (its own retries are off, see :data:`CLIENT_CONFIG`), and a function
already retried by a policy is retried by the outer one only, so no layer multiplies another. The policy is a
decorator, usable where amazon.aws takes a ``retry_decorator`` (``RetryingBotoClientWrapper``: calls made with
``aws_retry=True``) or around any function that calls AWS. :func:`paginate` reads a paginated list with each page a
call of its own under the policy; :class:`PolicyClient` puts every call of a client under it, for code that calls AWS
through a client it is handed (amazon.aws's inventory base assumes ``assume_role_arn`` that way).
"""

from __future__ import annotations

import functools
import random
import time
import weakref

try:
    import botocore.exceptions
    import botocore.paginate
    import botocore.session
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

CALL_BOUND = 120  # seconds from the first attempt of a call to its last answer
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 20
FIRST_DELAY = 1
MAX_DELAY = 20

CLIENT_CONFIG = {
    "retries": {"mode": "standard", "total_max_attempts": 1},  # botocore makes one attempt; the policy retries
    "connect_timeout": CONNECT_TIMEOUT,
    "read_timeout": READ_TIMEOUT,
}

# Error codes AWS answers while it throttles or is briefly unavailable (IAM, STS and EKS spell them differently).
TRANSIENT_CODES = frozenset((
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "SlowDown", "PriorRequestNotComplete", "ServiceUnavailable",
    "ServiceUnavailableException", "ServiceFailure", "InternalFailure", "InternalError", "InternalServerError",
    "ServerException", "EC2ThrottledException", "IDPCommunicationError",
))
TRANSIENT_STATUSES = frozenset((429, 500, 502, 503, 504))
# Each function a policy made -> the function it retries. By identity: a decorator that copies attributes (functools.wraps
# does) over a policy's function must not be taken for it.
_retried = weakref.WeakKeyDictionary()


def _retryable(error, extra_codes, unless):
    if isinstance(error, botocore.exceptions.ClientError):
        response = error.response or {}
        code = response.get("Error", {}).get("Code")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in extra_codes and not (unless and unless(error)):
            return True
        return code in TRANSIENT_CODES or status in TRANSIENT_STATUSES
    # No answer at all: refused, timed out, or closed before the response.
    return isinstance(error, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError))


class Retry:
    """A retry decorator of the policy, for the transient errors and ``extra_codes``.

    ``unless(error)`` true keeps an error of ``extra_codes`` from being retried (it is about something else).
    ``sleep`` and ``clock`` are for tests.
    """

    def __init__(self, extra_codes=(), bound=CALL_BOUND, sleep=time.sleep, clock=time.monotonic, unless=None):
        self.extra_codes = frozenset(extra_codes)
        self.unless = unless
        self.bound = bound
        self.sleep = sleep
        self.clock = clock

    def delays(self):
        """The longest wait before each retry: 1, 2, 4, 8, 16, then 20 seconds."""
        delay = FIRST_DELAY
        while True:
            yield delay
            delay = min(delay * 2, MAX_DELAY)

    def __call__(self, function):
        # A function some policy already retries is retried by this one instead: one layer, this one's codes and bound.
        function = _retried.get(function, function)

        @functools.wraps(function)
        def retrying(*args, **kwargs):
            started = self.clock()
            for longest in self.delays():
                try:
                    return function(*args, **kwargs)
                except Exception as e:  # pylint: disable=broad-except
                    if not _retryable(e, self.extra_codes, self.unless):
                        raise
                    wait = random.uniform(0, longest)
                    if self.clock() - started + wait + CONNECT_TIMEOUT + READ_TIMEOUT > self.bound:
                        raise
                    self.sleep(wait)
        _retried[retrying] = function
        return retrying


AWS_RETRY = Retry()


_paginator_models = {}  # (service, API version) -> botocore's PaginatorModel


def _pagination_config(client, api_name):
    service = client.meta.service_model
    key = (service.service_name, service.api_version)
    if key not in _paginator_models:
        _paginator_models[key] = botocore.session.get_session().get_paginator_model(*key)
    return _paginator_models[key].get_paginator(api_name)


def paginate(client, operation, result_key, retry=AWS_RETRY, **params):
    """Every item of ``result_key`` that the paginated ``operation`` lists (``[]`` when it lists none).

    botocore's paginator reads the pages, but through ``retry(client.<operation>)``: each page is a call of its own
    under the policy, so a throttled page is retried alone, within the bound, and the pages before it are not read
    again (a paginator from ``client.get_paginator()`` calls the client's bare method, which no policy retries).
    ``client`` is a boto3 client or amazon.aws's ``RetryingBotoClientWrapper`` of one.
    """
    api_name = client.meta.method_to_api_mapping[operation]
    paginator = botocore.paginate.Paginator(retry(getattr(client, operation)), _pagination_config(client, api_name),
                                            client.meta.service_model.operation_model(api_name))
    return paginator.paginate(**params).build_full_result().get(result_key, [])


class PolicyClient:
    """A boto3 client each of whose API calls is one call under ``retry``; other attributes are the client's."""

    def __init__(self, client, retry=AWS_RETRY):
        self.client, self.retry = client, retry

    def __getattr__(self, name):
        attribute = getattr(self.client, name)
        return self.retry(attribute) if name in self.client.meta.method_to_api_mapping else attribute
