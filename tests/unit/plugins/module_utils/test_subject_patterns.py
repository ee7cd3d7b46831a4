# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a trust policy's sub tests admit (plugins/module_utils/subject_patterns.py), decided exactly."""

import pytest

from ansible_collections.torque.eks_irsa.plugins.module_utils.subject_patterns import admitted_subjects

P = "system:serviceaccount:"


@pytest.mark.parametrize("pattern", [
    P + "ci:runner-?",  # a name character
    P + "c?:runner",  # a namespace character
    P + "*:runner",  # any namespace
    P + "ci:*",  # any name
    P + "ci:runner*",  # a suffix, which may be empty
    P + "ci*",  # across the separator
    "*",  # anything
    "system:*",
    "*" * 12 + "x",  # many stars
])
def test_a_pattern_admitting_two_service_accounts_gives_two_shortest_examples(pattern):
    found = admitted_subjects([("like", [pattern])])
    assert len(found) == 2 and found[0] != found[1]
    assert all(s.startswith(P) and s.count(":") == 3 for s in found)
    assert len(found[0]) <= len(found[1])


@pytest.mark.parametrize("pattern, only", [
    (P + "ci:runner", P + "ci:runner"),  # no wildcard at all
    ("system:serviceaccoun?:ci:runner", P + "ci:runner"),  # the wildcard can only be the prefix's own letter
    ("system:*account:ci:runner", P + "ci:runner"),
    ("*:ci:runner", P + "ci:runner"),  # a name holds no ':', so the star is the prefix
    (P + "ci:runne?", None),  # checked below: admits many
])
def test_a_wildcard_that_only_spells_the_prefix_admits_one_service_account(pattern, only):
    found = admitted_subjects([("like", [pattern])])
    if only is None:
        assert len(found) == 2
    else:
        assert found == [only]


@pytest.mark.parametrize("pattern", [
    P + "Ci:runner",  # upper case: no namespace has it
    P + "ci:-runner",  # a name starts with a letter or digit
    P + "ci-:runner",  # a namespace ends with one
    P + "ci:runner:x",  # a third ':'
    P + "ci.x:runner",  # a namespace is one label
    "system:serviceaccounts:ci:runner",  # the group, not a subject
    P + "ci:a..b",
])
def test_a_pattern_no_token_subject_can_match_admits_nothing(pattern):
    assert admitted_subjects([("like", [pattern])]) == []
    assert admitted_subjects([("like", [pattern.replace("runner", "run*")])]) == []


def test_a_dotted_name_is_a_subject():
    assert admitted_subjects([("equals", [P + "ci:runner.v2"])]) == [P + "ci:runner.v2"]


def test_equals_values_are_literals_and_a_star_in_them_matches_nothing():
    assert admitted_subjects([("equals", [P + "ci:a", P + "ci:b"])], limit=5) == [P + "ci:a", P + "ci:b"]
    assert admitted_subjects([("equals", [P + "ci:*"])]) == []


def test_tests_are_anded_and_values_ored():
    assert admitted_subjects([("like", [P + "ci:*"]), ("equals", [P + "ci:x", P + "other:x"])]) == [P + "ci:x"]
    assert admitted_subjects([("like", [P + "ci:a*", P + "cd:b*"])]) == [P + "cd:b", P + "ci:a"]
    assert admitted_subjects([("like", [P + "ci:*"]), ("like", [P + "cd:*"])]) == []


def test_no_test_admits_every_subject():
    assert admitted_subjects([]) == [P + "a:a", P + "a:b"]


def test_a_second_subject_sharing_the_first_ones_states_is_found():
    # Both spellings reach the same automaton state after 'a' / 'b'; one visit per state would stop at one of them.
    assert admitted_subjects([("like", [P + "ci:?x"])]) == [P + "ci:ax", P + "ci:bx"]
