# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The end-to-end proof (``irsa_token_proof``) with real tokens and a checking STS: nothing of it is faked.

The Kubernetes emulator serves the TokenRequest API (RS256 JWTs signed by the cluster's key, for the stack's OIDC issuer)
and the recording proxy checks ``AssumeRoleWithWebIdentity`` as AWS does (the signature against the issuer's keys, the
account's OIDC provider and its client IDs, the expiry, the role's trust policy). So the state the proof succeeds or fails
on is built for real, with boto3 in two accounts of this module's own and with kubectl in a namespace of its own: a role
that trusts the ServiceAccount, and one that trusts another ServiceAccount, which STS refuses with AccessDenied.

An intercepting endpoint stands in front of the stack only where the stack cannot show or do what a test needs: the
authentication and impersonation headers of the token request (the emulator does not log them), and a Kubernetes API
that refuses every request. The token requests it sees still go to the emulator. A JWT always starts with ``eyJ`` (the
base64 of ``{"``): no output of a run may contain it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse

import pytest
import yaml

from tests.integration.reliability import KUBECTL, InterceptingEndpoint, delete_role
from tests.stack.sts import unverified_claims

pytestmark = pytest.mark.integration

NAMESPACE = "proof-envs"
GOOD_ACCOUNT, DENIED_ACCOUNT = "777777777741", "777777777742"  # this module's own (test_awx_slicing has 7777777777[01-07])
ROLE = "torque-runner"
GOOD, DENIED = f"arn:aws:iam::{GOOD_ACCOUNT}:role/{ROLE}", f"arn:aws:iam::{DENIED_ACCOUNT}:role/{ROLE}"
AUDIENCE = "sts.amazonaws.com"
TOKEN_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token$")
JWT_PREFIX = "eyJ"
# What the temporary credentials STS gave (moto's) start with: an access key ID of a session, and its session token.
CREDENTIAL_PREFIXES = ("ASIA", "FQoGZXIvYXdzE")


def _kubectl(local_stack, *args, document=None):
    env = dict(os.environ, KUBECACHEDIR=local_stack.env()["KUBECACHEDIR"])
    process = subprocess.run([KUBECTL, "--kubeconfig", local_stack.kubeconfig, *args], input=document, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert process.returncode == 0, f"kubectl {' '.join(args)}: {process.stderr}"
    return process


def _trust(account, issuer, subject):
    """The trust policy a rollout writes: the issuer's provider, with the ServiceAccount's ``sub`` and the audience."""
    host_path = issuer.removeprefix("https://").rstrip("/")
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{host_path}"},
        "Condition": {"StringEquals": {f"{host_path}:sub": subject, f"{host_path}:aud": AUDIENCE}}}]})


@pytest.fixture(scope="module", name="proof_state")
def proof_state_fixture(local_stack):
    """In each account an OIDC provider for the stack's issuer and a role ``torque-runner``: the good account's trusts
    ServiceAccount ``proof-envs/runner-dev``, the denied account's ``proof-envs/runner-other``; in the emulator the
    namespace and ServiceAccount ``runner-dev`` (no ``runner-other``, no ``missing``). All removed at the end."""
    clients = {}
    try:
        for account, trusted in ((GOOD_ACCOUNT, "runner-dev"), (DENIED_ACCOUNT, "runner-other")):
            iam = clients[account] = local_stack.account_client("iam", account)
            iam.create_open_id_connect_provider(Url=local_stack.issuer, ClientIDList=[AUDIENCE], ThumbprintList=["a" * 40])
            iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=_trust(account, local_stack.issuer,
                                                                           f"system:serviceaccount:{NAMESPACE}:{trusted}"))
        _kubectl(local_stack, "apply", "-f", "-", document=yaml.safe_dump_all([
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner-dev", "namespace": NAMESPACE}}]))
        yield
    finally:
        for account, iam in clients.items():
            if ROLE in [role["RoleName"] for role in iam.list_roles()["Roles"]]:
                delete_role(iam, ROLE)
            for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
                iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])
        if any(obj["kind"] == "Namespace" and obj["metadata"]["name"] == NAMESPACE for obj in local_stack.kube_objects()):
            _kubectl(local_stack, "delete", "namespace", NAMESPACE, "--wait=false")


def _web_identity_calls(local_stack, since):
    """``refused`` of each ``AssumeRoleWithWebIdentity`` the proxy logged after entry number ``since``."""
    return [r["refused"] for r in local_stack.aws_requests()[since:] if r["action"] == "AssumeRoleWithWebIdentity"]


def test_token_proof_requests_a_token_with_the_audience_assumes_each_role_and_never_shows_the_token(
        local_stack, proof_state, run_playbook):
    kube_mark, aws_mark = len(local_stack.kube_requests()), len(local_stack.aws_requests())
    run = run_playbook([{"name": "Prove", "hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Prove the tokens", "register": "proof",
        "torque.eks_irsa.irsa_token_proof": {
            "namespace": NAMESPACE, "kubeconfig": local_stack.kubeconfig, "attempts": 2, "delay": 0,
            "endpoint_url": local_stack.aws_url,
            "checks": [{"service_account": "runner-dev", "role_arn": GOOD}, {"service_account": "runner-dev", "role_arn": DENIED},
                       {"service_account": "missing", "role_arn": GOOD}]}}]}], check=True, args=["-vvv"])
    result = run.result("Prove the tokens")
    assert run.rc == 0, result.get("msg") or run
    assert [(f["code"], f["role_arn"], f["pod_error"]) for f in result["findings"]] == [
        ("token-proof-ok", GOOD, None), ("token-proof-failed", DENIED, "AccessDenied"), ("token-proof-failed", GOOD, "TokenRequestFailed")]
    assert result["error_count"] == 2 and result["changed"] is False
    assert "after 2 attempt(s)" in result["findings"][1]["message"] and "trust policy" in result["findings"][1]["fix"]
    assert "missing" in result["findings"][2]["message"] and "404" in result["findings"][2]["message"]
    assert "serviceaccounts/token" in result["findings"][2]["fix"]
    # One token request per ServiceAccount (the emulator's 404 for the missing one), and nothing written (the emulator
    # logs a TokenRequest as not mutating: it stores nothing). The log has no bodies: that the token had the audience
    # shows in STS accepting it for a provider and a trust policy of that audience.
    requests = local_stack.kube_requests()[kube_mark:]
    assert [(r["method"], r["path"]) for r in requests if r["method"] != "GET"] == [
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/runner-dev/token"),
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/missing/token")]
    assert not [r for r in requests if r["mutating"]]
    # The checking STS: the good role once (accepted), the denied one twice (bounded), refused as AWS refuses it.
    assert _web_identity_calls(local_stack, aws_mark) == [None, "AccessDenied", "AccessDenied"]
    for secret in (JWT_PREFIX,) + CREDENTIAL_PREFIXES:
        assert secret not in run.stdout and secret not in run.stderr


class TokenAndStsEndpoint(InterceptingEndpoint):
    """The Kubernetes API (the emulator) and STS (the stack's proxy) behind one URL, recording what the stack does not show.

    Kubernetes requests go to the emulator; a token request's ServiceAccount and spec and its authentication and
    impersonation headers are recorded (``token_requests``, ``token_headers``), and the token the emulator answered
    (``tokens``, in memory only). AWS requests go to the proxy untouched; ``sts_calls`` records each
    ``AssumeRoleWithWebIdentity``'s role and token.
    """

    KUBE_PREFIXES = ("/api/", "/api?", "/apis", "/version", "/openapi")

    def __init__(self, upstream, kube_upstream):
        self.kube_upstream = urllib.parse.urlsplit(kube_upstream)
        self.token_requests, self.token_headers, self.tokens, self.sts_calls = [], [], [], []
        super().__init__(upstream)

    def kubeconfig(self, path):
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "proof",
            "clusters": [{"name": "proof", "cluster": {"server": self.url}}],
            "users": [{"name": "proof", "user": {"token": "dummy"}}],
            "contexts": [{"name": "proof", "context": {"cluster": "proof", "user": "proof"}}]}))
        return str(path)

    @classmethod
    def is_kubernetes(cls, path):
        return path == "/api" or path.startswith(cls.KUBE_PREFIXES)

    def answer(self, method, path, headers, body):
        if not self.is_kubernetes(path):
            query = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            if query.get("Action") == ["AssumeRoleWithWebIdentity"]:
                self.sts_calls.append((query["RoleArn"][0], query["WebIdentityToken"][0]))
            return self.forward(method, path, headers, body)
        match = TOKEN_PATH.match(urllib.parse.urlsplit(path).path)
        if match:
            self.token_requests.append((match.group(1), match.group(2), json.loads(body or b"{}").get("spec", {})))
            self.token_headers.append({name.lower(): value for name, value in headers.items()
                                       if name.lower() in ("authorization", "impersonate-user", "impersonate-group")})
        status, answer_headers, payload = self.forward(method, path, headers, body, self.kube_upstream)
        if match and status == 201:
            self.tokens.append(json.loads(payload)["status"]["token"])
        return status, answer_headers, payload


@pytest.mark.matrix
def test_token_proof_takes_kubernetes_core_connection_options_host_api_key_and_impersonation(local_stack, proof_state, run_playbook):
    """The API server and its credentials as module options, as a kubernetes.core task takes them (the module read only a
    kubeconfig and context, or K8S_AUTH_HOST and K8S_AUTH_API_KEY, before). K8S_AUTH_KUBECONFIG still names the
    stack's kubeconfig, which kubernetes.core leaves unread when the options authenticate; the API key is never shown."""
    api_key = "option-api-key-that-must-never-be-printed"
    endpoint = TokenAndStsEndpoint(local_stack.aws_url, local_stack.kube_url)
    kube_mark, aws_mark = len(local_stack.kube_requests()), len(local_stack.aws_requests())
    try:
        run = run_playbook([{"name": "Prove", "hosts": "localhost", "gather_facts": False, "tasks": [{
            "name": "Prove the token with the API server as options", "register": "proof",
            "torque.eks_irsa.irsa_token_proof": {
                "namespace": NAMESPACE, "host": endpoint.url, "api_key": api_key, "verify_ssl": False,
                "impersonate_user": f"system:serviceaccount:{NAMESPACE}:prover", "impersonate_groups": ["provers"],
                "attempts": 1, "delay": 0, "endpoint_url": endpoint.url,
                "checks": [{"service_account": "runner-dev", "role_arn": GOOD}]}}]}], args=["-vvv"])
    finally:
        endpoint.stop()
    result = run.result("Prove the token with the API server as options")
    assert run.rc == 0, result.get("msg") or run
    assert [(f["code"], f["role_arn"]) for f in result["findings"]] == [("token-proof-ok", GOOD)]
    assert endpoint.token_requests == [(NAMESPACE, "runner-dev", {"audiences": [AUDIENCE], "expirationSeconds": 600})]
    assert endpoint.token_headers == [{"authorization": f"Bearer {api_key}", "impersonate-user": f"system:serviceaccount:{NAMESPACE}:prover",
                                       "impersonate-group": "provers"}]
    # The emulator answered kubernetes.core's first requests and the token request, all made with the option's API key.
    assert [(r["method"], r["path"], r["token"]) for r in local_stack.kube_requests()[kube_mark:]] == [
        ("GET", "/version", api_key), ("GET", "/apis", api_key),
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/runner-dev/token", api_key)]
    # STS got exactly the token the emulator issued for the ServiceAccount, and accepted it.
    assert len(endpoint.tokens) == 1 and endpoint.tokens[0].startswith(JWT_PREFIX) and endpoint.sts_calls == [(GOOD, endpoint.tokens[0])]
    claims = unverified_claims(endpoint.tokens[0])
    assert (claims["iss"], claims["sub"], claims["aud"], claims["exp"] - claims["iat"]) == (
        local_stack.issuer, f"system:serviceaccount:{NAMESPACE}:runner-dev", [AUDIENCE], 600)
    assert _web_identity_calls(local_stack, aws_mark) == [None]
    for secret in (api_key, JWT_PREFIX) + CREDENTIAL_PREFIXES:
        assert secret not in run.stdout and secret not in run.stderr


def test_token_proof_a_token_stale_for_the_sts_clock_is_refused_as_a_pod_would_be(local_stack, proof_state, run_playbook, tmp_path):
    """When STS's clock is past the fresh token's expiry (the cluster's clock is behind), the proof reports STS's
    ExpiredTokenException with a fix about the clocks, and a pod of the same ServiceAccount gets the same error."""
    _kubectl(local_stack, "annotate", "--overwrite", "-n", NAMESPACE, "serviceaccount", "runner-dev", f"eks.amazonaws.com/role-arn={GOOD}")
    local_stack.configure_sts(clock_offset=601)  # the proof's tokens live 600 s
    try:
        run = run_playbook([{"name": "Prove", "hosts": "localhost", "gather_facts": False, "tasks": [{
            "name": "Prove with a stale clock", "register": "proof",
            "torque.eks_irsa.irsa_token_proof": {
                "namespace": NAMESPACE, "kubeconfig": local_stack.kubeconfig, "attempts": 1, "delay": 0, "endpoint_url": local_stack.aws_url,
                "checks": [{"service_account": "runner-dev", "role_arn": GOOD}]}}]}])
        local_stack.configure_sts(clock_offset=86400 + 1)  # a pod's token lives a day
        (seen,) = local_stack.pod(NAMESPACE, "runner-dev", str(tmp_path / "pod")).sdk(["identity"])
    finally:
        local_stack.configure_sts(clock_offset=0)
        _kubectl(local_stack, "annotate", "-n", NAMESPACE, "serviceaccount", "runner-dev", "eks.amazonaws.com/role-arn-")
    result = run.result("Prove with a stale clock")
    assert run.rc == 0, result.get("msg") or run
    (finding,) = result["findings"]
    assert (finding["code"], finding["pod_error"]) == ("token-proof-failed", "ExpiredTokenException")
    assert "Token expired" in finding["message"] and "NTP" in finding["fix"]
    assert (seen["error"], seen["operation"]) == ("ExpiredTokenException", "AssumeRoleWithWebIdentity")


class RefusingKubernetesEndpoint(TokenAndStsEndpoint):
    """:class:`TokenAndStsEndpoint` whose Kubernetes API refuses every request with 401 (expired credentials), recording
    each one's method and path in ``refused``."""

    def __init__(self, upstream, kube_upstream):
        self.refused = []
        super().__init__(upstream, kube_upstream)

    def answer(self, method, path, headers, body):
        if self.is_kubernetes(path):
            self.refused.append((method, urllib.parse.urlsplit(path).path))
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Unauthorized", "code": 401,
                      "message": "Unauthorized"}
            return 401, [("Content-Type", "application/json")], json.dumps(status).encode()
        return super().answer(method, path, headers, body)


def test_token_proof_an_api_that_refuses_the_credentials_is_each_checks_failed_token_request(local_stack, run_playbook, tmp_path):
    """kubernetes.core's client reads the API's version first: its 401 is the finding a refused token request gives."""
    endpoint = RefusingKubernetesEndpoint(local_stack.aws_url, local_stack.kube_url)
    kube_mark, aws_mark = len(local_stack.kube_requests()), len(local_stack.aws_requests())
    try:
        run = run_playbook([{"name": "Prove", "hosts": "localhost", "gather_facts": False, "tasks": [{
            "name": "Prove with refused credentials", "register": "proof",
            "torque.eks_irsa.irsa_token_proof": {
                "namespace": NAMESPACE, "kubeconfig": endpoint.kubeconfig(tmp_path / "kubeconfig"), "kube_context": "proof",
                "attempts": 1, "delay": 0, "endpoint_url": endpoint.url,
                "checks": [{"service_account": "runner-dev", "role_arn": GOOD}, {"service_account": "runner-prod", "role_arn": GOOD}]}}]}])
    finally:
        endpoint.stop()
    result = run.result("Prove with refused credentials")
    assert run.rc == 0, result.get("msg") or run
    assert [(f["code"], f["service_account"], f["pod_error"]) for f in result["findings"]] == [
        ("token-proof-failed", "runner-dev", "TokenRequestFailed"), ("token-proof-failed", "runner-prod", "TokenRequestFailed")]
    assert all("401 Unauthorized" in f["message"] for f in result["findings"]) and result["error_count"] == 2
    # The client stopped at the refused version read: no token was asked for, nothing reached the emulator, STS was never called.
    assert endpoint.refused == [("GET", "/version")]
    assert endpoint.sts_calls == []
    assert local_stack.kube_requests()[kube_mark:] == []
    assert _web_identity_calls(local_stack, aws_mark) == []
