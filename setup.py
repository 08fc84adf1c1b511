"""Packaging beyond what pyproject.toml can say: the bundled graph modules.

They stay in the repository's saved_models/ and are installed as the data-only package
glomo_tf.saved_models, so a plain `pip install .` (or a wheel) can load them by name
(glomo_tf.presets). Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["glomo_tf", "glomo_tf.*"]) + ["glomo_tf.saved_models"],
    package_dir={"glomo_tf.saved_models": "saved_models"},
)
