"""Packaging: the design's top-level folders form one import namespace, ``autodevops.*``.

The mapping from folders to import names is stated here once; the package list is derived
from the folders, so a new server (or any new subpackage) needs no packaging edit.
"""

from setuptools import find_namespace_packages, setup

FOLDERS = {
    "common": "autodevops.common",
    "servers": "autodevops.servers",
    "clients": "autodevops.clients",
    "policies": "autodevops.policies",
}


def packages() -> list[str]:
    """Every folder under the mapped ones, data folders included (they ship as package data)."""
    found = []
    for folder, name in FOLDERS.items():
        found.append(name)
        found += [
            f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])
        ]
    return found


setup(packages=packages(), package_dir={name: folder for folder, name in FOLDERS.items()})
