# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the rollout, verify and teardown summaries share: their plain-text tables (one renderer for all) and what
they publish with set_stats."""

from __future__ import annotations

import re

DETAIL_INDENT = "    "


def table_lines(header, rows, details=None):
    """``header`` and ``rows`` (lists of cells) in aligned columns; ``details[i]``, if given, are lines after row ``i``.

    Details are indented and do not widen the columns.
    """
    widths = [max(len(str(cells[i])) for cells in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip()

    lines = [line(header)]
    for index, cells in enumerate(rows):
        lines.append(line(cells))
        lines.extend(DETAIL_INDENT + detail for detail in (details[index] if details else []))
    return lines


# -- the set_stats keys of one account ---------------------------------------------------------------

# An AWX workflow merges the set_stats of a sliced job's slices with a shallow dict update, the last slice to finish
# winning a key: one key per account survives it, where one mapping of every account would hold only the last slice's.
ACCOUNT_STATS_PREFIXES = {"rollout": "eks_irsa_rollout_account_", "verify": "eks_irsa_verify_account_",
                          "teardown": "eks_irsa_teardown_account_"}
_NOT_IN_A_NAME_RE = re.compile(r"[^0-9A-Za-z]+")


def account_stats_key(kind, account_id, host):
    """The set_stats key of one account's ``kind`` (rollout, verify, teardown) result, a valid variable name:
    ``eks_irsa_rollout_account_<account id>_<host, each run of other characters than letters and digits as _>``."""
    return f"{ACCOUNT_STATS_PREFIXES[kind]}{account_id}_{_NOT_IN_A_NAME_RE.sub('_', str(host)).strip('_')}"


# What a report holds for people or for files, not for a workflow's next node.
UNPUBLISHED_REPORT_KEYS = ("lines", "blueprints")


def published_stats(kind, report):
    """The set_stats data of a rollout, verify or teardown ``report`` (its ``accounts`` keyed by host): ``eks_irsa_<kind>``, the whole
    report but its lines and blueprint files, and one key per account (:func:`account_stats_key`), its entry with its ``host``."""
    stats = {f"eks_irsa_{kind}": {key: value for key, value in report.items() if key not in UNPUBLISHED_REPORT_KEYS}}
    for host, account in report["accounts"].items():
        stats[account_stats_key(kind, account["account_id"], host)] = dict({"host": host}, **account)
    return stats
