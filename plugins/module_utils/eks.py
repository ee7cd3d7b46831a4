# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The thin boto3 layer over EKS: one DescribeCluster call, its errors turned into plain messages."""

from __future__ import annotations

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import aws_error
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import cluster_issuer_facts


class ClusterLookupError(EksIrsaError):
    """The cluster could not be read; ``str()`` is the message for the user, ``details`` extra result keys."""


def describe_issuer(module, cluster_name, account_id=None):
    """Return :func:`cluster_issuer_facts` for ``cluster_name`` in the module's region."""
    region = module.region
    client = module.client("eks")
    try:
        cluster = client.describe_cluster(name=cluster_name, aws_retry=True)["cluster"]
    except is_boto3_error_code("ResourceNotFoundException") as e:
        raise ClusterLookupError(
            f"EKS cluster {cluster_name!r} was not found in region {region!r}: check cluster_name and region "
            f"(aws eks list-clusters --region {region} lists the clusters there)") from e
    except botocore.exceptions.ClientError as e:
        error = aws_error(e)
        raise ClusterLookupError(
            f"eks:DescribeCluster on cluster {cluster_name!r} in region {region!r} failed: {error['code']}: {error['message']}",
            error=dict(error, action="eks:DescribeCluster")) from e
    except botocore.exceptions.BotoCoreError as e:
        raise ClusterLookupError(f"eks:DescribeCluster on cluster {cluster_name!r} in region {region!r} failed: {e}") from e
    try:
        return cluster_issuer_facts(cluster, account_id)
    except IssuerError as e:
        raise ClusterLookupError(str(e)) from e
