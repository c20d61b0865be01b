"""Directives and agency registries as YAML: the schema, its loader and the located problems it reports."""
