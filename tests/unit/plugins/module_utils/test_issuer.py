# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

import re

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import cluster_issuer_facts
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import normalize_issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import parse_provider_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import provider_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn

HOST_PATH = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


@pytest.mark.parametrize("given", [
    "https://" + HOST_PATH,
    "https://" + HOST_PATH + "/",
    "https://" + HOST_PATH + "///",
    HOST_PATH,
    HOST_PATH + "/",
    "  https://" + HOST_PATH + "  ",
    "HTTPS://" + HOST_PATH,
    "https://OIDC.EKS.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
])
def test_every_spelling_normalises_to_the_form_iam_uses(given):
    issuer = normalize_issuer(given)
    assert issuer.host_path == HOST_PATH
    assert issuer.url == "https://" + HOST_PATH
    assert issuer.issuer_id == "EXAMPLED539D4633E53DE1B71EXAMPLE"


def test_path_case_is_kept_because_the_issuer_id_is_case_sensitive():
    assert normalize_issuer("https://Example.COM/Id/AbC").host_path == "example.com/Id/AbC"


def test_issuer_without_path_has_empty_id():
    issuer = normalize_issuer("https://token.actions.example.com/")
    assert issuer == ("https://token.actions.example.com", "token.actions.example.com", "")


@pytest.mark.parametrize("given, fragment", [
    ("http://" + HOST_PATH, "scheme 'http'"),
    ("ftp://" + HOST_PATH, "scheme 'ftp'"),
    ("", "is empty"),
    (None, "is empty"),
    ("https://", "not an issuer URL"),
    ("https://host/path?x=1", "not an issuer URL"),
    ("https://user@host/path", "not an issuer URL"),
])
def test_unusable_issuers_are_refused_with_the_reason(given, fragment):
    with pytest.raises(IssuerError, match="issuer") as error:
        normalize_issuer(given)
    assert fragment in str(error.value)


def test_error_names_the_field():
    with pytest.raises(IssuerError, match=r"^url 'http://x' uses the scheme"):
        normalize_issuer("http://x", field="url")


@pytest.mark.parametrize("given, expected", [
    ("222222222222", "222222222222"),
    (" 222222222222 ", "222222222222"),
    (222222222222, "222222222222"),  # an unquoted ID without a leading zero: YAML's number is exact
])
def test_account_ids(given, expected):
    assert validate_account_id(given) == expected


@pytest.mark.parametrize("given, octal", [
    (0o12345670123, "012345670123"),  # YAML 1.1 reads an unquoted 012345670123 as this octal number
    (0o00000000017, "017"),
    (12345678901, None),  # 11 digits: no octal literal of 12 characters gives it, so no guess
    (1.5e11, None),
])
def test_an_account_id_yaml_read_as_a_number_is_refused_saying_so(given, octal):
    with pytest.raises(IssuerError) as error:
        validate_account_id(given, field="eks_irsa_account_id")
    message = str(error.value)
    assert message.startswith(f"eks_irsa_account_id was read by YAML as the number {given}")
    assert "quote the ID" in message
    assert (f"an unquoted {octal} is read so, as octal" in message) if octal else "octal" not in message


@pytest.mark.parametrize("given", ["", None, "12345", "1234567890123", "12345678901a", True, "arn:aws:iam::1"])
def test_bad_account_ids_are_refused(given):
    with pytest.raises(IssuerError, match="exactly 12 digits"):
        validate_account_id(given, field="account_id")


def test_provider_arn_from_any_spelling():
    assert provider_arn("aws", "222222222222", "https://" + HOST_PATH + "/") == \
        "arn:aws:iam::222222222222:oidc-provider/" + HOST_PATH
    assert provider_arn("aws-cn", "222222222222", HOST_PATH).startswith("arn:aws-cn:iam::")


def test_provider_arn_refuses_unknown_partition():
    with pytest.raises(IssuerError, match="partition"):
        provider_arn("amazon", "222222222222", HOST_PATH)


def test_parse_provider_arn_round_trip():
    partition, account, issuer = parse_provider_arn("arn:aws-us-gov:iam::333333333333:oidc-provider/" + HOST_PATH)
    assert (partition, account, issuer.host_path) == ("aws-us-gov", "333333333333", HOST_PATH)


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::333333333333:role/x",
    "arn:aws:iam::3333:oidc-provider/" + HOST_PATH,
    "arn:aws:iam::333333333333:oidc-provider/",
    "oidc-provider/" + HOST_PATH,
])
def test_parse_provider_arn_refuses_other_arns(arn):
    with pytest.raises(IssuerError, match="not an IAM OIDC provider ARN"):
        parse_provider_arn(arn)


CLUSTER = {
    "name": "agents",
    "arn": "arn:aws:eks:eu-west-1:111111111111:cluster/agents",
    "status": "ACTIVE",
    "identity": {"oidc": {"issuer": "https://" + HOST_PATH}},
}


def test_cluster_facts_default_to_the_cluster_account():
    facts = cluster_issuer_facts(CLUSTER)
    assert facts == {
        "issuer": "https://" + HOST_PATH,
        "issuer_url": "https://" + HOST_PATH,
        "issuer_host_path": HOST_PATH,
        "issuer_id": "EXAMPLED539D4633E53DE1B71EXAMPLE",
        "cluster_arn": CLUSTER["arn"],
        "partition": "aws",
        "account_id": "111111111111",
        "provider_arn": "arn:aws:iam::111111111111:oidc-provider/" + HOST_PATH,
    }


def test_cluster_facts_for_a_target_account():
    facts = cluster_issuer_facts(CLUSTER, "222222222222")
    assert facts["provider_arn"] == "arn:aws:iam::222222222222:oidc-provider/" + HOST_PATH
    assert facts["account_id"] == "222222222222"


def test_cluster_without_issuer_says_to_wait():
    creating = dict(CLUSTER, status="CREATING", identity={})
    with pytest.raises(IssuerError, match=r"'agents' has no OIDC issuer yet \(status CREATING\).*ACTIVE"):
        cluster_issuer_facts(creating)


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::222222222222:role/deployer", "arn:aws-cn:iam::222222222222:role/deployer",
    "arn:aws-us-gov:iam::222222222222:role/ops/deployer", "arn:aws-iso-b:iam::222222222222:role/a/b/c/deployer",
])
def test_a_role_arn_of_any_partition_and_path_is_valid(arn):
    assert validate_role_arn(arn, "222222222222") == arn


@pytest.mark.parametrize("arn", [
    "deployer", "arn:aws:iam::222222222222:user/deployer", "arn:aws:iam::222222222222:role/", "arn:aws-mars:iam::222222222222:role/x",
    "arn:aws:iam::222222222222:role/x ", " arn:aws:iam::222222222222:role/x", "use arn:aws:iam::222222222222:role/x",
    "arn:aws:iam:eu-west-1:222222222222:role/x", None,
])
def test_what_is_no_role_arn_is_refused_naming_the_field(arn):
    with pytest.raises(IssuerError, match=f"^eks_irsa_assume_role_arn {re.escape(repr(arn))} is not an IAM role ARN"):
        validate_role_arn(arn, field="eks_irsa_assume_role_arn")


def test_a_role_arn_of_another_account_is_refused_naming_both():
    with pytest.raises(IssuerError, match="is a role in account 333333333333, not in account 222222222222"):
        validate_role_arn("arn:aws:iam::333333333333:role/x", "222222222222")


def test_cluster_facts_of_a_china_cluster():
    cluster = dict(CLUSTER, arn="arn:aws-cn:eks:cn-north-1:111111111111:cluster/agents",
                   identity={"oidc": {"issuer": "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLE"}})
    facts = cluster_issuer_facts(cluster, "222222222222")
    assert (facts["partition"], facts["provider_arn"]) == (
        "aws-cn", "arn:aws-cn:iam::222222222222:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLE")
