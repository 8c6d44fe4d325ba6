"""Counters (Flume's names) and their exposition (Flume JSON, Prometheus text)."""
