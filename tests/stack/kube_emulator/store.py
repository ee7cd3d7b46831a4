# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The store: every object and the resourceVersion counter behind one lock, and each verb's semantics
(validation, server-set fields, optimistic concurrency, dry run, no-op writes, namespace deletion)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import random
import threading
import uuid
from typing import Any, Optional

from tests.stack.kube_emulator.managed_fields import server_side_apply, track_update
from tests.stack.kube_emulator.patch import json_patch, merge_patch, strategic_merge_patch
from tests.stack.kube_emulator.resources import (
    DNS1123_LABEL, NAMESPACES, SERVER_FIELDS, SERVICE_ACCOUNTS, ApiError, ResourceType, bad_request, conflict, invalid, not_found,
    now)
from tests.stack.kube_emulator.selectors import fields_match, labels_match, parse_field_selector, parse_label_selector

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")
SYSTEM_MANAGER = "kube-apiserver"


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
            gone["metadata"]["deletionTimestamp"] = now()
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
    metadata["creationTimestamp"] = now()
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
