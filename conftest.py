"""Repository-level pytest configuration (doctest collection over the package)."""

collect_ignore = ["edge_sdk/__main__.py"]
