"""templates/ and migrations/ stay at the top of the repository and ship inside the wheel as drillmgr/_templates
and drillmgr/_migrations (drillmgr.create_app looks there first); the rest of the metadata is in pyproject.toml."""

from setuptools import find_packages, setup

SHIPPED = {"drillmgr._templates": "templates", "drillmgr._migrations": "migrations"}

setup(
    packages=[*find_packages(include=["drillmgr*"]), *SHIPPED],
    package_dir=SHIPPED,
)
