"""Git-backed labeler registry and content-addressed artifact cache."""
