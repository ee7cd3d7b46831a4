# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fixtures shared by the unit tests."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper


@pytest.fixture
def iam():
    """A Stubber-backed IAM client wrapped like ``module.client(..., retry_decorator=...)`` wraps it, without retries.

    Stubber fails on any call that was not queued, so a test proves the exact list of calls.
    (test_role.py keeps its own, with AWSRetry's retries, for its throttling cases.)
    """
    client = boto3.client("iam", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff(retries=0)), stubber
        stubber.assert_no_pending_responses()
