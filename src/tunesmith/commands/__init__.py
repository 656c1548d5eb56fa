"""One module per CLI command; each exposes `register(subparsers)` and keeps its logic elsewhere."""
