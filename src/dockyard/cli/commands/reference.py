"""Image references as docker's CLI reads and prints them (distribution/reference).

The CLI normalises names before it sends them (``docker pull alpine`` asks the daemon for
``fromImage=docker.io/library/alpine&tag=latest``) and prints them back in the *familiar*
form (``alpine:latest``, ``myregistry:5000/team/app``). The grammar is the distribution
project's::

    reference := name [ ":" tag ] [ "@" digest ]
    name      := [ domain "/" ] path-component ( "/" path-component )*
    domain    := host [ ":" port ]          -- recognised by a "." or ":", or "localhost"
    path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag       := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
    digest    := algorithm ":" hex{32,}

A name without a domain is on Docker Hub (``docker.io``), and a single-component Hub name
is an official image under ``library/``. Parsing is by hand rather than with ``re``, which
would add several milliseconds to every ``dockyard ps``.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

__all__ = ["Reference", "familiar_name", "parse_normalized"]

DEFAULT_DOMAIN = "docker.io"
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class Reference:
    """A parsed, normalised reference: ``domain/path[:tag][@digest]``."""

    __slots__ = ("digest", "domain", "path", "tag")

    def __init__(self, domain: str, path: str, tag: str = "", digest: str = "") -> None:
        self.domain, self.path, self.tag, self.digest = domain, path, tag, digest

    @property
    def name(self) -> str:
        """The full repository name, ``docker.io/library/alpine``."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def familiar_name(self) -> str:
        """The name as users type it: ``alpine``, ``user/app``, ``host:5000/app``."""
        return familiar_name(self.domain, self.path)

    def familiar(self) -> str:
        """The familiar form with tag and digest: ``alpine:latest``."""
        return (
            self.familiar_name()
            + (f":{self.tag}" if self.tag else "")
            + (f"@{self.digest}" if self.digest else "")
        )

    def with_default_tag(self) -> Reference:
        """``TagNameOnly``: add ``latest`` to a reference that has neither tag nor digest."""
        if self.tag or self.digest:
            return self
        return Reference(self.domain, self.path, "latest")

    def is_name_only(self) -> bool:
        return not self.tag and not self.digest


def familiar_name(domain: str, path: str) -> str:
    """The name as users type it: ``docker.io/library/`` and ``docker.io/`` dropped."""
    if domain != DEFAULT_DOMAIN:
        return f"{domain}/{path}"
    if path.startswith("library/") and path.count("/") == 1:
        return path[len("library/") :]
    return path


def parse_normalized(text: str) -> Reference:
    """``ParseNormalizedNamed``: parse ``text`` and fill in Docker Hub's defaults.

    Raises:
        InvalidArgument: not a valid reference (docker's "invalid reference format" messages).
    """
    if len(text) == 64 and all(c in _HEX for c in text) and text == text.lower():
        raise InvalidArgument(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(text)
    name, tag, digest = _split_tag_digest(remainder)
    if name.lower() != name:
        raise InvalidArgument(f"invalid reference format: repository name ({name}) must be lowercase")
    if not _valid_path(name) or (domain != DEFAULT_DOMAIN and not _valid_domain(domain)):
        raise InvalidArgument("invalid reference format")
    if len(domain) + 1 + len(name) > 255:
        raise InvalidArgument(
            "invalid reference format: repository name must not be more than 255 characters"
        )
    if tag and not _valid_tag(tag):
        raise InvalidArgument("invalid reference format")
    if digest and not _valid_digest(digest):
        raise InvalidArgument("invalid reference format")
    return Reference(domain, name, tag, digest)


def _split_domain(text: str) -> tuple[str, str]:
    first, slash, rest = text.partition("/")
    if not slash or (
        "." not in first and ":" not in first and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, text
    else:
        domain, remainder = first, rest
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder.split("@", 1)[0].split(":", 1)[0]:
        remainder = "library/" + remainder
    return domain, remainder


def _split_tag_digest(remainder: str) -> tuple[str, str, str]:
    name, _, digest = remainder.partition("@")
    last = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > last:
        name, tag = name[:colon], name[colon + 1 :]
        if not tag:
            raise InvalidArgument("invalid reference format")
    if "@" in remainder and not digest:
        raise InvalidArgument("invalid reference format")
    return name, tag, digest


def _valid_component(part: str) -> bool:
    """``[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*``"""
    if not part or part[0] not in _LOWER_ALNUM or part[-1] not in _LOWER_ALNUM:
        return False
    i = 0
    while i < len(part):
        if part[i] in _LOWER_ALNUM:
            i += 1
            continue
        j = i
        while j < len(part) and part[j] not in _LOWER_ALNUM:
            j += 1
        separator = part[i:j]
        if separator not in (".", "_", "__") and set(separator) != {"-"}:
            return False
        i = j
    return True


def _valid_path(path: str) -> bool:
    return all(_valid_component(p) for p in path.split("/"))


def _valid_domain(domain: str) -> bool:
    host, port = domain, ""
    if domain.startswith("["):
        end = domain.find("]")
        if end < 0:
            return False
        host, port = domain[1:end], domain[end + 1 :].removeprefix(":")
        return all(c in _HEX or c == ":" for c in host) and (not port or port.isdigit())
    if ":" in domain:
        host, port = domain.rsplit(":", 1)
        if not port.isdigit():
            return False
    for label in host.split("."):
        if not label or not label.replace("-", "").isalnum() or not label.isascii():
            return False
        if label[0] == "-" or label[-1] == "-":
            return False
    return True


def _valid_tag(tag: str) -> bool:
    return len(tag) <= 128 and tag[0] in _WORD and all(c in _WORD or c in ".-" for c in tag)


def _valid_digest(digest: str) -> bool:
    algorithm, colon, encoded = digest.partition(":")
    if not colon or len(encoded) < 32 or not all(c in _HEX for c in encoded):
        return False
    return bool(algorithm) and algorithm[0].isalpha() and all(c.isalnum() or c in "-_+." for c in algorithm)
