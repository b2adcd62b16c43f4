"""Map core/, verticals/ and datasets/ to verticalkit.core, verticalkit.verticals and
verticalkit.datasets (pyproject.toml holds everything else)."""

from setuptools import find_namespace_packages, setup

ROOTS = {"core": "verticalkit.core", "verticals": "verticalkit.verticals", "datasets": "verticalkit.datasets"}

packages, package_dir = [], {}
for folder, name in ROOTS.items():
    package_dir[name] = folder
    packages.append(name)
    for sub in find_namespace_packages(where=folder, exclude=["*__pycache__*"]):
        packages.append(f"{name}.{sub}")

setup(packages=packages, package_dir=package_dir)
