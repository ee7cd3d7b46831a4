# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS regions and their partitions, from botocore's partition data: a region must exist, and match the role's partition.

A region that exists in no partition (``eu-west-9``) would otherwise be found out only by the first call, after its
retries, with an HTML page as the message; an assume-role ARN of ``aws-us-gov`` with a region of ``aws`` would be
refused by STS with a message about the token. Both are refused here first, naming the variable and near names.
"""

from __future__ import annotations

import difflib
import functools

try:
    import botocore
    import botocore.loaders
except ImportError:
    botocore = None  # AnsibleAWSModule reports the missing library; the preflight needs it installed beside Ansible

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import arn_partition


class RegionError(EksIrsaError):
    """A region or partition AWS would refuse; the message names the field and the fix."""


@functools.lru_cache(maxsize=1)
def known_regions():
    """``{region: partition}`` of every region botocore knows.

    From ``partitions.json``, the small file botocore's endpoint rules read, not the service endpoint data: every
    module run checks its region, and that file is parsed in a fraction of the time and memory. A partition's
    ``<partition>-global`` entry is the name of its global endpoints, not a region a client can be made for.
    """
    if botocore is None:
        raise ImportError("botocore is required to check AWS regions")
    data = botocore.loaders.create_loader().load_data("partitions")
    return {region: partition["id"] for partition in data["partitions"]
            for region in partition.get("regions") or {} if region != f"{partition['id']}-global"}


def partition_of(region, default="aws"):
    """The partition of a known ``region``; ``default`` for one botocore does not know (checked elsewhere)."""
    return known_regions().get(region, default)


def check_region(region, field="region"):
    """The partition of ``region``; a region botocore does not know is refused, with the nearest names."""
    regions = known_regions()
    if region in regions:
        return regions[region]
    near = difflib.get_close_matches(str(region), sorted(regions), n=3, cutoff=0.6)
    if near:
        suggestion = f"did you mean {', '.join(near[:-1]) + ' or ' if len(near) > 1 else ''}{near[-1]}?"
    else:
        suggestion = "write it like eu-west-1"
    raise RegionError(f"{field} {region!r} is not an AWS region botocore {botocore.__version__} knows ({suggestion}); if AWS "
                      "opened it after this botocore was released, upgrade botocore")


def check_same_partition(arn, region, field, region_field):
    """Refuse a role ARN of another partition than ``region``'s: its credentials would not work there."""
    role_partition = arn_partition(arn)  # None when it is no ARN: the ARN's own check refuses it
    region_partition = check_region(region, region_field)
    if role_partition is not None and role_partition != region_partition:
        examples = sorted(name for name, partition in known_regions().items() if partition == role_partition)[:2]
        instead = f" (for example {' or '.join(examples)})" if examples else ""
        raise RegionError(f"{field} {arn} is in the partition {role_partition}, but {region_field} {region} is in {region_partition}: "
                          f"credentials of one partition do not work in another; use a region of {role_partition}{instead}, "
                          f"or a role ARN of {region_partition}")
    return region_partition
