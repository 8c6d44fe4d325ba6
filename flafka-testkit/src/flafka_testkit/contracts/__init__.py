"""Contract suites every connector subclasses: ``SourceContract``, ``ChannelContract``,
``SinkContract`` (no ``Test`` prefix, so pytest collects only your subclasses)."""

from flafka_testkit.contracts.channel import ChannelContract
from flafka_testkit.contracts.sink import SinkCapabilities, SinkContract
from flafka_testkit.contracts.source import SourceCapabilities, SourceContract

__all__ = ["ChannelContract", "SinkCapabilities", "SinkContract", "SourceCapabilities", "SourceContract"]
