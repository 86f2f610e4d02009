"""Writing the output safely: staging and publishing, the journal, the lock, the carried state."""
