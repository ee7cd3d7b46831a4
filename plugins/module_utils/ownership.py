# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which IAM resources this collection owns: those carrying its ownership tag.

Every provider and role the modules create gets the tag. Deleting, and for roles also taking over an
existing resource, is refused without it unless the user says so (``force`` / ``adopt``): a role made
by eksctl or by hand is never changed or deleted as a side effect.
"""

from ansible_collections.torque.eks_irsa.plugins.module_utils.names import TAG_PREFIX

OWNER_TAG_KEY = TAG_PREFIX + "managed-by"
OWNER_TAG_VALUE = "torque.eks_irsa"


def with_owner_tag(tags):
    """``tags`` plus the ownership tag."""
    return dict(tags or {}, **{OWNER_TAG_KEY: OWNER_TAG_VALUE})


def is_owned(tags):
    return (tags or {}).get(OWNER_TAG_KEY) == OWNER_TAG_VALUE


def not_owned(kind, name):
    """The start of every refusal: what the resource is and why it is not ours."""
    return (f"{kind} {name} was not created by torque.eks_irsa (it has no tag {OWNER_TAG_KEY}={OWNER_TAG_VALUE}; "
            "eksctl, Terraform or a person may have made it)")
