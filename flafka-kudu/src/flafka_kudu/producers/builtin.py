"""The producers flafka-kudu ships (entry point ``flafka_kudu.producers: builtin``)."""

from __future__ import annotations

from flafka_kudu.producers.avro import AvroProducer
from flafka_kudu.producers.regexp import RegexpProducer
from flafka_kudu.producers.simple import SimpleKeyedProducer, SimpleProducer

PRODUCERS = [SimpleProducer, SimpleKeyedProducer, RegexpProducer, AvroProducer]
