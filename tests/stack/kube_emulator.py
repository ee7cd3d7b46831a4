# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A small, stateful Kubernetes API emulator for local tests.

No kube-apiserver can run in this project's test environment, so this module serves just
enough of the core/v1 API for ``kubectl`` and the ``kubernetes.core`` collection (``k8s``,
``k8s_info``: the Python ``kubernetes`` client and its dynamic client) to work unmodified.

What is served (plain HTTP, 127.0.0.1 only, any or no bearer token):

* Discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis`` (no groups), ``/openapi/v2`` and
  ``/openapi/v3`` (minimal documents, enough for ``kubectl apply`` to run with its default
  ``--validate=strict``: they advertise server-side field validation, so kubectl validates nothing
  client-side), ``/healthz``, ``/livez``, ``/readyz``.
* Resources from the ``RESOURCES`` table: ``namespaces``, ``serviceaccounts`` and ``pods``. A new
  kind is one table entry.
* Verbs: get, list (``labelSelector`` with the full set-based syntax, ``fieldSelector`` on the
  fields the table allows, ``limit``/``continue``, cluster-wide lists of namespaced resources),
  create (``generateName`` too), update (PUT, optimistic concurrency on
  ``metadata.resourceVersion``), patch (JSON patch, merge patch, strategic merge patch,
  server-side apply), delete (``preconditions`` honoured) and deletecollection.
* ``dryRun=All`` on every write (for DELETE also ``"dryRun": ["All"]`` in DeleteOptions): the
  response is what the write would return (a dry-run create has no resourceVersion, as in
  Kubernetes), nothing is stored and the resourceVersion counter does not move. This is what
  makes Ansible check mode exact.
* A write that changes nothing (same content, same managed fields) stores nothing and returns the
  object with its old resourceVersion, like the real apiserver, so clients report "unchanged".
* Server-set fields: ``uid``, ``creationTimestamp``, ``resourceVersion`` (one global counter),
  ``generation`` (kinds flagged in the table), ``managedFields`` (see below; the manager is the
  ``fieldManager`` parameter, else the User-Agent's product name, as in Kubernetes), namespace label
  ``kubernetes.io/metadata.name``, namespace ``spec.finalizers`` and ``status.phase``.
* Default state: namespaces ``default``, ``kube-system`` and ``kube-public``; every namespace,
  including new ones, gets a ``default`` ServiceAccount (what the real controller does).
* Test hooks, outside the API space: ``GET /_emulator/requests`` (request log),
  ``DELETE /_emulator/requests`` (reset it), ``GET /_emulator/objects`` (stored objects).

Known limits (what it does NOT emulate):

* No authentication or authorisation, no TLS, no admission (webhooks, quotas, limit ranges,
  pod security), no schema validation beyond names, kinds, labels and annotations
  (``fieldValidation`` is accepted and ignored, so unknown fields are stored as sent), no OpenAPI
  schemas (``kubectl explain`` shows no fields), no defaulting of pod specs.
* Only core/v1 (``/apis`` lists no groups), no subresources (``status``, ``finalize``, ``token``,
  ``log``, ``exec``...), no aggregated discovery.
* Answers are JSON (the empty ``/openapi/v2`` also comes as protobuf: ``kubectl apply`` asks for
  it so), never a server-side ``Table`` (``Accept: ...;as=Table``): kubectl's default ``get`` output
  then shows NAME and AGE only. Request bodies are JSON or YAML; protobuf and CBOR bodies get 415,
  so the commands of kubectl's typed clients (``kubectl create namespace|serviceaccount``) fail:
  ``kubectl apply -f`` does the same job.
* No controllers beyond the default ServiceAccount: pods are stored, never scheduled (their
  ``status.phase`` stays ``Pending``), so waiting for a pod condition times out.
* No garbage collection, finalizers or graceful deletion: deleting an object removes it at once;
  deleting a namespace removes it and every namespaced object in it immediately (the response
  still shows the namespace ``Terminating``, as the real API does). So ``kubectl delete -f`` of a
  file listing a Namespace before its objects reports NotFound for those objects, where a real
  cluster would still have them while the namespace terminates.
* Strategic merge patch is approximated: maps merge like a JSON merge patch, lists whose items
  all carry a ``name`` merge by name (``$patch: delete|replace``, ``$setElementOrder``,
  ``$deleteFromPrimitiveList`` and ``$retainKeys`` are understood), every other list is replaced.
* Server-side apply is approximated: ownership is tracked per leaf field (lists are atomic, so
  no ``k:``/``v:`` keys in ``fieldsV1``), conflicts are raised when another manager owns a field
  the applied configuration changes, ``force=true`` takes ownership, and fields a manager stops
  applying are removed when nobody else owns them. ``status`` is never tracked.
* No watch: ``?watch=true`` gets 405 and no kind lists the ``watch`` verb, so ``kubectl get -w``,
  ``kubectl wait`` and ``k8s``/``k8s_info`` with ``wait: true`` do not work. ``kubectl delete`` still
  waits for the deletion: it reads the object back, and deleting is immediate here.
* Everything lives in memory behind one lock; the store is lost when the process ends.

In-process use (``KubeEmulator``)::

    with KubeEmulator() as emulator:      # or .start() / .stop(); 127.0.0.1, a free port
        emulator.write_kubeconfig(path)    # plain-http server URL, a dummy token
        ...                                # .url, .requests, .reset_requests(), .objects()

Run it standalone from the repository root::

    python -m tests.stack.kube_emulator [--port 8001] [--kubeconfig /tmp/kubeconfig]

It prints ``READY <url>`` once listening (on a free port unless ``--port`` is given) and serves
until SIGTERM or SIGINT. Set
``KUBE_EMULATOR_DEBUG=1`` to log every request to stderr.
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import datetime
import json
import os
import random
import re
import signal
import socketserver
import sys
import threading
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlsplit

import yaml

DEBUG_ENV = "KUBE_EMULATOR_DEBUG"
SERVER_VERSION = {"major": "1", "minor": "36"}

MUTATING_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update")
NAMESPACE_VERBS = ("create", "delete", "get", "list", "patch", "update")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")
SYSTEM_MANAGER = "kube-apiserver"

# Fields the server owns: never attributed to a field manager, never taken from a request.
SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "managedFields", "selfLink")
UNTRACKED_PATHS = (("apiVersion",), ("kind",), ("status",), ("metadata", "name"), ("metadata", "namespace")) + tuple(
    ("metadata", name) for name in SERVER_FIELDS)

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_TERM = re.compile(
    r"^\s*(?P<neg>!?)\s*(?P<key>[A-Za-z0-9._/-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9._-]*)|\s(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$")
FIELD_TERM = re.compile(r"^\s*(?P<key>[A-Za-z0-9._-]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*?)\s*$")
_MISSING = object()


# ---------------------------------------------------------------------------------------------
# Resource table
# ---------------------------------------------------------------------------------------------

def _prepare_namespace(obj: dict, old: Optional[dict]) -> None:
    """What the namespace strategy does on create and update."""
    name = obj["metadata"]["name"]
    labels = obj["metadata"].get("labels") or {}
    labels["kubernetes.io/metadata.name"] = name
    obj["metadata"]["labels"] = labels
    # finalizers and status belong to subresources: a main-resource write cannot change them
    finalizers = (old or {}).get("spec", {}).get("finalizers", ["kubernetes"])
    obj["spec"] = dict(obj.get("spec") or {}, finalizers=finalizers)
    obj["status"] = copy.deepcopy(old["status"]) if old else {"phase": "Active"}


def _prepare_pod(obj: dict, old: Optional[dict]) -> None:
    """The ServiceAccount admission default and the status subresource split."""
    spec = obj.get("spec") or {}
    spec.setdefault("serviceAccountName", "default")
    obj["spec"] = spec
    obj["status"] = copy.deepcopy(old["status"]) if old else {"phase": "Pending"}


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One served resource. Adding a kind to the emulator is adding one of these."""

    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple = ()
    categories: tuple = ()  # e.g. "all", for ``kubectl get all``
    verbs: tuple = ALL_VERBS
    field_selectors: tuple = ("metadata.name", "metadata.namespace")
    name_pattern: re.Pattern = DNS1123_SUBDOMAIN
    generation: bool = False
    return_deleted_object: bool = False  # DELETE answers with the object instead of a Status
    prepare: Optional[Callable[[dict, Optional[dict]], None]] = None  # strategy hook (new, old)

    def discovery(self) -> dict:
        entry = {"name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
                 "kind": self.kind, "verbs": list(self.verbs)}
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        return entry


RESOURCES = {rt.plural: rt for rt in (
    ResourceType("namespaces", "namespace", "Namespace", namespaced=False, short_names=("ns",), verbs=NAMESPACE_VERBS,
                 field_selectors=("metadata.name", "metadata.namespace", "status.phase"),
                 name_pattern=DNS1123_LABEL, return_deleted_object=True, prepare=_prepare_namespace),
    ResourceType("serviceaccounts", "serviceaccount", "ServiceAccount", namespaced=True, short_names=("sa",)),
    ResourceType("pods", "pod", "Pod", namespaced=True, short_names=("po",), categories=("all",),
                 field_selectors=("metadata.name", "metadata.namespace", "spec.nodeName", "spec.serviceAccountName", "status.phase"),
                 generation=True, return_deleted_object=True, prepare=_prepare_pod),
)}
NAMESPACES = RESOURCES["namespaces"]
SERVICE_ACCOUNTS = RESOURCES["serviceaccounts"]


# ---------------------------------------------------------------------------------------------
# Errors: every failure reaches the client as a metav1.Status, like the real API
# ---------------------------------------------------------------------------------------------

class ApiError(Exception):
    """An API failure, rendered as a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: Optional[dict] = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(plural: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{plural} "{name}" not found', {"name": name, "kind": plural})


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def conflict(plural: str, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {plural} "{name}": {why}',
                    {"name": name, "kind": plural})


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def invalid(rt: ResourceType, name: str, field: str, value: Any, detail: str) -> ApiError:
    cause = {"reason": "FieldValueInvalid", "message": f"Invalid value: {json.dumps(value)}: {detail}", "field": field}
    return ApiError(422, "Invalid", f'{rt.kind} "{name}" is invalid: {field}: {cause["message"]}',
                    {"name": name, "kind": rt.kind, "causes": [cause]})


# ---------------------------------------------------------------------------------------------
# Small pure helpers
# ---------------------------------------------------------------------------------------------

def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dig(obj: Any, path: tuple) -> Any:
    """The value at ``path`` (a tuple of map keys), or ``_MISSING``."""
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def _remove_path(obj: dict, path: tuple) -> None:
    """Delete the value at ``path`` and the maps it leaves empty (but never a top-level field)."""
    parents = [obj]
    for key in path[:-1]:
        child = parents[-1].get(key)
        if not isinstance(child, dict):
            return
        parents.append(child)
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 1, -1):
        if parents[depth]:
            break
        parents[depth - 1].pop(path[depth - 1], None)


def _leaf_paths(obj: dict, prefix: tuple = ()) -> set:
    """Every leaf of a nested map; lists, scalars and empty maps are leaves."""
    paths = set()
    for key, value in obj.items():
        path = prefix + (key,)
        if isinstance(value, dict) and value:
            paths |= _leaf_paths(value, path)
        else:
            paths.add(path)
    return paths


def _tracked_paths(obj: dict) -> set:
    return {path for path in _leaf_paths(obj) if not any(path[:len(p)] == p for p in UNTRACKED_PATHS)}


def _overlaps(first: tuple, second: tuple) -> bool:
    shorter = min(len(first), len(second))
    return first[:shorter] == second[:shorter]


def _deep_merge(base: Any, overlay: Any) -> Any:
    """Maps merge recursively; anything else in ``overlay`` replaces what ``base`` holds."""
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return copy.deepcopy(overlay)
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        merged[key] = _deep_merge(merged.get(key), value)
    return merged


def _split_top_level(text: str) -> list:
    """Split a selector on the commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def parse_label_selector(text: Optional[str]) -> list:
    """Parse a label selector into ``(key, operator, values)`` requirements."""
    requirements = []
    for term in _split_top_level(text or ""):
        match = LABEL_TERM.match(term)
        if not match or (match["neg"] and (match["op"] or match["setop"])):
            raise bad_request(f"unable to parse requirement: {term.strip()!r}")
        if match["op"]:
            operator = "!=" if match["op"] == "!=" else "="
            requirements.append((match["key"], operator, (match["value"],)))
        elif match["setop"]:
            values = tuple(value.strip() for value in match["values"].split(",") if value.strip())
            requirements.append((match["key"], match["setop"], values))
        else:
            requirements.append((match["key"], "!exists" if match["neg"] else "exists", ()))
    return requirements


def _requirement_met(labels: dict, key: str, operator: str, values: tuple) -> bool:
    if operator == "exists":
        return key in labels
    if operator == "!exists":
        return key not in labels
    if operator == "=":
        return labels.get(key) == values[0]
    if operator == "!=":
        return labels.get(key) != values[0]  # also true when the label is absent, as in Kubernetes
    if operator == "in":
        return key in labels and labels[key] in values
    return labels.get(key) not in values  # notin


def labels_match(requirements: list, labels: Optional[dict]) -> bool:
    return all(_requirement_met(labels or {}, *requirement) for requirement in requirements)


def parse_field_selector(text: Optional[str], rt: ResourceType) -> list:
    """Parse a field selector into ``(dotted path, negate, value)`` terms the kind supports."""
    terms = []
    for term in _split_top_level(text or ""):
        match = FIELD_TERM.match(term)
        if not match:
            raise bad_request(f"invalid field selector: {term.strip()!r}")
        if match["key"] not in rt.field_selectors:
            raise bad_request(f'field label not supported: {match["key"]}')
        terms.append((match["key"], match["op"] == "!=", match["value"]))
    return terms


def fields_match(terms: list, obj: dict) -> bool:
    for key, negate, wanted in terms:
        value = _dig(obj, tuple(key.split(".")))
        actual = "" if value is _MISSING or value is None else str(value)
        if (actual == wanted) == negate:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Patch formats
# ---------------------------------------------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value


def _is_named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value)


def _merge_named_list(current: list, items: list) -> list:
    merged = copy.deepcopy(current)
    for item in items:
        index = next((i for i, old in enumerate(merged) if old["name"] == item["name"]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
        elif index is None:
            merged.append(_strip_directives(item))
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


def _strategic_list(current: Any, items: list) -> list:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in items):
        return _strip_directives([item for item in items if not (isinstance(item, dict) and item.get("$patch") == "replace")])
    if _is_named_list(items) and (current is None or _is_named_list(current)):
        return _merge_named_list(current or [], items)
    return _strip_directives(items)


def _reorder(current: Any, order: list) -> Any:
    """Apply a ``$setElementOrder`` directive: listed items first, in that order."""
    if not isinstance(current, list):
        return current

    def ident(item):
        return item.get("name") if isinstance(item, dict) else item

    wanted = [ident(item) for item in order]
    listed = sorted((item for item in current if ident(item) in wanted), key=lambda item: wanted.index(ident(item)))
    return listed + [item for item in current if ident(item) not in wanted]


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """An approximation of the strategic merge patch (see the module docstring)."""
    if not isinstance(patch, dict):
        return _strip_directives(patch)
    if patch.get("$patch") == "replace":
        return _strip_directives(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    if isinstance(patch.get("$retainKeys"), list):
        result = {key: value for key, value in result.items() if key in patch["$retainKeys"]}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _strategic_list(result.get(key), value)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    for key, value in patch.items():
        directive, _sep, field = key.partition("/")
        if directive == "$deleteFromPrimitiveList" and isinstance(result.get(field), list):
            result[field] = [item for item in result[field] if item not in value]
        elif directive == "$setElementOrder" and field in result:
            result[field] = _reorder(result[field], value)
    return result


def _pointer(path: Any) -> list:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise ApiError(422, "Invalid", f"invalid JSON pointer: {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def _list_index(container: list, token: str, allow_end: bool) -> int:
    if allow_end and token == "-":
        return len(container)
    if not token.isdigit() or int(token) > len(container) - (0 if allow_end else 1):
        raise ApiError(422, "Invalid", f"JSON patch: index {token!r} out of range")
    return int(token)


def _walk(doc: Any, tokens: list) -> Any:
    for token in tokens:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_list_index(doc, token, False)]
        else:
            raise ApiError(422, "Invalid", f"JSON patch: path /{'/'.join(tokens)} not found")
    return doc


def _json_patch_add(doc: Any, tokens: list, value: Any) -> Any:
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1])
    if isinstance(parent, list):
        parent.insert(_list_index(parent, tokens[-1], True), value)
    elif isinstance(parent, dict):
        parent[tokens[-1]] = value
    else:
        raise ApiError(422, "Invalid", "JSON patch: cannot add to a scalar")
    return doc


def _json_patch_remove(doc: Any, tokens: list) -> Any:
    if not tokens:
        raise ApiError(422, "Invalid", "JSON patch: cannot remove the whole document")
    parent = _walk(doc, tokens[:-1])
    _walk(parent, tokens[-1:])  # raises when missing
    if isinstance(parent, list):
        parent.pop(_list_index(parent, tokens[-1], False))
    else:
        del parent[tokens[-1]]
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise bad_request("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for operation in operations:
        if not isinstance(operation, dict):
            raise bad_request("a JSON patch operation must be an object")
        op, tokens = operation.get("op"), _pointer(operation.get("path"))
        if op == "add":
            doc = _json_patch_add(doc, tokens, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            doc = _json_patch_remove(doc, tokens)
        elif op == "replace":
            value = copy.deepcopy(operation.get("value"))
            doc = _json_patch_add(_json_patch_remove(doc, tokens), tokens, value) if tokens else value
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from"))
            value = copy.deepcopy(_walk(doc, source))
            if op == "move":
                doc = _json_patch_remove(doc, source)
            doc = _json_patch_add(doc, tokens, value)
        elif op == "test":
            if _walk(doc, tokens) != operation.get("value"):
                raise ApiError(422, "Invalid", f"JSON patch: test failed at {operation.get('path')}")
        else:
            raise bad_request(f"JSON patch: unknown operation {op!r}")
    return doc


# ---------------------------------------------------------------------------------------------
# Managed fields (the bookkeeping behind server-side apply)
# ---------------------------------------------------------------------------------------------

def _decode_fields(fields: dict, prefix: tuple = ()) -> set:
    paths = set()
    for key, child in (fields or {}).items():
        if not key.startswith("f:"):
            continue  # "." markers and list keys ("k:", "v:") are not modelled
        path = prefix + (key[2:],)
        nested = _decode_fields(child, path) if isinstance(child, dict) else set()
        paths |= nested or {path}
    return paths


def _encode_fields(paths: set) -> dict:
    tree: dict = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault("f:" + key, {})
    return tree


def _read_managers(obj: Optional[dict]) -> list:
    entries = []
    for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        entries.append({"manager": entry.get("manager", ""), "operation": entry.get("operation", "Update"),
                        "time": entry.get("time"), "paths": _decode_fields(entry.get("fieldsV1") or {})})
    return entries


def _write_managers(entries: list) -> list:
    """Entries back to managedFields; an Update entry that owns nothing any more is dropped."""
    return [{"manager": entry["manager"], "operation": entry["operation"], "apiVersion": "v1", "time": entry["time"],
             "fieldsType": "FieldsV1", "fieldsV1": _encode_fields(entry["paths"])}
            for entry in entries if entry["paths"] or entry["operation"] == "Apply"]


def _manager_entry(entries: list, manager: str, operation: str) -> dict:
    for entry in entries:
        if entry["manager"] == manager and entry["operation"] == operation:
            return entry
    entry = {"manager": manager, "operation": operation, "time": None, "paths": set()}
    entries.append(entry)
    return entry


def track_update(old: Optional[dict], new: dict, manager: str) -> list:
    """managedFields after a non-apply write: the writer takes every field it changed."""
    entries = _read_managers(old)
    before = old or {}
    changed = {path for path in _tracked_paths(new) if _dig(before, path) != _dig(new, path)}
    removed = {path for path in _tracked_paths(before) if _dig(new, path) is _MISSING}
    if not changed and not removed:
        return copy.deepcopy(before.get("metadata", {}).get("managedFields") or [])
    for entry in entries:
        entry["paths"] = {p for p in entry["paths"] if not any(_overlaps(p, c) for c in changed | removed)}
    if changed:
        mine = _manager_entry(entries, manager, "Update")
        mine["paths"] |= changed
        mine["time"] = _now()
    return _write_managers(entries)


def _apply_conflicts(entries: list, manager: str, current: dict, config: dict, applied: set) -> dict:
    """Applied fields whose value would change while another manager owns them: {path: manager}."""
    conflicts = {}
    for entry in entries:
        if entry["manager"] == manager and entry["operation"] == "Apply":
            continue
        for path in applied:
            value = _dig(current, path)
            if value is _MISSING or value == _dig(config, path):
                continue
            if any(_overlaps(path, owned) for owned in entry["paths"]):
                conflicts[path] = entry["manager"]
    return conflicts


def _conflict_error(rt: ResourceType, name: str, conflicts: dict) -> ApiError:
    """The apiserver's wording: one line per manager, listing the contested fields."""
    causes = [{"reason": "FieldManagerConflict", "message": f'conflict with "{owner}" using v1',
               "field": "." + ".".join(path)} for path, owner in sorted(conflicts.items())]
    owners: dict = {}
    for cause in causes:
        owners.setdefault(cause["message"], []).append(cause["field"])
    if len(causes) == 1:
        detail = f'{causes[0]["message"]}: {causes[0]["field"]}'
    else:
        detail = "\n".join(f"{message.replace('conflict ', 'conflicts ', 1)}:\n" + "\n".join(f"- {field}" for field in fields)
                           for message, fields in owners.items())
    plural = "conflict" if len(causes) == 1 else "conflicts"
    return ApiError(409, "Conflict", f"Apply failed with {len(causes)} {plural}: {detail}",
                    {"name": name, "kind": rt.plural, "causes": causes})


def server_side_apply(rt: ResourceType, current: Optional[dict], config: dict, manager: str, force: bool) -> dict:
    """Merge an applied configuration into ``current`` the server-side-apply way; new object."""
    entries = _read_managers(current)
    applied = _tracked_paths(config)
    base = copy.deepcopy(current) if current else {}
    conflicts = _apply_conflicts(entries, manager, base, config, applied)
    if conflicts and not force:
        raise _conflict_error(rt, config["metadata"]["name"], conflicts)
    for entry in entries:
        if not (entry["manager"] == manager and entry["operation"] == "Apply"):
            entry["paths"] = {p for p in entry["paths"] if not any(_overlaps(p, c) for c in conflicts)}
    mine = _manager_entry(entries, manager, "Apply")
    others = [path for entry in entries if entry is not mine for path in entry["paths"]]
    for stale in mine["paths"] - applied:
        if not any(_overlaps(stale, owned) for owned in others):
            _remove_path(base, stale)
    result = _deep_merge(base, {k: v for k, v in config.items() if k != "metadata"})
    result["metadata"] = _deep_merge(base.get("metadata") or {}, _user_metadata(config["metadata"]))
    # the entry's time moves only when this apply changed something (a no-op must stay a no-op)
    if mine["time"] is None or mine["paths"] != applied or _content(result) != _content(current or {}):
        mine["time"] = _now()
    mine["paths"] = applied
    result["metadata"]["managedFields"] = _write_managers(entries)
    return result


def _content(obj: dict) -> dict:
    """An object without its managedFields."""
    content = dict(obj, metadata=dict(obj.get("metadata") or {}))
    content["metadata"].pop("managedFields", None)
    return content


def _user_metadata(metadata: dict) -> dict:
    return {key: value for key, value in metadata.items() if key not in SERVER_FIELDS}


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class WriteOptions:
    """Per-request write settings."""

    dry_run: bool = False
    manager: str = SYSTEM_MANAGER
    force: bool = False


class Store:
    """All objects and the resourceVersion counter, behind one lock."""

    def __init__(self):
        self._lock = threading.RLock()  # re-entrant: delete_collection lists while it holds it
        self._objects: dict = {}  # (plural, namespace or "", name) -> object
        self._rv = 0
        for name in DEFAULT_NAMESPACES:
            self.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, WriteOptions())

    # -- reads ------------------------------------------------------------------------------

    def snapshot(self) -> list:
        with self._lock:
            return [copy.deepcopy(self._objects[key]) for key in sorted(self._objects)]

    def get(self, rt: ResourceType, namespace: Optional[str], name: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._existing(rt, namespace, name))

    def list(self, rt: ResourceType, namespace: Optional[str], query: dict) -> dict:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rt)
        after = _decode_continue(query.get("continue"))
        limit = _int_param(query, "limit", 0)
        with self._lock:
            keys = [key for key in sorted(self._objects) if key[0] == rt.plural and namespace in (None, key[1]) and key[1:] > after]
            items = [self._objects[key] for key in keys]
            items = [obj for obj in items if labels_match(labels, obj["metadata"].get("labels")) and fields_match(fields, obj)]
            metadata = {"resourceVersion": str(self._rv)}
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            metadata["continue"] = _encode_continue((last.get("namespace", ""), last["name"]))
            metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {"kind": rt.kind + "List", "apiVersion": "v1", "metadata": metadata,
                "items": [_as_list_item(obj) for obj in items]}

    def _existing(self, rt: ResourceType, namespace: Optional[str], name: str) -> dict:
        obj = self._objects.get(_key(rt, namespace, name))
        if obj is None:
            raise not_found(rt.plural, name)
        return obj

    def _require_namespace(self, namespace: str) -> None:
        if _key(NAMESPACES, None, namespace) not in self._objects:
            raise not_found("namespaces", namespace)

    # -- writes -----------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: Optional[str], body: Any, options: WriteOptions) -> dict:
        obj = _request_object(rt, body, namespace)
        if obj["metadata"].get("resourceVersion"):
            raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        with self._lock:
            _assign_name(rt, obj)
            key = _key(rt, namespace, obj["metadata"]["name"])
            if rt.namespaced:
                self._require_namespace(namespace)
            if key in self._objects:
                raise ApiError(409, "AlreadyExists", f'{rt.plural} "{key[2]}" already exists', {"name": key[2], "kind": rt.plural})
            _stamp_new(rt, obj)
            obj["metadata"]["managedFields"] = track_update(None, obj, options.manager)
            return self._commit(rt, key, obj, None, options)

    def replace(self, rt: ResourceType, namespace: Optional[str], name: str, body: Any, options: WriteOptions) -> dict:
        obj = _request_object(rt, body, namespace, name)
        with self._lock:
            old = self._existing(rt, namespace, name)
            _check_resource_version(rt, obj, old)
            new = _updated(rt, old, obj)
            new["metadata"]["managedFields"] = track_update(old, new, options.manager)
            return self._commit(rt, _key(rt, namespace, name), new, old, options)

    def patch(self, rt: ResourceType, namespace: Optional[str], name: str, patch_type: str, patch: Any,
              options: WriteOptions) -> tuple:
        """Returns ``(created, object)``; only an apply patch may create."""
        with self._lock:
            old = self._objects.get(_key(rt, namespace, name))
            if patch_type == "apply":
                return old is None, self._apply(rt, namespace, name, old, patch, options)
            if old is None:
                raise not_found(rt.plural, name)
            patched = {"merge": merge_patch, "strategic": strategic_merge_patch, "json": json_patch}[patch_type](old, patch)
            obj = _request_object(rt, patched, namespace, name)
            _check_resource_version(rt, obj, old)
            new = _updated(rt, old, obj)
            new["metadata"]["managedFields"] = track_update(old, new, options.manager)
            return False, self._commit(rt, _key(rt, namespace, name), new, old, options)

    def _apply(self, rt: ResourceType, namespace: Optional[str], name: str, old: Optional[dict], config: Any,
               options: WriteOptions) -> dict:
        config = _request_object(rt, config, namespace, name)
        if old is None:
            if rt.namespaced:
                self._require_namespace(namespace)
            _validate_name(rt, name)
            new = server_side_apply(rt, None, config, options.manager, options.force)
            managed = new["metadata"]["managedFields"]
            _stamp_new(rt, new)
            new["metadata"]["managedFields"] = managed
        else:
            _check_resource_version(rt, config, old)
            merged = server_side_apply(rt, old, config, options.manager, options.force)
            new = _updated(rt, old, merged)
            new["metadata"]["managedFields"] = merged["metadata"]["managedFields"]
        return self._commit(rt, _key(rt, namespace, name), new, old, options)

    def delete(self, rt: ResourceType, namespace: Optional[str], name: str, options: WriteOptions, delete_options: dict) -> dict:
        with self._lock:
            old = self._existing(rt, namespace, name)
            _check_preconditions(rt, old, delete_options.get("preconditions") or {})
            gone = self._remove(rt, old, options.dry_run)
        return gone if rt.return_deleted_object else _success_status(rt, gone)

    def delete_collection(self, rt: ResourceType, namespace: Optional[str], query: dict, options: WriteOptions) -> dict:
        with self._lock:
            listed = self.list(rt, namespace, {key: query[key] for key in ("labelSelector", "fieldSelector") if key in query})
            gone = [self._remove(rt, self._objects[_key(rt, item["metadata"].get("namespace"), item["metadata"]["name"])], options.dry_run)
                    for item in listed["items"]]
            listed["metadata"] = {"resourceVersion": str(self._rv)}
        listed["items"] = [_as_list_item(obj) for obj in gone]
        return listed

    def _remove(self, rt: ResourceType, old: dict, dry_run: bool) -> dict:
        gone = copy.deepcopy(old)
        if rt is NAMESPACES:
            gone["metadata"]["deletionTimestamp"] = _now()
            gone["status"] = {"phase": "Terminating"}
        if dry_run:
            return gone
        if rt is NAMESPACES:  # no namespace controller: empty the namespace right away
            for key in [key for key in self._objects if key[1] == old["metadata"]["name"]]:
                self._drop(key, copy.deepcopy(self._objects[key]))
        self._drop(_key(rt, old["metadata"].get("namespace"), old["metadata"]["name"]), gone)
        return copy.deepcopy(gone)

    def _drop(self, key: tuple, gone: dict) -> None:
        del self._objects[key]
        self._rv += 1
        gone["metadata"]["resourceVersion"] = str(self._rv)

    def _commit(self, rt: ResourceType, key: tuple, new: dict, old: Optional[dict], options: WriteOptions) -> dict:
        """Store ``new`` unless it is a dry run or changes nothing; returns what the client sees."""
        if old is not None and new == old:
            return copy.deepcopy(old)
        if options.dry_run:
            return copy.deepcopy(new)
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[key] = new
        if rt is NAMESPACES and old is None:
            self._create_default_service_account(key[2])
        return copy.deepcopy(new)

    def _create_default_service_account(self, namespace: str) -> None:
        """What the serviceaccount controller does for every namespace."""
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}}
        _stamp_new(SERVICE_ACCOUNTS, account)
        self._commit(SERVICE_ACCOUNTS, _key(SERVICE_ACCOUNTS, namespace, "default"), account, None, WriteOptions())


# -- store helpers (pure, or only touching the object they are given) ----------------------------

def _key(rt: ResourceType, namespace: Optional[str], name: str) -> tuple:
    return (rt.plural, (namespace or "") if rt.namespaced else "", name)


def _int_param(query: dict, name: str, default: int) -> int:
    value = query.get(name)
    if value in (None, ""):
        return default
    if not value.isdigit():
        raise bad_request(f"invalid {name}: {value!r}")
    return int(value)


def _encode_continue(after: tuple) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(after)).encode()).decode()


def _decode_continue(token: Optional[str]) -> tuple:
    if not token:
        return ("",)
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as err:
        raise bad_request(f"invalid continue token: {err}") from err
    return (namespace, name)


def _as_list_item(obj: dict) -> dict:
    """List items of built-in kinds carry no apiVersion/kind on the wire."""
    return {key: copy.deepcopy(value) for key, value in obj.items() if key not in ("apiVersion", "kind")}


def _request_object(rt: ResourceType, body: Any, namespace: Optional[str], name: Optional[str] = None) -> dict:
    """Check a request body (or patch result) against the URL and the kind; returns a copy."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON or YAML object")
    obj = copy.deepcopy(body)
    if obj.get("apiVersion") != "v1" or obj.get("kind") != rt.kind:
        raise bad_request(f"the object must have apiVersion v1 and kind {rt.kind}, got apiVersion "
                          f"{obj.get('apiVersion')!r} and kind {obj.get('kind')!r}")
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise bad_request("metadata must be an object")
    obj["metadata"] = metadata
    if rt.namespaced:
        if metadata.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    if name is not None:
        if metadata.get("name") not in (None, "", name):
            raise bad_request(f"the name of the object ({metadata.get('name')}) does not match the name on the URL ({name})")
        metadata["name"] = name
    for field in ("labels", "annotations"):
        values = metadata.get(field)
        if values is not None and not (isinstance(values, dict) and all(isinstance(v, str) for v in values.values())):
            raise bad_request(f"metadata.{field} must map strings to strings")
    return obj


def _assign_name(rt: ResourceType, obj: dict) -> None:
    metadata = obj["metadata"]
    if not metadata.get("name") and metadata.get("generateName"):
        suffix = "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
        metadata["name"] = metadata["generateName"] + suffix
    _validate_name(rt, metadata.get("name") or "")


def _validate_name(rt: ResourceType, name: str) -> None:
    if not name:
        raise ApiError(422, "Invalid", f"{rt.kind} is invalid: metadata.name: Required value: name or generateName is required",
                       {"kind": rt.kind, "causes": [{"reason": "FieldValueRequired", "field": "metadata.name"}]})
    limit = 63 if rt.name_pattern is DNS1123_LABEL else 253
    if len(name) > limit or not rt.name_pattern.match(name):
        kind = "RFC 1123 label" if rt.name_pattern is DNS1123_LABEL else "RFC 1123 subdomain"
        raise invalid(rt, name, "metadata.name", name,
                      f"a lowercase {kind} must consist of lower case alphanumeric characters, '-' or '.', at most {limit} "
                      "characters, and must start and end with an alphanumeric character")


def _stamp_new(rt: ResourceType, obj: dict) -> None:
    """Server-set metadata of a new object, then the kind's strategy."""
    metadata = obj["metadata"]
    for field in SERVER_FIELDS:
        metadata.pop(field, None)
    metadata["uid"] = str(uuid.uuid4())
    metadata["creationTimestamp"] = _now()
    if rt.generation:
        metadata["generation"] = 1
    if rt.prepare:
        rt.prepare(obj, None)


def _updated(rt: ResourceType, old: dict, candidate: dict) -> dict:
    """``candidate`` with the server-owned parts of ``old`` carried over (managedFields excluded)."""
    new = copy.deepcopy(candidate)
    metadata = new["metadata"]
    for field in SERVER_FIELDS:
        metadata.pop(field, None)
        if field in old["metadata"] and field != "managedFields":
            metadata[field] = copy.deepcopy(old["metadata"][field])
    metadata["managedFields"] = copy.deepcopy(old["metadata"].get("managedFields") or [])
    if rt.prepare:
        rt.prepare(new, old)
    if rt.generation and _spec_of(new) != _spec_of(old):
        metadata["generation"] = old["metadata"].get("generation", 0) + 1
    return new


def _spec_of(obj: dict) -> dict:
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}


def _check_resource_version(rt: ResourceType, obj: dict, old: dict) -> None:
    given = obj["metadata"].get("resourceVersion")
    if given and given != old["metadata"]["resourceVersion"]:
        raise conflict(rt.plural, old["metadata"]["name"],
                       "the object has been modified; please apply your changes to the latest version and try again")


def _check_preconditions(rt: ResourceType, old: dict, preconditions: dict) -> None:
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted, actual = preconditions.get(field), old["metadata"].get(field)
        if wanted and wanted != actual:
            raise conflict(rt.plural, old["metadata"]["name"],
                           f"Precondition failed: {label} in precondition: {wanted}, {label} in object meta: {actual}")


def _success_status(rt: ResourceType, gone: dict) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": gone["metadata"]["name"], "kind": rt.plural, "uid": gone["metadata"]["uid"]}}


# ---------------------------------------------------------------------------------------------
# HTTP: discovery documents and routing (no sockets here: see _Handler)
# ---------------------------------------------------------------------------------------------

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
    about field validation, so it must parse; an empty spec means "no schema, skip"."""
    info = {"title": "Kubernetes API emulator", "version": _git_version()}
    if "protobuf" in (req.headers.get("Accept") or ""):
        info_message = _protobuf_string(1, info["title"].encode()) + _protobuf_string(2, info["version"].encode())
        document = _protobuf_string(1, b"2.0") + _protobuf_string(2, info_message)
        return Response(200, document, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    return Response(200, {"swagger": "2.0", "info": info, "paths": {}, "definitions": {}})


def _decode_body(req: Request) -> Any:
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

    def __init__(self, store: Store, address: str):
        self.store = store
        self.address = address

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        documents = {
            "/version": lambda _req: Response(200, _version_document()),
            "/api": lambda _req: Response(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.address}]}),
            "/api/v1": lambda _req: Response(200, {"kind": "APIResourceList", "groupVersion": "v1",
                                                   "resources": [rt.discovery() for rt in RESOURCES.values()]}),
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


# ---------------------------------------------------------------------------------------------
# HTTP: sockets
# ---------------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "kube-emulator"
    sys_version = ""
    timeout = 300  # idle keep-alive connections give up their thread after this
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the client's delayed
    # ACK, about 40 ms on every request. The apiserver (Go) sends without that delay; so does the emulator.
    disable_nagle_algorithm = True

    def do_GET(self):
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if os.environ.get(DEBUG_ENV) == "1":
            headers = getattr(self, "headers", None) or {}  # unset when the request line did not parse
            super().log_message(format + " (Content-Type: %s, Accept: %s)", *args, headers.get("Content-Type"), headers.get("Accept"))

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        emulator = self.server.emulator
        try:
            body = self._read_body()
            if url.path.startswith("/_emulator/"):
                response = emulator.control(self.command, url.path)
            else:
                emulator.record(self.command, url.path, query, body)
                response = emulator.api.handle(Request(self.command, url.path, query, body, self.headers))
        except ApiError as err:
            response = Response(err.code, err.status())
        except Exception as err:  # an emulator bug: answer like the apiserver would, keep serving
            traceback.print_exc(file=sys.stderr)
            response = Response(500, ApiError(500, "InternalError", f"kube emulator error: {err!r}").status())
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if not size:
                    self.rfile.readline()  # the empty line after the last chunk
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            raise bad_request("invalid Content-Length")
        return self.rfile.read(int(length)) if int(length) else b""

    def _send(self, response: Response) -> None:
        payload = response.body if isinstance(response.body, bytes) else json.dumps(response.body).encode()
        self.send_response(response.code)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple, emulator: "KubeEmulator"):
        self.emulator = emulator
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on a resolver; we need no name
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        # a client hanging up abruptly is normal; anything else is a bug worth a traceback
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

class KubeEmulator:
    """The emulator: ``start()`` serves in a daemon thread, ``stop()`` ends it.

    ``requests`` is the log of API requests (``/_emulator/`` calls excluded), ``objects()`` a
    snapshot of everything stored; both exist so tests can prove what was (not) written.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self.store = Store()
        self.api = Api(self.store, f"{host}:{port}")
        self._requests: list = []
        self._requests_lock = threading.Lock()
        self.kubeconfig: Optional[str] = None  # the last path write_kubeconfig() wrote
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "KubeEmulator":
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self.api.address = f"{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="kube-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> "KubeEmulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list:
        """A copy of the request log: ``{"method", "path", "query", "mutating", "dry_run"}`` dicts."""
        with self._requests_lock:
            return copy.deepcopy(self._requests)

    def reset_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    def objects(self) -> list:
        """A deep-copied snapshot of every stored object, in storage-key order."""
        return self.store.snapshot()

    def record(self, method: str, path: str, query: dict, body: bytes) -> None:
        try:
            dry_run = is_dry_run(query, body if method == "DELETE" else b"")
        except ApiError:
            dry_run = False
        entry = {"method": method, "path": path, "query": dict(query), "mutating": method in MUTATING_METHODS, "dry_run": dry_run}
        with self._requests_lock:
            self._requests.append(entry)

    def control(self, method: str, path: str) -> Response:
        """The ``/_emulator/`` test hooks."""
        if path == "/_emulator/requests" and method == "GET":
            return Response(200, self.requests)
        if path == "/_emulator/requests" and method == "DELETE":
            self.reset_requests()
            return Response(200, [])
        if path == "/_emulator/objects" and method == "GET":
            return Response(200, self.objects())
        raise path_not_found()

    def write_kubeconfig(self, path: str, namespace: str = "default", context: str = "local") -> str:
        """Write a kubeconfig for this emulator (plain http, a dummy token) and return its path."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": "kube-emulator"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
            "current-context": context,
        }
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        self.kubeconfig = path
        return path


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stack.kube_emulator", description="Serve the Kubernetes API emulator.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on, on 127.0.0.1 (default: a free one)")
    parser.add_argument("--kubeconfig", help="also write a kubeconfig for the emulator to this path")
    parser.add_argument("--namespace", default="default", help="namespace of the kubeconfig's context (default: %(default)s)")
    args = parser.parse_args(argv)

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stopping.set())
    emulator = KubeEmulator(port=args.port).start()
    try:
        if args.kubeconfig:
            emulator.write_kubeconfig(args.kubeconfig, args.namespace)
        print(f"READY {emulator.url}", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
