"""Map the repository's top-level folders onto the ``peermind`` namespace.

The user asked for ``node/``, ``protocol/``, ... at the top level; they install
as ``peermind.node``, ``peermind.protocol``, ... Sub-packages are discovered so
that adding one never needs an edit here.
"""

from pathlib import Path

from setuptools import setup

TOP_LEVEL = ("protocol", "bench", "trust", "federated", "node", "testnet")
ROOT = Path(__file__).parent


def _discover() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for folder in TOP_LEVEL:
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT)
            name = "peermind." + ".".join(rel.parts)
            packages.append(name)
            package_dir[name] = rel.as_posix()
    return packages, package_dir


packages, package_dir = _discover()
setup(packages=packages, package_dir=package_dir)
