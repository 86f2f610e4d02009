"""What a run says: its summary, a published run's figures, and their text and HTML views."""
