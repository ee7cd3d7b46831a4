# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EKS Pod Identity emulation, driven through boto3's ``eks`` and ``eks-auth`` clients so botocore's own models parse
every answer; a tiny HTTP server stands in for the recording proxy (PodIdentityApi first, moto for the rest)."""

from __future__ import annotations

import datetime
import http.client
import http.server
import json
import re
import threading
import time
import urllib.parse
import uuid

import boto3
import botocore.config
import botocore.session
import pytest
from botocore.exceptions import ClientError
from joserfc import jwk

from tests.stack.eks_pod_identity import ASSOCIATIONS_PER_CLUSTER, AssumeRefused, PodIdentityApi
from tests.stack.oidc import TokenIssuer, sign
from tests.stack.sts import CheckingSts, IamState

ACCOUNT_A, ACCOUNT_B, ACCOUNT_C = "123456789012", "210987654321", "333333333333"
ACCESS_KEYS = {"key-a": ACCOUNT_A, "key-b": ACCOUNT_B, "key-c": ACCOUNT_C}
REGION, OTHER_REGION = "us-east-1", "us-west-2"
CLUSTER, FULL_CLUSTER = "blue", "full"
POD_ROLE = f"arn:aws:iam::{ACCOUNT_A}:role/pod-role"
POD_ROLE_2 = f"arn:aws:iam::{ACCOUNT_A}:role/pod-role-2"
PATHED_ROLE = f"arn:aws:iam::{ACCOUNT_A}:role/team/pathed-role"
IRSA_ROLE = f"arn:aws:iam::{ACCOUNT_A}:role/irsa-role"
TARGET_ROLE = f"arn:aws:iam::{ACCOUNT_B}:role/target"
TARGET_ROLE_2 = f"arn:aws:iam::{ACCOUNT_C}:role/target-2"
POD_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}
IRSA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/oidc.example"}}]}
SESSION_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
ASSOCIATION_MEMBERS = {"clusterName", "namespace", "serviceAccount", "roleArn", "associationArn", "associationId", "tags", "createdAt",
                       "modifiedAt", "disableSessionTags"}
SUMMARY_MEMBERS = {"clusterName", "namespace", "serviceAccount", "associationArn", "associationId"}
EXISTING = "<existing association id>"
FULL_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/FULLCLUSTER"
_ID_RE = re.compile(r"^a-[0-9a-z]{17}$")
_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/")
_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/[^/]+/[^/]+/([^/]+)/")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def _moto_client(moto_url, service, account, region=REGION):
    client = boto3.session.Session().client(service, endpoint_url=moto_url, region_name=region, aws_access_key_id="testing",
                                            aws_secret_access_key="testing")
    client.meta.events.register(f"before-sign.{service}.*", lambda request, **_kwargs: request.headers.__setitem__(
        "x-moto-account-id", account))
    return client


class ModelCheck:
    """Checks a raw answer of :meth:`PodIdentityApi.handle` against botocore's model of the operation it answers.

    botocore drops members its model does not know, so a client alone never sees them: this sees the raw JSON. An answer
    is its operation's output shape (members and types), or an error the operation lists, with the model's status and members.
    """

    def __init__(self):
        session = botocore.session.get_session()
        self._routes = []
        for service in ("eks", "eks-auth"):
            model = session.get_service_model(service)
            for name in model.operation_names:
                operation = model.operation_model(name)
                pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(operation.http["requestUri"].split("?")[0]))
                self._routes.append((service, operation.http["method"], re.compile(f"^{pattern}$"), operation))

    def problems(self, method, path, headers, status, answer_headers, body):
        service = _SCOPE_RE.search(headers.get("Authorization", "")).group(1)
        route = urllib.parse.urlsplit(path).path
        operation = next(operation for operation_service, operation_method, pattern, operation in self._routes
                         if (operation_service, operation_method) == (service, method) and pattern.match(route))
        document = json.loads(body)
        if status == 200:
            return self._unmodeled(operation.output_shape, document, operation.name)
        code = dict((name.lower(), value) for name, value in answer_headers)["x-amzn-errortype"]
        shape = next((error for error in operation.error_shapes if error.name == code), None)
        if shape is None:
            return [f"{operation.name} does not list the error {code}"]
        found = [] if shape.metadata["error"]["httpStatusCode"] == status else [f"{code} answered with HTTP {status}"]
        return found + self._unmodeled(shape, document, code)

    def _unmodeled(self, shape, value, where):
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(value, dict):
                return [f"{where} is not an object"]
            found = [f"{where}.{key} is not in the model" for key in value if key not in shape.members]
            for key, item in value.items():
                found += self._unmodeled(shape.members[key], item, f"{where}.{key}") if key in shape.members else []
            return found
        if kind == "list":
            return [problem for index, item in enumerate(value) for problem in self._unmodeled(shape.member, item, f"{where}[{index}]")]
        if kind == "map":
            return [problem for key, item in value.items() for problem in self._unmodeled(shape.value, item, f"{where}.{key}")]
        expected = {"string": str, "boolean": bool, "integer": int, "long": int, "timestamp": (int, float)}[kind]
        if not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)):
            return [f"{where} is not a {kind}: {value!r}"]
        if kind == "string" and shape.enum and value not in shape.enum:
            return [f"{where} is not one of {shape.enum}: {value!r}"]
        return []


MODEL_CHECK = ModelCheck()


class StackServer:
    """A stand-in for the recording proxy: :meth:`PodIdentityApi.handle` first, moto (in the caller's account) for the rest."""

    def __init__(self, api, moto_url):
        self.api, self.upstream = api, urllib.parse.urlsplit(moto_url)
        self._clients, self._lock = {}, threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="pod-identity-test-server", daemon=True).start()

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def client(self, service, key="key-a", region=REGION, validate=True):
        """A boto3 client on this server with dummy credentials; ``validate=False`` sends what botocore would refuse."""
        with self._lock:
            if (service, key, region, validate) not in self._clients:
                config = botocore.config.Config(retries={"total_max_attempts": 1}, parameter_validation=validate)
                self._clients[(service, key, region, validate)] = boto3.session.Session().client(
                    service, endpoint_url=self.url, region_name=region, aws_access_key_id=key, aws_secret_access_key="secret", config=config)
            return self._clients[(service, key, region, validate)]

    def _forward(self, method, path, headers, body, account):
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            forwarded = {name: value for name, value in headers.items() if name.lower() not in _HOP_BY_HOP}
            connection.request(method, path, body=body or None, headers=dict(forwarded, **{"x-moto-account-id": account}))
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler_class(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                """Quiet."""

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                match = _CREDENTIAL_RE.search(self.headers.get("Authorization", ""))
                account = ACCESS_KEYS.get(match.group(1) if match else "", ACCOUNT_A)
                answer = server.api.handle(self.command, self.path, self.headers, body, account)
                if answer is None:
                    answer = server._forward(self.command, self.path, self.headers, body, account)
                else:
                    problems = MODEL_CHECK.problems(self.command, self.path, self.headers, *answer)
                    if problems:  # the client fails with this code and the problems as its message
                        answer = (500, [("x-amzn-ErrorType", "ModelViolation")], json.dumps({"message": "; ".join(problems)}).encode())
                status, headers, payload = answer
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        return Handler


class FakeSts:
    """Records the ``assume_role`` calls and answers with dummy credentials (or refuses, with ``refuse`` set)."""

    def __init__(self):
        self.calls, self.refuse, self._lock = [], False, threading.Lock()

    def __call__(self, role_arn, session_name, tags, external_id=None, source_credentials=None, policy=None, source_arn=None):
        with self._lock:
            self.calls.append({"role_arn": role_arn, "session_name": session_name, "tags": tags, "external_id": external_id,
                               "source_credentials": source_credentials, "policy": policy, "source_arn": source_arn})
            number = len(self.calls)
        if self.refuse:
            raise AssumeRefused("AccessDenied", f"User: pods.eks.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
        account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        expiration = datetime.datetime(2030, 1, 1, number % 24, tzinfo=datetime.timezone.utc)
        return {"Credentials": {"AccessKeyId": f"ASIA{number:016d}", "SecretAccessKey": f"secret-{number}", "SessionToken": f"session-{number}",
                                "Expiration": expiration},
                "AssumedRoleUser": {"Arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session_name}",
                                    "AssumedRoleId": f"AROA{number:017d}:{session_name}"}}


@pytest.fixture(scope="module")
def world(moto_url):
    """The clusters (blue in A, B and A's other region; full in A) and IAM roles in moto; the blue cluster's token issuer."""
    issuers = {}
    for account, region, name in ((ACCOUNT_A, REGION, CLUSTER), (ACCOUNT_A, REGION, FULL_CLUSTER), (ACCOUNT_A, OTHER_REGION, CLUSTER),
                                  (ACCOUNT_B, REGION, CLUSTER)):
        cluster = _moto_client(moto_url, "eks", account, region).create_cluster(
            name=name, roleArn=f"arn:aws:iam::{account}:role/eks-cluster", resourcesVpcConfig={"subnetIds": ["subnet-00000000000000001"]})
        issuers[(account, region, name)] = cluster["cluster"]["identity"]["oidc"]["issuer"]
    iam = _moto_client(moto_url, "iam", ACCOUNT_A)
    for name, path, trust in (("pod-role", "/", POD_TRUST), ("pod-role-2", "/", POD_TRUST), ("pathed-role", "/team/", POD_TRUST),
                              ("irsa-role", "/", IRSA_TRUST)):
        iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust))
    _moto_client(moto_url, "iam", ACCOUNT_B).create_role(RoleName="pod-role", AssumeRolePolicyDocument=json.dumps(POD_TRUST))
    token_issuer = TokenIssuer(issuers[(ACCOUNT_A, REGION, CLUSTER)])
    return {"issuers": issuers, "token_issuer": token_issuer,
            "keys": {token_issuer.issuer: jwk.KeySet.import_key_set(token_issuer.keys())}}


@pytest.fixture(scope="module")
def fake_sts():
    return FakeSts()


@pytest.fixture(scope="module")
def stack(moto_url, world, fake_sts):
    issuers = {**world["issuers"], (ACCOUNT_A, REGION, FULL_CLUSTER): FULL_ISSUER}  # moto gives both the same issuer
    api = PodIdentityApi(moto_url, sts=CheckingSts(IamState(moto_url)), issuer_of=lambda *cluster: issuers.get(cluster),
                         keys_for=lambda issuer: world["keys"][issuer], assume_role=fake_sts)
    server = StackServer(api, moto_url)
    yield server
    server.stop()


@pytest.fixture()
def sts_calls(fake_sts):
    """The calls the fake STS gets during one test."""
    with fake_sts._lock:
        fake_sts.calls.clear()
    fake_sts.refuse = False
    yield fake_sts.calls
    fake_sts.refuse = False


def _error(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response


def _associate(eks, service_account, namespace="runners", cluster=CLUSTER, role_arn=POD_ROLE, **extra):
    return eks.create_pod_identity_association(clusterName=cluster, namespace=namespace, serviceAccount=service_account,
                                               roleArn=role_arn, **extra)["association"]


# -- associations ------------------------------------------------------------------------------------


def test_create_and_describe_give_the_models_members(stack, world):
    eks = stack.client("eks")
    before = datetime.datetime.now(datetime.timezone.utc)
    association = _associate(eks, "agent", tags={"team": "platform"})
    assert set(association) == ASSOCIATION_MEMBERS
    assert _ID_RE.match(association["associationId"])
    assert association["associationArn"] == (f"arn:aws:eks:{REGION}:{ACCOUNT_A}:podidentityassociation/{CLUSTER}/"
                                             f"{association['associationId']}")
    assert (association["clusterName"], association["namespace"], association["serviceAccount"]) == (CLUSTER, "runners", "agent")
    assert association["roleArn"] == POD_ROLE and association["tags"] == {"team": "platform"}
    assert association["disableSessionTags"] is False
    assert association["createdAt"] == association["modifiedAt"]
    assert before - datetime.timedelta(seconds=1) <= association["createdAt"] <= datetime.datetime.now(datetime.timezone.utc)
    described = eks.describe_pod_identity_association(clusterName=CLUSTER, associationId=association["associationId"])["association"]
    assert described == association


def test_a_role_with_a_path_and_a_target_role_with_its_external_id(stack):
    eks = stack.client("eks")
    association = _associate(eks, "pathed", role_arn=PATHED_ROLE, targetRoleArn=TARGET_ROLE)
    assert set(association) == ASSOCIATION_MEMBERS | {"targetRoleArn", "externalId"}
    assert association["roleArn"] == PATHED_ROLE and association["targetRoleArn"] == TARGET_ROLE
    assert str(uuid.UUID(association["externalId"])) == association["externalId"]
    described = eks.describe_pod_identity_association(clusterName=CLUSTER, associationId=association["associationId"])["association"]
    assert described["externalId"] == association["externalId"]


def test_list_filters_and_pages(stack):
    eks = stack.client("eks")
    made = [_associate(eks, f"sa-{index}", namespace=namespace)["associationId"]
            for index, namespace in enumerate(["list-a", "list-a", "list-a", "list-b", "list-b"])]
    pages, token = [], None
    while True:
        page = eks.list_pod_identity_associations(clusterName=CLUSTER, maxResults=2, **({"nextToken": token} if token else {}))
        pages.append(page["associations"])
        token = page.get("nextToken")
        if not token:
            break
    listed = [summary["associationId"] for page in pages for summary in page]
    assert all(len(page) <= 2 for page in pages) and len(pages) >= 3
    assert [association_id for association_id in listed if association_id in made] == made
    assert all(set(summary) == SUMMARY_MEMBERS for page in pages for summary in page)
    paginator = eks.get_paginator("list_pod_identity_associations")
    by_paginator = [summary["associationId"] for page in paginator.paginate(clusterName=CLUSTER, namespace="list-a",
                                                                            PaginationConfig={"PageSize": 2}) for summary in page["associations"]]
    assert by_paginator == made[:3]
    only = eks.list_pod_identity_associations(clusterName=CLUSTER, namespace="list-b", serviceAccount="sa-4")
    assert [summary["associationId"] for summary in only["associations"]] == [made[4]] and "nextToken" not in only
    first = eks.describe_pod_identity_association(clusterName=CLUSTER, associationId=made[4])["association"]
    assert only["associations"][0] == {key: first[key] for key in SUMMARY_MEMBERS}
    assert eks.list_pod_identity_associations(clusterName=CLUSTER, serviceAccount="sa-1")["associations"][0]["associationId"] == made[1]
    assert eks.list_pod_identity_associations(clusterName=CLUSTER, namespace="list-c")["associations"] == []


def test_update_changes_the_role_target_tags_and_policy(stack):
    eks = stack.client("eks")
    created = _associate(eks, "updated")
    association_id = created["associationId"]

    def update(**changes):
        return eks.update_pod_identity_association(clusterName=CLUSTER, associationId=association_id, **changes)["association"]

    changed = update(roleArn=POD_ROLE_2)
    assert changed["roleArn"] == POD_ROLE_2 and changed["createdAt"] == created["createdAt"] and changed["modifiedAt"] > created["modifiedAt"]
    assert set(changed) == ASSOCIATION_MEMBERS
    targeted = update(targetRoleArn=TARGET_ROLE)
    external_id = targeted["externalId"]
    assert targeted["targetRoleArn"] == TARGET_ROLE and uuid.UUID(external_id) and targeted["modifiedAt"] > changed["modifiedAt"]
    retargeted = update(targetRoleArn=TARGET_ROLE_2)
    assert (retargeted["targetRoleArn"], retargeted["externalId"]) == (TARGET_ROLE_2, external_id)
    untargeted = update(targetRoleArn="")
    assert "targetRoleArn" not in untargeted and "externalId" not in untargeted
    assert update(targetRoleArn=TARGET_ROLE)["externalId"] == external_id
    restricted = update(disableSessionTags=True, policy=SESSION_POLICY)
    assert restricted["disableSessionTags"] is True and restricted["policy"] == SESSION_POLICY
    assert "policy" not in update(policy="")
    described = eks.describe_pod_identity_association(clusterName=CLUSTER, associationId=association_id)["association"]
    assert described["roleArn"] == POD_ROLE_2 and described["disableSessionTags"] is True and "policy" not in described


def test_delete_returns_the_association_and_forgets_it(stack):
    eks = stack.client("eks")
    created = _associate(eks, "deleted", targetRoleArn=TARGET_ROLE)
    deleted = eks.delete_pod_identity_association(clusterName=CLUSTER, associationId=created["associationId"])["association"]
    assert deleted == created
    for call in (eks.describe_pod_identity_association, eks.delete_pod_identity_association):
        error = _error(lambda: call(clusterName=CLUSTER, associationId=created["associationId"]))
        assert error["Error"]["Code"] == "ResourceNotFoundException" and error["ResponseMetadata"]["HTTPStatusCode"] == 404
    again = _associate(eks, "deleted")
    assert again["associationId"] != created["associationId"]


def test_a_second_association_for_a_service_account_is_in_use(stack):
    eks = stack.client("eks")
    first = _associate(eks, "twice")
    error = _error(lambda: _associate(eks, "twice", role_arn=POD_ROLE_2))
    assert error["Error"]["Code"] == "ResourceInUseException" and error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert error["Error"]["Message"] == f"Association already exists: {first['associationId']}"


def test_client_request_token_makes_create_idempotent(stack):
    eks = stack.client("eks")
    first = _associate(eks, "idempotent", clientRequestToken="token-1", tags={"a": "b"})
    again = _associate(eks, "idempotent", clientRequestToken="token-1", tags={"a": "b"})
    assert again == first
    listed = eks.list_pod_identity_associations(clusterName=CLUSTER, namespace="runners", serviceAccount="idempotent")["associations"]
    assert [summary["associationId"] for summary in listed] == [first["associationId"]]
    error = _error(lambda: _associate(eks, "idempotent", clientRequestToken="token-1", role_arn=POD_ROLE_2))
    assert error["Error"]["Code"] == "InvalidRequestException"
    updated = eks.update_pod_identity_association(clusterName=CLUSTER, associationId=first["associationId"], roleArn=POD_ROLE_2,
                                                  clientRequestToken="token-2")["association"]
    replayed = eks.update_pod_identity_association(clusterName=CLUSTER, associationId=first["associationId"], roleArn=POD_ROLE_2,
                                                   clientRequestToken="token-2")["association"]
    assert replayed == updated


ASSOCIATION_ERRORS = [
    pytest.param("create_pod_identity_association", {"clusterName": "nope", "namespace": "ns", "serviceAccount": "sa", "roleArn": POD_ROLE},
                 "ResourceNotFoundException", "No cluster found for name: nope.", id="create-unknown-cluster"),
    pytest.param("describe_pod_identity_association", {"clusterName": "nope", "associationId": EXISTING},
                 "ResourceNotFoundException", "No cluster found for name: nope.", id="describe-unknown-cluster"),
    pytest.param("list_pod_identity_associations", {"clusterName": "nope"}, "ResourceNotFoundException", "nope", id="list-unknown-cluster"),
    pytest.param("describe_pod_identity_association", {"clusterName": CLUSTER, "associationId": "a-0000000000000000z"},
                 "ResourceNotFoundException", "a-0000000000000000z", id="describe-unknown-id"),
    pytest.param("update_pod_identity_association", {"clusterName": CLUSTER, "associationId": "a-0000000000000000z", "roleArn": POD_ROLE},
                 "ResourceNotFoundException", "a-0000000000000000z", id="update-unknown-id"),
    pytest.param("delete_pod_identity_association", {"clusterName": CLUSTER, "associationId": "a-0000000000000000z"},
                 "ResourceNotFoundException", "a-0000000000000000z", id="delete-unknown-id"),
    pytest.param("describe_pod_identity_association", {"clusterName": CLUSTER, "associationId": "a-short"},
                 "InvalidParameterException", "should be 19 characters long", id="malformed-id"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "serviceAccount": "sa", "roleArn": POD_ROLE},
                 "InvalidParameterException", "namespace is required", id="missing-namespace"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa"},
                 "InvalidParameterException", "roleArn is required", id="missing-role"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "Bad_NS", "serviceAccount": "sa", "roleArn": POD_ROLE},
                 "InvalidParameterException", "Bad_NS", id="invalid-namespace"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "-sa", "roleArn": POD_ROLE},
                 "InvalidParameterException", "-sa", id="invalid-service-account"),
    pytest.param("create_pod_identity_association",
                 {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": f"arn:aws:iam::{ACCOUNT_A}:user/bob"},
                 "InvalidParameterException", "not a valid IAM role ARN", id="user-arn"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": "pod-role"},
                 "InvalidParameterException", "not a valid IAM role ARN", id="role-name-not-arn"),
    pytest.param("create_pod_identity_association",
                 {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": f"arn:aws-cn:iam::{ACCOUNT_A}:role/pod-role"},
                 "InvalidParameterException", "partition", id="role-in-other-partition"),
    pytest.param("create_pod_identity_association",
                 {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": f"arn:aws:iam::{ACCOUNT_B}:role/pod-role"},
                 "InvalidParameterException", "Cross-account pass role is not allowed", id="role-in-other-account"),
    pytest.param("create_pod_identity_association",
                 {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": f"arn:aws:iam::{ACCOUNT_A}:role/missing"},
                 "InvalidParameterException", "Role provided in the request does not exist", id="role-does-not-exist"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": IRSA_ROLE},
                 "InvalidParameterException", "Trust policy of the role provided is invalid", id="role-trusts-only-oidc"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": POD_ROLE,
                                                     "targetRoleArn": f"arn:aws:iam::{ACCOUNT_B}:policy/target"},
                 "InvalidParameterException", "targetRoleArn", id="target-not-a-role"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": POD_ROLE,
                                                     "disableSessionTags": True, "policy": json.dumps({"Statement": [], "Pad": "x" * 2048})},
                 "InvalidParameterException", "at most 2048", id="policy-too-long"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": POD_ROLE,
                                                     "disableSessionTags": True, "policy": "{not json"},
                 "InvalidParameterException", "not a valid JSON policy", id="policy-not-json"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": POD_ROLE,
                                                     "policy": SESSION_POLICY},
                 "InvalidParameterException", "disableSessionTags set to true", id="policy-with-session-tags"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": POD_ROLE,
                                                     "disableSessionTags": "yes"},
                 "InvalidParameterException", "disableSessionTags", id="session-tags-not-boolean"),
    pytest.param("create_pod_identity_association", {"clusterName": CLUSTER, "namespace": "ns", "serviceAccount": "sa", "roleArn": POD_ROLE,
                                                     "tags": {"aws:team": "x"}},
                 "InvalidParameterException", "reserved", id="reserved-tag"),
    pytest.param("update_pod_identity_association", {"clusterName": CLUSTER, "associationId": EXISTING},
                 "InvalidParameterException", "at least one of", id="update-without-change"),
    pytest.param("update_pod_identity_association", {"clusterName": CLUSTER, "associationId": EXISTING, "roleArn": f"arn:aws:iam::{ACCOUNT_B}:role/x"},
                 "InvalidParameterException", "Cross-account pass role", id="update-to-other-account"),
    pytest.param("update_pod_identity_association", {"clusterName": CLUSTER, "associationId": EXISTING, "policy": SESSION_POLICY},
                 "InvalidParameterException", "disableSessionTags set to true", id="update-policy-with-session-tags"),
    pytest.param("list_pod_identity_associations", {"clusterName": CLUSTER, "maxResults": 101}, "InvalidParameterException", "maxResults",
                 id="max-results-too-high"),
    pytest.param("list_pod_identity_associations", {"clusterName": CLUSTER, "maxResults": 0}, "InvalidParameterException", "maxResults",
                 id="max-results-zero"),
    pytest.param("list_pod_identity_associations", {"clusterName": CLUSTER, "nextToken": "not a token"}, "InvalidParameterException",
                 "nextToken", id="bad-next-token"),
]


@pytest.fixture(scope="module")
def existing(stack):
    return _associate(stack.client("eks"), "existing")["associationId"]


@pytest.mark.parametrize("operation, arguments, code, message", ASSOCIATION_ERRORS)
def test_association_errors(stack, existing, operation, arguments, code, message):
    eks = stack.client("eks", validate=False)
    arguments = {key: existing if value == EXISTING else value for key, value in arguments.items()}
    error = _error(lambda: getattr(eks, operation)(**arguments))
    assert error["Error"]["Code"] == code
    assert message in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == (404 if code == "ResourceNotFoundException" else 400)


def test_accounts_and_regions_are_isolated(stack):
    association = _associate(stack.client("eks"), "isolated")
    stack.client("eks").create_addon(clusterName=CLUSTER, addonName="isolated-addon")
    for key, region in (("key-b", REGION), ("key-a", OTHER_REGION)):
        eks = stack.client("eks", key=key, region=region)
        assert eks.list_pod_identity_associations(clusterName=CLUSTER, serviceAccount="isolated")["associations"] == []
        error = _error(lambda: eks.describe_pod_identity_association(clusterName=CLUSTER, associationId=association["associationId"]))
        assert error["Error"]["Code"] == "ResourceNotFoundException"
        assert "isolated-addon" not in eks.list_addons(clusterName=CLUSTER)["addons"]
        made = _associate(eks, "isolated", role_arn=f"arn:aws:iam::{ACCESS_KEYS[key]}:role/pod-role")
        assert made["associationId"] != association["associationId"]
        assert made["associationArn"].startswith(f"arn:aws:eks:{region}:{ACCESS_KEYS[key]}:podidentityassociation/{CLUSTER}/")
    error = _error(lambda: stack.client("eks", key="key-c").list_pod_identity_associations(clusterName=CLUSTER))
    assert error["Error"]["Code"] == "ResourceNotFoundException"


def test_a_cluster_holds_at_most_1000_associations(moto_url, world):
    api = PodIdentityApi(moto_url)  # no IAM checks without sts
    server = StackServer(api, moto_url)
    try:
        headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential=key-a/20260101/{REGION}/eks/aws4_request, SignedHeaders=host, Signature=0",
                   "Content-Type": "application/json"}
        for index in range(ASSOCIATIONS_PER_CLUSTER):
            body = json.dumps({"namespace": "bulk", "serviceAccount": f"sa-{index}", "roleArn": POD_ROLE}).encode()
            status, _headers, payload = api.handle("POST", f"/clusters/{FULL_CLUSTER}/pod-identity-associations", headers, body, ACCOUNT_A)
            assert status == 200, payload
        eks = server.client("eks")
        error = _error(lambda: _associate(eks, "one-too-many", cluster=FULL_CLUSTER))
        assert error["Error"]["Code"] == "ResourceLimitExceededException" and error["ResponseMetadata"]["HTTPStatusCode"] == 400
        pages = eks.get_paginator("list_pod_identity_associations").paginate(clusterName=FULL_CLUSTER)
        listed = [summary for page in pages for summary in page["associations"]]
        assert len(listed) == ASSOCIATIONS_PER_CLUSTER and len({summary["associationId"] for summary in listed}) == ASSOCIATIONS_PER_CLUSTER
        eks.delete_pod_identity_association(clusterName=FULL_CLUSTER, associationId=listed[0]["associationId"])
        assert _associate(eks, "one-too-many", cluster=FULL_CLUSTER, role_arn=f"arn:aws:iam::{ACCOUNT_A}:role/not-checked")
    finally:
        server.stop()


# -- add-ons -----------------------------------------------------------------------------------------


def test_addon_lifecycle(stack):
    eks = stack.client("eks")
    addon = eks.create_addon(clusterName=CLUSTER, addonName="eks-pod-identity-agent", addonVersion="v1.3.4-eksbuild.1",
                             tags={"team": "platform"}, configurationValues='{"agent": {"additionalArgs": {}}}')["addon"]
    assert set(addon) == {"addonName", "clusterName", "status", "addonVersion", "health", "addonArn", "createdAt", "modifiedAt", "tags",
                          "configurationValues"}
    assert (addon["addonName"], addon["clusterName"], addon["status"], addon["addonVersion"]) == (
        "eks-pod-identity-agent", CLUSTER, "ACTIVE", "v1.3.4-eksbuild.1")
    assert addon["health"] == {"issues": []} and addon["tags"] == {"team": "platform"}
    assert re.match(rf"^arn:aws:eks:{REGION}:{ACCOUNT_A}:addon/{CLUSTER}/eks-pod-identity-agent/[0-9a-f-]{{36}}$", addon["addonArn"])
    assert eks.describe_addon(clusterName=CLUSTER, addonName="eks-pod-identity-agent")["addon"] == addon
    bare = eks.create_addon(clusterName=CLUSTER, addonName="coredns", serviceAccountRoleArn=POD_ROLE,
                            namespaceConfig={"namespace": "dns"})["addon"]
    assert "addonVersion" not in bare and bare["serviceAccountRoleArn"] == POD_ROLE and bare["namespaceConfig"] == {"namespace": "dns"}
    error = _error(lambda: eks.create_addon(clusterName=CLUSTER, addonName="coredns"))
    assert error["Error"]["Code"] == "ResourceInUseException" and error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert eks.create_addon(clusterName=CLUSTER, addonName="kube-proxy", clientRequestToken="addon-token")["addon"] == eks.create_addon(
        clusterName=CLUSTER, addonName="kube-proxy", clientRequestToken="addon-token")["addon"]
    names = [name for page in eks.get_paginator("list_addons").paginate(clusterName=CLUSTER, PaginationConfig={"PageSize": 1})
             for name in page["addons"]]
    made = ["eks-pod-identity-agent", "coredns", "kube-proxy"]
    assert [name for name in names if name in made] == made
    first = eks.list_addons(clusterName=CLUSTER, maxResults=1)
    assert len(first["addons"]) == 1 and first["nextToken"]
    deleted = eks.delete_addon(clusterName=CLUSTER, addonName="coredns", preserve=True)["addon"]
    assert deleted["status"] == "DELETING" and deleted["addonArn"] == bare["addonArn"]
    error = _error(lambda: eks.describe_addon(clusterName=CLUSTER, addonName="coredns"))
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["Error"]["Message"] == f"No addon: coredns found in cluster: {CLUSTER}"
    assert "coredns" not in eks.list_addons(clusterName=CLUSTER)["addons"]


ADDON_ERRORS = [
    pytest.param("describe_addon", {"clusterName": CLUSTER, "addonName": "missing"}, "ResourceNotFoundException", "No addon: missing",
                 id="describe-unknown"),
    pytest.param("delete_addon", {"clusterName": CLUSTER, "addonName": "missing"}, "ResourceNotFoundException", "No addon: missing",
                 id="delete-unknown"),
    pytest.param("create_addon", {"clusterName": "nope", "addonName": "vpc-cni"}, "ResourceNotFoundException", "No cluster found for name: nope.",
                 id="create-unknown-cluster"),
    pytest.param("list_addons", {"clusterName": "nope"}, "ResourceNotFoundException", "No cluster found", id="list-unknown-cluster"),
    pytest.param("describe_addon", {"clusterName": "nope", "addonName": "vpc-cni"}, "ResourceNotFoundException", "No cluster found",
                 id="describe-unknown-cluster"),
    pytest.param("create_addon", {"clusterName": CLUSTER, "addonName": "-bad"}, "InvalidParameterException", "-bad", id="bad-name"),
    pytest.param("create_addon", {"clusterName": CLUSTER, "addonName": "vpc-cni", "resolveConflicts": "MAYBE"}, "InvalidParameterException",
                 "resolveConflicts", id="bad-resolve-conflicts"),
    pytest.param("create_addon", {"clusterName": CLUSTER, "addonName": "vpc-cni", "serviceAccountRoleArn": "vpc-cni-role"},
                 "InvalidParameterException", "serviceAccountRoleArn", id="bad-service-account-role"),
    pytest.param("create_addon", {"clusterName": CLUSTER, "addonName": "vpc-cni",
                                  "podIdentityAssociations": [{"serviceAccount": "aws-node", "roleArn": POD_ROLE}]},
                 "InvalidParameterException", "not emulated", id="pod-identity-associations"),
    pytest.param("list_addons", {"clusterName": CLUSTER, "maxResults": 0}, "InvalidParameterException", "maxResults", id="max-results-zero"),
]


@pytest.mark.parametrize("operation, arguments, code, message", ADDON_ERRORS)
def test_addon_errors(stack, operation, arguments, code, message):
    error = _error(lambda: getattr(stack.client("eks", validate=False), operation)(**arguments))
    assert error["Error"]["Code"] == code
    assert message in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == (404 if code == "ResourceNotFoundException" else 400)


# -- eks-auth ----------------------------------------------------------------------------------------


def _pod_token(world, service_account, namespace="runners", audiences=("pods.eks.amazonaws.com",), now=None, issuer=None, pod=True):
    issuer = issuer or world["token_issuer"]
    bound = {"name": f"{service_account}-7d9f8-x2x4k", "uid": f"uid-{service_account}"} if pod else None
    return issuer.token(namespace, service_account, f"sa-uid-{service_account}", audiences, 3600, now=now, pod=bound)[0]


def _assume(stack, token, cluster=CLUSTER, **client_options):
    return stack.client("eks-auth", **client_options).assume_role_for_pod_identity(clusterName=cluster, token=token)


def test_assume_role_for_pod_identity_sends_the_session_tags(stack, world, sts_calls):
    association = _associate(stack.client("eks"), "pod-agent")
    answer = _assume(stack, _pod_token(world, "pod-agent"))
    assert len(sts_calls) == 1
    call = sts_calls[0]
    assert call["role_arn"] == POD_ROLE and call["external_id"] is None and call["source_credentials"] is None and call["policy"] is None
    assert call["source_arn"] == f"arn:aws:eks:{REGION}:{ACCOUNT_A}:cluster/{CLUSTER}"
    assert call["session_name"].startswith(f"eks-{CLUSTER}-pod-agent-7d9f8-x2x4k-") and len(call["session_name"]) <= 64
    assert call["tags"] == [{"Key": "eks-cluster-arn", "Value": f"arn:aws:eks:{REGION}:{ACCOUNT_A}:cluster/{CLUSTER}"},
                            {"Key": "eks-cluster-name", "Value": CLUSTER}, {"Key": "kubernetes-namespace", "Value": "runners"},
                            {"Key": "kubernetes-service-account", "Value": "pod-agent"},
                            {"Key": "kubernetes-pod-name", "Value": "pod-agent-7d9f8-x2x4k"}, {"Key": "kubernetes-pod-uid", "Value": "uid-pod-agent"}]
    assert answer["subject"] == {"namespace": "runners", "serviceAccount": "pod-agent"}
    assert answer["audience"] == "pods.eks.amazonaws.com"
    assert answer["podIdentityAssociation"] == {"associationArn": association["associationArn"], "associationId": association["associationId"]}
    assert answer["assumedRoleUser"] == {"arn": f"arn:aws:sts::{ACCOUNT_A}:assumed-role/pod-role/{call['session_name']}",
                                         "assumeRoleId": f"AROA{1:017d}:{call['session_name']}"}
    assert answer["credentials"] == {"accessKeyId": f"ASIA{1:016d}", "secretAccessKey": "secret-1", "sessionToken": "session-1",
                                     "expiration": datetime.datetime(2030, 1, 1, 1, tzinfo=datetime.timezone.utc)}


def test_a_token_without_a_pod_gets_the_four_other_tags(stack, world, sts_calls):
    _associate(stack.client("eks"), "podless")
    _assume(stack, _pod_token(world, "podless", pod=False))
    assert [tag["Key"] for tag in sts_calls[0]["tags"]] == ["eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace",
                                                            "kubernetes-service-account"]
    assert sts_calls[0]["session_name"].startswith(f"eks-{CLUSTER}-podless-")


def test_a_target_role_is_chained_with_the_external_id(stack, world, sts_calls):
    association = _associate(stack.client("eks"), "chained", targetRoleArn=TARGET_ROLE)
    answer = _assume(stack, _pod_token(world, "chained"))
    assert [call["role_arn"] for call in sts_calls] == [POD_ROLE, TARGET_ROLE]
    first, second = sts_calls
    assert first["external_id"] is None and first["source_credentials"] is None and len(first["tags"]) == 6
    assert second["external_id"] == association["externalId"] and second["tags"] == []
    assert second["source_credentials"]["AccessKeyId"] == f"ASIA{1:016d}" and second["session_name"] == first["session_name"]
    assert answer["credentials"]["accessKeyId"] == f"ASIA{2:016d}" and answer["credentials"]["sessionToken"] == "session-2"
    assert answer["assumedRoleUser"]["arn"] == f"arn:aws:sts::{ACCOUNT_B}:assumed-role/target/{second['session_name']}"


def test_disabled_session_tags_send_no_tags_and_the_policy(stack, world, sts_calls):
    _associate(stack.client("eks"), "untagged", disableSessionTags=True, policy=SESSION_POLICY)
    _assume(stack, _pod_token(world, "untagged"))
    assert sts_calls[0]["tags"] == [] and sts_calls[0]["policy"] == SESSION_POLICY
    _associate(stack.client("eks"), "untagged-chain", disableSessionTags=True, policy=SESSION_POLICY, targetRoleArn=TARGET_ROLE)
    _assume(stack, _pod_token(world, "untagged-chain"))
    assert [(call["tags"], call["policy"]) for call in sts_calls[1:]] == [([], None), ([], SESSION_POLICY)]


def test_a_refused_assume_role_is_access_denied(stack, world, fake_sts, sts_calls):
    _associate(stack.client("eks"), "refused")
    fake_sts.refuse = True
    error = _error(lambda: _assume(stack, _pod_token(world, "refused")))
    assert error["Error"]["Code"] == "AccessDeniedException" and error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "is not authorized to perform: sts:AssumeRole" in error["Error"]["Message"] and len(sts_calls) == 1


def _bad_token(world, kind):
    """``(cluster, token)`` of one refused case."""
    issuer = world["token_issuer"]
    if kind == "wrong-audience":
        return CLUSTER, _pod_token(world, "auth-target", audiences=["sts.amazonaws.com"])
    if kind == "other-issuer":
        return CLUSTER, _pod_token(world, "auth-target", issuer=TokenIssuer(issuer.issuer.rsplit("/", 1)[0] + "/OTHERCLUSTER"))
    if kind == "bad-signature":
        return CLUSTER, _pod_token(world, "auth-target", issuer=TokenIssuer(issuer.issuer))
    if kind == "expired":
        return CLUSTER, _pod_token(world, "auth-target", now=time.time() - 7200)
    if kind == "not-yet-valid":
        return CLUSTER, _pod_token(world, "auth-target", now=time.time() + 600)
    if kind == "sub-disagrees":
        claims = issuer.claims("runners", "auth-target", "uid", ["pods.eks.amazonaws.com"], 3600)
        return CLUSTER, sign(issuer.key, dict(claims, sub="system:serviceaccount:runners:someone-else"))
    if kind == "not-a-jwt":
        return CLUSTER, "abc.def.ghi"
    if kind == "no-association":
        return CLUSTER, _pod_token(world, "nobody")
    if kind == "unknown-cluster":
        return "nope", _pod_token(world, "auth-target")
    if kind == "other-clusters-token":  # a token of the blue cluster presented to the full one, which has another issuer
        return FULL_CLUSTER, _pod_token(world, "auth-target")
    raise AssertionError(kind)


AUTH_ERRORS = [
    pytest.param("wrong-audience", "InvalidTokenException", "audience", id="wrong-audience"),
    pytest.param("other-issuer", "InvalidTokenException", "issuer", id="other-issuer"),
    pytest.param("bad-signature", "InvalidTokenException", "signature", id="bad-signature"),
    pytest.param("expired", "ExpiredTokenException", "expired", id="expired"),
    pytest.param("not-yet-valid", "InvalidTokenException", "not valid yet", id="not-yet-valid"),
    pytest.param("sub-disagrees", "InvalidTokenException", "different service accounts", id="sub-disagrees"),
    pytest.param("not-a-jwt", "InvalidTokenException", "cannot be parsed", id="not-a-jwt"),
    pytest.param("no-association", "ResourceNotFoundException", "nobody", id="no-association"),
    pytest.param("unknown-cluster", "ResourceNotFoundException", "No cluster found for name: nope.", id="unknown-cluster"),
    pytest.param("other-clusters-token", "InvalidTokenException", "issuer", id="other-clusters-token"),
]


@pytest.fixture(scope="module")
def auth_target(stack):
    """The association the refused tokens would otherwise get credentials for."""
    return _associate(stack.client("eks"), "auth-target")


@pytest.mark.parametrize("kind, code, message", AUTH_ERRORS)
def test_assume_role_for_pod_identity_refusals(stack, world, auth_target, sts_calls, kind, code, message):
    cluster, token = _bad_token(world, kind)
    error = _error(lambda: _assume(stack, token, cluster=cluster))
    assert error["Error"]["Code"] == code
    assert message in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == (404 if code == "ResourceNotFoundException" else 400)
    assert sts_calls == []


def test_without_issuer_of_the_issuer_is_motos_and_without_keys_every_token_is_refused(moto_url, world, fake_sts, sts_calls):
    keys = world["keys"]
    servers = [StackServer(PodIdentityApi(moto_url, keys_for=lambda issuer: keys[issuer], assume_role=fake_sts), moto_url),
               StackServer(PodIdentityApi(moto_url, assume_role=fake_sts), moto_url)]
    try:
        for server in servers:
            _associate(server.client("eks"), "default-issuer", role_arn=f"arn:aws:iam::{ACCOUNT_A}:role/unchecked")
        answer = _assume(servers[0], _pod_token(world, "default-issuer"))
        assert answer["subject"] == {"namespace": "runners", "serviceAccount": "default-issuer"} and len(sts_calls) == 1
        error = _error(lambda: _assume(servers[1], _pod_token(world, "default-issuer")))
        assert error["Error"]["Code"] == "InvalidTokenException" and "keys" in error["Error"]["Message"] and len(sts_calls) == 1
    finally:
        for server in servers:
            server.stop()


def test_an_association_is_tagged_and_untagged_by_its_arn(stack):
    eks = stack.client("eks")
    association = _associate(eks, "tagged-runner", tags={"team": "platform"})
    arn = association["associationArn"]
    eks.tag_resource(resourceArn=arn, tags={"cost-centre": "42", "team": "infra"})
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "infra", "cost-centre": "42"}
    eks.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"cost-centre": "42"}
    described = eks.describe_pod_identity_association(clusterName=CLUSTER, associationId=association["associationId"])
    assert described["association"]["tags"] == {"cost-centre": "42"}
    assert _error(lambda: eks.tag_resource(resourceArn=arn, tags={"aws:reserved": "x"}))["Error"]["Code"] == "BadRequestException"
    missing = arn[:-3] + "zzz"
    assert _error(lambda: eks.list_tags_for_resource(resourceArn=missing))["Error"]["Code"] == "NotFoundException"
