"""Not part of tinyattn: keeps attncert's own test run from collecting this folder's tests.

This folder is a separate project (its own pyproject.toml). attncert's tests/test_outside_project.py
runs pytest on it in a subprocess, where this folder is pytest's rootdir and its tests are
collected. When pytest runs attncert's suite (rootdir: attncert's checkout) and walks into this
folder, nothing here is collected.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path, config):
    if Path(config.rootpath).resolve() != HERE:
        return True
    return None
