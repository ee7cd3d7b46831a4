# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""IAM's and STS's limits (plugins/module_utils/limits.py), at their edges, and where the modules apply them."""

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils import limits
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import ProviderOptionError
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import wanted_provider
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustPolicyError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validated_role_options

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


@pytest.mark.parametrize("tags", [
    {f"k{index}": "v" for index in range(50)},
    {"k" * 128: "v" * 256},
    {"team": "", "a.b:c/d=e+f-g@h_i j": "x"},
])
def test_tags_iam_accepts(tags):
    assert limits.check_tags(tags) == tags


@pytest.mark.parametrize("tags, message", [
    ({f"k{index}": "v" for index in range(51)}, "tags: 51 tags with the collection's ownership tag, but IAM allows at most 50"),
    ({"k" * 129: "v"}, "tags: tag key 'kkk"),
    ({"": "v"}, "tags: tag key '' is not a valid IAM tag key"),
    ({"aws:owner": "v"}, "not starting with aws:"),
    ({"team": "v" * 257}, "tags: the value of tag 'team' is not a valid IAM tag value: use up to 256"),
    ({"team": "a;b"}, "the value of tag 'team' is not a valid IAM tag value"),
])
def test_tags_iam_refuses(tags, message):
    with pytest.raises(limits.LimitError) as error:
        limits.check_tags(tags)
    assert message in str(error.value)


def test_description_up_to_a_thousand_characters():
    assert limits.check_description("d" * 1000) == "d" * 1000 and limits.check_description(None) is None
    with pytest.raises(limits.LimitError, match="^description is 1001 characters; IAM accepts at most 1000"):
        limits.check_description("d" * 1001)


@pytest.mark.parametrize("given", [None, "", "ab", "a" * 1224, "x+=,.@:/_-y"])
def test_external_ids_sts_accepts(given):
    assert limits.check_external_id(given) == (given or None)


@pytest.mark.parametrize("given", ["x", "a" * 1225, "with space", "semi;colon"])
def test_external_ids_sts_refuses_name_the_field(given):
    with pytest.raises(limits.LimitError) as error:
        limits.check_external_id(given, "eks_irsa_external_id")
    assert str(error.value).startswith("eks_irsa_external_id ") and "is not an external ID STS accepts" in str(error.value)


@pytest.mark.parametrize("given, ok", [("ab", True), ("a" * 64, True), ("torque-eks-irsa", True), ("a", False),
                                       ("a" * 65, False), ("with space", False), ("a/b", False)])
def test_session_names(given, ok):
    if ok:
        assert limits.check_session_name(given) == given
    else:
        with pytest.raises(limits.LimitError, match="^assume_role_session_name .* is not a session name STS accepts"):
            limits.check_session_name(given)


def test_the_role_module_refuses_what_iam_would():
    role = {"name": "r", "trust": [{"issuer": ISSUER, "service_accounts": ["ns:sa"]}]}
    with pytest.raises(TrustPolicyError, match="^description is 1001 characters"):
        validated_role_options(dict(role, description="d" * 1001))
    with pytest.raises(TrustPolicyError, match="^tags: 51 tags with the collection's ownership tag"):
        validated_role_options(dict(role, tags={f"k{index}": "v" for index in range(50)}))  # 50 + the ownership tag


def test_the_provider_module_refuses_what_iam_would():
    with pytest.raises(ProviderOptionError, match="^tags: tag key 'aws:x'"):
        wanted_provider(ISSUER, tags={"aws:x": "y"})
    with pytest.raises(ProviderOptionError, match="^url 'https://oidc.example.com/x+' is 265 characters"):
        wanted_provider("https://oidc.example.com/" + "x" * 240)
    assert wanted_provider("https://oidc.example.com/" + "x" * 230).issuer.url.endswith("x")
