"""Helpers shared by test modules (no tests here; the DAG parser skips this folder)."""
