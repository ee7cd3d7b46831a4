# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The IRSA ServiceAccount manifests, checked, and what applying or deleting them does to what a namespace holds.

Pure functions of their inputs and of objects already read: the service_account filters
(plugins/filter/service_accounts.py), the preflight's checks and the controller's writes
(:mod:`.service_account_writes`) all decide with them. A refusal raises :class:`~.errors.EksIrsaError` naming the item
and the field.
"""

from __future__ import annotations

import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_token_expiration
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import EXPIRATION_ANNOTATION as TOKEN_EXPIRATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import FIELD_MANAGER
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import MANAGED_BY
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import MANAGED_BY_LABEL
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import REGIONAL_ANNOTATION as STS_REGIONAL_ENDPOINTS
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import ROLE_ARN_ANNOTATION as ROLE_ARN
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import arn_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import parse_service_account


def _as_text_map(value, where):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EksIrsaError(f"{where} must be a mapping of strings, got {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items()}


_LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME_MAX_LENGTH = 63
LABEL_PREFIX_MAX_LENGTH = 253


def _label_key_ok(key):
    prefix, slash, name = key.rpartition("/")
    if slash and not (len(prefix) <= LABEL_PREFIX_MAX_LENGTH and _LABEL_PREFIX_RE.match(prefix)):
        return False
    return len(name) <= LABEL_NAME_MAX_LENGTH and bool(_LABEL_NAME_RE.match(name))


def _checked_labels(value, where):
    """Labels as text, each key and value checked as the API server checks them, so a bad one stops the preflight."""
    labels = _as_text_map(value, where)
    for key, text in labels.items():
        if not _label_key_ok(key):
            raise EksIrsaError(
                f"{where}: {key!r} is not a valid Kubernetes label key: write [prefix/]name, the name up to 63 letters, digits, "
                "'-', '_' or '.' starting and ending with a letter or digit, the optional prefix a DNS subdomain such as example.com")
        if text and not (len(text) <= LABEL_NAME_MAX_LENGTH and _LABEL_NAME_RE.match(text)):
            raise EksIrsaError(
                f"{where}: the value {text!r} of label {key!r} is not a valid Kubernetes label value: use up to 63 letters, digits, "
                "'-', '_' or '.', starting and ending with a letter or digit (or an empty value)")
    return labels


def _checked_names(namespace, name, field):
    """The namespace and ServiceAccount name checked as the role module checks them (DNS-1123, no wildcard)."""
    parse_service_account({"namespace": namespace or "", "name": name or ""}, field=field)


def _checked_item(item, index, namespace):
    """``(name, role_arn)`` of one item, or an error naming the item and the field."""
    if not isinstance(item, dict):
        raise EksIrsaError(f"service_account_items[{index}] must be a mapping with 'name' and 'role_arn', got {type(item).__name__}")
    where = f"service_account_items[{index}] ({item.get('name') or '?'})"
    _checked_names(namespace, item.get("name"), where)
    role_arn = item.get("role_arn")
    validate_role_arn(role_arn, arn_account_id(role_arn) or "<account>", f"{where} role_arn")
    return item["name"], role_arn


def _checked_boolean(value, field="service_account_sts_regional_endpoints"):
    """A boolean option as a bool: YAML's true/false, or a string of them (ansible-core < 2.19)."""
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise EksIrsaError(f"{field} {value!r} is not a boolean: write true or false") from None


# The role's variables, named in errors; the rollout's preflight names its own (eks_irsa_...) instead.
SETTING_FIELDS = {"labels": "service_account_labels", "sts_regional_endpoints": "service_account_sts_regional_endpoints",
                  "token_expiration": "service_account_token_expiration", "namespace": "service_account_namespace"}


def service_account_manifests(items, namespace, labels=None, sts_regional_endpoints=None, token_expiration=None, fields=None):
    """One ServiceAccount manifest per item of ``items`` (``{name, role_arn, labels?, annotations?}``).

    ``labels`` go on every ServiceAccount, with the ownership label ``app.kubernetes.io/managed-by``;
    ``sts_regional_endpoints`` (bool) and ``token_expiration`` (seconds, 600 to 86400) add the optional EKS
    annotations when not None. The namespace, every name and role ARN, and the token lifetime are checked
    first, and an error names the item and the field (``fields``: the variables of the settings, default
    :data:`SETTING_FIELDS`), so bad input never reaches the cluster (or a file).
    """
    fields = dict(SETTING_FIELDS, **(fields or {}))
    common_labels = dict(_checked_labels(labels, fields["labels"]), **{MANAGED_BY_LABEL: MANAGED_BY})
    common_annotations = {}
    if sts_regional_endpoints is not None:
        common_annotations[STS_REGIONAL_ENDPOINTS] = "true" if _checked_boolean(sts_regional_endpoints, fields["sts_regional_endpoints"]) else "false"
    if token_expiration is not None:
        common_annotations[TOKEN_EXPIRATION] = check_token_expiration(token_expiration, fields["token_expiration"])
    _checked_names(namespace, "placeholder", fields["namespace"])
    manifests, seen = [], set()
    for index, item in enumerate(items or []):
        name, role_arn = _checked_item(item, index, namespace)
        if name in seen:
            raise EksIrsaError(f"service_account_items[{index}] ({name}): the name is listed twice; "
                               "one ServiceAccount carries one role ARN")
        seen.add(name)
        where = f"service_account_items[{index}] ({name})"
        annotations = _as_text_map(item.get("annotations"), where + " annotations")
        if not _checked_boolean(item.get("pod_identity") or False, where + " pod_identity"):
            # IRSA's annotations; a Pod Identity role's pods get it from their association, and must not carry one
            # (the SDK would take the annotation's web identity first)
            annotations = dict(common_annotations, **annotations)
            annotations[ROLE_ARN] = role_arn
        labels = dict(common_labels, **_checked_labels(item.get("labels"), where + " labels"))
        if _checked_boolean(item.get("adopt") or False, where + " adopt"):
            # Adopted, not ours: it must not look ours, or teardown would delete the whole object.
            labels.pop(MANAGED_BY_LABEL)
        metadata = {"name": item["name"], "namespace": namespace, "labels": labels, "annotations": annotations}
        if not labels:  # an empty map would be a field of ours, over the labels of whoever made it
            del metadata["labels"]
        if not annotations:
            del metadata["annotations"]
        manifests.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata})
    return manifests


def _is_subset(wanted, actual):
    return all(actual.get(key) == value for key, value in wanted.items())


def service_account_takeovers(items, existing, namespace):
    """Refuse to change a listed ServiceAccount that exists, was not made by this collection, and is not adopted.

    Such a ServiceAccount (with its own labels, image pull secrets, another tool's annotations) is someone else's:
    the rollout writes to it only when its item says ``adopt`` (the role entry's ``adopt: true``), and then only the
    annotations and labels it sets. Returns ``[]`` when nothing would be taken over, so a task can assert on it.
    """
    current = {obj["metadata"]["name"]: obj for obj in existing or []}
    refused = []
    for item in items or []:
        found = current.get(item.get("name"))
        if found is not None and not is_managed(found) and not _checked_boolean(item.get("adopt") or False, "adopt"):
            source = f"{item['source']}: " if item.get("source") else ""
            refused.append(f"{source}ServiceAccount {namespace}/{item['name']} exists and was not made by torque.eks_irsa (it has "
                           f"no label {MANAGED_BY_LABEL}={MANAGED_BY}), so the rollout writes nothing to it. To let it carry "
                           "the role (only the annotations and labels the rollout sets change, the rest of it stays as it "
                           "is, and teardown then removes only those), set adopt: true on its role; or choose another "
                           "service_account")
    if refused:
        raise EksIrsaError(f"{len(refused)} ServiceAccount(s) would be taken over; nothing was written:\n" + "\n".join(refused))
    return []


def service_account_status(manifests, existing, items=None, namespace=""):
    """``{name: "created" | "updated" | "adopted" | "ok"}``: what applying ``manifests`` does to ``existing`` objects.

    A ServiceAccount is ``ok`` when it already carries every wanted label and annotation; anything
    else on it (labels or annotations other tools set) is left alone, as ``kubectl apply`` would. One that someone
    else made is refused unless its item (of ``items``) says ``adopt`` (:func:`service_account_takeovers`); it is then
    ``adopted`` when the apply changes it.
    """
    service_account_takeovers(items or [{"name": m["metadata"]["name"]} for m in manifests], existing, namespace)
    current = {obj["metadata"]["name"]: obj for obj in existing or []}
    status = {}
    for manifest in manifests:
        metadata = manifest["metadata"]
        found = current.get(metadata["name"])
        if found is None:
            status[metadata["name"]] = "created"
        elif _is_subset(metadata.get("labels", {}), found["metadata"].get("labels") or {}) and \
                _is_subset(metadata.get("annotations", {}), found["metadata"].get("annotations") or {}) and \
                not _drops_role_annotation(metadata, found):
            status[metadata["name"]] = "ok"
        else:
            status[metadata["name"]] = "updated" if is_managed(found) else "adopted"
    return status


def _drops_role_annotation(metadata, found):
    """True when applying a manifest without IRSA's role annotation (a Pod Identity role's) to a ServiceAccount this
    collection made, which carries one, removes it: the server-side apply drops the fields of ours it no longer lists."""
    return ROLE_ARN not in (metadata.get("annotations") or {}) and is_managed(found) and \
        ROLE_ARN in ((found.get("metadata") or {}).get("annotations") or {})


def is_managed(obj):
    """True for an object that carries this collection's managed-by label."""
    return ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY


def service_account_namespace_manifest(namespace):
    """The Namespace the role creates on request, labelled as made by this collection."""
    _checked_names(namespace, "placeholder", "service_account_namespace")
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {MANAGED_BY_LABEL: MANAGED_BY}}}


def _has_our_fields(obj):
    """True when this collection's field manager owns fields of ``obj`` (it applied to a ServiceAccount it adopted)."""
    return any(entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply"
               for entry in (obj.get("metadata") or {}).get("managedFields") or [])


def service_account_deletions(items, existing, namespace):
    """What teardown does: ``{"refs": [...], "releases": [...], "status": {name: "deleted" | "released" | "absent"}}``.

    Of the listed ServiceAccounts ``existing`` in the namespace, those labelled as made by this collection are deleted
    (``refs``). One it adopted is not deleted: ``releases`` are the server-side apply configurations (name and
    namespace, nothing else) that take back only the fields the collection applied, leaving the rest as it was.
    Any other is left alone (``absent``: nothing of ours on it).
    """
    current = {obj["metadata"]["name"]: obj for obj in existing or []}
    status, refs, releases = {}, [], []
    for name in [item["name"] for item in items or []]:
        found = current.get(name)
        ref = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
        if found is not None and is_managed(found):
            status[name] = "deleted"
            refs.append(ref)
        elif found is not None and _has_our_fields(found):
            status[name] = "released"
            releases.append(ref)
        else:
            status[name] = "absent"
    return {"refs": refs, "releases": releases, "status": status}
