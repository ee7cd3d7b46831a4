# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""irsa_token_proof: the bounded retry of AssumeRoleWithWebIdentity, the findings it gives, and its Kubernetes access
(kubernetes.core's options and client)."""

from __future__ import annotations

import http.server
import json
import os
import tempfile
import threading
import urllib.parse

import boto3
import botocore
import botocore.config
import pytest
import urllib3
import yaml
from botocore.stub import Stubber

from ansible_collections.torque.eks_irsa.plugins.module_utils import kube_client
from ansible_collections.torque.eks_irsa.plugins.module_utils import retry
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import validated_options
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
    ("ExpiredTokenException", "time (NTP)"),
    ("IDPRejectedClaim", "time (NTP)"),
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


# -- the Kubernetes access: kubernetes.core's options and client ------------------------------------------------------

class ApiServer:
    """Just enough of a Kubernetes API server for kubernetes.core's client and a TokenRequest, on 127.0.0.1: records each
    request's method, path and headers. As an HTTP proxy too (it takes the absolute URL a proxy is sent)."""

    ANSWERS = {"/version": {"major": "1", "minor": "31", "gitVersion": "v1.31.0"},
               "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}}

    def __init__(self):
        server = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                """Quiet."""

            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append((self.command, path, self.headers))
                if self.command == "POST" and path.endswith("/token"):
                    answer = dict(body, status={"token": TOKEN, "expirationTimestamp": "2030-01-01T00:00:00Z"})
                else:
                    answer = server.ANSWERS.get(path, {"kind": "Status", "code": 404})
                payload = json.dumps(answer).encode()
                self.send_response(201 if self.command == "POST" else 200 if path in server.ANSWERS else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_GET

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def token_requests(self):
        return [(path, headers) for method, path, headers in self.requests if method == "POST"]


@pytest.fixture
def api_server(monkeypatch, tmp_path):
    """An :class:`ApiServer`, with no ``K8S_AUTH_*`` in the environment, kubernetes.core's discovery cache in ``tmp_path``
    and the kubernetes client's default configuration (which loading a kubeconfig sets) reset around the test."""
    from kubernetes import client  # pylint: disable=import-outside-toplevel

    for name in [name for name in os.environ if name.startswith("K8S_AUTH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config of the machine's
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    client.Configuration.set_default(client.Configuration())
    server = ApiServer()
    yield server
    server.stop()
    client.Configuration.set_default(client.Configuration())


def module_params(**given):
    """The module's parameters for ``given``, as its argument spec makes them (aliases resolved, defaults filled in)."""
    checks = [{"service_account": "runner", "role_arn": ROLE_ARN}]
    return validated_options(irsa_token_proof.ARGUMENT_SPEC, dict({"checks": checks}, **given))


def proof_token(params):
    """The token the module gets for envs/runner with ``params``' Kubernetes access."""
    return irsa_token_proof.request_token(kube_client.core_v1_api(params), "envs", "runner", "sts.amazonaws.com", 600)


def test_kube_context_is_still_the_kubeconfig_context(api_server, tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [{"name": "c", "cluster": {"server": api_server.url}}],
        "users": [{"name": "a", "user": {"token": "token-a"}}, {"name": "b", "user": {"token": "token-b"}}],
        "contexts": [{"name": name, "context": {"cluster": "c", "user": name}} for name in ("a", "b")]}))
    params = module_params(kubeconfig=str(path), kube_context="b")
    assert params["context"] == "b"
    assert proof_token(params) == TOKEN
    assert proof_token(module_params(kubeconfig=str(path), context="a")) == TOKEN
    assert [(path, headers["Authorization"]) for path, headers in api_server.token_requests()] == [
        ("/api/v1/namespaces/envs/serviceaccounts/runner/token", "Bearer token-b"),
        ("/api/v1/namespaces/envs/serviceaccounts/runner/token", "Bearer token-a")]


def test_the_api_server_of_the_environment_is_read_through_kubernetes_core(api_server, monkeypatch, tmp_path):
    """AWX's "OpenShift or Kubernetes API Bearer Token" credential, and the other K8S_AUTH_* that kubernetes.core reads."""
    ca = tmp_path / "k8s-ca.pem"
    ca.write_text("CA")
    monkeypatch.setenv("K8S_AUTH_HOST", api_server.url + "/")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "job-token")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "True")
    monkeypatch.setenv("K8S_AUTH_SSL_CA_CERT", str(ca))
    monkeypatch.setenv("K8S_AUTH_IMPERSONATE_USER", "auditor")
    monkeypatch.setenv("K8S_AUTH_IMPERSONATE_GROUPS", "readers,provers")
    api = kube_client.core_v1_api(module_params())
    configuration = api.api_client.configuration
    assert configuration.host == api_server.url
    assert configuration.get_api_key_with_prefix("authorization") == "Bearer job-token"
    assert (configuration.verify_ssl, configuration.ssl_ca_cert) == (True, str(ca))
    assert irsa_token_proof.request_token(api, "envs", "runner", "sts.amazonaws.com", 600) == TOKEN
    ((_path, headers),) = api_server.token_requests()
    assert (headers["Authorization"], headers["Impersonate-User"], headers.get_all("Impersonate-Group")) == (
        "Bearer job-token", "auditor", ["readers", "provers"])
    # The other spellings kubernetes.core accepts; a credential without a CA file leaves the default trust.
    for name in ("K8S_AUTH_VERIFY_SSL", "K8S_AUTH_SSL_CA_CERT", "K8S_AUTH_IMPERSONATE_USER", "K8S_AUTH_IMPERSONATE_GROUPS"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("K8S_AUTH_VALIDATE_CERTS", "false")
    configuration = kube_client.core_v1_api(module_params()).api_client.configuration
    assert (configuration.verify_ssl, configuration.ssl_ca_cert) == (False, None)


def test_connection_options_the_module_could_not_take_before_override_the_environment(api_server, monkeypatch, tmp_path):
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in files.values():
        path.write_text("PEM")
    monkeypatch.setenv("K8S_AUTH_HOST", "http://127.0.0.1:1")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "environment-token")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "true")
    params = module_params(host=api_server.url, api_key="option-token", verify_ssl=False, ssl_ca_cert=str(files["ca"]),
                           cert_file=str(files["cert"]), key_file=str(files["key"]), impersonate_user="auditor",
                           impersonate_groups=["readers"])
    api = kube_client.core_v1_api(params)
    configuration = api.api_client.configuration
    assert (configuration.host, configuration.verify_ssl) == (api_server.url, False)
    assert (configuration.ssl_ca_cert, configuration.cert_file, configuration.key_file) == (
        str(files["ca"]), str(files["cert"]), str(files["key"]))
    assert irsa_token_proof.request_token(api, "envs", "runner", "sts.amazonaws.com", 600) == TOKEN
    ((_path, headers),) = api_server.token_requests()
    assert (headers["Authorization"], headers["Impersonate-User"], headers["Impersonate-Group"]) == (
        "Bearer option-token", "auditor", "readers")


def test_the_proxy_option_sends_every_request_through_the_proxy(api_server):
    params = module_params(host="http://kubernetes.invalid:6443", api_key="option-token", proxy=api_server.url)
    assert proof_token(params) == TOKEN
    assert [path for _method, path, _headers in api_server.requests] == [
        "/version", "/apis", "/api/v1/namespaces/envs/serviceaccounts/runner/token"]


def test_an_api_server_that_cannot_be_reached_fails_when_the_client_is_made(api_server):
    api_server.stop()
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        kube_client.core_v1_api(module_params(host=api_server.url, api_key="option-token"))


def test_every_connection_option_is_documented_as_the_argument_spec_has_it():
    """As validate-modules checks it, with the kubernetes.core installed (each matrix cell has its own)."""
    documented = yaml.safe_load(irsa_token_proof.DOCUMENTATION)["options"]
    assert sorted(documented) == sorted(irsa_token_proof.ARGUMENT_SPEC)
    for name, option in irsa_token_proof.ARGUMENT_SPEC.items():
        doc = documented[name]
        assert (doc.get("type"), sorted(doc.get("aliases") or [])) == (option.get("type", "str"), sorted(option.get("aliases") or [])), name
        assert sorted(doc.get("suboptions") or {}) == sorted(option.get("options") or {}), name
