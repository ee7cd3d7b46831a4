# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The non-apply patch formats: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge patch.

The strategic merge patch is approximated without the kinds' schemas: maps merge like a JSON merge patch,
lists whose items all carry a ``name`` merge by name (``$patch: delete|replace``, ``$setElementOrder``,
``$deleteFromPrimitiveList`` and ``$retainKeys`` are understood), every other list is replaced.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.stack.kube_emulator.resources import ApiError, bad_request


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
