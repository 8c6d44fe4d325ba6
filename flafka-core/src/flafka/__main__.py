"""``python -m flafka`` is the ``flafka`` command."""

from flafka.cli import main

if __name__ == "__main__":
    main()
