"""Orchestration and the public Python API (Workspace)."""
