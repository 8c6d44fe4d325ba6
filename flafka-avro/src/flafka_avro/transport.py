"""A blocking byte stream with Flume 1.11's optional layers: ``zlib( TLS( data ) )``.

Flume 1.10+ puts the deflate codec *under* TLS (the wire is a zlib stream carrying TLS
records), which asyncio's ``start_tls`` cannot do, so TLS runs on an ``ssl.SSLObject``
with memory BIOs. Deflate is one zlib stream per direction per connection, each write
ending with a ``Z_SYNC_FLUSH`` (netty's ``JZlibEncoder``). Inflated input is produced in
bounded pieces so a small compressed burst cannot expand into unbounded memory.
"""

from __future__ import annotations

import socket
import ssl
import zlib

_RECV = 65536


class PeerClosed(Exception):
    """The peer closed the connection."""


class Stream:
    """One connection: ``send(plain)``, ``recv(timeout) -> plain`` (raises TimeoutError /
    :class:`PeerClosed` / OSError / ssl.SSLError / zlib.error)."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        deflate_level: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_side: bool = False,
    ) -> None:
        self.sock = sock
        self._comp = zlib.compressobj(deflate_level, zlib.DEFLATED, 15, 8) if deflate_level is not None else None
        self._decomp = zlib.decompressobj(15) if deflate_level is not None else None
        self._pending = b""  # compressed input not inflated yet (bounded output per step)
        self._tls: ssl.SSLObject | None = None
        if ssl_context is not None:
            self._in = ssl.MemoryBIO()
            self._out = ssl.MemoryBIO()
            self._tls = ssl_context.wrap_bio(self._in, self._out, server_side=server_side)

    # --- wire (zlib) layer -------------------------------------------------------
    def _send_wire(self, data: bytes) -> None:
        if self._comp is not None:
            data = self._comp.compress(data) + self._comp.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _recv_wire(self, timeout: float | None) -> bytes:
        d = self._decomp
        while True:
            if d is not None and self._pending:
                out = d.decompress(self._pending, _RECV)
                self._pending = d.unconsumed_tail
                if out:
                    return out
                continue
            self.sock.settimeout(timeout)
            raw = self.sock.recv(_RECV)
            if not raw:
                raise PeerClosed()
            if d is None:
                return raw
            self._pending = raw

    # --- TLS layer ---------------------------------------------------------------
    def _flush_tls(self) -> None:
        assert self._tls is not None
        data = self._out.read()
        if data:
            self._send_wire(data)

    def handshake(self, timeout: float | None) -> None:
        """Run the TLS handshake (no-op without TLS)."""
        tls = self._tls
        if tls is None:
            return
        while True:
            try:
                tls.do_handshake()
                self._flush_tls()
                return
            except ssl.SSLWantReadError:
                self._flush_tls()
                self._in.write(self._recv_wire(timeout))

    def send(self, data: bytes, timeout: float | None = None) -> None:
        self.sock.settimeout(timeout)
        tls = self._tls
        if tls is None:
            self._send_wire(data)
            return
        tls.write(data)
        self._flush_tls()

    def recv(self, timeout: float | None) -> bytes:
        """The next plaintext bytes (at least one)."""
        tls = self._tls
        if tls is None:
            return self._recv_wire(timeout)
        while True:
            try:
                data = tls.read(_RECV)
            except ssl.SSLWantReadError:
                self._flush_tls()
                self._in.write(self._recv_wire(timeout))
                continue
            except ssl.SSLZeroReturnError:
                raise PeerClosed() from None
            self._flush_tls()
            if not data:
                raise PeerClosed()
            return data

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
