"""The device cgroup: which device nodes a container may open, read, write or create.

cgroup v1 has a ``devices`` controller that takes rules one line at a time (``devices.allow``,
``devices.deny``; Documentation/admin-guide/cgroup-v1/devices.rst). cgroup v2 has no such
controller: the same policy is an eBPF program of type ``BPF_PROG_TYPE_CGROUP_DEVICE``, attached
to the cgroup's directory, that the kernel runs on every device access
(include/uapi/linux/bpf.h, ``struct bpf_cgroup_dev_ctx``; kernel/bpf/cgroup.c).

To give both versions the same meaning, the spec's rules are first run through an emulator of
the v1 kernel logic (security/device_cgroup.c, ``devcgroup_update_access``), as runc does:

- a rule of type ``a`` (all devices) resets everything: ``allow a`` means "allow by default, no
  exceptions", ``deny a`` means "deny by default, no exceptions";
- any other rule whose action differs from the default adds an exception (or widens the access
  of an identical one); a rule whose action equals the default removes those access bits from an
  exception with exactly the same type, major and minor. A wildcard exception is never split.

The result is a default and an ordered list of exceptions. v1 writes it as the default (``a`` to
``devices.deny`` or ``devices.allow``) followed by each exception to the opposite file. v2 compiles
it to eBPF: each exception is a block that jumps to the next block unless type, access, major and
minor all match, and returns the exception's verdict if they do; the end returns the default.

runc appends its own allowed devices after the spec's rules (libcontainer/specconv
``AllowedDevices``), whatever the spec says; on the project machine ``devices.list`` of a runc 1.1
container with Docker's rules read ``b *:* m``, ``c *:* m``, then ``c 1:3``, ``1:5``, ``1:7``,
``1:8``, ``1:9``, ``5:0``, ``5:2``, ``10:200`` and ``136:*``, all ``rwm``. These are reproduced.
"""

from __future__ import annotations

import struct

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # mypy treats this name as true; importing typing would cost the runtime
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import LinuxDeviceCgroup

__all__ = ["RUNC_ALLOWED", "Emulator", "Rule", "ebpf_program", "rules_from_spec", "v1_writes"]

WILDCARD = -1

Rule = tuple[bool, str, int, int, str]
"""(allow, type ``a``/``b``/``c``, major or -1, minor or -1, access subset of ``rwm``)."""

# runc libcontainer/specconv AllowedDevices, in runc's order.
RUNC_ALLOWED: tuple[Rule, ...] = (
    (True, "c", WILDCARD, WILDCARD, "m"),
    (True, "b", WILDCARD, WILDCARD, "m"),
    (True, "c", 1, 3, "rwm"),  # /dev/null
    (True, "c", 1, 8, "rwm"),  # /dev/random
    (True, "c", 1, 7, "rwm"),  # /dev/full
    (True, "c", 5, 0, "rwm"),  # /dev/tty
    (True, "c", 1, 5, "rwm"),  # /dev/zero
    (True, "c", 1, 9, "rwm"),  # /dev/urandom
    (True, "c", 136, WILDCARD, "rwm"),  # /dev/pts/*
    (True, "c", 5, 2, "rwm"),  # /dev/ptmx
    (True, "c", 10, 200, "rwm"),  # /dev/net/tun
)


def rules_from_spec(rules: list[LinuxDeviceCgroup]) -> list[Rule]:
    """The spec's device rules as ``Rule`` tuples, followed by runc's allowed devices.

    Raises:
        InvalidArgument: a rule has a type other than a, b or c, or access letters beyond rwm.
    """
    out: list[Rule] = []
    for i, rule in enumerate(rules):
        kind = rule.type or "a"
        access = rule.access or "rwm"
        if kind not in ("a", "b", "c"):
            raise InvalidArgument(f"linux.resources.devices[{i}]: invalid device type {kind!r}")
        if not access or set(access) - set("rwm"):
            raise InvalidArgument(f"linux.resources.devices[{i}]: invalid access {access!r}")
        major = WILDCARD if rule.major is None else rule.major
        minor = WILDCARD if rule.minor is None else rule.minor
        out.append((rule.allow, kind, major, minor, access))
    out.extend(RUNC_ALLOWED)
    return out


class Emulator:
    """The v1 kernel's device-rule state machine: a default and ordered exceptions.

    A fresh emulator denies everything, like runc's: a rule list that never says ``allow a`` ends
    up as an allow-list.
    """

    __slots__ = ("default_allow", "exceptions")

    def __init__(self) -> None:
        self.default_allow = False
        self.exceptions: dict[tuple[str, int, int], str] = {}

    def apply(self, rule: Rule) -> None:
        """Apply one rule as a write to ``devices.allow`` or ``devices.deny`` would."""
        allow, kind, major, minor, access = rule
        if kind == "a":
            self.default_allow = allow
            self.exceptions.clear()
            return
        key = (kind, major, minor)
        if allow != self.default_allow:
            old = self.exceptions.get(key, "")
            self.exceptions[key] = "".join(c for c in "rwm" if c in old or c in access)
            return
        if key in self.exceptions:
            left = "".join(c for c in self.exceptions[key] if c not in access)
            if left:
                self.exceptions[key] = left
            else:
                del self.exceptions[key]

    def rules(self) -> list[Rule]:
        """The exceptions as rules, each with the opposite action of the default."""
        verdict = not self.default_allow
        return [(verdict, k, ma, mi, acc) for (k, ma, mi), acc in self.exceptions.items()]


def emulate(rules: list[Rule]) -> Emulator:
    """Run ``rules`` through a fresh :class:`Emulator`."""
    emulator = Emulator()
    for rule in rules:
        emulator.apply(rule)
    return emulator


def _line(kind: str, major: int, minor: int, access: str) -> str:
    ma = "*" if major == WILDCARD else str(major)
    mi = "*" if minor == WILDCARD else str(minor)
    return f"{kind} {ma}:{mi} {access}"


def v1_writes(rules: list[Rule]) -> list[tuple[str, str]]:
    """``(file, line)`` writes that put a v1 devices cgroup into the state ``rules`` describe.

    The first write resets the cgroup (``a`` to ``devices.deny`` or ``devices.allow``), so the
    result does not depend on what the cgroup held before.
    """
    emulator = emulate(rules)
    reset = "devices.allow" if emulator.default_allow else "devices.deny"
    other = "devices.deny" if emulator.default_allow else "devices.allow"
    writes = [(reset, "a")]
    writes += [(other, _line(k, ma, mi, acc)) for _allow, k, ma, mi, acc in emulator.rules()]
    return writes


# --- eBPF (include/uapi/linux/bpf.h, bpf_common.h) ---------------------------------------------

_LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
_AND64_K = 0x57  # BPF_ALU64 | BPF_AND | BPF_K
_RSH64_K = 0x77  # BPF_ALU64 | BPF_RSH | BPF_K
_MOV64_K = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
_MOV64_X = 0xBF  # BPF_ALU64 | BPF_MOV | BPF_X
_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K: pc += off if dst != imm
_EXIT = 0x95  # BPF_JMP | BPF_EXIT: return r0

_DEV_TYPE = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACC_BITS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    # struct bpf_insn: u8 code; u8 dst_reg:4, src_reg:4 (low nibble first on little-endian
    # machines, which x86_64 and aarch64 are); s16 off; s32 imm.
    if imm > 0x7FFFFFFF:
        imm -= 1 << 32
    return struct.pack("<BBhi", code, dst | src << 4, off, imm)


def _rule_block(rule: Rule) -> list[bytes]:
    """Instructions that return the rule's verdict if the access matches, else fall through."""
    allow, kind, major, minor, access = rule
    # Each check is (code, dst, src, imm); every JNE leaves the block when its operands differ.
    checks: list[tuple[int, int, int, int]] = []
    if kind != "a":
        checks.append((_JNE_K, 2, 0, _DEV_TYPE[kind]))
    if access != "rwm":
        # The request matches when it asks for nothing outside the rule's access bits.
        mask = sum(_ACC_BITS[c] for c in access)
        checks += [(_MOV64_X, 1, 3, 0), (_AND64_K, 1, 0, ~mask & 0xFFFFFFFF), (_JNE_K, 1, 0, 0)]
    if major != WILDCARD:
        checks.append((_JNE_K, 4, 0, major))
    if minor != WILDCARD:
        checks.append((_JNE_K, 5, 0, minor))
    tail = [_insn(_MOV64_K, dst=0, imm=1 if allow else 0), _insn(_EXIT)]
    out = []
    for i, (code, dst, src, imm) in enumerate(checks):
        skip = len(checks) - i - 1 + len(tail) if code == _JNE_K else 0
        out.append(_insn(code, dst=dst, src=src, off=skip, imm=imm))
    return out + tail


def ebpf_program(rules: list[Rule]) -> bytes:
    """A ``BPF_PROG_TYPE_CGROUP_DEVICE`` program enforcing ``rules`` (returns 1 to allow).

    The context is ``struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`` where
    ``access_type`` is ``access << 16 | type``.
    """
    emulator = emulate(rules)
    prologue = [
        _insn(_LDX_W, dst=2, src=1, off=0),
        _insn(_AND64_K, dst=2, imm=0xFFFF),  # r2 = device type
        _insn(_LDX_W, dst=3, src=1, off=0),
        _insn(_RSH64_K, dst=3, imm=16),  # r3 = requested access bits
        _insn(_LDX_W, dst=4, src=1, off=4),  # r4 = major
        _insn(_LDX_W, dst=5, src=1, off=8),  # r5 = minor
    ]
    blocks = [insn for rule in emulator.rules() for insn in _rule_block(rule)]
    epilogue = [_insn(_MOV64_K, dst=0, imm=1 if emulator.default_allow else 0), _insn(_EXIT)]
    return b"".join(prologue + blocks + epilogue)
