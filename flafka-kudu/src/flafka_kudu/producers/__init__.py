"""Operation producers (events -> Kudu operations) and their registry; see :mod:`.base`."""

from flafka_kudu.producers.base import OperationsProducer, Produced, ProducerError, known_names, lookup, registry

__all__ = ["OperationsProducer", "Produced", "ProducerError", "known_names", "lookup", "registry"]
