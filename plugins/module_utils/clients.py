# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""How the modules make their boto3 clients: with a retry policy that outlasts throttling, outages and dropped connections.

Two layers retry, and together they are bounded in time:

- botocore, configured here: ``standard`` retry mode, at most 10 attempts per request (9 retries, each after a random
  delay of up to 1, 2, 4, 8, 16, then 20 seconds: at most 111 s of waiting). It retries throttling codes, HTTP 500/502/
  503/504 and connection errors, including a connection the server closed without answering, which ``AWSRetry`` cannot
  see (it only retries error codes). Each attempt may wait 10 s to connect and 30 s for the answer.
- ``AWSRetry.jittered_backoff()`` around each call (amazon.aws's defaults: at most 10 attempts, random delays of up to
  3, 6, 12, 24, 48, then 60 seconds: at most 333 s), for throttling and unavailability codes that outlast botocore's.

So one AWS call gives up after at most 10 x 111 + 333 = 1,443 s (about 24 minutes) of back-off under unbroken
throttling, plus the time the attempts themselves take; a dropped connection or a timeout is retried by botocore only
(at most 111 s of back-off plus 10 x 40 s of timeouts). Typical waits are far shorter: the delays are random, so half
the maxima on average, and a request that succeeds stops the retries.

The module option ``aws_config`` (from amazon.aws) still overrides any of these settings.
"""

from __future__ import annotations

CLIENT_CONFIG = {
    "retries": {"mode": "standard", "total_max_attempts": 10},
    "connect_timeout": 10,
    "read_timeout": 30,
}


def aws_client(module, service, retry_decorator=None):
    """``module.client(service, retry_decorator)`` with :data:`CLIENT_CONFIG` as the botocore configuration."""
    return module.client(service, retry_decorator=retry_decorator, config=CLIENT_CONFIG)
