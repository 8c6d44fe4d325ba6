"""Flafka: run Apache Flume configurations in Python.

Plugin authors need only this module: ``from flafka import hookimpl`` and the component
base classes re-exported here.
"""

from flafka.channel import Channel, PutTransaction, TakeTransaction
from flafka.component import Component
from flafka.errors import ChannelError, ChannelFullError, ConfigError, FlafkaError, PermanentError, RetriableError
from flafka.event import Event
from flafka.hookspecs import hookimpl
from flafka.interceptor import Interceptor
from flafka.selector import ChannelSelector
from flafka.settings import REQUIRED, Problem, Schema, Setting, Settings
from flafka.sink import BatchOutcome, Sink
from flafka.sinkprocessor import SinkProcessor
from flafka.source import EventDrivenSource, PollableSource, Source, Status

__version__ = "0.1.0"

__all__ = [
    "REQUIRED",
    "BatchOutcome",
    "Channel",
    "ChannelError",
    "ChannelFullError",
    "ChannelSelector",
    "Component",
    "ConfigError",
    "Event",
    "EventDrivenSource",
    "FlafkaError",
    "Interceptor",
    "PermanentError",
    "PollableSource",
    "Problem",
    "PutTransaction",
    "RetriableError",
    "Schema",
    "Setting",
    "Settings",
    "Sink",
    "SinkProcessor",
    "Source",
    "Status",
    "TakeTransaction",
    "__version__",
    "hookimpl",
]
