"""What stops a run before anyone sees it: input checks (exit 3, 4) and guardrails (exit 5)."""
