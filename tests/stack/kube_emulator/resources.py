# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The served kinds (one ``ResourceType`` each) and the API errors, which reach clients as a ``Status``."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import re
from typing import Any, Callable, Optional

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update")  # no watch: not served
NAMESPACE_VERBS = ("create", "delete", "get", "list", "patch", "update")

# Fields the server owns: never attributed to a field manager, never taken from a request.
SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "managedFields", "selfLink")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

MISSING = object()  # what dig() finds where a field is absent (None is a value)


def now() -> str:
    """A timestamp as the API writes them (seconds, UTC)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dig(obj: Any, path: tuple) -> Any:
    """The value at ``path`` (a tuple of map keys), or ``MISSING``."""
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return MISSING
        obj = obj[key]
    return obj


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
