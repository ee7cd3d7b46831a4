# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""execution-environment.yml, as ansible-builder reads it: ``ansible-builder create`` writes the build context (it needs no
container engine), which must carry the collections and Python packages the collection declares, and nothing else."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.conftest import TOOLS_BIN
from tests.stack.local_stack import REPO_ROOT

pytestmark = pytest.mark.integration


def _yaml(*path):
    with open(os.path.join(REPO_ROOT, *path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_ansible_builder_creates_the_build_context_of_the_execution_environment(tmp_path):
    context = tmp_path / "context"
    created = subprocess.run([os.path.join(TOOLS_BIN, "ansible-builder"), "create", "-f", "execution-environment.yml",
                              "--context", str(context), "--output-filename", "Containerfile"],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert created.returncode == 0, created.stdout + created.stderr
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    environment = _yaml("execution-environment.yml")
    assert f"ARG EE_BASE_IMAGE=\"{environment['images']['base_image']['name']}\"" in containerfile
    assert '"ansible-core>=2.19,<2.20 ansible-runner>=2.4,<2.5"' in containerfile
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    # The collections and the Python packages go in as the repository lists them.
    assert environment["dependencies"]["galaxy"] == "collections/requirements.yml"
    assert yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8")) == _yaml("collections", "requirements.yml")
    with open(os.path.join(REPO_ROOT, "requirements.txt"), encoding="utf-8") as handle:
        assert (context / "_build" / "requirements.txt").read_text(encoding="utf-8") == handle.read()


def test_the_requirements_files_name_the_collections_galaxy_yml_declares():
    galaxy = _yaml("galaxy.yml")
    listed = {entry["name"]: entry["version"] for entry in _yaml("collections", "requirements.yml")["collections"]}
    assert listed == galaxy["dependencies"]
    # The AWX project example installs this collection, in a range that holds its current version.
    (example,) = _yaml("examples", "awx", "collections", "requirements.yml")["collections"]
    assert example["name"] == f"{galaxy['namespace']}.{galaxy['name']}"
    floor, ceiling = (part.lstrip("<>=") for part in example["version"].split(","))
    version = tuple(int(part) for part in galaxy["version"].split("."))
    assert tuple(int(part) for part in floor.split(".")) <= version < tuple(int(part) for part in ceiling.split("."))
