# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A recording, fault-injecting HTTP proxy in front of moto.

Tests use it to count the AWS calls the modules make, and to make AWS misbehave the way it does in
the field (throttling, outages, dropped connections, IAM's eventual consistency), which moto never does.

Clients point ``AWS_ENDPOINT_URL`` at the proxy; every request is forwarded unchanged to moto (unless a fault
plan or the STS checks answer it) and logged as ``{"service", "action", "account", "mutating", "fault", "refused",
"page_token", "sdk_attempt"}``:

- ``service`` comes from the SigV4 credential scope (``Credential=AKID/date/region/<service>/...``);
- ``action`` is the query-protocol ``Action`` (IAM, STS), the ``X-Amz-Target`` operation (JSON
  protocols) or ``METHOD /path`` (REST protocols such as EKS);
- ``account`` is the account the request's access key acts in: the proxy learns it from each
  ``AssumeRole`` response it forwards; other keys act in moto's default account;
- ``mutating`` is False for reads (``Get*``, ``List*``, ``Describe*``, REST ``GET``) and for STS, whose
  calls change no AWS resource;
- ``fault`` is None, or the fault mode the proxy answered with instead of forwarding (see below);
- ``refused`` is None, or the error code the STS checks answered with (see below);
- ``page_token`` is the pagination token the request continues a listing from (``Marker`` or ``NextToken``), None
  for a listing's first page and for every other request: a page re-sent is the same action with the same token;
- ``sdk_attempt`` is the attempt number botocore gives the request (its ``amz-sdk-request`` header, None without
  one): above 1, botocore itself retried it.

``GET /_proxy/requests`` returns the log as JSON, ``DELETE /_proxy/requests`` clears it.

Fault injection. ``PUT`` (or ``POST``) ``/_proxy/faults`` with a JSON plan replaces the plan, ``GET``
reads it back (with how many faults each rule injected), ``DELETE`` clears it. A plan is::

    {"seed": 7, "rules": [{"mode": "throttle", "rate": 0.2, "services": ["iam"], "actions": ["Get*"]}, ...]}

Rule keys: ``mode`` (required, see :data:`FAULT_MODES`); ``rate``, the share of matching requests
to fault (default 1.0); optional filters ``services`` (signing names: iam, sts, eks),
``actions`` (names as logged, shell-style patterns such as ``Get*`` or ``GET /clusters/*``) and
``accounts``; ``continued`` (true: only the requests for a listing's later pages, those with a ``page_token``;
false: only the others); ``limit``, the most faults the rule injects; for ``throttle`` and ``unavailable``
optional ``status``/``code``/``message`` overrides; for ``eventual_consistency`` ``reads``.

- ``throttle``: IAM/STS (query protocol) get HTTP 400 ``Throttling`` "Rate exceeded" as XML; EKS
  (REST-JSON) gets HTTP 429 ``TooManyRequestsException``; JSON-protocol services HTTP 400
  ``ThrottlingException``.
- ``unavailable``: HTTP 503, ``ServiceUnavailable`` as XML for query services,
  ``ServiceUnavailableException`` (the code EKS's API model declares) as JSON for the others.
- ``drop``: the proxy closes the connection without answering.
- ``eventual_consistency``: each role created through the proxy (an IAM ``CreateRole`` that moto
  accepted; ``rate`` picks the share of new roles that lag) answers its first ``reads`` reads
  (``GetRole``, ``GetRolePolicy``, ``ListAttachedRolePolicies``, ``ListRolePolicies``, ``ListRoleTags``,
  ``ListInstanceProfilesForRole``, or ``actions``) in that account with IAM's 404 ``NoSuchEntity``.

A faulted request is answered by the proxy and never reaches moto, so a throttled write has not
happened, as with AWS. Rate-based rules share one random draw per request from ``random.Random(seed)``,
in rule order: a request matching rules of rate 0.1 and 0.1 is faulted by the first with probability
0.1 and by the second with 0.1, so the same seed and the same sequence of requests give the same
faults. The control endpoints (``/_proxy/...``) and moto's own API (``/moto-api/...``) are never faulted.
Unsigned calls carry no credential scope: ``AssumeRoleWithWebIdentity`` (a pod's SDK sends it so, the token authorises
it) is logged as service ``sts`` in the account of its ``RoleArn``; other unsigned calls get service ``unknown``.

STS. ``AssumeRoleWithWebIdentity``, and ``AssumeRole`` made with the credentials of such a session, are checked as AWS
checks them (:mod:`tests.stack.sts`: the token's signature against its issuer's keys, the OIDC provider, the audience,
the expiry, the trust policies) and refused with AWS's error when a check fails; what passes goes to moto, which
issues the credentials. ``GET /_proxy/sts`` shows the checks' settings, ``PUT`` with ``{"issuers": {issuer: URL}}``
says where each issuer's discovery document and keys are served (the stack registers each cluster's emulator), with
``{"clock_offset": seconds}`` it moves STS's clock (to age tokens).

In process, :meth:`RecordingProxy.set_faults` / ``clear_faults`` / ``faults`` do the same as the
control API; against a running stack, ``LocalStack.set_faults(rules, seed)`` / ``clear_faults()``.

Run it with ``python -m tests.stack.aws_proxy --upstream URL [--port N]``; it prints ``READY <url>``.
"""

from __future__ import annotations

import argparse
import fnmatch
import http.client
import http.server
import json
import random
import re
import signal
import socket
import threading
import urllib.parse
import uuid
from xml.sax.saxutils import escape

from tests.stack.eks_pod_identity import AssumeRefused, PodIdentityApi
from tests.stack.sts import CheckingSts, IamState, StsRefusal, assumed_session

MOTO_DEFAULT_ACCOUNT = "123456789012"
READ_PREFIXES = ("Get", "List", "Describe")
_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/")
# Hop-by-hop headers are not forwarded (RFC 9110 section 7.6.1).
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}

FAULT_MODES = ("throttle", "unavailable", "drop", "eventual_consistency")
# The IAM calls that read one role by RoleName: what lags behind a CreateRole in real IAM.
ROLE_READ_ACTIONS = ("GetRole", "GetRolePolicy", "ListAttachedRolePolicies", "ListRolePolicies", "ListRoleTags",
                     "ListInstanceProfilesForRole")
# Query-protocol services answer errors in their API's XML namespace, as AWS does.
_XML_NAMESPACES = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/", "sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
# (status, code, message, query-protocol error Type) per protocol family, as AWS answers them.
_ANSWERS = {
    ("throttle", "query"): (400, "Throttling", "Rate exceeded", "Sender"),
    ("throttle", "rest-json"): (429, "TooManyRequestsException", "Rate exceeded", None),
    ("throttle", "json"): (400, "ThrottlingException", "Rate exceeded", None),
    ("unavailable", "query"): (503, "ServiceUnavailable", "Service is unavailable. Please try again later.", "Receiver"),
    ("unavailable", "rest-json"): (503, "ServiceUnavailableException", "Service is unavailable. Please try again later.", None),
    ("unavailable", "json"): (503, "ServiceUnavailableException", "Service is unavailable. Please try again later.", None),
}
_RULE_KEYS = {"mode", "rate", "services", "actions", "accounts", "continued", "limit", "status", "code", "message", "reads"}
_PAGE_TOKENS = ("Marker", "NextToken", "nextToken")  # what IAM, Organizations (and other JSON services) and EKS call them
_SDK_ATTEMPT_RE = re.compile(r"(?:^|;)\s*attempt=(\d+)")


def classify(method, path, headers, body):
    """Return ``(service, access_key, action)`` for one signed AWS request."""
    match = _CREDENTIAL_RE.search(headers.get("Authorization", ""))
    access_key, service = match.groups() if match else ("", "unknown")
    target = headers.get("X-Amz-Target")
    if target:
        return service, access_key, target.rsplit(".", 1)[-1]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if "Action" not in query and headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        query = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    if "Action" in query:
        return service, access_key, query["Action"][0]
    return service, access_key, f"{method} {urllib.parse.urlsplit(path).path}"


def _arn_account(arn):
    """The account field of an ARN, or None."""
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def is_mutating(service, action):
    """True when the call may change AWS state (what an idempotent re-run must not send)."""
    if service in ("sts", "eks-auth"):  # credentials are issued, no resource changes
        return False
    if " " in action:  # a REST call, "METHOD /path"
        return not action.startswith(("GET ", "HEAD "))
    return not action.startswith(READ_PREFIXES)


def query_parameters(path, headers, body):
    """The first value of each query-protocol parameter, from the URL and a form-encoded body."""
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        params.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
    return {key: values[0] for key, values in params.items()}


def page_token(headers, body, params):
    """The pagination token a request carries (see :data:`_PAGE_TOKENS`), or None."""
    if headers.get("X-Amz-Target"):
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return None
        params = params if isinstance(params, dict) else {}
    return next((params[key] for key in _PAGE_TOKENS if params.get(key)), None)


def sdk_attempt(headers):
    """botocore's attempt number of a request, from its ``amz-sdk-request`` header (``attempt=2; max=3``), or None."""
    match = _SDK_ATTEMPT_RE.search(headers.get("amz-sdk-request", ""))
    return int(match.group(1)) if match else None


def protocol_of(headers, action):
    """How the service encodes its errors: ``json`` (X-Amz-Target), ``rest-json`` (EKS) or ``query`` (IAM, STS)."""
    if headers.get("X-Amz-Target"):
        return "json"
    return "rest-json" if " " in action else "query"


class FaultError(ValueError):
    """A fault plan that cannot be used; the message names the rule and key."""


class Fault:
    """One injected fault: the mode logged, and the answer (or a dropped connection)."""

    def __init__(self, mode, status=None, code=None, message=None, error_type=None):
        self.mode = mode
        self.status, self.code, self.message, self.error_type = status, code, message, error_type

    def response(self, service, protocol):
        """``(status, headers, body)`` in the service's own error format."""
        request_id = str(uuid.uuid4())
        if protocol == "query":
            namespace = _XML_NAMESPACES.get(service)
            opening = f'<ErrorResponse xmlns="{namespace}">' if namespace else "<ErrorResponse>"
            body = (f"{opening}<Error><Type>{self.error_type or 'Sender'}</Type><Code>{escape(self.code)}</Code>"
                    f"<Message>{escape(self.message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
            return self.status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()
        if protocol == "json":
            body = json.dumps({"__type": self.code, "message": self.message})
            return self.status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)], body.encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", self.code), ("x-amzn-RequestId", request_id)]
        return self.status, headers, json.dumps({"message": self.message}).encode()


class FaultRule:
    """One validated rule of a :class:`FaultPlan` (see the module docstring for its keys)."""

    def __init__(self, spec, index):
        where = f"rules[{index}]"
        if not isinstance(spec, dict):
            raise FaultError(f"{where}: a rule is an object with at least 'mode', got {type(spec).__name__}")
        unknown = sorted(set(spec) - _RULE_KEYS)
        if unknown:
            raise FaultError(f"{where}: unknown key(s) {', '.join(unknown)}; a rule has {', '.join(sorted(_RULE_KEYS))}")
        self.mode = spec.get("mode")
        if self.mode not in FAULT_MODES:
            raise FaultError(f"{where}.mode: {self.mode!r} is not one of {', '.join(FAULT_MODES)}")
        self.rate = spec.get("rate", 1.0)
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or not 0 <= self.rate <= 1:
            raise FaultError(f"{where}.rate: {self.rate!r} is not a share between 0 and 1")
        self.services = self._names(spec, "services", where, str.lower)
        self.actions = self._names(spec, "actions", where)
        self.accounts = self._names(spec, "accounts", where)
        self.continued = spec.get("continued")
        if self.continued is not None and not isinstance(self.continued, bool):
            raise FaultError(f"{where}.continued: {self.continued!r} is not true or false")
        self.limit = self._count(spec, "limit", where, minimum=0)
        self.reads = self._count(spec, "reads", where, minimum=1) or 1
        self.overrides = {key: spec[key] for key in ("status", "code", "message") if key in spec}
        if self.overrides and self.mode not in ("throttle", "unavailable"):
            raise FaultError(f"{where}: {', '.join(sorted(self.overrides))} only apply to modes 'throttle' and 'unavailable'")
        if "reads" in spec and self.mode != "eventual_consistency":
            raise FaultError(f"{where}.reads only applies to mode 'eventual_consistency'")
        if "status" in self.overrides and not 400 <= (self._count(spec, "status", where, minimum=400)) <= 599:
            raise FaultError(f"{where}.status: {spec['status']!r} is not an HTTP error status (400 to 599)")
        for key in ("code", "message"):
            if key in self.overrides and not isinstance(self.overrides[key], str):
                raise FaultError(f"{where}.{key}: expected a string")
        self.spec = dict(spec)
        self.injected = 0

    @staticmethod
    def _names(spec, key, where, normalise=str):
        values = spec.get(key)
        if values is None:
            return None
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise FaultError(f"{where}.{key}: expected a list of strings")
        return [normalise(value) for value in values]

    @staticmethod
    def _count(spec, key, where, minimum):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise FaultError(f"{where}.{key}: {value!r} is not a whole number of at least {minimum}")
        return value

    def exhausted(self):
        return self.limit is not None and self.injected >= self.limit

    def matches(self, service, action, account, token=None):
        """True when a request passes the rule's filters (whether it is faulted is the plan's draw)."""
        if self.services is not None and service.lower() not in self.services:
            return False
        if self.continued is not None and self.continued != (token is not None):
            return False
        if self.actions is not None and not _matches_any(action, self.actions):
            return False
        return self.accounts is None or account in self.accounts

    def fault(self, protocol, role_name=None):
        """Count one injected fault and return the :class:`Fault` to answer with."""
        self.injected += 1
        if self.mode == "drop":
            return Fault("drop")
        if self.mode == "eventual_consistency":
            return Fault(self.mode, 404, "NoSuchEntity", f"The role with name {role_name} cannot be found.", "Sender")
        status, code, message, error_type = _ANSWERS[(self.mode, protocol)]
        return Fault(self.mode, self.overrides.get("status", status), self.overrides.get("code", code),
                     self.overrides.get("message", message), error_type)

    def describe(self):
        return dict(self.spec, injected=self.injected)


def _matches_any(name, patterns):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


class FaultPlan:
    """Decides, per request, whether and how to fault it; holds the eventual-consistency state.

    An empty plan (the default) faults nothing, and the proxy then behaves as a plain recorder.
    """

    def __init__(self, plan=None):
        plan = {} if plan is None else plan
        if not isinstance(plan, dict):
            raise FaultError(f"a fault plan is an object {{'seed': ..., 'rules': [...]}}, got {type(plan).__name__}")
        unknown = sorted(set(plan) - {"seed", "rules"})
        if unknown:
            raise FaultError(f"unknown key(s) {', '.join(unknown)}; a fault plan has 'seed' and 'rules'")
        self.seed = plan.get("seed", 0)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise FaultError(f"seed: {self.seed!r} is not an integer")
        rules = plan.get("rules", [])
        if not isinstance(rules, list):
            raise FaultError("rules: expected a list of rules")
        self.rules = [FaultRule(rule, index) for index, rule in enumerate(rules)]
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        # (account, lower-case role name) -> [rule, reads still to answer with NoSuchEntity]
        self._lagging = {}

    def describe(self):
        """The plan as given, with each rule's ``injected`` count and the roles still lagging."""
        with self._lock:
            lagging = {f"{account}/{name}": remaining for (account, name), (_rule, remaining) in sorted(self._lagging.items())}
            return {"seed": self.seed, "rules": [rule.describe() for rule in self.rules], "lagging_roles": lagging}

    def decide(self, service, action, account, protocol, params, token=None):
        """The :class:`Fault` to answer a request with, or None to forward it to moto; ``token`` is its page_token."""
        if not self.rules:
            return None
        with self._lock:
            lag = self._lag(service, action, account, params)
            if lag is not None:
                return lag
            matching = [rule for rule in self.rules
                        if rule.mode != "eventual_consistency" and not rule.exhausted() and rule.matches(service, action, account, token)]
            if not matching:
                return None
            # One draw shared by the matching rules, so each rule's rate is its share of these requests.
            draw, threshold = self._random.random(), 0.0
            for rule in matching:
                threshold += rule.rate
                if draw < threshold:
                    return rule.fault(protocol)
            return None

    def _lag(self, service, action, account, params):
        role_name = params.get("RoleName")
        entry = self._lagging.get((account, (role_name or "").lower())) if service == "iam" else None
        if entry is None:
            return None
        rule, remaining = entry
        if rule.exhausted() or not _matches_any(action, rule.actions or ROLE_READ_ACTIONS):
            return None
        if remaining > 1:
            entry[1] = remaining - 1
        else:
            del self._lagging[(account, role_name.lower())]
        return rule.fault("query", role_name)

    def observe(self, service, action, account, params, status):
        """Learn from a request moto answered: a role it created starts lagging, a role it deleted stops."""
        role_name = params.get("RoleName")
        if service != "iam" or status != 200 or action not in ("CreateRole", "DeleteRole") or not role_name:
            return
        key = (account, role_name.lower())
        with self._lock:
            self._lagging.pop(key, None)
            if action == "DeleteRole":
                return
            for rule in self.rules:
                if rule.mode != "eventual_consistency" or rule.exhausted():
                    continue
                if (rule.services is not None and "iam" not in rule.services) or (rule.accounts is not None and account not in rule.accounts):
                    continue
                if rule.rate >= 1 or self._random.random() < rule.rate:
                    self._lagging[key] = [rule, rule.reads]
                return


class RecordingProxy:
    """Forwards to ``upstream`` (a moto server URL), records every request and injects the planned faults."""

    def __init__(self, upstream, host="127.0.0.1", port=0):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.sts = CheckingSts(IamState(upstream))
        self.pod_identity = PodIdentityApi(upstream, sts=self.sts, keys_for=self.sts.issuer_keys, assume_role=self._assume_for_pod_identity)
        self._lock = threading.Lock()
        self._requests = []
        self._key_accounts = {}
        self._faults = FaultPlan()
        self._server = http.server.ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = None

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def requests(self):
        with self._lock:
            return list(self._requests)

    def reset_requests(self):
        with self._lock:
            self._requests.clear()

    # -- faults ----------------------------------------------------------------------------

    def set_faults(self, plan):
        """Replace the fault plan (a dict, see the module docstring); raises :class:`FaultError` when invalid.

        A new plan starts afresh: its random sequence from its seed, no role lagging yet.
        """
        faults = FaultPlan(plan)
        with self._lock:
            self._faults = faults
        return faults.describe()

    def clear_faults(self):
        return self.set_faults(None)

    def faults(self):
        with self._lock:
            return self._faults.describe()

    # -- internals -------------------------------------------------------------------------

    def _account_of(self, access_key):
        with self._lock:
            return self._key_accounts.get(access_key, MOTO_DEFAULT_ACCOUNT)

    def _record(self, service, account, action, fault=None, token=None, attempt=None):
        with self._lock:
            self._requests.append(dict(service=service, action=action, account=account, mutating=is_mutating(service, action),
                                       fault=fault, refused=None, page_token=token, sdk_attempt=attempt))
            return self._requests[-1]

    def _assume_for_pod_identity(self, role_arn, session_name, tags, **options):
        """EKS's ``AssumeRole`` for a pod, through the STS checks (:mod:`tests.stack.eks_pod_identity` calls it); the keys it
        returns act in the role's account."""
        try:
            answer = self.sts.assume_for_pod_identity(role_arn, session_name, tags, **options)
        except StsRefusal as refusal:
            raise AssumeRefused(refusal.code, refusal.message) from refusal
        with self._lock:
            self._key_accounts[answer["Credentials"]["AccessKeyId"]] = _arn_account(role_arn)
        return answer

    def _sts_refusal(self, action, access_key, params):
        """The :class:`StsRefusal` the STS checks answer a web-identity or chained ``AssumeRole`` with, or None."""
        try:
            if action == "AssumeRoleWithWebIdentity":
                self.sts.check_web_identity(params)
            elif action == "AssumeRole":
                session = self.sts.session_of(access_key)
                if session is not None:  # only a web-identity session's chain is checked
                    self.sts.check_chained(session, params)
        except StsRefusal as refusal:
            return refusal
        return None

    def _learn_credentials(self, response_body):
        """Remember which account the keys returned by an AssumeRole act in."""
        key, session_arn = assumed_session(response_body)
        if key:
            with self._lock:
                self._key_accounts[key] = _arn_account(session_arn)

    def _forward(self, method, path, headers, body):
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(method, path, body=body or None, headers=forwarded)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler_class(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the
            # client's delayed ACK, which added about 40 ms to every AWS call.
            disable_nagle_algorithm = True

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                """Quiet: the request log is the record."""

            def _reply(self, status, headers, body):
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status, document):
                self._reply(status, [("Content-Type", "application/json")], json.dumps(document).encode())

            def _control(self):
                if self.command == "DELETE":
                    proxy.reset_requests()
                self._json(200, proxy.requests())

            def _sts_control(self, body):
                if self.command in ("PUT", "POST"):
                    try:
                        self._json(200, proxy.sts.configure(json.loads(body or b"{}")))
                    except (ValueError, AttributeError) as e:
                        self._json(400, {"error": f"invalid STS settings: {e}"})
                else:
                    self._json(200, proxy.sts.describe())

            def _faults_control(self, body):
                if self.command in ("PUT", "POST"):
                    try:
                        self._json(200, proxy.set_faults(json.loads(body or b"null")))
                    except (ValueError, FaultError) as e:  # json.JSONDecodeError is a ValueError
                        self._json(400, {"error": f"invalid fault plan: {e}"})
                elif self.command == "DELETE":
                    self._json(200, proxy.clear_faults())
                else:
                    self._json(200, proxy.faults())

            def _drop(self):
                """Close the connection without a byte of response, as a broken network path does."""
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/_proxy/requests"):
                    self._control()
                    return
                if self.path.startswith("/_proxy/faults"):
                    self._faults_control(body)
                    return
                if self.path.startswith("/_proxy/sts"):
                    self._sts_control(body)
                    return
                service, access_key, action = classify(self.command, self.path, self.headers, body)
                account = proxy._account_of(access_key)
                params = query_parameters(self.path, self.headers, body)
                if action == "AssumeRoleWithWebIdentity" and not access_key:  # unsigned, as the SDK sends it
                    service, account = "sts", _arn_account(params.get("RoleArn")) or account
                token = page_token(self.headers, body, params)
                with proxy._lock:
                    faults = proxy._faults
                fault = None
                if not self.path.startswith("/moto-api/"):
                    fault = faults.decide(service, action, account, protocol_of(self.headers, action), params, token)
                entry = proxy._record(service, account, action, fault.mode if fault else None, token, sdk_attempt(self.headers))
                if fault is not None and fault.mode == "drop":
                    self._drop()
                    return
                if fault is not None:
                    self._reply(*fault.response(service, protocol_of(self.headers, action)))
                    return
                answer = proxy.pod_identity.handle(self.command, self.path, self.headers, body, account)
                if answer is not None:  # EKS Pod Identity, add-ons and eks-auth: moto has none of them
                    self._reply(*answer)
                    return
                refusal = proxy._sts_refusal(action, access_key, params)
                if refusal is not None:
                    with proxy._lock:
                        entry["refused"] = refusal.code
                    answer = Fault("refused", refusal.status, refusal.code, refusal.message, "Sender")
                    self._reply(*answer.response("sts", "query"))
                    return
                status, headers, payload = proxy._forward(self.command, self.path, dict(self.headers.items()), body)
                if action in ("AssumeRole", "AssumeRoleWithWebIdentity") and status == 200:
                    proxy._learn_credentials(payload)
                if action == "AssumeRoleWithWebIdentity" and status == 200:
                    proxy.sts.learn_web_identity_session(params.get("RoleArn"), payload)
                faults.observe(service, action, account, params, status)
                self._reply(status, headers, payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="moto server URL")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    proxy = RecordingProxy(args.upstream, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    proxy.start()
    print(f"READY {proxy.url}", flush=True)
    stop.wait()
    proxy.stop()


if __name__ == "__main__":
    main()
