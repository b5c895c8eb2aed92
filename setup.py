"""Only what pyproject.toml cannot say: the simulator hooks live in deploy/hooks/sim/ (where the docs point) and
ship inside the package as ``reconciler._simhooks``, so that ``demo`` and ``simulate --write-specs`` work from an
installed wheel. Everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["reconciler", "reconciler.*"], exclude=["*.__pycache__"]), "reconciler._simhooks"],
    package_dir={"reconciler._simhooks": "deploy/hooks/sim"},
)
