# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stack's STS refuses what AWS refuses, with AWS's codes, and lets through what AWS lets through.

moto runs as ``moto_server``; the recording proxy (with its STS checks) and a Kubernetes emulator (a cluster: its
tokens and its issuer's keys) run in this process. Every call goes through boto3, unsigned for
``AssumeRoleWithWebIdentity`` as a pod's SDK sends it, so what the test sees is what a pod would see. Each test works
in an account of its own.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import urllib.error
import urllib.request

import boto3
import botocore
import botocore.exceptions
import pytest
from botocore.config import Config

from tests.stack.aws_proxy import RecordingProxy
from tests.stack.kube_emulator import KubeEmulator
from tests.stack.oidc import TokenIssuer, new_key, sign
from tests.stack.sts import unverified_claims

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/STACKSTS0000000000000000000000AA"
OTHER_ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/STACKSTS0000000000000000000000BB"
UNSERVED_ISSUER = "https://oidc.eks.ap-south-1.amazonaws.com/id/STACKSTS0000000000000000000000CC"
SUBJECT = "system:serviceaccount:envs:runner"
NO_RETRIES = Config(retries={"total_max_attempts": 1})
_accounts = itertools.count(300000000001)


@pytest.fixture(scope="module")
def clusters(moto_url):
    """The proxy in front of moto, and two clusters whose issuers its STS knows; the third issuer is served nowhere."""
    proxy = RecordingProxy(moto_url).start()
    first, second = KubeEmulator(issuer=ISSUER).start(), KubeEmulator(issuer=OTHER_ISSUER).start()
    proxy.sts.configure({"issuers": {ISSUER: first.url, OTHER_ISSUER: second.url}})
    yield proxy, first, second
    first.stop()
    second.stop()
    proxy.stop()


@pytest.fixture
def stack(clusters):
    proxy, first, second = clusters
    proxy.sts.configure({"clock_offset": 0})
    return Stack(proxy, first, second, str(next(_accounts)))


def _client(url, service, **keys):
    keys = keys or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=url, region_name="eu-west-1", config=NO_RETRIES, **keys)


class Stack:
    """One test's account on the shared servers, with helpers to build what a rollout would."""

    def __init__(self, proxy, first, second, account):
        self.proxy, self.first, self.second, self.account = proxy, first, second, account
        self.iam = _client(proxy.url, "iam")
        self.iam.meta.events.register("before-sign.iam.*", self._in_account)

    def _in_account(self, request, **_):
        request.headers["x-moto-account-id"] = self.account

    def provider(self, issuer=ISSUER, client_ids=("sts.amazonaws.com",)):
        self.iam.create_open_id_connect_provider(Url=issuer, ClientIDList=list(client_ids))
        return f"arn:aws:iam::{self.account}:oidc-provider/{issuer.removeprefix('https://')}"

    def web_identity_role(self, name="runner", issuer=ISSUER, subject=SUBJECT, operator="StringEquals", **extra):
        host_path = issuer.removeprefix("https://")
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": f"arn:aws:iam::{self.account}:oidc-provider/{host_path}"},
            "Condition": {operator: {f"{host_path}:sub": subject, f"{host_path}:aud": "sts.amazonaws.com"}}}]}
        return self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **extra)["Role"]["Arn"]

    def token(self, audience="sts.amazonaws.com", issuer=None, **claims):
        """A token as the first cluster's TokenRequest API gives it, through its HTTP API; ``claims`` change its claims
        (then it is re-signed with the cluster's key)."""
        if issuer is None and not claims:
            body = json.dumps({"spec": {"audiences": [audience], "expirationSeconds": 600}}).encode()
            request = urllib.request.Request(self.first.url + "/api/v1/namespaces/envs/serviceaccounts/runner/token", data=body,
                                             method="POST", headers={"Content-Type": "application/json"})
            self.ensure_service_account()
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)["status"]["token"]
        tokens = self.first.tokens
        document = dict(tokens.claims("envs", "runner", "uid-1", [audience], 600), **claims)
        if issuer:
            document["iss"] = issuer
        return sign(tokens.key, document)

    def ensure_service_account(self):
        for path, body in (("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "envs"}}),
                           ("/api/v1/namespaces/envs/serviceaccounts",
                            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}})):
            request = urllib.request.Request(self.first.url + path, data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except urllib.error.HTTPError as e:
                assert e.code == 409, e.read()

    def assume(self, role_arn, token, **params):
        sts = boto3.client("sts", endpoint_url=self.proxy.url, region_name="eu-west-1",
                           config=Config(signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1}))
        return sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="pod", WebIdentityToken=token, **params)

    def refusal(self, role_arn, token, **params):
        """``(HTTP status, code, message)`` STS answered, and that moto never saw the call."""
        self.proxy.reset_requests()
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            self.assume(role_arn, token, **params)
        error = raised.value.response
        (entry,) = self.proxy.requests()
        assert (entry["service"], entry["account"], entry["refused"]) == ("sts", role_arn.split(":")[4], error["Error"]["Code"])
        return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


def test_a_token_of_the_cluster_for_its_role_gets_credentials_in_the_role_account(stack):
    stack.provider()
    role = stack.web_identity_role()
    token = stack.token()
    claims = unverified_claims(token)
    assert (claims["iss"], claims["sub"], claims["aud"]) == (ISSUER, SUBJECT, ["sts.amazonaws.com"])
    assert claims["exp"] - claims["iat"] == 600 and claims["kubernetes.io"]["serviceaccount"]["name"] == "runner"
    credentials = stack.assume(role, token)["Credentials"]
    identity = _client(stack.proxy.url, "sts", aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                       aws_session_token=credentials["SessionToken"]).get_caller_identity()
    assert identity["Account"] == stack.account and identity["Arn"].startswith(f"arn:aws:sts::{stack.account}:assumed-role/runner/")


@pytest.mark.parametrize("case, expected", [
    ("another key", ("InvalidIdentityToken", "signature")),
    ("claims changed after signing", ("InvalidIdentityToken", "signature")),
    ("another issuer", ("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {OTHER_ISSUER}")),
    ("issuer keys unreachable", ("InvalidIdentityToken", "Couldn't retrieve verification key")),
    ("another audience", ("InvalidIdentityToken", "Incorrect token audience")),
    ("expired", ("ExpiredTokenException", "Token expired")),
    ("not yet valid", ("IDPRejectedClaim", "not valid yet")),
    ("subject the trust does not allow", ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")),
    ("role missing", ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")),
    ("not a JWT", ("InvalidIdentityToken", "not a valid JWT")),
    ("longer than the role allows", ("ValidationError", "MaxSessionDuration")),
])
def test_what_sts_refuses_and_with_which_code(stack, case, expected):
    stack.provider()
    stack.provider(UNSERVED_ISSUER)
    role = stack.web_identity_role(MaxSessionDuration=3600)
    params = {}
    if case == "another key":
        token = sign(new_key(), stack.first.tokens.claims("envs", "runner", "uid-1", ["sts.amazonaws.com"], 600))
    elif case == "claims changed after signing":
        header, _payload, signature = stack.token().split(".")
        forged = stack.first.tokens.claims("envs", "admin", "uid-1", ["sts.amazonaws.com"], 600)
        payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        token = ".".join((header, payload, signature))
    elif case == "another issuer":
        token = stack.second.tokens.token("envs", "runner", "uid-1", ["sts.amazonaws.com"], 600)[0]
    elif case == "issuer keys unreachable":
        token = TokenIssuer(UNSERVED_ISSUER).token("envs", "runner", "uid-1", ["sts.amazonaws.com"], 600)[0]
    elif case == "another audience":
        token = stack.token(audience="https://kubernetes.default.svc")
    elif case == "expired":
        token = stack.token(iat=int(time.time()) - 1200, nbf=int(time.time()) - 1200, exp=int(time.time()) - 600)
    elif case == "not yet valid":
        token = stack.token(iat=int(time.time()) + 900, nbf=int(time.time()) + 900, exp=int(time.time()) + 1500)
    elif case == "subject the trust does not allow":
        token = stack.token(sub="system:serviceaccount:envs:someone-else")
    elif case == "role missing":
        role, token = role.replace(":role/runner", ":role/nobody"), stack.token()
    elif case == "not a JWT":
        token = "not-a-json-web-token-at-all"
    else:
        token, params = stack.token(), {"DurationSeconds": 7200}
    status, code, message = stack.refusal(role, token, **params)
    assert (code, status) == (expected[0], 403 if code == "AccessDenied" else 400)
    assert expected[1] in message


def test_an_expired_token_by_the_clock_and_a_wildcard_subject(stack):
    stack.provider()
    role = stack.web_identity_role(subject="system:serviceaccount:envs:run*", operator="StringLike")
    token = stack.token()
    assert stack.assume(role, token)["Credentials"]["AccessKeyId"]
    stack.proxy.sts.configure({"clock_offset": 601})  # the token's 600 s have passed
    assert stack.refusal(role, token)[1] == "ExpiredTokenException"


def test_the_audience_must_be_a_client_id_of_the_provider(stack):
    stack.provider(client_ids=("other-client",))
    role = stack.web_identity_role()
    assert stack.refusal(role, stack.token())[1:] == ("InvalidIdentityToken", "Incorrect token audience")


def test_a_web_identity_session_chains_into_a_spoke_only_as_its_trust_and_the_hub_policy_allow(stack):
    stack.provider()
    hub = stack.web_identity_role(name="hub")
    spoke_account = str(next(_accounts))
    spoke_iam = _client(stack.proxy.url, "iam")
    spoke_iam.meta.events.register("before-sign.iam.*", lambda request, **_: request.headers.__setitem__("x-moto-account-id", spoke_account))
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{stack.account}:root"},
        "Condition": {"ArnEquals": {"aws:PrincipalArn": hub}, "StringEquals": {"sts:ExternalId": "torque-spoke"}}}]}
    spoke = spoke_iam.create_role(RoleName="spoke", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    credentials = stack.assume(hub, stack.token())["Credentials"]
    sts = _client(stack.proxy.url, "sts", aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                  aws_session_token=credentials["SessionToken"])

    def chain(**params):
        try:
            return sts.assume_role(RoleArn=spoke, RoleSessionName="chain", **params)["AssumedRoleUser"]["Arn"]
        except botocore.exceptions.ClientError as e:
            return e.response["Error"]["Code"], e.response["Error"]["Message"]

    # The hub role's own policies do not allow sts:AssumeRole yet: refused although the spoke trusts it.
    refused = chain(ExternalId="torque-spoke")
    assert refused[0] == "AccessDenied" and f"on resource: {spoke}" in refused[1] and "assumed-role/hub/pod" in refused[1]
    stack.iam.put_role_policy(RoleName="hub", PolicyName="eks-irsa-hub", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/spoke"}]}))
    assert chain(ExternalId="torque-spoke").startswith(f"arn:aws:sts::{spoke_account}:assumed-role/spoke/")
    assert chain()[0] == "AccessDenied"
    assert chain(ExternalId="wrong")[0] == "AccessDenied"
    assert chain(ExternalId="torque-spoke", DurationSeconds=7200)[0] == "ValidationError"
    # In the hub's own account, a spoke that trusts the account (not the role) needs the hub's permission too; one that
    # names the hub role does not.
    for name, principal in (("local-spoke-account", f"arn:aws:iam::{stack.account}:root"), ("local-spoke-role", hub)):
        local_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": principal}}]}
        stack.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(local_trust))
    local = {name: f"arn:aws:iam::{stack.account}:role/{name}" for name in ("local-spoke-account", "local-spoke-role")}
    assert sts.assume_role(RoleArn=local["local-spoke-role"], RoleSessionName="chain")["AssumedRoleUser"]
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        sts.assume_role(RoleArn=local["local-spoke-account"], RoleSessionName="chain")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    # The deployer's own AssumeRole (keys that are no web-identity session) is not checked, as before.
    assert _client(stack.proxy.url, "sts").assume_role(RoleArn=f"arn:aws:iam::{spoke_account}:role/not-there", RoleSessionName="deployer")


def test_the_sts_settings_endpoint_refuses_what_it_cannot_use(clusters):
    proxy = clusters[0]
    request = urllib.request.Request(proxy.url + "/_proxy/sts", data=b'{"clock_offset": "soon"}', method="PUT")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 400 and "clock_offset" in json.load(raised.value)["error"]
    with urllib.request.urlopen(proxy.url + "/_proxy/sts", timeout=10) as response:
        assert set(json.load(response)["issuers"]) == {ISSUER, OTHER_ISSUER}
