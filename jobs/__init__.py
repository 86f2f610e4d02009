"""Entry points of rerate: the click CLI and the jobs it runs (read, transform, check, write)."""
