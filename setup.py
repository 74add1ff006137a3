"""Package layout (DESIGN.md): folders under libs/ and services/ map to import names.

pyproject.toml holds the metadata; this file only maps each top-level package to its
folder and lists the sub-packages found under it.
"""

from setuptools import find_packages, setup

TOP_LEVEL = {
    "subsidy_rules": "libs/subsidy_rules",
    "subsidy_platform": "libs/subsidy_platform",
    "subsidy_intake": "services/intake/subsidy_intake",
    "subsidy_review": "services/review/subsidy_review",
    "subsidy_payments": "services/payments/subsidy_payments",
    "subsidy_notices": "services/notices/subsidy_notices",
    "subsidy_demo": "services/demo/subsidy_demo",
    "subsidy_operator": "services/operator/subsidy_operator",
}

packages = []
package_dir = {}
for name, folder in TOP_LEVEL.items():
    package_dir[name] = folder
    packages.append(name)
    packages.extend(f"{name}.{sub}" for sub in find_packages(folder))

setup(packages=packages, package_dir=package_dir)
