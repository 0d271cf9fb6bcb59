"""The spec as package data: built into the wheel as conformance._spec (see pyproject.toml)."""
