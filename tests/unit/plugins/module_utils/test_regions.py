# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Regions and partitions (plugins/module_utils/regions.py), from botocore's own data."""

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils import regions


@pytest.mark.parametrize("region, partition", [("eu-west-1", "aws"), ("us-east-1", "aws"), ("cn-north-1", "aws-cn"),
                                               ("us-gov-west-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso")])
def test_a_region_is_known_with_its_partition(region, partition):
    assert regions.check_region(region) == partition


@pytest.mark.parametrize("region, near", [("eu-west-9", "eu-west-1"), ("eu-wset-1", "eu-west-1"), ("us-east1", "us-east-1")])
def test_a_region_in_no_partition_is_refused_with_the_nearest_names(region, near):
    with pytest.raises(regions.RegionError) as error:
        regions.check_region(region, "eks_irsa_region")
    message = str(error.value)
    assert message.startswith(f"eks_irsa_region '{region}' is not an AWS region botocore")
    assert "did you mean" in message and near in message and "upgrade botocore" in message


def test_a_name_like_no_region_gets_an_example():
    with pytest.raises(regions.RegionError, match=r"'mars-1' is not an AWS region .* \(write it like eu-west-1\)"):
        regions.check_region("mars-1")


@pytest.mark.parametrize("arn, region", [("arn:aws-us-gov:iam::222222222222:role/deployer", "eu-west-1"),
                                         ("arn:aws-cn:iam::222222222222:role/deployer", "us-east-1"),
                                         ("arn:aws:iam::222222222222:role/deployer", "cn-north-1")])
def test_a_role_of_another_partition_than_the_region_is_refused(arn, region):
    with pytest.raises(regions.RegionError) as error:
        regions.check_same_partition(arn, region, "eks_irsa_assume_role_arn", "eks_irsa_region")
    message = str(error.value)
    assert message.startswith(f"eks_irsa_assume_role_arn {arn} is in the partition {arn.split(':')[1]}, but eks_irsa_region {region}")
    assert "use a region of" in message


def test_a_role_of_the_regions_partition_passes():
    assert regions.check_same_partition("arn:aws-us-gov:iam::222222222222:role/d", "us-gov-east-1", "a", "r") == "aws-us-gov"
    assert regions.check_same_partition("arn:aws:iam::222222222222:role/d", "eu-west-1", "a", "r") == "aws"


@pytest.mark.parametrize("name", ["aws-global", "aws-us-gov-global", "aws-cn-global"])
def test_a_partitions_global_endpoint_name_is_not_a_region(name):
    with pytest.raises(regions.RegionError, match=f"'{name}' is not an AWS region"):
        regions.check_region(name)


def test_partition_of_a_known_region_and_the_default_for_an_unknown_one():
    assert regions.partition_of("cn-northwest-1") == "aws-cn"
    assert regions.partition_of("us-gov-east-1") == "aws-us-gov"
    assert regions.partition_of("nowhere-1") == "aws"
