# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""``managedFields``: who owns which field, after an update and after a server-side apply.

Ownership is tracked per leaf field (lists are atomic, so no ``k:``/``v:`` keys in ``fieldsV1``). An apply
conflicts when another manager owns a field the applied configuration changes, ``force=true`` takes the
field over, and fields a manager stops applying are removed when nobody else owns them. ``status`` is
never tracked.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from tests.stack.kube_emulator.resources import MISSING, SERVER_FIELDS, ApiError, ResourceType, dig, now


UNTRACKED_PATHS = (("apiVersion",), ("kind",), ("status",), ("metadata", "name"), ("metadata", "namespace")) + tuple(
    ("metadata", name) for name in SERVER_FIELDS)


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
    changed = {path for path in _tracked_paths(new) if dig(before, path) != dig(new, path)}
    removed = {path for path in _tracked_paths(before) if dig(new, path) is MISSING}
    if not changed and not removed:
        return copy.deepcopy(before.get("metadata", {}).get("managedFields") or [])
    for entry in entries:
        entry["paths"] = {p for p in entry["paths"] if not any(_overlaps(p, c) for c in changed | removed)}
    if changed:
        mine = _manager_entry(entries, manager, "Update")
        mine["paths"] |= changed
        mine["time"] = now()
    return _write_managers(entries)


def _apply_conflicts(entries: list, manager: str, current: dict, config: dict, applied: set) -> dict:
    """Applied fields whose value would change while another manager owns them: {path: manager}."""
    conflicts = {}
    for entry in entries:
        if entry["manager"] == manager and entry["operation"] == "Apply":
            continue
        for path in applied:
            value = dig(current, path)
            if value is MISSING or value == dig(config, path):
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
        mine["time"] = now()
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
