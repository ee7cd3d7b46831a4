# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plain-text tables of the rollout summary and the verify report: one renderer for both."""

from __future__ import annotations

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
