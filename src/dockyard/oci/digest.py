"""Content digests: parsed strictly, computed while bytes stream past.

A digest from a manifest or an API request is untrusted input that later becomes a file name
and a URL component, so only ``sha256:`` with 64 and ``sha512:`` with 128 lower-case hex digits
are accepted (CVE-2024-3727: traversal-shaped digests). Content is hashed from the exact bytes
received, never from a re-serialisation (CVE-2014-8179).
"""

from __future__ import annotations

import hashlib

from dockyard.errors import InvalidArgument

__all__ = ["Digest", "DigestMismatch", "Verifier"]

_LENGTHS = {"sha256": 64, "sha512": 128}
_HEX = frozenset("0123456789abcdef")


class DigestMismatch(InvalidArgument):
    """Content did not hash to the digest (or size) it was fetched or committed under."""

    def __init__(self, expected: Digest, actual: Digest | None = None, *, detail: str = "") -> None:
        msg = f"digest mismatch: expected {expected}"
        if actual is not None:
            msg += f", got {actual}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)
        self.expected = expected
        self.actual = actual


class Digest:
    """An ``algorithm:hex`` content address, validated on construction."""

    __slots__ = ("algorithm", "hex")

    def __init__(self, algorithm: str, hex_digest: str) -> None:
        """Raises ``InvalidArgument`` for an unknown algorithm or a malformed hex part."""
        want = _LENGTHS.get(algorithm)
        if want is None:
            raise InvalidArgument(f"unsupported digest algorithm: {algorithm}")
        if len(hex_digest) != want or not set(hex_digest) <= _HEX:
            raise InvalidArgument(f"invalid checksum digest format: {algorithm}:{hex_digest[:140]}")
        self.algorithm = algorithm
        self.hex = hex_digest

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``sha256:<64 hex>``.

        Raises:
            InvalidArgument: anything else (Docker: "invalid checksum digest format").
        """
        algorithm, sep, hex_digest = text.partition(":")
        if not sep:
            raise InvalidArgument(f"invalid checksum digest format: {text[:140]}")
        return cls(algorithm, hex_digest)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    @property
    def encoded(self) -> str:
        """The hex part (OCI calls it "encoded")."""
        return self.hex

    def short(self) -> str:
        """The first 12 hex digits, as Docker shows layer and image IDs."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def __repr__(self) -> str:
        return f"Digest({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Digest):
            return self.algorithm == other.algorithm and self.hex == other.hex
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.algorithm, self.hex))


class Verifier:
    """Hashes bytes as they arrive and checks them against an expected digest and size."""

    def __init__(self, expected: Digest, size: int | None = None) -> None:
        self.expected = expected
        self.size = size
        self.count = 0
        self._hash = hashlib.new(expected.algorithm)

    def update(self, chunk: bytes) -> None:
        """Feed the next chunk.

        Raises:
            DigestMismatch: more bytes arrived than the expected size.
        """
        self.count += len(chunk)
        if self.size is not None and self.count > self.size:
            raise DigestMismatch(self.expected, detail=f"more than the {self.size} bytes declared")
        self._hash.update(chunk)

    def actual(self) -> Digest:
        """The digest of everything fed so far."""
        return Digest(self.expected.algorithm, self._hash.hexdigest())

    def verify(self) -> None:
        """Check the whole content.

        Raises:
            DigestMismatch: the size or the digest differs from what was expected.
        """
        if self.size is not None and self.count != self.size:
            raise DigestMismatch(self.expected, detail=f"{self.count} bytes, {self.size} declared")
        actual = self.actual()
        if actual != self.expected:
            raise DigestMismatch(self.expected, actual)
