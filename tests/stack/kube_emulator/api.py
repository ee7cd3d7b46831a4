# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""One request to one response, without sockets: discovery documents, routing, and the request's options."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any, Optional

import yaml

from tests.stack.kube_emulator.resources import RESOURCES, ApiError, ResourceType, bad_request, method_not_allowed, path_not_found
from tests.stack.kube_emulator.store import Store, WriteOptions
from tests.stack.oidc import MIN_EXPIRATION, TokenIssuer


SERVER_VERSION = {"major": "1", "minor": "36"}
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
DEFAULT_TOKEN_EXPIRATION = 3600  # what the API server gives a TokenRequest that names no lifetime
TOKEN_SUBRESOURCE = {"name": "serviceaccounts/token", "singularName": "", "namespaced": True, "group": "authentication.k8s.io",
                     "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict
    body: bytes
    headers: Any  # an email.message.Message, as http.server parses them


@dataclasses.dataclass
class Response:
    code: int
    body: Any  # a JSON-able value, or bytes
    content_type: str = "application/json"


def _git_version() -> str:
    return f"v{SERVER_VERSION['major']}.{SERVER_VERSION['minor']}.0-emulator"


def _version_document() -> dict:
    return dict(SERVER_VERSION, gitVersion=_git_version(), gitCommit="0" * 40, gitTreeState="clean",
                buildDate="2025-01-01T00:00:00Z", goVersion="go1.24.0", compiler="gc", platform="linux/amd64")


def _openapi_v3_core() -> dict:
    """Just enough for kubectl: each kind's PATCH advertises ``fieldValidation``, so kubectl leaves
    validation to the server (which accepts everything) instead of needing our schemas."""
    params = [{"name": name, "in": "query", "schema": {"type": "string"}} for name in ("dryRun", "fieldManager", "fieldValidation", "force")]
    paths = {}
    for rt in RESOURCES.values():
        prefix = "/api/v1/namespaces/{namespace}/" if rt.namespaced else "/api/v1/"
        patch = {"operationId": f"patchCoreV1{rt.kind}", "x-kubernetes-action": "patch", "parameters": params,
                 "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": rt.kind},
                 "responses": {"200": {"description": "OK"}}}
        paths[prefix + rt.plural + "/{name}"] = {"patch": patch, "parameters": params}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes API emulator", "version": _git_version()},
            "paths": paths, "components": {"schemas": {}}}


def _protobuf_string(field: int, payload: bytes) -> bytes:
    """Encode one length-delimited field (all the minimal OpenAPI v2 document needs)."""
    length, size = b"", len(payload)
    while True:
        byte, size = size & 0x7F, size >> 7
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            break
    return bytes([field << 3 | 2]) + length + payload


def _openapi_v2(req: Request) -> Response:
    """kubectl builds its client-side validator from this document before it asks the server
    about field validation, so it must parse; an empty spec means "no schema, skip". kubectl
    asks for it as protobuf only, with no JSON fallback."""
    info = {"title": "Kubernetes API emulator", "version": _git_version()}
    if "protobuf" in (req.headers.get("Accept") or ""):
        info_message = _protobuf_string(1, info["title"].encode()) + _protobuf_string(2, info["version"].encode())
        document = _protobuf_string(1, b"2.0") + _protobuf_string(2, info_message)
        return Response(200, document, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    return Response(200, {"swagger": "2.0", "info": info, "paths": {}, "definitions": {}})


def _decode_body(req: Request) -> Any:
    # JSON or YAML only: protobuf bodies come from kubectl's typed clients (kubectl create ...), which nothing here runs
    content_type = (req.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type in ("application/vnd.kubernetes.protobuf", "application/cbor"):
        raise ApiError(415, "UnsupportedMediaType", "the emulator reads request bodies only as JSON or YAML")
    text = req.body.decode("utf-8", errors="replace")
    if not text.strip():
        raise bad_request("the request body is empty")
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise bad_request(f"the request body is neither JSON nor YAML: {err}") from err


def _delete_options(req: Request) -> dict:
    if not req.body.strip():
        return {}
    options = _decode_body(req)
    if not isinstance(options, dict):
        raise bad_request("DeleteOptions must be an object")
    return options


def is_dry_run(query: dict, body: bytes = b"") -> bool:
    """``dryRun=All`` in the query, or (DELETE) ``"dryRun": ["All"]`` in DeleteOptions."""
    value = query.get("dryRun")
    if value not in (None, "", "All"):
        raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    if value == "All":
        return True
    try:
        options = json.loads(body) if body.strip() else {}
    except ValueError:
        return False
    return isinstance(options, dict) and "All" in (options.get("dryRun") or [])


def _write_options(req: Request) -> WriteOptions:
    # like the apiserver, default the field manager to the User-Agent's product name
    agent = (req.headers.get("User-Agent") or "unknown").split("/", 1)[0]
    return WriteOptions(dry_run=is_dry_run(req.query, req.body if req.method == "DELETE" else b""),
                        manager=req.query.get("fieldManager") or agent,
                        force=(req.query.get("force") or "").lower() in ("true", "1"))


def _patch_type(req: Request) -> str:
    content_type = (req.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type not in PATCH_TYPES:
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: "
                                                    f"{', '.join(PATCH_TYPES)}")
    patch_type = PATCH_TYPES[content_type]
    if patch_type == "apply" and not req.query.get("fieldManager"):
        raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch')
    if patch_type != "apply" and "force" in req.query:
        raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch')
    return patch_type


def _allow(rt: ResourceType, verb: str) -> None:
    if verb not in rt.verbs:
        raise method_not_allowed()


def _locate(parts: list) -> tuple:
    """``/api/v1/...`` path segments -> (resource type, namespace, name)."""
    namespace = None
    if len(parts) >= 3 and parts[0] == "namespaces":
        namespace, parts = parts[1], parts[2:]
    rt = RESOURCES.get(parts[0]) if parts else None
    if rt is None or len(parts) > 2 or (namespace is not None and not rt.namespaced):
        raise path_not_found()  # unknown kinds and subresources
    name = parts[1] if len(parts) == 2 else None
    if name is not None and rt.namespaced and namespace is None:
        raise path_not_found()
    return rt, namespace, name


class Api:
    """Routes one request to the discovery documents or the store."""

    def __init__(self, store: Store, address: str, tokens: TokenIssuer):
        self.store = store
        self.address = address
        self.tokens = tokens

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        documents = {
            "/version": lambda _req: Response(200, _version_document()),
            "/api": lambda _req: Response(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.address}]}),
            "/api/v1": lambda _req: Response(200, {"kind": "APIResourceList", "groupVersion": "v1",
                                                   "resources": [rt.discovery() for rt in RESOURCES.values()] + [TOKEN_SUBRESOURCE]}),
            "/apis": lambda _req: Response(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
            "/openapi/v2": _openapi_v2,
            "/openapi/v3": lambda _req: Response(200, {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=emulator"}}}),
            "/openapi/v3/api/v1": lambda _req: Response(200, _openapi_v3_core()),
        }
        for probe in ("/healthz", "/livez", "/readyz"):
            documents[probe] = lambda _req: Response(200, b"ok", "text/plain; charset=utf-8")
        if path in documents:
            if req.method not in ("GET", "HEAD"):
                raise method_not_allowed()
            return documents[path](req)
        if path.startswith("/api/v1/"):
            return self._resource(req, path[len("/api/v1/"):].split("/"))
        raise path_not_found()

    def _resource(self, req: Request, parts: list) -> Response:
        if len(parts) == 5 and parts[0] == "namespaces" and parts[2] == "serviceaccounts" and parts[4] == "token":
            return self._token_request(req, parts[1], parts[3])
        rt, namespace, name = _locate(parts)
        if req.query.get("watch") in ("true", "1"):
            raise ApiError(405, "MethodNotAllowed", "the emulator does not serve watch", {})
        if name is None:
            return self._collection(req, rt, namespace)
        return self._item(req, rt, namespace, name)

    def _collection(self, req: Request, rt: ResourceType, namespace: Optional[str]) -> Response:
        if req.method == "GET":
            _allow(rt, "list")
            return Response(200, self.store.list(rt, namespace, req.query))
        if rt.namespaced and namespace is None:
            raise method_not_allowed()  # writes need the namespace in the path
        if req.method == "POST":
            _allow(rt, "create")
            return Response(201, self.store.create(rt, namespace, _decode_body(req), _write_options(req)))
        if req.method == "DELETE":
            _allow(rt, "deletecollection")
            return Response(200, self.store.delete_collection(rt, namespace, req.query, _write_options(req)))
        raise method_not_allowed()

    def _item(self, req: Request, rt: ResourceType, namespace: Optional[str], name: str) -> Response:
        if req.method == "GET":
            _allow(rt, "get")
            return Response(200, self.store.get(rt, namespace, name))
        if req.method == "PUT":
            _allow(rt, "update")
            return Response(200, self.store.replace(rt, namespace, name, _decode_body(req), _write_options(req)))
        if req.method == "PATCH":
            _allow(rt, "patch")
            patch_type = _patch_type(req)
            created, obj = self.store.patch(rt, namespace, name, patch_type, _decode_body(req), _write_options(req))
            return Response(201 if created else 200, obj)
        if req.method == "DELETE":
            _allow(rt, "delete")
            return Response(200, self.store.delete(rt, namespace, name, _write_options(req), _delete_options(req)))
        raise method_not_allowed()

    def _token_request(self, req: Request, namespace: str, name: str) -> Response:
        """TokenRequest: a signed token for an existing ServiceAccount; nothing is stored (so a dry run changes nothing too)."""
        if req.method != "POST":
            raise method_not_allowed()
        account = self.store.get(RESOURCES["serviceaccounts"], namespace, name)
        body = _decode_body(req)
        spec = (body.get("spec") if isinstance(body, dict) else None) or {}
        expiration = spec.get("expirationSeconds") or DEFAULT_TOKEN_EXPIRATION
        if not isinstance(expiration, int) or expiration < MIN_EXPIRATION:
            raise ApiError(422, "Invalid", f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: '
                                           f"Invalid value: {expiration}: may not specify a duration less than 10 minutes")
        audiences = spec.get("audiences") or [self.tokens.issuer]  # the API server's own audience by default
        pod = None
        bound = spec.get("boundObjectRef") or {}
        if bound.get("kind") == "Pod":
            pod = {"name": bound.get("name"), "uid": bound.get("uid") or ""}
        token, expiry = self.tokens.token(namespace, name, account["metadata"]["uid"], audiences, expiration, pod=pod)
        stamp = datetime.datetime.fromtimestamp(expiry, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                  "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
                  "spec": dict(spec, audiences=list(audiences), expirationSeconds=expiration),
                  "status": {"token": token, "expirationTimestamp": stamp}}
        return Response(201, answer)
