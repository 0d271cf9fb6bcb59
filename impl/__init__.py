"""The bundled implementations as package data: built into the wheel as conformance._impl (see pyproject.toml).

Not imported as a package: attncert loads each file by path (conformance/targets.py).
"""
