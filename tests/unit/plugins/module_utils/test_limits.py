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


def accepted_or_refused(check, value, ok, message):
    """``check(value)`` returns ``value`` when ``ok``, else raises a LimitError matching ``message``."""
    if ok:
        assert check(value) == value
    else:
        with pytest.raises(limits.LimitError, match=message):
            check(value)


@pytest.mark.parametrize("tags", [
    {f"k{index}": "v" for index in range(50)},
    {"k" * 128: "v" * 256},
    {"team": "", "a.b:c/d=e+f-g@h_i j": "x"},
    {"équipe": "données", "チーム": "基盤", "owner": "Zoë\u00a0Ng", "n": "٣"},  # letters, numbers and spaces of any script
])
def test_tags_iam_accepts(tags):
    assert limits.check_tags(tags) == tags


@pytest.mark.parametrize("tags, message", [
    ({f"k{index}": "v" for index in range(51)}, "tags: 51 tags, but IAM allows at most 50 per role or provider: give at most 50"),
    (dict({f"k{index}": "v" for index in range(50)}, **{"eks-irsa:managed-by": "torque.eks_irsa"}),
     "tags: 51 tags with the 1 this collection adds, but IAM allows at most 50 per role or provider: give at most 49"),
    ({"k" * 129: "v"}, "tags: tag key 'kkk"),
    ({"": "v"}, "tags: tag key '' is not a valid IAM tag key"),
    ({"aws:owner": "v"}, "not starting with aws:"),
    ({"team": "v" * 257}, "tags: the value of tag 'team' is 257 characters; IAM accepts at most 256"),
    ({"team": "a;b"}, "the value of tag 'team' has the character ';' (U+003B), which IAM refuses"),
    ({"team": "platform\tteam"}, "the value of tag 'team' has the character '\\t' (U+0009), which IAM refuses (no tabs, newlines"),
    ({"team": "line\nbreak"}, "has the character '\\n' (U+000A)"),
    ({"team": "nul\x00"}, "has the character '\\x00' (U+0000)"),
    ({"team": "ok", "bad\x7fkey": "v"}, "tag key 'bad\\x7fkey' has the character '\\x7f' (U+007F)"),
    ({"team": "🚀"}, "has the character '🚀' (U+1F680)"),
])
def test_tags_iam_refuses(tags, message):
    with pytest.raises(limits.LimitError) as error:
        limits.check_tags(tags)
    assert message in str(error.value)


def test_description_up_to_a_thousand_characters():
    assert limits.check_description("d" * 1000) == "d" * 1000 and limits.check_description(None) is None
    with pytest.raises(limits.LimitError, match="^description is 1001 characters; IAM accepts at most 1000"):
        limits.check_description("d" * 1001)


@pytest.mark.parametrize("description", ["Runner pods: deploy to prod (café, Zürich, ½)\n\tsecond line\r", "~ !\"#$%&'()*+"])
def test_descriptions_iam_accepts(description):
    assert limits.check_description(description) == description


@pytest.mark.parametrize("description, refused", [("deploys 🚀", "'🚀' (U+1F680)"), ("東京のランナー", "'東' (U+6771)"),
                                                  ("bell\x07", "'\\x07' (U+0007)"), ("del\x7f", "'\\x7f' (U+007F)"),
                                                  ("nbsp\xa0", "'\\xa0' (U+00A0)"), ("€uro", "'€' (U+20AC)")])
def test_descriptions_iam_refuses_name_the_character(description, refused):
    with pytest.raises(limits.LimitError) as error:
        limits.check_description(description, "eks_irsa_roles[0] (r): description")
    assert str(error.value).startswith(f"eks_irsa_roles[0] (r): description has the character {refused}, which IAM refuses")


@pytest.mark.parametrize("path", ["/", "/irsa/", "/a/b/c/", "/a//b/", "/~!$%&*()[]{}|;'\"<>,?^`#/", "/" + "p" * 510 + "/"])
def test_role_paths_iam_accepts(path):
    assert limits.check_role_path(path) == path


@pytest.mark.parametrize("path", ["", "irsa", "/irsa", "irsa/", "/équipe/", "/a b/", "/tab\t/", "/" + "p" * 511 + "/", None, 7])
def test_role_paths_iam_refuses(path):
    with pytest.raises(limits.LimitError, match="role path must begin and end with /, with only printable ASCII"):
        limits.check_role_path(path)


@pytest.mark.parametrize("name, ok", [("r", True), ("r" * 64, True), ("torque_runner+=,.@-1", True), ("r" * 65, False),
                                      ("", False), ("équipe", False), ("runner/x", False), ("run ner", False), (None, False)])
def test_role_names(name, ok):
    accepted_or_refused(limits.check_role_name, name, ok, "is not a valid IAM role name: use 1 to 64 characters")


def _policy_of(size):
    """A policy document of exactly ``size`` characters as IAM counts them."""
    base = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": ""}]}
    padding = size - limits.policy_characters(base)
    base["Statement"][0]["Resource"] = "r" * padding
    assert limits.policy_characters(base) == size
    return base


def test_inline_policies_up_to_ten_thousand_two_hundred_and_forty_characters_together():
    at_the_limit = {"a": _policy_of(6000), "b": _policy_of(4240)}
    assert limits.check_inline_policies_size(at_the_limit) == at_the_limit
    spaced = {"a": dict(_policy_of(10240), Sid="a b c")}  # whitespace inside values is not counted either
    with pytest.raises(limits.LimitError) as error:
        limits.check_inline_policies_size({"a": _policy_of(6000), "b": _policy_of(4241)}, "eks_irsa_roles[0] (r): inline_policies")
    assert str(error.value).startswith("eks_irsa_roles[0] (r): inline_policies: the inline policies add up to 10241 characters")
    assert "largest: a (6000), b (4241)" in str(error.value) and "customer managed policy" in str(error.value)
    with pytest.raises(limits.LimitError):
        limits.check_inline_policies_size(spaced)


@pytest.mark.parametrize("quota, ok", [(1, True), (10, True), (20, True), (0, False), (21, False), (True, False), ("10", False)])
def test_managed_policy_quota_between_one_and_twenty(quota, ok):
    accepted_or_refused(limits.check_managed_policy_quota, quota, ok, "managed_policy_quota .* is out of range: .* give 1 to 20")


def test_managed_policies_up_to_the_quota():
    arns = [f"arn:aws:iam::aws:policy/P{index}" for index in range(10)]
    assert limits.check_managed_policy_count(arns, 10) == arns
    assert limits.check_managed_policy_count(arns + arns[:1], 10)  # the same policy twice is attached once
    with pytest.raises(limits.LimitError, match=r"^managed_policies: 11 managed policies, but a role may have 10 \(managed_policy_quota\)"):
        limits.check_managed_policy_count(arns + ["arn:aws:iam::aws:policy/P10"], 10)


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
    accepted_or_refused(limits.check_session_name, given, ok, "^assume_role_session_name .* is not a session name STS accepts")


def test_the_role_module_refuses_what_iam_would():
    role = {"name": "r", "trust": [{"issuer": ISSUER, "service_accounts": ["ns:sa"]}]}
    with pytest.raises(TrustPolicyError, match="^description is 1001 characters"):
        validated_role_options(dict(role, description="d" * 1001))
    with pytest.raises(TrustPolicyError, match="^tags: 51 tags with the 1 this collection adds"):
        validated_role_options(dict(role, tags={f"k{index}": "v" for index in range(50)}))  # 50 + the ownership tag


def test_the_provider_module_refuses_what_iam_would():
    with pytest.raises(ProviderOptionError, match="^tags: tag key 'aws:x'"):
        wanted_provider(ISSUER, tags={"aws:x": "y"})
    with pytest.raises(ProviderOptionError, match="^url 'https://oidc.example.com/x+' is 265 characters"):
        wanted_provider("https://oidc.example.com/" + "x" * 240)
    assert wanted_provider("https://oidc.example.com/" + "x" * 230).issuer.url.endswith("x")


@pytest.mark.parametrize("value, text", [(600, "600"), ("600", "600"), (86400, "86400"), ("3600", "3600")])
def test_a_token_lifetime_the_webhook_uses_is_given_as_its_text(value, text):
    assert limits.check_token_expiration(value) == text


@pytest.mark.parametrize("value", [599, 86401, "599", "86401", "1h", " 3600", "3600.0", "-600", True, None, 3600.0, "٣٦٠٠"])
def test_any_other_token_lifetime_is_refused(value):
    with pytest.raises(limits.LimitError, match=r"^eks\.amazonaws\.com/token-expiration .* give seconds from 600 to 86400"):
        limits.check_token_expiration(value, "eks.amazonaws.com/token-expiration")
