# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout benchmark (issue 6): ``.venv/bin/python -m benchmark.run``; see benchmark/README.md."""
