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
import unicodedata

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import TAG_PREFIX

# The patterns and quotas are IAM's, from its API reference (CreateRole, TagRole, PutRolePolicy) and its quotas page.
# IAM's tag limits (TagRole, TagOpenIDConnectProvider, CreateRole): the tag pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]*.
MAX_TAGS = 50
TAG_KEY_MAX_LENGTH = 128
TAG_VALUE_MAX_LENGTH = 256
_TAG_SYMBOLS = frozenset("_.:/=+-@")
_TAG_CATEGORIES = ("L", "Z", "N")  # Unicode letters, separators (spaces) and numbers; not controls such as tab or newline
# CreateRole / UpdateRole Description: tab, newline, carriage return and the printable Latin-1 characters.
DESCRIPTION_MAX_LENGTH = 1000
_DESCRIPTION_RE = re.compile(r"^[\t\n\r\x20-\x7e\xa1-\xff]*$")
# Role names and paths: the name [\w+=,.@-]{1,64} (ASCII), the path "/" or "/<printable ASCII>/" of at most 512.
_ROLE_NAME_RE = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,64}$")
_ROLE_PATH_RE = re.compile(r"^(/|/[\x21-\x7e]+/)$")
ROLE_PATH_MAX_LENGTH = 512
MIN_SESSION_DURATION = 3600
MAX_SESSION_DURATION = 43200
ROLE_CHAINING_MAX_SESSION = 3600  # a session of a role that assumes another role lasts at most an hour, whatever the role allows
# Inline policy names; every inline policy of a role together: 10,240 characters, whitespace not counted.
_POLICY_NAME_RE = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,128}$")
ROLE_INLINE_POLICIES_MAX_SIZE = 10240
# Managed policies attached to one role: 10 unless the account's quota was raised, at most 20.
DEFAULT_MANAGED_POLICY_QUOTA = 10
MAX_MANAGED_POLICY_QUOTA = 20
# sts:AssumeRole's ExternalId and RoleSessionName.
_EXTERNAL_ID_RE = re.compile(r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$")
_SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9_+=,.@-]{2,64}$")
# The bounds the EKS pod identity webhook applies to token-expiration (the API server's minimum, EKS's maximum).
MIN_TOKEN_EXPIRATION = 600
MAX_TOKEN_EXPIRATION = 86400


class LimitError(EksIrsaError):
    """A value IAM or STS would refuse; the message names the field and the fix."""


def check_token_expiration(value, field="token_expiration"):
    """The ``eks.amazonaws.com/token-expiration`` annotation value for ``value``, as the text the webhook reads.

    One rule for the rollout (what it writes) and verify (what it finds): whole seconds, as a number or a string of
    digits, from the API server's minimum to EKS's maximum; the webhook does not use any other value as given.
    """
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(text, str) and text.isascii() and text.isdigit() and MIN_TOKEN_EXPIRATION <= int(text) <= MAX_TOKEN_EXPIRATION):
        raise LimitError(f"{field} {value!r} is not a token lifetime EKS accepts: give seconds from {MIN_TOKEN_EXPIRATION} to "
                         f"{MAX_TOKEN_EXPIRATION}")
    return str(int(text))


def _tag_text(text):
    """True when IAM's tag pattern accepts every character of ``text``."""
    return all(char in _TAG_SYMBOLS or unicodedata.category(char).startswith(_TAG_CATEGORIES) for char in text)


def _first_refused(text, allowed):
    """The first character of ``text`` that ``allowed(char)`` refuses, described for a message."""
    char = next(char for char in text if not allowed(char))
    return f"{char!r} (U+{ord(char):04X})"


def check_tags(tags, field="tags"):
    """Refuse tags IAM would: at most 50, keys of 1 to 128 and values of up to 256 letters, digits, spaces and _.:/=+-@.

    ``tags`` include those the collection sets itself (``eks-irsa:*``: the ownership tag, the cluster tag).
    """
    if len(tags) > MAX_TAGS:
        added = sum(1 for key in tags if str(key).startswith(TAG_PREFIX))
        ours = f" with the {added} this collection adds" if added else ""
        raise LimitError(f"{field}: {len(tags)} tags{ours}, but IAM allows at most {MAX_TAGS} per role or provider: give at most "
                         f"{MAX_TAGS - added}")
    for key, value in tags.items():
        key, value = str(key), "" if value is None else str(value)
        if not 1 <= len(key) <= TAG_KEY_MAX_LENGTH or key.lower().startswith("aws:"):
            raise LimitError(f"{field}: tag key {key!r} is not a valid IAM tag key: use 1 to {TAG_KEY_MAX_LENGTH} characters, "
                             "not starting with aws:")
        if not _tag_text(key):
            raise LimitError(f"{field}: tag key {key!r} has the character {_first_refused(key, _tag_text)}, which IAM refuses: "
                             "use letters, digits, spaces and _ . : / = + - @")
        if len(value) > TAG_VALUE_MAX_LENGTH:
            raise LimitError(f"{field}: the value of tag {key!r} is {len(value)} characters; IAM accepts at most "
                             f"{TAG_VALUE_MAX_LENGTH}: shorten it")
        if not _tag_text(value):
            raise LimitError(f"{field}: the value of tag {key!r} has the character {_first_refused(value, _tag_text)}, which IAM "
                             "refuses (no tabs, newlines or other control characters): use letters, digits, spaces and _ . : / = + - @")
    return tags


def check_description(description, field="description"):
    """A role description IAM accepts: up to 1000 printable Latin-1 characters, tabs and newlines."""
    if description is None:
        return None
    text = str(description)
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise LimitError(f"{field} is {len(text)} characters; IAM accepts at most {DESCRIPTION_MAX_LENGTH}: shorten it")
    if not _DESCRIPTION_RE.match(text):
        refused = _first_refused(text, lambda char: bool(_DESCRIPTION_RE.match(char)))
        raise LimitError(f"{field} has the character {refused}, which IAM refuses in a role description: use printable "
                         "Latin-1 characters (letters with accents are fine; no emoji, CJK or other scripts), tabs and newlines")
    return description


def check_role_name(name, field="name"):
    if not isinstance(name, str) or not _ROLE_NAME_RE.match(name):
        length = len(name) if isinstance(name, str) else 0
        raise LimitError(f"{field} {name!r} is not a valid IAM role name: use 1 to 64 characters (this one has {length}) "
                         "of ASCII letters, digits and + = , . @ _ -")
    return name


def check_role_path(path, field="path"):
    if not isinstance(path, str) or len(path) > ROLE_PATH_MAX_LENGTH or not _ROLE_PATH_RE.match(path):
        raise LimitError(f"{field} {path!r}: role path must begin and end with /, with only printable ASCII between (no "
                         f"spaces, at most {ROLE_PATH_MAX_LENGTH} characters), for example /irsa/ or /")
    return path


def check_session_duration(seconds, field="max_session_duration"):
    if seconds is not None and not MIN_SESSION_DURATION <= seconds <= MAX_SESSION_DURATION:
        raise LimitError(f"{field} {seconds} is out of range: IAM accepts {MIN_SESSION_DURATION} to {MAX_SESSION_DURATION} "
                         "seconds (1 to 12 hours)")
    return seconds


def check_policy_name(name, field="inline_policies"):
    if not _POLICY_NAME_RE.match(str(name)):
        raise LimitError(f"{field}: the policy name {name!r} is not valid: use 1 to 128 letters, digits and + = , . @ _ - (ASCII)")
    return str(name)


def policy_characters(document):
    """What IAM counts of a policy document against its size quotas: its JSON as sent, without whitespace."""
    return len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))


def check_inline_policies_size(policies, field="inline_policies"):
    """Refuse inline policies that together exceed what IAM allows one role (10,240 characters, whitespace not counted)."""
    sizes = {name: policy_characters(document) for name, document in policies.items()}
    total = sum(sizes.values())
    if total > ROLE_INLINE_POLICIES_MAX_SIZE:
        largest = ", ".join(f"{name} ({size})" for name, size in sorted(sizes.items(), key=lambda item: -item[1])[:3])
        raise LimitError(f"{field}: the inline policies add up to {total} characters (without whitespace), over the "
                         f"{ROLE_INLINE_POLICIES_MAX_SIZE} IAM allows one role (largest: {largest}): move statements to a "
                         "customer managed policy and list it in managed_policies")
    return policies


def check_managed_policy_quota(quota, field="managed_policy_quota"):
    if isinstance(quota, bool) or not isinstance(quota, int) or not 1 <= quota <= MAX_MANAGED_POLICY_QUOTA:
        raise LimitError(f"{field} {quota!r} is out of range: IAM lets a role have {DEFAULT_MANAGED_POLICY_QUOTA} managed "
                         f"policies, or up to {MAX_MANAGED_POLICY_QUOTA} where the account's quota was raised; give 1 to "
                         f"{MAX_MANAGED_POLICY_QUOTA}")
    return quota


def check_managed_policy_count(arns, quota, field="managed_policies", quota_field="managed_policy_quota"):
    """Refuse more managed policies for one role than the account's quota lets it have."""
    count = len(set(arns))
    if count > quota:
        raise LimitError(f"{field}: {count} managed policies, but a role may have {quota} ({quota_field}): attach fewer, "
                         f"or raise the account's quota (Service Quotas, up to {MAX_MANAGED_POLICY_QUOTA}) and set {quota_field}")
    return arns


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
