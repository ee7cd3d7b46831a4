#!/usr/bin/env bash
# The collection's docs as the Ansible docsite checks them: antsibull-docs lints the docs of every module, plugin
# (filters included) and role, their markup and references, and the RST it would render from them. It copies the
# collection's files that git does not ignore into an ansible_collections tree of its own, with the dependencies
# (amazon.aws, kubernetes.core) that ansible-galaxy finds in .venv. Offline: it reads only the local files.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# .venv lies inside this repository, which ignores it: without the ceiling, antsibull-docs would copy the dependencies
# with `git ls-files` from there, and so copy nothing of them.
export GIT_CEILING_DIRECTORIES=$root/.venv PATH=$root/.venv/bin:$PATH
exec antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs=dependent --disallow-unknown-collection-refs "$@" .
