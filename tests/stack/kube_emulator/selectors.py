# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Label selectors (the full set-based syntax) and field selectors (the fields a kind allows)."""

from __future__ import annotations

import re
from typing import Optional

from tests.stack.kube_emulator.resources import MISSING, ResourceType, bad_request, dig


LABEL_TERM = re.compile(
    r"^\s*(?P<neg>!?)\s*(?P<key>[A-Za-z0-9._/-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9._-]*)|\s(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$")
FIELD_TERM = re.compile(r"^\s*(?P<key>[A-Za-z0-9._-]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*?)\s*$")


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
        value = dig(obj, tuple(key.split(".")))
        actual = "" if value is MISSING or value is None else str(value)
        if (actual == wanted) == negate:
            return False
    return True
