"""Docker's seccomp *template* resolved into the OCI profile for one container.

Docker's profiles (the default one, ``seccomp_default.json``, is a copy of moby/profiles
``seccomp/default.json``; custom ones come with ``--security-opt seccomp=<file>``) are not OCI
``LinuxSeccomp`` objects: they carry an ``archMap`` and rules with ``includes``/``excludes``
conditions that depend on the container and the host. moby resolves them per container
(moby/profiles ``seccomp/seccomp_linux.go``, ``setupSeccomp``), and so does this module, with the
same rules:

- ``architectures`` and ``archMap`` are exclusive. ``architectures`` is copied; from ``archMap``
  only the entry of the host's own architecture is used: it and its sub-architectures
  (x86_64 brings x86 and x32).
- A rule is dropped if ``excludes`` names the host architecture (libseccomp's spelling, the Go
  ``GOARCH`` mapped: ``amd64``, ``arm64``, ``x86``, ``arm``, ``s390x``...), or names any
  capability the container has, or gives a ``minKernel`` the host kernel reaches.
- A rule is kept only if ``includes`` names the host architecture (when it names any), the
  container has *every* capability it names, and the host kernel reaches its ``minKernel``.
- "The container has" means its **bounding** set, which is what moby checks.
- ``minKernel`` is ``"<kernel>.<major>"``; the host's release is compared on those two numbers
  only (``6.18.44-fc`` is 6.18).
- ``name`` is an old spelling of ``names`` (one name); both at once is an error.
- ``defaultAction``, ``defaultErrnoRet``, ``flags``, ``listenerPath``, ``listenerMetadata`` and each
  rule's ``action``, ``errnoRet`` and ``args`` pass through unchanged; ``comment`` is dropped.

A template with neither ``defaultAction`` nor ``syscalls`` means "no seccomp" to moby;
:func:`is_disabled` tells, and :func:`provide` (the engine's provider) answers None for such a
custom profile, so ``linux.seccomp`` is left out.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import LinuxSeccomp, LinuxSyscall, SpecError

__all__ = ["default_profile", "default_template", "is_disabled", "load_template", "provide", "resolve"]

# uname machine -> moby's "native" arch name (goToNative[GOARCH]) and its SCMP_ARCH_ constant.
_MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "amd64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "arm64": ("arm64", "SCMP_ARCH_AARCH64"),
    "i386": ("x86", "SCMP_ARCH_X86"),
    "i686": ("x86", "SCMP_ARCH_X86"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"),
    "armv6l": ("arm", "SCMP_ARCH_ARM"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "loongarch64": ("loongarch64", "SCMP_ARCH_LOONGARCH64"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"),
}
_TEMPLATE_ONLY = ("includes", "excludes", "comment", "name")


def load_template(text: str) -> dict[str, object]:
    """Parse a profile's JSON text.

    Raises:
        InvalidArgument: not JSON, or not an object (moby's wording: ``Decoding seccomp profile
            failed: ...``).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"Decoding seccomp profile failed: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidArgument("Decoding seccomp profile failed: the profile is not a JSON object")
    return data


@functools.cache
def _default_text() -> str:
    return (Path(__file__).parent / "seccomp_default.json").read_text()


def default_template() -> dict[str, object]:
    """A fresh copy of Docker's default profile template (moby/profiles default.json)."""
    return load_template(_default_text())


def is_disabled(template: dict[str, object]) -> bool:
    """True for a template with neither ``defaultAction`` nor ``syscalls``: moby applies none."""
    return not template.get("defaultAction") and not template.get("syscalls")


def _host() -> tuple[str, tuple[int, int]]:
    uname = os.uname()
    return uname.machine, parse_release(uname.release)


def parse_release(release: str) -> tuple[int, int]:
    """``(kernel, major)`` of a kernel release string such as ``6.18.44-fc-v657`` or ``3.12-1``.

    Raises:
        InvalidArgument: the release does not start with ``<n>.<n>``.
    """
    parts = release.split(".", 2)
    try:
        kernel = int(parts[0])
        major = int("".join(c for c in parts[1].split("-")[0] if c.isdigit()) or "x")
    except (IndexError, ValueError):
        raise InvalidArgument(f"failed to parse kernel version {release!r}") from None
    return kernel, major


def _min_kernel(value: object) -> tuple[int, int] | None:
    # moby's KernelVersion.UnmarshalJSON: exactly "<kernel>.<major>", each 0-255, not "0.0".
    if value is None or value == "":
        return None
    shown = json.dumps(value)
    if not isinstance(value, str):
        raise InvalidArgument(f'invalid kernel version: {shown}, expected "<kernel>.<major>"')
    parts = value.split(".")
    if len(parts) != 2 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise InvalidArgument(f'invalid kernel version: {shown}, expected "<kernel>.<major>"')
    version = (int(parts[0]), int(parts[1]))
    if version == (0, 0):
        raise InvalidArgument(
            f'invalid kernel version: {shown}, expected "<kernel>.<major>": version cannot be 0.0'
        )
    return version


def _str_list(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"seccomp profile: {where}: expected a list of strings")
    return list(value)


def _filter(rule: dict[str, object], key: str) -> dict[str, object]:
    value = rule.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"seccomp profile: {key}: expected an object")
    return value


def _keep(rule: dict[str, object], arch: str, caps: set[str], kernel: tuple[int, int]) -> bool:
    excludes, includes = _filter(rule, "excludes"), _filter(rule, "includes")
    if arch in _str_list(excludes.get("arches"), "excludes.arches"):
        return False
    if caps & set(_str_list(excludes.get("caps"), "excludes.caps")):
        return False
    minimum = _min_kernel(excludes.get("minKernel"))
    if minimum is not None and kernel >= minimum:
        return False
    arches = _str_list(includes.get("arches"), "includes.arches")
    if arches and arch not in arches:
        return False
    if not set(_str_list(includes.get("caps"), "includes.caps")) <= caps:
        return False
    minimum = _min_kernel(includes.get("minKernel"))
    return minimum is None or kernel >= minimum


def _syscall(rule: dict[str, object], index: int) -> LinuxSyscall:
    data = {k: v for k, v in rule.items() if k not in _TEMPLATE_ONLY}
    name = rule.get("name")
    if name:
        if rule.get("names"):
            raise InvalidArgument(
                "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'"
            )
        data["names"] = [name]
    try:
        call = LinuxSyscall.from_json(data, f"seccomp.syscalls[{index}]")
    except SpecError as exc:
        raise InvalidArgument(str(exc).replace("config.json: ", "seccomp profile: ", 1)) from exc
    assert isinstance(call, LinuxSyscall)
    return call


def _architectures(template: dict[str, object], scmp_arch: str) -> list[str]:
    listed = _str_list(template.get("architectures"), "architectures")
    arch_map = template.get("archMap") or []
    if listed and arch_map:
        raise InvalidArgument(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    if not isinstance(arch_map, list):
        raise InvalidArgument("seccomp profile: archMap: expected a list")
    for entry in arch_map:
        if not isinstance(entry, dict):
            raise InvalidArgument("seccomp profile: archMap: expected a list of objects")
        if entry.get("architecture") == scmp_arch:
            return [scmp_arch, *_str_list(entry.get("subArchitectures"), "archMap.subArchitectures")]
    return listed


def resolve(
    template: dict[str, object], *, capabilities: list[str], machine: str, kernel: tuple[int, int]
) -> LinuxSeccomp:
    """The OCI profile ``template`` yields for a container with ``capabilities`` (its bounding
    set) on a host of ``machine`` (uname's, e.g. ``x86_64``) running ``kernel`` (``(6, 18)``).

    A disabled template (see :func:`is_disabled`) yields an allow-everything profile; callers
    that want moby's "no seccomp at all" check :func:`is_disabled` first.

    Raises:
        InvalidArgument: the template is malformed (wrong types, both ``name`` and ``names``, both
            ``architectures`` and ``archMap``, a bad ``minKernel``), with moby's wording.
    """
    if is_disabled(template):
        return LinuxSeccomp(default_action="SCMP_ACT_ALLOW")
    arch, scmp_arch = _MACHINES.get(machine, (machine, ""))
    caps = set(capabilities)
    syscalls = template.get("syscalls") or []
    if not isinstance(syscalls, list) or not all(isinstance(r, dict) for r in syscalls):
        raise InvalidArgument("seccomp profile: syscalls: expected a list of objects")
    kept = [_syscall(rule, i) for i, rule in enumerate(syscalls) if _keep(rule, arch, caps, kernel)]
    base = {
        k: template[k]
        for k in ("defaultAction", "defaultErrnoRet", "flags", "listenerPath", "listenerMetadata")
        if k in template
    }
    try:
        profile = LinuxSeccomp.from_json(base, "seccomp")
    except SpecError as exc:
        raise InvalidArgument(str(exc).replace("config.json: ", "seccomp profile: ", 1)) from exc
    assert isinstance(profile, LinuxSeccomp)
    profile.architectures = _architectures(template, scmp_arch)
    profile.syscalls = kept
    return profile


def default_profile(capabilities: list[str]) -> LinuxSeccomp:
    """Docker's default profile resolved for ``capabilities`` on this machine and kernel."""
    machine, kernel = _host()
    return resolve(default_template(), capabilities=capabilities, machine=machine, kernel=kernel)


def provide(capabilities: list[str], custom: str) -> LinuxSeccomp | None:
    """``specgen``'s seccomp provider: the default profile, or the custom JSON ``custom``.

    None means "no filter at all": a custom profile with neither ``defaultAction`` nor
    ``syscalls`` (``{}``) disables seccomp, as moby's ``setupSeccomp`` returns no profile for it.

    Raises:
        InvalidArgument: ``custom`` is not a valid profile.
    """
    if not custom:
        return default_profile(capabilities)
    template = load_template(custom)
    if is_disabled(template):
        return None
    machine, kernel = _host()
    return resolve(template, capabilities=capabilities, machine=machine, kernel=kernel)
