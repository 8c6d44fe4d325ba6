"""Built-in interceptors."""
