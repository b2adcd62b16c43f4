"""Map api/ to the ``verticalkit`` package itself (``import verticalkit as vk``) and core/,
verticals/ and datasets/ to verticalkit.core, verticalkit.verticals and verticalkit.datasets
(pyproject.toml holds everything else). The top-level package lives in ``api/``, not in a
folder named ``verticalkit/``: run from the repository root, such a folder would shadow the
installed package (the working directory comes first on sys.path) and hide the mapped
sub-packages."""

from setuptools import find_namespace_packages, setup

ROOTS = {"core": "verticalkit.core", "verticals": "verticalkit.verticals", "datasets": "verticalkit.datasets"}

packages, package_dir = ["verticalkit"], {"verticalkit": "api"}
for folder, name in ROOTS.items():
    package_dir[name] = folder
    packages.append(name)
    for sub in find_namespace_packages(where=folder, exclude=["*__pycache__*"]):
        packages.append(f"{name}.{sub}")

setup(packages=packages, package_dir=package_dir)
