# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What IAM, STS and EKS refuse, checked before the first call: tags, descriptions, external IDs, session names, token lifetimes.

Pure code, one place: the modules check their options with it, and the rollout's plan (:mod:`.plan`) checks the
inventory with the same functions, so a direct module call refuses exactly what the preflight refuses. Each check
raises :class:`LimitError` whose message starts with the ``field`` it was given: the option name in a module call,
the inventory variable in a plan.
"""

from __future__ import annotations

import json
import re

# IAM's tag limits (TagRole, TagOpenIDConnectProvider, CreateRole).
MAX_TAGS = 50
TAG_KEY_MAX_LENGTH = 128
TAG_VALUE_MAX_LENGTH = 256
_TAG_TEXT_RE = re.compile(r"^[\w\s.:/=+@-]*$")
DESCRIPTION_MAX_LENGTH = 1000  # CreateRole / UpdateRole Description
# sts:AssumeRole's ExternalId and RoleSessionName.
_EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$")
_SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9_+=,.@-]{2,64}$")
# The bounds the EKS pod identity webhook applies to token-expiration (the API server's minimum, EKS's maximum).
MIN_TOKEN_EXPIRATION = 600
MAX_TOKEN_EXPIRATION = 86400


class LimitError(ValueError):
    """A value IAM or STS would refuse; the message names the field and the fix."""


def check_tags(tags, field="tags"):
    """Refuse tags IAM would: at most 50 (the ownership tag included), keys of 1 to 128, values of up to 256 characters."""
    if len(tags) > MAX_TAGS:
        raise LimitError(f"{field}: {len(tags)} tags with the collection's ownership tag, but IAM allows at most {MAX_TAGS} "
                         "per role or provider: drop some")
    for key, value in tags.items():
        key, value = str(key), "" if value is None else str(value)
        if not 1 <= len(key) <= TAG_KEY_MAX_LENGTH or not _TAG_TEXT_RE.match(key) or key.lower().startswith("aws:"):
            raise LimitError(f"{field}: tag key {key!r} is not a valid IAM tag key: use 1 to {TAG_KEY_MAX_LENGTH} letters, "
                             "digits, spaces and _ . : / = + - @, not starting with aws:")
        if len(value) > TAG_VALUE_MAX_LENGTH or not _TAG_TEXT_RE.match(value):
            raise LimitError(f"{field}: the value of tag {key!r} is not a valid IAM tag value: use up to {TAG_VALUE_MAX_LENGTH} "
                             "letters, digits, spaces and _ . : / = + - @")
    return tags


def check_description(description, field="description"):
    if description is not None and len(str(description)) > DESCRIPTION_MAX_LENGTH:
        raise LimitError(f"{field} is {len(str(description))} characters; IAM accepts at most {DESCRIPTION_MAX_LENGTH}: shorten it")
    return description


def check_external_id(value, field="assume_role_external_id"):
    """The external ID for sts:AssumeRole, or None when not given."""
    if value and not _EXTERNAL_ID_RE.match(str(value)):
        raise LimitError(f"{field} {json.dumps(value)} is not an external ID STS accepts: use 2 to 1224 letters, digits "
                         "and + = , . @ : / _ - (the value the role's trust policy requires)")
    return value or None


def check_session_name(value, field="assume_role_session_name"):
    if not _SESSION_NAME_RE.match(str(value)):
        raise LimitError(f"{field} {json.dumps(value)} is not a session name STS accepts: use 2 to 64 letters, digits "
                         "and + = , . @ _ -")
    return value
