# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""irsa_token_proof: the bounded retry of AssumeRoleWithWebIdentity, and the findings it gives."""

from __future__ import annotations

import boto3
import botocore
import botocore.config
import pytest
from botocore.stub import Stubber

from ansible_collections.torque.eks_irsa.plugins.module_utils import retry
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import token_proof_finding
from ansible_collections.torque.eks_irsa.plugins.modules import irsa_token_proof

ROLE_ARN = "arn:aws:iam::222222222222:role/irsa/torque-runner"
TOKEN = "header.payload.signature"
CALL = {"RoleArn": ROLE_ARN, "RoleSessionName": irsa_token_proof.SESSION_NAME, "WebIdentityToken": TOKEN}
CREDENTIALS = {"Credentials": {"AccessKeyId": "ASIAEXAMPLEEXAMPLE01", "SecretAccessKey": "x" * 40, "SessionToken": "token",
                               "Expiration": "2030-01-01T00:00:00Z"}}


@pytest.fixture
def sts():
    client = boto3.client("sts", region_name="eu-west-1", config=botocore.config.Config(signature_version=botocore.UNSIGNED))
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_a_refusal_is_retried_with_growing_bounded_delays_then_succeeds(sts):
    client, stubber = sts
    for _refusal in range(3):
        stubber.add_client_error("assume_role_with_web_identity", "InvalidIdentityToken", "No OpenIDConnect provider found",
                                 http_status_code=400, expected_params=CALL)
    stubber.add_response("assume_role_with_web_identity", CREDENTIALS, CALL)
    waits = []
    assert irsa_token_proof.assume_with_token(client, ROLE_ARN, TOKEN, attempts=5, delay=8, sleep=waits.append) == (None, None, 4)
    assert waits == [8, 16, 20]  # doubling, capped at 20 s


def test_the_last_refusal_is_reported_after_the_bounded_attempts(sts):
    client, stubber = sts
    for _refusal in range(2):
        stubber.add_client_error("assume_role_with_web_identity", "AccessDenied", "Not authorized", http_status_code=403,
                                 expected_params=CALL)
    waits = []
    assert irsa_token_proof.assume_with_token(client, ROLE_ARN, TOKEN, attempts=2, delay=1, sleep=waits.append) == (
        "AccessDenied", "Not authorized", 2)
    assert waits == [1]


def test_an_error_no_wait_can_cure_is_not_retried(sts):
    client, stubber = sts
    stubber.add_client_error("assume_role_with_web_identity", "ExpiredTokenException", "Token expired", http_status_code=400,
                             expected_params=CALL)
    assert irsa_token_proof.assume_with_token(client, ROLE_ARN, TOKEN, attempts=5, delay=1, sleep=pytest.fail) == (
        "ExpiredTokenException", "Token expired", 1)


@pytest.mark.parametrize("code", ["Throttling", "IDPCommunicationError"])
def test_throttling_and_outages_are_the_retry_policys_and_not_retried_again_here(sts, code):
    client, stubber = sts
    stubber.add_client_error("assume_role_with_web_identity", code, "later", http_status_code=400, expected_params=CALL)
    stubber.add_response("assume_role_with_web_identity", CREDENTIALS, CALL)
    policy_waits = []
    policy = retry.Retry(sleep=policy_waits.append)
    assert irsa_token_proof.assume_with_token(client, ROLE_ARN, TOKEN, attempts=5, delay=1, sleep=pytest.fail, retry=policy) == (
        None, None, 1)
    assert len(policy_waits) == 1
    # When the policy gives up, the proof reports it rather than starting the policy's bound over.
    stubber.add_client_error("assume_role_with_web_identity", code, "later", http_status_code=400, expected_params=CALL)
    assert irsa_token_proof.assume_with_token(client, ROLE_ARN, TOKEN, attempts=5, delay=1, sleep=pytest.fail,
                                              retry=retry.Retry(bound=0)) == (code, "later", 1)


@pytest.mark.parametrize("code, in_fix", [
    ("InvalidIdentityToken", "OIDC provider"),
    ("AccessDenied", "trust policy"),
    ("TokenRequestFailed", "serviceaccounts/token"),
    ("IDPCommunicationError", "STS endpoint"),
])
def test_findings_name_the_role_and_the_service_account_and_say_what_to_do(code, in_fix):
    finding = token_proof_finding("envs", "runner", ROLE_ARN, code, "why", 3)
    assert (finding["code"], finding["severity"], finding["pod_error"]) == ("token-proof-failed", "error", code)
    assert (finding["account_id"], finding["role_name"]) == ("222222222222", "torque-runner")
    assert ROLE_ARN in finding["message"] and "envs/runner" in finding["message"] and in_fix in finding["fix"]


def test_success_is_an_ok_finding():
    finding = token_proof_finding("envs", "runner", ROLE_ARN, attempts=2)
    assert (finding["code"], finding["severity"], finding["pod_error"]) == ("token-proof-ok", "ok", None)
    assert "attempt 2" in finding["message"]


def test_the_api_server_of_the_environment_is_read_as_kubernetes_core_reads_it(monkeypatch):
    from kubernetes import client  # pylint: disable=import-outside-toplevel

    for name in ("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_CA_CERT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("K8S_AUTH_HOST", "https://127.0.0.1:6443")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "job-token")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "True")
    monkeypatch.setenv("K8S_AUTH_SSL_CA_CERT", "/runner/env/k8s-ca.pem")
    configuration = irsa_token_proof.environment_configuration(client.Configuration())
    assert configuration.host == "https://127.0.0.1:6443"
    assert configuration.get_api_key_with_prefix("authorization") == "Bearer job-token"
    assert (configuration.verify_ssl, configuration.ssl_ca_cert) == (True, "/runner/env/k8s-ca.pem")
    # The other spellings kubernetes.core accepts; a credential without a CA file leaves the default trust.
    monkeypatch.delenv("K8S_AUTH_VERIFY_SSL")
    monkeypatch.delenv("K8S_AUTH_SSL_CA_CERT")
    monkeypatch.setenv("K8S_AUTH_VALIDATE_CERTS", "false")
    configuration = irsa_token_proof.environment_configuration(client.Configuration())
    assert (configuration.verify_ssl, configuration.ssl_ca_cert) == (False, None)
