"""Everything that touches untrusted code."""
