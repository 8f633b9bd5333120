"""Image references: docker/distribution's grammar and Docker Hub's normalisation.

A reference names a repository and, optionally, a tag and a digest::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component ( "/" path-component )*
    domain     := host [ ":" port ]          host: DNS labels, or an IPv6 literal in brackets
    path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex           (checked by oci.digest: sha256/sha512 only)

The first component is a domain only if it contains a ``.`` or a ``:``, or is ``localhost``;
otherwise the name lives on Docker Hub (``docker.io``), where one-component names belong to
``library/``. So ``alpine`` is ``docker.io/library/alpine``, ``user/app`` is
``docker.io/user/app`` and ``127.0.0.1:5000/x`` is on ``127.0.0.1:5000``. The whole name is at
most 255 characters. ``index.docker.io`` is an old spelling of ``docker.io``.

Errors carry Docker's words, because the CLI prints them as they are: ``invalid reference
format``, ``invalid reference format: repository name must be lowercase``, ``repository name
must not be more than 255 characters`` and, for a bare 64-hex string that would be mistaken for
an image ID, ``invalid repository name (...), cannot specify 64-byte hexadecimal strings``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_TAG", "Reference"]

DEFAULT_DOMAIN = "docker.io"
"""Where names without a domain live."""
DEFAULT_TAG = "latest"
"""The tag a reference gets when it has neither tag nor digest."""

_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
_NAME_MAX = 255

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_TAG_ONLY = re.compile(_TAG, re.ASCII)
_HEX64 = re.compile(r"[a-f0-9]{64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A parsed, normalised image reference; immutable and hashable.

    ``domain`` is the registry as users name it (``docker.io``, ``127.0.0.1:5000``), ``path``
    the repository inside it (``library/alpine``). Build one with :meth:`parse`; the
    constructor trusts its arguments.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalise what a user typed (``alpine``, ``127.0.0.1:5000/x:1@sha256:...``).

        Raises:
            InvalidArgument: the text is not a reference, with Docker's message.
        """
        if _HEX64.fullmatch(text):
            raise InvalidArgument(
                f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
            )
        domain, remainder = _split_domain(text)
        # As ParseNormalizedNamed: the repository (up to the first ":") must be lower case;
        # tags and digests may hold capitals, and so may a domain.
        repository = remainder.split(":", 1)[0]
        if repository.lower() != repository:
            raise InvalidArgument("invalid reference format: repository name must be lowercase")
        match = _REFERENCE.fullmatch(f"{domain}/{remainder}")
        if match is None:
            raise InvalidArgument("invalid reference format")
        name, tag, digest_text = match.group(1), match.group(2), match.group(3)
        if len(name) > _NAME_MAX:
            raise InvalidArgument(f"repository name must not be more than {_NAME_MAX} characters")
        digest = Digest.parse(digest_text) if digest_text else None
        return cls(domain=domain, path=name[len(domain) + 1 :], tag=tag, digest=digest)

    def with_default_tag(self) -> Reference:
        """This reference, with tag ``latest`` if it has neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return Reference(domain=self.domain, path=self.path, tag=DEFAULT_TAG)
        return self

    def with_tag(self, tag: str) -> Reference:
        """The same repository with ``tag`` (and no digest).

        Raises:
            InvalidArgument: ``tag`` is not a valid tag.
        """
        if not _TAG_ONLY.fullmatch(tag):
            raise InvalidArgument("invalid reference format")
        return Reference(domain=self.domain, path=self.path, tag=tag)

    def with_digest(self, digest: Digest) -> Reference:
        """The same repository pinned to ``digest`` (and no tag): a "repo digest"."""
        return Reference(domain=self.domain, path=self.path, digest=digest)

    def repository(self) -> Reference:
        """The bare repository: no tag, no digest."""
        return Reference(domain=self.domain, path=self.path)

    def name(self) -> str:
        """The fully qualified repository name: ``docker.io/library/alpine``."""
        return f"{self.domain}/{self.path}"

    def familiar_name(self) -> str:
        """The repository as Docker shows it: ``alpine``, ``user/app``, ``127.0.0.1:5000/x``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name()
        short = self.path.removeprefix(_OFFICIAL_PREFIX)
        return short if "/" not in short else self.path

    def familiar_string(self) -> str:
        """Docker's ``FamiliarString``: ``alpine:latest``, ``alpine@sha256:...``."""
        return self.familiar_name() + self._suffix()

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        """Fully qualified: ``docker.io/library/alpine:latest``."""
        return self.name() + self._suffix()


def _split_domain(text: str) -> tuple[str, str]:
    """docker/distribution's ``splitDockerDomain``, with Hub normalisation."""
    first, sep, rest = text.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        domain, remainder = DEFAULT_DOMAIN, text
    else:
        domain, remainder = first, rest
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_PREFIX + remainder
    return domain, remainder
