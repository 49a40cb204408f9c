"""Package discovery, the one part of the build pyproject.toml cannot say.

Every package under ``hierarchy_cli/`` is found, so a new subpackage ships without
anyone listing it; the class lists in the top-level ``data_manifests/`` folder ship
as the package ``hierarchy_cli.data_manifests``. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["hierarchy_cli", "hierarchy_cli.*"]), "hierarchy_cli.data_manifests"],
    package_dir={"hierarchy_cli.data_manifests": "data_manifests"},
)
