"""Flume configuration files: properties parsing, key grammar, legacy keys, substitution,
validation with diagnostics, and the resulting :class:`~flafka.config.plan.AgentPlan`."""
