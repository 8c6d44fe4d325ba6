"""Built-in sinkprocessors."""
