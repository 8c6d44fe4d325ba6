"""flafka-testkit: fixtures, crash tools and contract suites for Flafka connectors."""

__version__ = "0.1.0"
