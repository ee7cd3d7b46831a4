# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which service accounts a trust policy's ``sub`` tests admit, decided exactly rather than by probing.

A ``StringLike`` value such as ``system:serviceaccount:ci-*:runner`` or ``system:serviceaccount:ci:runner-?`` admits
every token subject it matches; whether it admits more than one service account depends on where its wildcards are
(``system:serviceaccoun?:ci:runner`` admits only ``ci:runner``, since every token's subject starts with
``system:serviceaccount:``). :func:`admitted_subjects` walks the product of the tests' patterns with the language of
real subjects (``system:serviceaccount:<DNS-1123 label>:<DNS-1123 subdomain>``) breadth first, so the examples it
returns are the shortest subjects admitted, and it returns as soon as it has found ``limit`` of them.

The lengths Kubernetes allows (63 and 253 characters) are not part of that language: a pattern admitting only names
over them would be counted as admitting them, which errs on the side of a warning.
"""

from __future__ import annotations

from collections import deque

from ansible_collections.torque.eks_irsa.plugins.module_utils.names import SUBJECT_PREFIX

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
ALPHABET = _ALNUM + "-.:"  # every character a real subject can hold (its prefix's too)


def _subject_step(state, char):
    """The language of real subjects as a small automaton; None when ``char`` cannot follow."""
    if isinstance(state, int):  # inside the prefix
        return (state + 1 if state + 1 < len(SUBJECT_PREFIX) else "ns") if SUBJECT_PREFIX[state] == char else None
    alnum = char in _ALNUM
    if state in ("ns", "ns-"):  # a namespace label starts, or goes on after '-'
        return "ns_a" if alnum else ("ns-" if char == "-" and state == "ns-" else None)
    if state == "ns_a":
        return "ns_a" if alnum else {"-": "ns-", ":": "name"}.get(char)
    if state in ("name", "name-"):  # a name label starts (after ':' or '.'), or goes on after '-'
        return "name_a" if alnum else ("name-" if char == "-" and state == "name-" else None)
    if state == "name_a":
        return "name_a" if alnum else {"-": "name-", ".": "name"}.get(char)
    return None


_SUBJECT_START, _SUBJECT_ACCEPT = 0, "name_a"


def _closure(pattern, positions):
    """Positions of a glob ``pattern`` reachable without reading a character (a ``*`` may match nothing)."""
    out, todo = set(), list(positions)
    while todo:
        position = todo.pop()
        if position in out:
            continue
        out.add(position)
        if position < len(pattern) and pattern[position] == "*":
            todo.append(position + 1)
    return out


def _glob_step(pattern, positions, char):
    moved = set()
    for position in positions:
        if position == len(pattern):
            continue
        token = pattern[position]
        if token == "*":
            moved.add(position)
        elif token == "?" or token == char:
            moved.add(position + 1)
    return frozenset(_closure(pattern, moved))


class _Test:
    """One condition test: the subject matches any of ``patterns`` (globs; literals have their wildcards escaped)."""

    def __init__(self, patterns):
        self.patterns = tuple(patterns)

    def start(self):
        return tuple(frozenset(_closure(p, {0})) for p in self.patterns)

    def step(self, state, char):
        return tuple(_glob_step(p, s, char) for p, s in zip(self.patterns, state))

    def alive(self, state):
        return any(state)

    def accepts(self, state):
        return any(len(p) in s for p, s in zip(self.patterns, state))


def _literal(value):
    """A StringEquals value as a glob over this module's alphabet: its ``*`` and ``?`` are plain characters there,
    and neither can be in a real subject, so a value holding one admits nothing (it can never match)."""
    return value if not set(value) & set("*?") else "\0"


def admitted_subjects(tests, limit=2):
    """Up to ``limit`` real subjects that every test of ``tests`` admits, shortest first.

    ``tests`` is a list of ``(kind, values)``, ANDed as a statement's condition operators are: ``kind`` is ``"like"``
    (glob values, ``*`` and ``?``) or ``"equals"`` (literal values); a subject passes a test when it matches any of
    its values. An empty ``tests`` admits every subject.

    The automaton is deterministic, so distinct paths spell distinct subjects; letting each state be reached
    ``limit`` times (not once) is what keeps a second subject from being cut off where it meets the first one's path.
    """
    tests = [_Test(values if kind == "like" else [_literal(v) for v in values]) for kind, values in tests]
    start = (_SUBJECT_START, tuple(test.start() for test in tests))
    visits, queue, found = {start: 1}, deque([(start, "")]), []
    while queue:
        (subject_state, test_states), text = queue.popleft()
        if subject_state == _SUBJECT_ACCEPT and all(t.accepts(s) for t, s in zip(tests, test_states)):
            found.append(text)
            if len(found) >= limit:
                break
        for char in ALPHABET:
            next_subject = _subject_step(subject_state, char)
            if next_subject is None:
                continue
            next_tests = tuple(t.step(s, char) for t, s in zip(tests, test_states))
            if not all(t.alive(s) for t, s in zip(tests, next_tests)):
                continue
            state = (next_subject, next_tests)
            if visits.get(state, 0) < limit:
                visits[state] = visits.get(state, 0) + 1
                queue.append((state, text + char))
    return found
