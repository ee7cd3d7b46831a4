# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The checks STS makes before it gives a pod credentials, which moto does not make (it accepts any token for any role).

The recording proxy (:mod:`tests.stack.aws_proxy`) asks :class:`CheckingSts` about two kinds of call and forwards
them to moto, which issues the credentials, only when it finds nothing to refuse:

``AssumeRoleWithWebIdentity`` (the pod's SDK, unsigned, with its ServiceAccount token), in AWS's order:

1. the token is a JWT (else ``InvalidIdentityToken``);
2. the role's account has an IAM OIDC provider for exactly the token's ``iss`` (else ``InvalidIdentityToken``,
   "No OpenIDConnect provider found in your account for <iss>");
3. the issuer's keys are fetched as STS fetches them, from ``<iss>/.well-known/openid-configuration`` and its
   ``jwks_uri`` (the stack maps each issuer to the emulator of its cluster, see :meth:`CheckingSts.register_issuer`),
   and the RS256 signature verifies against the key its ``kid`` names (else ``InvalidIdentityToken``);
4. one of the token's audiences is among the provider's client IDs (else ``InvalidIdentityToken``, "Incorrect
   token audience");
5. the token has not expired (else ``ExpiredTokenException``) and is already valid (``nbf`` and ``iat`` not in the
   future, else ``IDPRejectedClaim``);
6. the role exists and its trust policy allows ``sts:AssumeRoleWithWebIdentity`` for the provider with the
   token's ``sub`` and ``aud`` as condition keys ``<issuer host/path>:sub`` / ``:aud`` (else ``AccessDenied``, which
   says nothing about which check failed, as AWS's does not), and ``DurationSeconds`` is within the role's
   ``MaxSessionDuration`` (else ``ValidationError``).

``AssumeRole`` signed with credentials from such a session (the hub topology's chain into a spoke role): the target
role exists, its trust allows the session's role as principal with the request's ``aws:PrincipalArn``,
``aws:PrincipalAccount`` and ``sts:ExternalId``, and, across accounts or when the trust names only the session's
account, the session role's own policies (inline and attached) allow ``sts:AssumeRole`` on it (else
``AccessDenied`` "User: <session> is not authorized to perform: sts:AssumeRole on resource: <role>"); a chained
session lasts at most an hour (else ``ValidationError``). Every other ``AssumeRole`` (the stack's own deployer calls)
is forwarded unchecked, as before.

Policies are evaluated by :mod:`tests.stack.iam_policy`, written from IAM's documentation apart from the product's
evaluator. IAM state is read from moto directly (not through the proxy, so the request log shows only the
clients' calls), in the role's account by moto's ``x-moto-account-id`` header.

Not emulated: ``amr``, ``azp`` and other claims as condition keys, session policies and tags, permissions
boundaries, SCPs, the thumbprint check (AWS no longer uses it for EKS issuers), key caching and IAM's eventual
consistency (the proxy's fault plans inject that), regional STS endpoints being disabled.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import urllib.request

import boto3
import botocore.config
from joserfc import errors as jose_errors
from joserfc import jwk, jwt

from tests.stack import oidc
from tests.stack.iam_policy import ALLOW, Principal, PolicyError, Request, evaluate

WEB_IDENTITY_ACTION, ASSUME_ROLE_ACTION = "sts:AssumeRoleWithWebIdentity", "sts:AssumeRole"
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
CHAINED_SESSION_LIMIT = 3600
_ASSUMED_KEY_RE = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")
_ASSUMED_ARN_RE = re.compile(r"<Arn>(arn:[^:]+:sts::\d{12}:assumed-role/[^<]+)</Arn>")
NO_KEYS = ("Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity "
           "documentation for requirements")


class StsRefusal(Exception):
    """What STS answers instead of credentials: HTTP status, error code and message, as AWS words them."""

    def __init__(self, code, message, status=400):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def _invalid(message):
    return StsRefusal("InvalidIdentityToken", message)


def unverified_claims(token):
    """The claims of a JWT before its signature is checked (STS needs ``iss`` to find the keys)."""
    try:
        return oidc.unverified_claims(token)
    except ValueError as e:
        raise _invalid("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)") from e


def host_path(issuer):
    """The issuer as IAM names it in provider ARNs and condition keys: no scheme, no trailing slash."""
    return issuer.split("://", 1)[-1].rstrip("/")


def _as_list(value):
    return [value] if isinstance(value, str) else list(value or [])


class IamState:
    """Reads the IAM state STS consults from moto, in any account (``x-moto-account-id``)."""

    def __init__(self, moto_url, region="us-east-1"):
        self.moto_url, self.region = moto_url, region
        self._clients, self._lock = {}, threading.Lock()

    def iam(self, account):
        with self._lock:
            if account not in self._clients:
                client = boto3.session.Session().client(
                    "iam", endpoint_url=self.moto_url, region_name=self.region, aws_access_key_id="testing",
                    aws_secret_access_key="testing", config=botocore.config.Config(retries={"total_max_attempts": 1}))
                client.meta.events.register("before-sign.iam.*", lambda request, **_: request.headers.__setitem__(
                    "x-moto-account-id", account))
                self._clients[account] = client
            return self._clients[account]

    def sts(self, credentials=None):
        """An STS client at moto: with the stack's dummy keys, or with ``credentials`` (an ``AssumeRole`` result's)."""
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        if credentials:
            keys = {"aws_access_key_id": credentials["AccessKeyId"], "aws_secret_access_key": credentials["SecretAccessKey"],
                    "aws_session_token": credentials["SessionToken"]}
        return boto3.session.Session().client("sts", endpoint_url=self.moto_url, region_name=self.region,
                                              config=botocore.config.Config(retries={"total_max_attempts": 1}), **keys)

    def provider(self, account, issuer):
        """The provider for ``issuer`` in ``account`` (``{"ClientIDList", ...}``), or None."""
        arn = f"arn:aws:iam::{account}:oidc-provider/{host_path(issuer)}"
        try:
            return dict(self.iam(account).get_open_id_connect_provider(OpenIDConnectProviderArn=arn), Arn=arn)
        except self.iam(account).exceptions.NoSuchEntityException:
            return None

    def role(self, role_arn):
        """The role ``role_arn`` names, path included (``GetRole``'s Role), or None."""
        account, name = _role_parts(role_arn)
        if account is None:
            return None
        try:
            role = self.iam(account).get_role(RoleName=name)["Role"]
        except self.iam(account).exceptions.NoSuchEntityException:
            return None
        return role if role["Arn"] == role_arn else None

    def identity_policies(self, role):
        """The documents of ``role``'s inline and attached managed policies."""
        account, name = _role_parts(role["Arn"])
        iam = self.iam(account)
        documents = [iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                     for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]]
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            documents.append(iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"])
        return documents


def _role_parts(role_arn):
    """``(account, role name)`` of a role ARN (the name is the last segment of its path), or ``(None, None)``."""
    parts = (role_arn or "").split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None, None
    return parts[4], parts[5].rsplit("/", 1)[-1]


class CheckingSts:
    """Decides the web-identity and chained ``AssumeRole`` calls; remembers the sessions it let through."""

    def __init__(self, iam_state):
        self.iam = iam_state
        self._lock = threading.Lock()
        self._issuers = {}  # issuer URL -> the local URL its documents are served from
        self._sessions = {}  # access key -> Principal of a web-identity session
        self.clock_offset = 0  # seconds added to the clock (a test ages tokens without waiting)

    # -- configuration -------------------------------------------------------------------------------

    def register_issuer(self, issuer, local_url):
        """Serve ``issuer``'s documents from ``local_url`` (which stands for its scheme and host), as DNS would."""
        with self._lock:
            self._issuers[issuer.rstrip("/")] = local_url.rstrip("/")

    def configure(self, settings):
        """Apply ``{"issuers": {issuer: local URL}, "clock_offset": seconds}`` (either key); return the state."""
        for issuer, local_url in (settings.get("issuers") or {}).items():
            self.register_issuer(issuer, local_url)
        if "clock_offset" in settings:
            offset = settings["clock_offset"]
            if isinstance(offset, bool) or not isinstance(offset, int):
                raise ValueError(f"clock_offset: {offset!r} is not a whole number of seconds")
            self.clock_offset = offset
        return self.describe()

    def describe(self):
        with self._lock:
            return {"issuers": dict(self._issuers), "clock_offset": self.clock_offset, "sessions": len(self._sessions)}

    def now(self):
        return time.time() + self.clock_offset

    # -- AssumeRoleWithWebIdentity -------------------------------------------------------------------

    def check_web_identity(self, params):
        """Raise :class:`StsRefusal` unless STS would give credentials for ``params`` (the request's query parameters)."""
        token, role_arn = params.get("WebIdentityToken") or "", params.get("RoleArn") or ""
        claims = unverified_claims(token)
        issuer = claims["iss"]
        account, _name = _role_parts(role_arn)
        provider = self.iam.provider(account, issuer) if account else None
        if provider is None:
            raise _invalid(f"No OpenIDConnect provider found in your account for {issuer}")
        try:
            verified = jwt.decode(token, self._keys(issuer), algorithms=["RS256"]).claims
        except (jose_errors.JoseError, ValueError, KeyError, TypeError) as e:  # a bad signature, no such key, a bad header
            raise _invalid(f"The token's signature could not be verified with the keys of {issuer}") from e
        audiences = _as_list(verified.get("aud"))
        if not set(audiences) & set(provider.get("ClientIDList") or []):
            raise _invalid("Incorrect token audience")
        now = int(self.now())
        if not isinstance(verified.get("exp"), int) or now >= verified["exp"]:
            raise StsRefusal("ExpiredTokenException", f"Token expired: current date/time {now} must be before the expiration "
                                                      f"date/time {verified.get('exp')}")
        if any(isinstance(verified.get(claim), int) and verified[claim] > now for claim in ("nbf", "iat")):
            raise StsRefusal("IDPRejectedClaim", "The token is not valid yet: its nbf or iat is in the future")
        role = self.iam.role(role_arn)
        prefix = host_path(issuer)
        request = Request(WEB_IDENTITY_ACTION, principal=Principal("Federated", provider["Arn"]),
                          context={f"{prefix}:sub": verified.get("sub"), f"{prefix}:aud": audiences,
                                   "aws:FederatedProvider": provider["Arn"]})
        if role is None or not self._allowed([role.get("AssumeRolePolicyDocument")], request, resource_policy=True):
            raise StsRefusal("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
        self._check_duration(params, role.get("MaxSessionDuration") or 3600)

    def learn_web_identity_session(self, role_arn, response_body):
        """Remember the session a forwarded ``AssumeRoleWithWebIdentity`` for ``role_arn`` created: its keys may chain into
        spoke roles."""
        key, session_arn = assumed_session(response_body)
        account, _name = _role_parts(role_arn)
        if key and session_arn and account:
            with self._lock:
                self._sessions[key] = Principal("AWS", role_arn, account=account, session_arn=session_arn)

    # -- AssumeRole from such a session --------------------------------------------------------------

    def session_of(self, access_key):
        """The web-identity session ``access_key`` belongs to, or None (then the call is not checked)."""
        with self._lock:
            return self._sessions.get(access_key)

    def check_chained(self, session, params):
        """Raise :class:`StsRefusal` unless ``session`` may ``AssumeRole`` into ``params["RoleArn"]``."""
        target_arn = params.get("RoleArn") or ""
        refusal = StsRefusal("AccessDenied", f"User: {session.session_arn} is not authorized to perform: sts:AssumeRole on "
                                             f"resource: {target_arn}", 403)
        target = self.iam.role(target_arn)
        if target is None:
            raise refusal
        context = {"aws:PrincipalArn": session.arn, "aws:PrincipalAccount": session.account, "aws:PrincipalType": "AssumedRole"}
        if params.get("ExternalId") is not None:
            context["sts:ExternalId"] = params["ExternalId"]
        trust = Request(ASSUME_ROLE_ACTION, principal=session, context=context)
        if not self._allowed([target.get("AssumeRolePolicyDocument")], trust, resource_policy=True):
            raise refusal
        target_account, _name = _role_parts(target_arn)
        if target_account != session.account or not self._names_the_role(target, trust):
            source = self.iam.role(session.arn)
            permission = Request(ASSUME_ROLE_ACTION, resource=target_arn, context=context)
            if source is None or not self._allowed(self.iam.identity_policies(source), permission):
                raise refusal
        self._check_duration(params, CHAINED_SESSION_LIMIT, chained=True)

    def _names_the_role(self, target, trust):
        """Whether the target's trust lets the session in by naming its role (or the session), not only its account.

        In one account, such a trust is enough; one that names only the account (``:root``) needs the role's own
        policies to allow the call too, as across accounts. Asked by presenting the same principal from no account.
        """
        principal = trust.principal
        unaccounted = Principal("AWS", principal.arn, account="no-account", session_arn=principal.session_arn)
        request = Request(trust.action, principal=unaccounted, context=trust.context)
        return self._allowed([target.get("AssumeRolePolicyDocument")], request, resource_policy=True)

    # -- EKS Pod Identity (for tests.stack.eks_pod_identity) ----------------------------------------

    def issuer_keys(self, issuer):
        """``issuer``'s key set, fetched as for a web-identity token; :class:`StsRefusal` when it cannot be had."""
        return self._keys(issuer)

    def assume_for_pod_identity(self, role_arn, session_name, tags, external_id=None, source_credentials=None, policy=None,
                                source_arn=None):
        """What STS answers EKS for a pod (``AssumeRole``'s result), or :class:`StsRefusal`.

        Without ``source_credentials``: EKS, as the service principal ``pods.eks.amazonaws.com``, assumes the association's
        role with the session ``tags`` (``sts:AssumeRole``, and ``sts:TagSession`` when there are tags), ``aws:SourceArn``
        the cluster and ``aws:SourceAccount`` its account. With them (the first session's), the target role is assumed from
        that session with ``external_id``, checked as any chained ``AssumeRole``.
        """
        params = {"RoleArn": role_arn, "RoleSessionName": session_name}
        if source_credentials is None:
            target = self.iam.role(role_arn)
            context = {f"aws:RequestTag/{tag['Key']}": tag["Value"] for tag in tags}
            context.update({"aws:TagKeys": [tag["Key"] for tag in tags]} if tags else {})
            if source_arn:
                context.update({"aws:SourceArn": source_arn, "aws:SourceAccount": source_arn.split(":")[4]})
            principal = Principal("Service", POD_IDENTITY_PRINCIPAL)
            actions = [ASSUME_ROLE_ACTION] + (["sts:TagSession"] if tags else [])
            trust = [target.get("AssumeRolePolicyDocument")] if target else []
            if not trust or not all(self._allowed(trust, Request(action, principal=principal, context=context), resource_policy=True)
                                    for action in actions):
                raise StsRefusal("AccessDenied", f"User: {POD_IDENTITY_PRINCIPAL} is not authorized to perform: "
                                                 f"{' and '.join(actions)} on resource: {role_arn}", 403)
            if tags:
                params.update(Tags=tags, TransitiveTagKeys=[tag["Key"] for tag in tags])
        else:
            session = self.session_of(source_credentials["AccessKeyId"])
            if session is None:
                raise StsRefusal("AccessDenied", f"the credentials that would assume {role_arn} are no pod identity session", 403)
            self.check_chained(session, dict(params, ExternalId=external_id) if external_id else params)
            if external_id:
                params["ExternalId"] = external_id
        if policy:
            params["Policy"] = policy
        answer = self.iam.sts(source_credentials).assume_role(**params)
        account, _name = _role_parts(role_arn)
        with self._lock:  # its keys may chain into a target role
            self._sessions[answer["Credentials"]["AccessKeyId"]] = Principal(
                "AWS", role_arn, account=account, session_arn=answer["AssumedRoleUser"]["Arn"])
        return answer

    # -- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def _allowed(documents, request, resource_policy=False):
        try:
            return evaluate(documents, request, resource_policy=resource_policy) == ALLOW
        except PolicyError:
            return False  # IAM would not have stored the document; nothing it says can allow the call

    @staticmethod
    def _check_duration(params, limit, chained=False):
        duration = params.get("DurationSeconds")
        if duration and int(duration) > limit:
            why = ("the 1 hour session limit for roles assumed by role chaining" if chained
                   else "the MaxSessionDuration set for this role")
            raise StsRefusal("ValidationError", f"The requested DurationSeconds exceeds {why}.")

    def _keys(self, issuer):
        """The issuer's key set, fetched through its discovery document as STS does."""
        discovery = self._fetch(issuer, issuer + "/.well-known/openid-configuration")
        if not isinstance(discovery, dict) or discovery.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
            raise _invalid(NO_KEYS)
        try:
            return jwk.KeySet.import_key_set(self._fetch(issuer, discovery.get("jwks_uri") or ""))
        except (jose_errors.JoseError, ValueError, TypeError, KeyError) as e:
            raise _invalid(NO_KEYS) from e

    def _fetch(self, issuer, url):
        """GET ``url`` (under ``issuer``) from where the stack serves it."""
        with self._lock:
            local = self._issuers.get(issuer.rstrip("/"))
        origin = urllib.parse.urlsplit(issuer)
        target = urllib.parse.urlsplit(url)
        if local is None or (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
            raise _invalid(NO_KEYS)
        try:
            with urllib.request.urlopen(local + target.path, timeout=10) as response:
                return json.load(response)
        except (OSError, ValueError) as e:
            raise _invalid(NO_KEYS) from e


def assumed_session(response_body):
    """``(access key ID, assumed-role ARN)`` of an ``AssumeRole*`` answer (XML), or ``(None, None)``."""
    text = response_body.decode("utf-8", "replace")
    key, arn = _ASSUMED_KEY_RE.search(text), _ASSUMED_ARN_RE.search(text)
    return (key.group(1), arn.group(1)) if key and arn else (None, None)
