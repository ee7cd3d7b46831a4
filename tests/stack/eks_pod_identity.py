# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""EKS Pod Identity for the local stack: associations, add-ons and ``eks-auth``, none of which moto 5.2.5 implements.

:class:`PodIdentityApi` is an in-memory, thread-safe emulation the recording proxy (:mod:`tests.stack.aws_proxy`) asks
about every request before it forwards the request to moto: :meth:`PodIdentityApi.handle` answers the calls below and
returns None for everything else. State is kept per (account, region, cluster); the region and the service are read
from the request's SigV4 credential scope (``Credential=AKID/date/<region>/<service>/aws4_request``; requests
without one are taken as ``us-east-1``), the account is the one the proxy says the caller acts in.

Written from botocore's service models (``eks`` 2017-11-01, ``eks-auth`` 2023-11-26) and AWS's documentation; paths,
members and error shapes are the models' (REST-JSON, camelCase, ``x-amzn-ErrorType`` + ``{"message": ...}``).

Served (``eks``):

- ``CreatePodIdentityAssociation``, ``DescribePodIdentityAssociation``, ``UpdatePodIdentityAssociation``,
  ``DeletePodIdentityAssociation``, ``ListPodIdentityAssociations`` (``namespace`` / ``serviceAccount`` filters,
  ``maxResults`` 1-100, default 100, ``nextToken``);
- ``CreateAddon``, ``DescribeAddon``, ``ListAddons``, ``DeleteAddon``.

Served (``eks-auth``): ``AssumeRoleForPodIdentity``, what the EKS Pod Identity Agent calls with a pod's token.

A cluster exists when moto knows it: ``DescribeCluster`` is read from moto (boto3, ``x-moto-account-id`` set to the
account, the request's region) and a positive answer is cached with the cluster's ARN and OIDC issuer, so a cluster
deleted from moto later keeps its associations here. An unknown cluster is ``ResourceNotFoundException`` (404)
"No cluster found for name: <name>.", as EKS words it.

Associations, as AWS documents them:

- ``namespace`` (a DNS-1123 label), ``serviceAccount`` (a DNS-1123 subdomain) and ``roleArn`` are required; one
  association per (cluster, namespace, ServiceAccount): a second is ``ResourceInUseException`` (409) "Association
  already exists: <id>" (the message eksctl users report);
- ``roleArn`` must be an IAM role ARN of the cluster's partition and account (the PassRole rule; else
  ``InvalidParameterException``). With ``sts`` given (the proxy's :class:`tests.stack.sts.CheckingSts`; only its public
  ``iam`` reader is used) the role must also exist ("Role provided in the request does not exist") and its trust must
  have an ``Allow`` statement for the service principal ``pods.eks.amazonaws.com`` with ``sts:AssumeRole`` (else "Trust
  policy of the role provided is invalid"): both messages are EKS's own, as field reports quote them. Conditions in
  that statement are not judged here; the ``assume_role`` callable judges them when a pod asks for credentials;
- ``targetRoleArn`` is a role ARN in any account of the cluster's partition. With one, the association gets an
  ``externalId`` (a random UUID);
- ``policy`` is a session policy: a JSON object of at most 2,048 characters (STS's limit for session policies), and
  AWS documents that ``disableSessionTags`` must then be true: both are ``InvalidParameterException`` otherwise;
- ``tags``: at most 50, keys 1-128 characters, values at most 256, no ``aws:`` prefix;
- 1,000 associations per cluster (fixed): the next create is ``ResourceLimitExceededException``, which the model lists;
- ``associationId`` is ``a-`` + 17 lowercase letters and digits; an ID of another length is
  ``InvalidParameterException`` "The parameter associationId should be 19 characters long." (EKS's message), an unknown
  one ``ResourceNotFoundException``;
- ``clientRequestToken`` (botocore fills in a UUID when the caller gives none): the same token with the same parameters
  answers with the association that request made and changes nothing; the same token with other parameters is
  ``InvalidRequestException``; a token whose association was deleted since is forgotten and the request runs anew;
- update needs at least one of ``roleArn``, ``targetRoleArn``, ``disableSessionTags``, ``policy`` (else
  ``InvalidParameterException``) and sets ``modifiedAt``; ``targetRoleArn: ""`` removes the target role and ``policy:
  ""`` the session policy, as AWS does for the target role;
- list summaries carry exactly the members of the model's ``PodIdentityAssociationSummary``, in creation order; a
  ``nextToken`` (opaque) continues after the last item returned, so deleting items between pages skips none, and a
  token that is not one of ours is ``InvalidParameterException`` (``ListAddons`` pages the same way).

``externalId`` decision: the model calls it "the unique identifier for this EKS Pod Identity association for a target
IAM role", which "ensures that the target role can only be assumed by this association" (confused deputy). It
identifies the association, not the target role, so it is minted once, when the association first has a target role,
and kept for the association's life: changing the target role keeps it (the new target's trust names the same ID);
removing the target role hides it (the member is shown only with a target role); setting a target again shows the
same ID again. A deleted and re-created association gets a new one.

Add-ons: status ``ACTIVE`` at once, ``health`` ``{"issues": []}``, ``addonArn``
``arn:<partition>:eks:<region>:<account>:addon/<cluster>/<name>/<uuid>``; an existing name is ``ResourceInUseException``
"Addon already exists.", an unknown one ``ResourceNotFoundException`` "No addon: <name> found in cluster: <cluster>";
``DeleteAddon`` answers the add-on with status ``DELETING`` and it is gone at once. ``addonVersion``,
``serviceAccountRoleArn``, ``configurationValues``, ``namespaceConfig`` and ``tags`` are stored and returned as given
(no version is made up when none is given).

``AssumeRoleForPodIdentity``, in this order:

1. the cluster exists (else ``ResourceNotFoundException``);
2. the token is a JWT whose ``iss`` is the cluster's issuer: ``issuer_of(account, region, cluster)`` when given and not
   None, else the ``identity.oidc.issuer`` moto's ``DescribeCluster`` gave (else ``InvalidTokenException``);
3. its RS256 signature verifies against ``keys_for(issuer)`` (a joserfc ``KeySet``; without ``keys_for``, or when it
   raises, ``InvalidTokenException``);
4. ``exp`` has not passed (else ``ExpiredTokenException``), ``nbf`` is not in the future and ``aud`` includes
   ``pods.eks.amazonaws.com`` (else ``InvalidTokenException``);
5. the ServiceAccount (from the ``kubernetes.io`` claims, else from ``sub``; both must agree) has an association (else
   ``ResourceNotFoundException``, the model's error for a resource that does not exist);
6. the association's ``roleArn`` is assumed as the service principal through the constructor's ``assume_role``
   callable with the six session tags EKS documents (``eks-cluster-arn``, ``eks-cluster-name``,
   ``kubernetes-namespace``, ``kubernetes-service-account``, ``kubernetes-pod-name``, ``kubernetes-pod-uid``; the pod
   ones only when the token is bound to a pod) unless ``disableSessionTags``; with a ``targetRoleArn``, the target is then
   assumed with the association's ``externalId`` and the first session's credentials, and no tags of its own (AWS
   documents EKS's tags as transitive, so the callable carries them into the chained session). The session policy goes
   with the last call (AWS: with a target role it restricts only the target's permissions). The session name is
   ``eks-<cluster>-<pod name, else ServiceAccount>-<uuid>`` (the format the eks-auth API reference gives), cut to STS's
   64 characters. :class:`AssumeRefused` from the callable is ``AccessDeniedException``.

``assume_role(role_arn, session_name, tags, external_id=None, source_credentials=None, policy=None, source_arn=None)``
(``source_arn``: the cluster's ARN, which EKS sends as ``aws:SourceArn`` for the first call) returns STS's
``AssumeRole`` result as boto3 gives it: ``{"Credentials": {"AccessKeyId", "SecretAccessKey", "SessionToken",
"Expiration"}, "AssumedRoleUser": {"Arn", "AssumedRoleId"}}`` (``Expiration`` a datetime, an ISO 8601 string or epoch
seconds); ``tags`` is ``[{"Key": ..., "Value": ...}]``, all of them transitive; ``source_credentials`` is the first
result's ``Credentials``. Without the callable every ``AssumeRoleForPodIdentity`` is ``AccessDeniedException``.

Status codes are the models': the eks-auth model gives ``AccessDeniedException``, ``InvalidTokenException`` and
``ExpiredTokenException`` HTTP 400 and ``ResourceNotFoundException`` 404; eks gives 404, 409 (in use) and 400 for the
others. Messages other than the ones quoted above as EKS's are ours.

Not emulated: IAM ``PassRole`` (the caller's permission to pass the role), the eventual consistency of associations
(they take effect at once), add-on versions and their catalogue (``DescribeAddonVersions``), ``UpdateAddon``,
add-on-owned associations (``CreateAddon``'s ``podIdentityAssociations`` is refused as not emulated, so ``ownerArn``
never appears), the Pod Identity Agent add-on being required, Auto Mode, Fargate, the agent's credential cache, EKS
resource tagging APIs for add-ons (``TagResource``, ``UntagResource`` and ``ListTagsForResource`` are served for
associations), the workload identity
provider of ``AssumeRoleForPodIdentity``, throttling (the proxy's fault plans inject that).
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import json
import re
import secrets
import string
import threading
import time
import urllib.parse
import uuid

import boto3
import botocore.config
import botocore.exceptions
from joserfc import errors as jose_errors

from tests.stack.oidc import unverified_claims
from joserfc import jwt

SERVICE_PRINCIPAL = "pods.eks.amazonaws.com"
AUDIENCE = "pods.eks.amazonaws.com"  # the audience of the tokens the Pod Identity Agent presents
ASSOCIATIONS_PER_CLUSTER = 1000
SESSION_POLICY_MAX = 2048
SESSION_NAME_MAX = 64
PAGE_MAX = 100
DEFAULT_REGION = "us-east-1"
SESSION_TAG_KEYS = ("eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account",
                    "kubernetes-pod-name", "kubernetes-pod-uid")

_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/[^/]+/([^/]+)/([^/]+)/")
_ROLE_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_ASSOCIATION_ID_RE = re.compile(r"^a-[0-9a-z]{17}$")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_NAMESPACE_RE = re.compile(f"^{_DNS_LABEL}$")
_SERVICE_ACCOUNT_RE = re.compile(rf"^{_DNS_LABEL}(?:\.{_DNS_LABEL})*$")
_ADDON_NAME_RE = re.compile(r"^[0-9A-Za-z][A-Za-z0-9._-]{0,99}$")
_SESSION_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")
_ID_ALPHABET = string.ascii_lowercase + string.digits
_RESOLVE_CONFLICTS = ("OVERWRITE", "NONE", "PRESERVE")
_UPDATABLE = ("roleArn", "targetRoleArn", "disableSessionTags", "policy")
_SUMMARY_MEMBERS = ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId", "ownerArn")


class AssumeRefused(Exception):
    """What the ``assume_role`` callable raises when STS refuses: its error code and message."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class ApiError(Exception):
    """An error answer in the REST-JSON format: HTTP status, ``x-amzn-ErrorType`` code, message and model members."""

    def __init__(self, status, code, message, **members):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.members = {key: value for key, value in members.items() if value is not None}

    def response(self):
        request_id = str(uuid.uuid4())
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", self.code), ("x-amzn-RequestId", request_id)]
        return self.status, headers, json.dumps(dict(self.members, message=self.message)).encode()


def _invalid(message, **members):
    return ApiError(400, "InvalidParameterException", message, **members)


def _invalid_request(message, **members):
    return ApiError(400, "InvalidRequestException", message, **members)


def _invalid_token(message):
    return ApiError(400, "InvalidTokenException", message)


def _ok(document):
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    return 200, headers, json.dumps(document).encode()


def _scope(authorization):
    """``(region, service)`` of a SigV4 ``Authorization`` header, ``(None, None)`` without a credential scope."""
    match = _SCOPE_RE.search(authorization or "")
    return match.groups() if match else (None, None)


def _new_association_id():
    return "a-" + "".join(secrets.choice(_ID_ALPHABET) for _index in range(17))


def _encode_page_token(sequence):
    return base64.urlsafe_b64encode(json.dumps({"after": sequence}).encode()).decode().rstrip("=")


def _decode_page_token(token):
    """The sequence number a ``nextToken`` continues after (0 for the first page)."""
    if token is None:
        return 0
    try:
        after = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["after"]
    except (ValueError, TypeError, KeyError) as e:  # binascii.Error and json's errors are ValueErrors
        raise _invalid("The nextToken is not valid.") from e
    if isinstance(after, bool) or not isinstance(after, int):
        raise _invalid("The nextToken is not valid.")
    return after


def _max_results(query):
    raw = query.get("maxResults")
    if raw is None:
        return PAGE_MAX
    try:
        value = int(raw)
    except ValueError as e:
        raise _invalid(f"maxResults must be a whole number between 1 and {PAGE_MAX}.") from e
    if not 1 <= value <= PAGE_MAX:
        raise _invalid(f"maxResults must be between 1 and {PAGE_MAX}, got {value}.")
    return value


def _page(records, query, view):
    """One page of ``records`` (dicts with a ``_seq``, in creation order) and the token of the next one."""
    limit, after = _max_results(query), _decode_page_token(query.get("nextToken"))
    remaining = [record for record in records if record["_seq"] > after]
    page = remaining[:limit]
    token = _encode_page_token(page[-1]["_seq"]) if len(remaining) > limit else None
    return [view(record) for record in page], token


def _epoch(value):
    """Epoch seconds of an STS ``Expiration`` (datetime, ISO 8601 string or number)."""
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)).timestamp()
    raise TypeError(f"not a timestamp: {value!r}")


def _as_list(value):
    return [value] if isinstance(value, str) else list(value or [])


def _trusts_service(document):
    """Whether a trust policy has an ``Allow`` statement for :data:`SERVICE_PRINCIPAL` with ``sts:AssumeRole``."""
    if isinstance(document, str):
        try:
            document = json.loads(urllib.parse.unquote(document))
        except ValueError:
            return False
    statements = document.get("Statement") if isinstance(document, dict) else None
    for statement in ([statements] if isinstance(statements, dict) else statements or []):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        services = _as_list(principal.get("Service")) if isinstance(principal, dict) else ([principal] if principal == "*" else [])
        actions = [action.lower() for action in _as_list(statement.get("Action")) if isinstance(action, str)]
        if SERVICE_PRINCIPAL in services or "*" in services:
            if any(fnmatch.fnmatchcase("sts:assumerole", action) for action in actions):
                return True
    return False


class _Cluster:
    """One cluster's state: what moto says about it, its associations, add-ons and the request tokens it has seen."""

    def __init__(self, account, region, name, arn, issuer):
        self.account, self.region, self.name, self.arn, self.issuer = account, region, name, arn, issuer
        self.partition = arn.split(":")[1] if arn.count(":") >= 5 else "aws"
        self.associations = {}  # associationId -> record, in creation order
        self.addons = {}  # addonName -> record, in creation order
        self.tokens = {}  # clientRequestToken -> (operation, fingerprint, key of the record it made)

    def association_for(self, namespace, service_account):
        return next((record for record in self.associations.values()
                     if (record["namespace"], record["serviceAccount"]) == (namespace, service_account)), None)


class PodIdentityApi:
    """EKS Pod Identity associations, add-ons and ``eks-auth:AssumeRoleForPodIdentity`` (see the module docstring).

    ``moto_url``: where moto answers ``DescribeCluster``; ``sts``: the proxy's ``CheckingSts`` (its ``iam`` reader checks
    that a role exists and trusts the service principal; None: no IAM checks); ``issuer_of(account, region, cluster)``:
    the cluster's issuer (None, or a None answer: moto's ``identity.oidc.issuer``); ``keys_for(issuer)``: the issuer's
    joserfc ``KeySet`` (None: every token is refused); ``assume_role``: see the module docstring; ``clock``: the time.
    """

    def __init__(self, moto_url, sts=None, issuer_of=None, keys_for=None, assume_role=None, clock=time.time):
        self.moto_url = moto_url
        self.sts, self.issuer_of, self.keys_for, self.assume_role, self.clock = sts, issuer_of, keys_for, assume_role, clock
        self._lock = threading.Lock()  # the clusters' state
        self._clients_lock = threading.Lock()
        self._clusters = {}  # (account, region, name) -> _Cluster
        self._clients = {}  # (account, region) -> boto3 eks client on moto
        self._sequence = 0
        self._routes = (
            (re.compile(r"^/clusters/([^/]+)/pod-identity-associations/?$"), "eks",
             {"POST": self._create_association, "GET": self._list_associations}),
            (re.compile(r"^/clusters/([^/]+)/pod-identity-associations/([^/]+)$"), "eks",
             {"GET": self._describe_association, "POST": self._update_association, "DELETE": self._delete_association}),
            (re.compile(r"^/clusters/([^/]+)/addons/?$"), "eks", {"POST": self._create_addon, "GET": self._list_addons}),
            (re.compile(r"^/clusters/([^/]+)/addons/([^/]+)$"), "eks", {"GET": self._describe_addon, "DELETE": self._delete_addon}),
            (re.compile(r"^/clusters/([^/]+)/assume-role-for-pod-identity$"), "eks-auth", {"POST": self._assume_role_for_pod_identity}),
        )

    # -- entry point ---------------------------------------------------------------------------------

    def handle(self, method, path, headers, body, account):
        """(status, [(header, value)], body bytes) for a request this module serves, None for one moto should get."""
        lowered = {str(key).lower(): value for key, value in headers.items()}
        region, service = _scope(lowered.get("authorization"))
        split = urllib.parse.urlsplit(path)
        if split.path.startswith("/tags/") and service in (None, "eks"):
            return self._tags_request(method.upper(), split, body, account, region or DEFAULT_REGION)
        for pattern, route_service, methods in self._routes:
            match = pattern.match(split.path)
            if match is None or method.upper() not in methods or service not in (None, route_service):
                continue
            params = [urllib.parse.unquote(group) for group in match.groups()]
            query = {key: values[0] for key, values in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
            try:
                document = self._document(body)
                return methods[method.upper()](account, region or DEFAULT_REGION, *params, query=query, document=document)
            except ApiError as error:
                return error.response()
        return None

    @staticmethod
    def _document(body):
        if not body:
            return {}
        try:
            document = json.loads(body)
        except ValueError as e:
            raise _invalid_request("The request body is not valid JSON.") from e
        if not isinstance(document, dict):
            raise _invalid_request("The request body is not a JSON object.")
        return document

    # -- clusters ------------------------------------------------------------------------------------

    def _eks(self, account, region):
        with self._clients_lock:
            client = self._clients.get((account, region))
            if client is None:
                client = boto3.session.Session().client(
                    "eks", endpoint_url=self.moto_url, region_name=region, aws_access_key_id="testing",
                    aws_secret_access_key="testing", config=botocore.config.Config(retries={"total_max_attempts": 1}))
                client.meta.events.register("before-sign.eks.*", lambda request, **_kwargs: request.headers.__setitem__(
                    "x-moto-account-id", account))
                self._clients[(account, region)] = client
            return client

    def _cluster(self, account, region, name, auth=False):
        """The cluster's state; ``ResourceNotFoundException`` when moto does not know it (in eks-auth's format with ``auth``)."""
        key = (account, region, name)
        with self._lock:
            cluster = self._clusters.get(key)
        if cluster is not None:
            return cluster
        try:
            described = self._eks(account, region).describe_cluster(name=name)["cluster"]
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                message = f"No cluster found for name: {name}."
                raise ApiError(404, "ResourceNotFoundException", message, **({} if auth else {"clusterName": name})) from e
            raise self._server_error(auth, f"DescribeCluster failed: {e}") from e
        except (botocore.exceptions.BotoCoreError, ValueError) as e:
            raise self._server_error(auth, f"DescribeCluster failed: {e}") from e
        issuer = ((described.get("identity") or {}).get("oidc") or {}).get("issuer")
        with self._lock:
            return self._clusters.setdefault(key, _Cluster(account, region, name, described["arn"], issuer))

    @staticmethod
    def _server_error(auth, message):
        return ApiError(500, "InternalServerException" if auth else "ServerException", message)

    def _next_sequence(self):
        self._sequence += 1
        return self._sequence

    def _now(self):
        return float(self.clock())

    # -- validation ----------------------------------------------------------------------------------

    @staticmethod
    def _role_arn(cluster, value, member, same_account):
        if not isinstance(value, str) or not value:
            raise _invalid(f"{member} is required.", clusterName=cluster.name)
        match = _ROLE_ARN_RE.match(value)
        if match is None:
            raise _invalid(f"The {member} {value} is not a valid IAM role ARN.", clusterName=cluster.name)
        partition, account = match.groups()
        if partition != cluster.partition:
            raise _invalid(f"The {member} {value} is not in the cluster's partition {cluster.partition}.", clusterName=cluster.name)
        if same_account and account != cluster.account:
            raise _invalid(f"Cross-account pass role is not allowed: the {member} must be in the cluster's account {cluster.account}.",
                           clusterName=cluster.name)
        return value

    @staticmethod
    def _policy(cluster, value):
        if not isinstance(value, str):
            raise _invalid("policy must be a JSON policy document as a string.", clusterName=cluster.name)
        if len(value) > SESSION_POLICY_MAX:
            raise _invalid(f"policy is {len(value)} characters long; a session policy has at most {SESSION_POLICY_MAX}.",
                           clusterName=cluster.name)
        if value:
            try:
                document = json.loads(value)
            except ValueError as e:
                raise _invalid("policy is not a valid JSON policy document.", clusterName=cluster.name) from e
            if not isinstance(document, dict) or "Statement" not in document:
                raise _invalid("policy is not a valid JSON policy document.", clusterName=cluster.name)
        return value

    @staticmethod
    def _tags(cluster, value):
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise _invalid("tags must map strings to strings.", clusterName=cluster.name)
        if len(value) > 50:
            raise _invalid(f"A resource has at most 50 tags, got {len(value)}.", clusterName=cluster.name)
        for key, tag_value in value.items():
            if not 1 <= len(key) <= 128 or len(tag_value) > 256:
                raise _invalid(f"Tag {key!r}: keys have 1 to 128 characters, values at most 256.", clusterName=cluster.name)
            if key.lower().startswith("aws:"):
                raise _invalid(f"Tag {key!r}: the aws: prefix is reserved for AWS use.", clusterName=cluster.name)
        return dict(value)

    def _association_fields(self, cluster, document, create):
        """The validated members of a create or update request (an update's only those it gives)."""
        fields = {}
        if create:
            for member, pattern, what in (("namespace", _NAMESPACE_RE, "a DNS-1123 label"),
                                          ("serviceAccount", _SERVICE_ACCOUNT_RE, "a DNS-1123 subdomain")):
                value = document.get(member)
                if not isinstance(value, str) or not value:
                    raise _invalid(f"{member} is required.", clusterName=cluster.name)
                if len(value) > 253 or not pattern.match(value):
                    raise _invalid(f"The {member} {value!r} is not a valid Kubernetes name ({what}).", clusterName=cluster.name)
                fields[member] = value
            fields["roleArn"] = self._role_arn(cluster, document.get("roleArn"), "roleArn", same_account=True)
            fields["tags"] = self._tags(cluster, document.get("tags"))
        elif "roleArn" in document:
            fields["roleArn"] = self._role_arn(cluster, document["roleArn"], "roleArn", same_account=True)
        if document.get("targetRoleArn") is not None:
            target = document["targetRoleArn"]
            if target == "":
                fields["targetRoleArn"] = None
            else:
                fields["targetRoleArn"] = self._role_arn(cluster, target, "targetRoleArn", same_account=False)
        if document.get("disableSessionTags") is not None:
            if not isinstance(document["disableSessionTags"], bool):
                raise _invalid("disableSessionTags must be true or false.", clusterName=cluster.name)
            fields["disableSessionTags"] = document["disableSessionTags"]
        if document.get("policy") is not None:
            fields["policy"] = self._policy(cluster, document["policy"]) or None
        if create:
            fields = {"targetRoleArn": None, "disableSessionTags": False, "policy": None, **fields}
        return fields

    def _check_role(self, cluster, role_arn):
        """With ``sts``: the role exists and trusts the service principal, as EKS checks at create and update."""
        if self.sts is None:
            return
        try:
            role = self.sts.iam.role(role_arn)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise ApiError(500, "ServerException", f"Reading the role from IAM failed: {e}") from e
        if role is None:
            raise _invalid("Role provided in the request does not exist", clusterName=cluster.name)
        if not _trusts_service(role.get("AssumeRolePolicyDocument")):
            raise _invalid("Trust policy of the role provided is invalid", clusterName=cluster.name)

    @staticmethod
    def _check_session_policy(cluster, record):
        if record["policy"] and not record["disableSessionTags"]:
            raise _invalid("A policy can only be used with disableSessionTags set to true.", clusterName=cluster.name)

    @staticmethod
    def _replay(cluster, token, operation, fingerprint, records):
        """The record an earlier request with ``token`` made (None: a new request); raises on a reused token."""
        if not token or token not in cluster.tokens:
            return None
        earlier_operation, earlier_fingerprint, key = cluster.tokens[token]
        if key not in records:
            del cluster.tokens[token]
            return None
        if (earlier_operation, earlier_fingerprint) != (operation, fingerprint):
            raise _invalid_request(f"The clientRequestToken {token} was already used for a different request.", clusterName=cluster.name)
        return records[key]

    # -- tags of associations ------------------------------------------------------------------------

    def _tags_request(self, method, split, body, account, region):
        """``TagResource`` / ``UntagResource`` / ``ListTagsForResource`` of an association's ARN (None for any other ARN:
        moto answers those of clusters)."""
        arn = urllib.parse.unquote(split.path[len("/tags/"):])
        if ":podidentityassociation/" not in arn:
            return None
        try:
            with self._lock:
                found = [(cluster, record) for (cluster_account, cluster_region, _name), cluster in self._clusters.items()
                         if (cluster_account, cluster_region) == (account, region)
                         for record in cluster.associations.values() if record["associationArn"] == arn]
                if not found:
                    raise ApiError(404, "NotFoundException", f"Resource {arn} not found.")
                cluster, record = found[0]
                if method == "GET":
                    return _ok({"tags": dict(record["tags"])})
                if method == "POST":
                    tags = (self._document(body) or {}).get("tags")
                    if not tags:
                        raise ApiError(400, "BadRequestException", "tags is required.")
                    try:
                        record["tags"] = self._tags(cluster, dict(record["tags"], **tags))
                    except ApiError as invalid:  # TagResource's model answers bad tags so
                        raise ApiError(400, "BadRequestException", invalid.message) from invalid
                    return _ok({})
                if method == "DELETE":
                    for key in urllib.parse.parse_qs(split.query).get("tagKeys", []):
                        record["tags"].pop(key, None)
                    return _ok({})
                raise ApiError(400, "BadRequestException", f"{method} is not served for {arn}.")
        except ApiError as error:
            return error.response()

    # -- associations --------------------------------------------------------------------------------

    @staticmethod
    def _association_view(record):
        members = ("clusterName", "namespace", "serviceAccount", "roleArn", "associationArn", "associationId", "createdAt", "modifiedAt",
                   "disableSessionTags")
        view = {key: record[key] for key in members}
        view["tags"] = dict(record["tags"])
        if record["ownerArn"]:
            view["ownerArn"] = record["ownerArn"]
        if record["targetRoleArn"]:
            view["targetRoleArn"], view["externalId"] = record["targetRoleArn"], record["externalId"]
        if record["policy"]:
            view["policy"] = record["policy"]
        return view

    @staticmethod
    def _summary(record):
        return {key: record[key] for key in _SUMMARY_MEMBERS if record.get(key)}

    def _association(self, cluster, association_id):
        """The record of ``association_id``; call with the lock held."""
        if len(association_id) != 19:
            raise _invalid("The parameter associationId should be 19 characters long.", clusterName=cluster.name)
        record = cluster.associations.get(association_id) if _ASSOCIATION_ID_RE.match(association_id) else None
        if record is None:
            raise ApiError(404, "ResourceNotFoundException", f"No pod identity association found for id: {association_id}.",
                           clusterName=cluster.name)
        return record

    def _create_association(self, account, region, name, query, document):
        cluster = self._cluster(account, region, name)
        fields = self._association_fields(cluster, document, create=True)
        self._check_session_policy(cluster, fields)
        self._check_role(cluster, fields["roleArn"])
        token, fingerprint = document.get("clientRequestToken"), json.dumps(fields, sort_keys=True)
        with self._lock:
            replayed = self._replay(cluster, token, "create", fingerprint, cluster.associations)
            if replayed is not None:
                return _ok({"association": self._association_view(replayed)})
            existing = cluster.association_for(fields["namespace"], fields["serviceAccount"])
            if existing is not None:
                raise ApiError(409, "ResourceInUseException", f"Association already exists: {existing['associationId']}",
                               clusterName=cluster.name)
            if len(cluster.associations) >= ASSOCIATIONS_PER_CLUSTER:
                raise ApiError(400, "ResourceLimitExceededException",
                               f"The cluster {cluster.name} already has {ASSOCIATIONS_PER_CLUSTER} pod identity associations, the most a "
                               "cluster can have.", clusterName=cluster.name)
            association_id = _new_association_id()
            while association_id in cluster.associations:
                association_id = _new_association_id()
            now = self._now()
            record = dict(fields, clusterName=cluster.name, associationId=association_id, createdAt=now, modifiedAt=now,
                          associationArn=f"arn:{cluster.partition}:eks:{region}:{account}:podidentityassociation/{cluster.name}/{association_id}",
                          ownerArn=None, externalId=str(uuid.uuid4()) if fields["targetRoleArn"] else None, _seq=self._next_sequence())
            cluster.associations[association_id] = record
            if token:
                cluster.tokens[token] = ("create", fingerprint, association_id)
            return _ok({"association": self._association_view(record)})

    def _describe_association(self, account, region, name, association_id, query, document):
        cluster = self._cluster(account, region, name)
        with self._lock:
            return _ok({"association": self._association_view(self._association(cluster, association_id))})

    def _update_association(self, account, region, name, association_id, query, document):
        cluster = self._cluster(account, region, name)
        fields = self._association_fields(cluster, document, create=False)
        if not fields:
            raise _invalid(f"An update changes at least one of {', '.join(_UPDATABLE)}.", clusterName=cluster.name)
        if "roleArn" in fields:
            self._check_role(cluster, fields["roleArn"])
        token = document.get("clientRequestToken")
        fingerprint = json.dumps(dict(fields, associationId=association_id), sort_keys=True)
        with self._lock:
            record = self._association(cluster, association_id)
            if self._replay(cluster, token, "update", fingerprint, cluster.associations) is not None:
                return _ok({"association": self._association_view(record)})
            updated = dict(record, **fields)
            self._check_session_policy(cluster, updated)
            if updated["targetRoleArn"] and not updated["externalId"]:
                updated["externalId"] = str(uuid.uuid4())
            updated["modifiedAt"] = max(self._now(), record["modifiedAt"] + 0.001)
            record.update(updated)
            if token:
                cluster.tokens[token] = ("update", fingerprint, association_id)
            return _ok({"association": self._association_view(record)})

    def _delete_association(self, account, region, name, association_id, query, document):
        cluster = self._cluster(account, region, name)
        with self._lock:
            record = self._association(cluster, association_id)
            del cluster.associations[association_id]
            return _ok({"association": self._association_view(record)})

    def _list_associations(self, account, region, name, query, document):
        cluster = self._cluster(account, region, name)
        namespace, service_account = query.get("namespace"), query.get("serviceAccount")
        with self._lock:
            records = [record for record in cluster.associations.values()
                       if namespace in (None, record["namespace"]) and service_account in (None, record["serviceAccount"])]
            associations, token = _page(records, query, self._summary)
        answer = {"associations": associations}
        if token:
            answer["nextToken"] = token
        return _ok(answer)

    # -- add-ons -------------------------------------------------------------------------------------

    @staticmethod
    def _addon_view(record, status=None):
        view = {key: value for key, value in record.items() if not key.startswith("_") and value is not None}
        view["health"] = {"issues": []}
        view["tags"] = dict(record["tags"])
        if status:
            view["status"] = status
        return view

    @staticmethod
    def _addon(cluster, addon_name):
        record = cluster.addons.get(addon_name)
        if record is None:
            raise ApiError(404, "ResourceNotFoundException", f"No addon: {addon_name} found in cluster: {cluster.name}",
                           clusterName=cluster.name, addonName=addon_name)
        return record

    def _addon_fields(self, cluster, document):
        addon_name = document.get("addonName")
        if not isinstance(addon_name, str) or not addon_name:
            raise _invalid("addonName is required.", clusterName=cluster.name)
        if not _ADDON_NAME_RE.match(addon_name):
            raise _invalid(f"The addonName {addon_name!r} is not a valid add-on name.", clusterName=cluster.name, addonName=addon_name)
        fields = {"addonName": addon_name, "tags": self._tags(cluster, document.get("tags"))}
        for member in ("addonVersion", "configurationValues"):
            if document.get(member) is not None:
                if not isinstance(document[member], str):
                    raise _invalid(f"{member} must be a string.", clusterName=cluster.name, addonName=addon_name)
                fields[member] = document[member]
        if document.get("serviceAccountRoleArn") is not None:
            fields["serviceAccountRoleArn"] = self._role_arn(cluster, document["serviceAccountRoleArn"], "serviceAccountRoleArn",
                                                             same_account=True)
        if document.get("resolveConflicts") is not None and document["resolveConflicts"] not in _RESOLVE_CONFLICTS:
            raise _invalid(f"resolveConflicts is one of {', '.join(_RESOLVE_CONFLICTS)}.", clusterName=cluster.name, addonName=addon_name)
        namespace_config = document.get("namespaceConfig")
        if namespace_config is not None:
            namespace = namespace_config.get("namespace") if isinstance(namespace_config, dict) else None
            if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
                raise _invalid("namespaceConfig.namespace is not a valid Kubernetes namespace.", clusterName=cluster.name, addonName=addon_name)
            fields["namespaceConfig"] = {"namespace": namespace}
        if document.get("podIdentityAssociations"):
            raise _invalid("podIdentityAssociations of add-ons are not emulated by the local stack.", clusterName=cluster.name,
                           addonName=addon_name)
        return fields

    def _create_addon(self, account, region, name, query, document):
        cluster = self._cluster(account, region, name)
        fields = self._addon_fields(cluster, document)
        token, fingerprint = document.get("clientRequestToken"), json.dumps(
            dict(fields, resolveConflicts=document.get("resolveConflicts")), sort_keys=True)
        with self._lock:
            replayed = self._replay(cluster, token, "create-addon", fingerprint, cluster.addons)
            if replayed is not None:
                return _ok({"addon": self._addon_view(replayed)})
            if fields["addonName"] in cluster.addons:
                raise ApiError(409, "ResourceInUseException", "Addon already exists.", clusterName=cluster.name, addonName=fields["addonName"])
            now = self._now()
            record = dict(fields, clusterName=cluster.name, status="ACTIVE", createdAt=now, modifiedAt=now, _seq=self._next_sequence(),
                          addonArn=f"arn:{cluster.partition}:eks:{region}:{account}:addon/{cluster.name}/{fields['addonName']}/{uuid.uuid4()}")
            cluster.addons[fields["addonName"]] = record
            if token:
                cluster.tokens[token] = ("create-addon", fingerprint, fields["addonName"])
            return _ok({"addon": self._addon_view(record)})

    def _describe_addon(self, account, region, name, addon_name, query, document):
        cluster = self._cluster(account, region, name)
        with self._lock:
            return _ok({"addon": self._addon_view(self._addon(cluster, addon_name))})

    def _delete_addon(self, account, region, name, addon_name, query, document):
        cluster = self._cluster(account, region, name)
        if query.get("preserve") not in (None, "true", "false"):
            raise _invalid("preserve must be true or false.", clusterName=cluster.name, addonName=addon_name)
        with self._lock:
            record = self._addon(cluster, addon_name)
            del cluster.addons[addon_name]
            record["modifiedAt"] = max(self._now(), record["modifiedAt"] + 0.001)
            return _ok({"addon": self._addon_view(record, status="DELETING")})

    def _list_addons(self, account, region, name, query, document):
        cluster = self._cluster(account, region, name)
        with self._lock:
            names, token = _page(list(cluster.addons.values()), query, lambda record: record["addonName"])
        answer = {"addons": names}
        if token:
            answer["nextToken"] = token
        return _ok(answer)

    # -- eks-auth ------------------------------------------------------------------------------------

    def _verified_claims(self, cluster, token):
        """The claims of ``token`` once it is shown to be a valid ServiceAccount token of ``cluster`` for the agent."""
        issuer = self.issuer_of(cluster.account, cluster.region, cluster.name) if self.issuer_of else None
        issuer = (issuer or cluster.issuer or "").rstrip("/")
        try:
            claims = unverified_claims(token)
        except ValueError as e:
            raise _invalid_token("Service account token cannot be parsed.") from e
        if not issuer or claims["iss"].rstrip("/") != issuer:
            raise _invalid_token(f"The token's issuer {claims['iss']} is not the issuer of cluster {cluster.name}.")
        if self.keys_for is None:
            raise _invalid_token(f"The keys of issuer {issuer} are not available.")
        try:
            keys = self.keys_for(issuer)
        except Exception as e:  # pylint: disable=broad-exception-caught  # whatever the key source raises, the token is refused
            raise _invalid_token(f"The keys of issuer {issuer} are not available.") from e
        try:
            verified = jwt.decode(token, keys, algorithms=["RS256"]).claims
        except (jose_errors.JoseError, ValueError, KeyError, TypeError) as e:  # a bad signature, no such key, a bad header
            raise _invalid_token("The token's signature could not be verified.") from e
        now = self._now()
        if not isinstance(verified.get("exp"), (int, float)) or now >= verified["exp"]:
            raise ApiError(400, "ExpiredTokenException", "The service account token has expired.")
        if isinstance(verified.get("nbf"), (int, float)) and verified["nbf"] > now:
            raise _invalid_token("The service account token is not valid yet.")
        if AUDIENCE not in _as_list(verified.get("aud")):
            raise _invalid_token(f"The token's audience does not include {AUDIENCE}.")
        return verified

    @staticmethod
    def _subject(claims):
        """``(namespace, service account, pod claims or {})`` of a ServiceAccount token."""
        sub = claims.get("sub") if isinstance(claims.get("sub"), str) else ""
        parts = sub.split(":")
        from_sub = (parts[2], parts[3]) if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"] else None
        kubernetes = claims.get("kubernetes.io") if isinstance(claims.get("kubernetes.io"), dict) else {}
        service_account = kubernetes.get("serviceaccount") if isinstance(kubernetes.get("serviceaccount"), dict) else {}
        from_claims = (kubernetes.get("namespace"), service_account.get("name"))
        from_claims = from_claims if all(from_claims) else None
        if from_claims and from_sub and from_claims != from_sub:
            raise _invalid_token("The token's kubernetes.io claims and its sub name different service accounts.")
        subject = from_claims or from_sub
        if not subject or not all(isinstance(part, str) and part for part in subject):
            raise _invalid_token("The token is not a Kubernetes service account token.")
        pod = kubernetes.get("pod") if isinstance(kubernetes.get("pod"), dict) else {}
        return subject[0], subject[1], pod

    @staticmethod
    def _session_name(cluster_name, who):
        return _SESSION_NAME_UNSAFE.sub("-", f"eks-{cluster_name}-{who}-{uuid.uuid4()}")[:SESSION_NAME_MAX]

    def _assume_role_for_pod_identity(self, account, region, name, query, document):
        token = document.get("token")
        if not isinstance(token, str) or not token:
            raise ApiError(400, "InvalidParameterException", "token is required.")
        cluster = self._cluster(account, region, name, auth=True)
        namespace, service_account, pod = self._subject(self._verified_claims(cluster, token))
        with self._lock:
            record = cluster.association_for(namespace, service_account)
            association = dict(record) if record is not None else None
        if association is None:
            raise ApiError(404, "ResourceNotFoundException",
                           f"No pod identity association found for service account {service_account} in namespace {namespace} "
                           f"of cluster {cluster.name}.")
        tags = []
        if not association["disableSessionTags"]:
            values = (cluster.arn, cluster.name, namespace, service_account, pod.get("name"), pod.get("uid"))
            tags = [{"Key": key, "Value": value} for key, value in zip(SESSION_TAG_KEYS, values) if isinstance(value, str) and value]
        session_name = self._session_name(cluster.name, pod.get("name") or service_account)
        if self.assume_role is None:
            raise ApiError(400, "AccessDeniedException", "The local stack has no STS to assume the association's role with.")
        target = association["targetRoleArn"]
        try:
            final = self.assume_role(association["roleArn"], session_name, tags, external_id=None, source_credentials=None,
                                     policy=None if target else association["policy"], source_arn=cluster.arn)
            if target:
                final = self.assume_role(target, session_name, [], external_id=association["externalId"],
                                         source_credentials=final["Credentials"], policy=association["policy"])
            credentials, user = final["Credentials"], final["AssumedRoleUser"]
            answer = {
                "subject": {"namespace": namespace, "serviceAccount": service_account},
                "audience": AUDIENCE,
                "podIdentityAssociation": {"associationArn": association["associationArn"], "associationId": association["associationId"]},
                "assumedRoleUser": {"arn": user["Arn"], "assumeRoleId": user["AssumedRoleId"]},
                "credentials": {"sessionToken": credentials["SessionToken"], "secretAccessKey": credentials["SecretAccessKey"],
                                "accessKeyId": credentials["AccessKeyId"], "expiration": _epoch(credentials["Expiration"])},
            }
        except AssumeRefused as refused:
            raise ApiError(400, "AccessDeniedException", refused.message) from refused
        except (KeyError, TypeError, ValueError) as e:
            raise ApiError(500, "InternalServerException", f"The assume_role callable answered something unusable: {e!r}") from e
        return _ok(answer)
