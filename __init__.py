"""alchemist-engine: LLM-synthesized labeling programs, sandboxed, versioned, aggregated.

The repository root is installed as the package ``alchemist_engine``; see DESIGN.md.
"""

__version__ = "0.1.0"
