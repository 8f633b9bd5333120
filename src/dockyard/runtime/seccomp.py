"""Compile an OCI seccomp profile to a classic-BPF filter, and install it.

The kernel runs a seccomp filter (Documentation/userspace-api/seccomp_filter.rst) on every system
call, over ``struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }``,
and acts on the 32-bit value it returns (``SECCOMP_RET_*``). runc builds that program with
libseccomp and prepends its own ``-ENOSYS`` stub; this module produces a program with the same
meaning, in Python, with no library.

**Shape.** The program loads ``arch`` and dispatches to one section per ``AUDIT_ARCH_*`` value;
an architecture the profile does not list (nor is native) gets ``SECCOMP_RET_KILL_PROCESS``,
libseccomp's "bad arch" outcome. x32 shares x86_64's ``AUDIT_ARCH`` and is told apart by bit 30
of the syscall number. Inside a section the syscall number is looked up by a binary search over
*intervals*: every number from 0 to 2^32-1 belongs to one interval with one decision, so the
search is a tree of ``jge`` instructions whose leaves are decisions. A decision is a return
(shared by every interval with that value) or, for a syscall with argument rules, a block of
comparisons. Docker's profile needs ~800 instructions for x86_64, i386 and x32 together.

**Rule semantics** (libseccomp's, with runc's additions):

- Names unknown for an architecture are skipped for it, as libseccomp skips them.
- A rule whose action equals the default action is dropped (runc does; libseccomp refuses it).
- For one syscall, the first rule without conditions decides, whatever came before or after it
  (libseccomp: an unconditional rule replaces existing argument chains, and once a syscall is
  unconditional later rules are ignored).
- Otherwise the rules with conditions are tried in profile order and the first whose conditions
  all hold decides (conditions within a rule are ANDed, rules are ORed). Where two such rules
  overlap with *different* actions, libseccomp's answer depends on its internal tree order; this
  module's is "first in the profile wins", which is the same whenever the rules do not overlap,
  as in every Docker profile. No rule matching means the default action.
- Arguments are compared as unsigned 64-bit values on 64-bit ABIs (x86_64, aarch64): high word
  first, then low word, the two 32-bit loads libseccomp emits. On 32-bit ABIs (i386, arm, and x32,
  which libseccomp also treats as 32-bit) only the low word exists.
- ``SCMP_CMP_MASKED_EQ`` takes the mask from ``value`` and the datum from ``valueTwo``.
- ``SCMP_ACT_ERRNO`` returns the rule's ``errnoRet``, else EPERM; the default action uses
  ``defaultErrnoRet``, else EPERM (runc's ``getAction``). ``SCMP_ACT_KILL`` is KILL_THREAD.
  ``SCMP_ACT_TRACE`` passes ``errnoRet`` as its data, EPERM if absent.
- **runc's -ENOSYS rule**: for each architecture the profile lists, a syscall number above the
  highest number any of the profile's names has on that architecture returns ENOSYS instead of
  the default action, so that libc falls back from syscalls newer than the profile (runc:
  libcontainer/seccomp/patchbpf). As in runc, it is not applied when the default action already
  lets calls through (ALLOW, LOG, TRACE) or is ERRNO(ENOSYS), nor to the native architecture
  when the profile lists no architectures.

Classic BPF conditional jumps reach at most 255 instructions ahead; the assembler below turns a
longer jump into a short jump to an inserted ``ja`` (32-bit offset) trampoline.

The flags, the cache of compiled programs and their installation live in ``seccomp_filter``
(light, so that a cached create never imports this compiler); they are re-exported here.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.runtime import seccomp_syscalls
from dockyard.runtime.seccomp_asm import JEQ, JGE, OFF_ARCH, OFF_NR, Assembler, emit_condition
from dockyard.runtime.seccomp_filter import FLAGS, filter_flags, install

TYPE_CHECKING = False  # mypy treats this name as true; importing typing would cost the runtime
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import LinuxSeccomp, LinuxSyscall

__all__ = ["FLAGS", "compile", "filter_flags", "install"]

# include/uapi/linux/seccomp.h
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
EPERM = 1
ENOSYS = 38


# include/uapi/linux/audit.h: EM_* | __AUDIT_ARCH_64BIT (0x80000000) | __AUDIT_ARCH_LE (0x40000000).
_AUDIT_ARCH = {
    "SCMP_ARCH_X86_64": 0xC000003E,
    "SCMP_ARCH_X32": 0xC000003E,
    "SCMP_ARCH_X86": 0x40000003,
    "SCMP_ARCH_AARCH64": 0xC00000B7,
    "SCMP_ARCH_ARM": 0x40000028,
}
_ARGS_64 = frozenset(("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"))
# Architectures runc accepts but for which no syscall table exists here: filters for them can
# only kill, which is what an unlisted architecture gets anyway, so they are accepted and left out.
_OTHER_ARCHES = frozenset(
    (
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64",
    )
)
_NATIVE = {
    "x86_64": "SCMP_ARCH_X86_64",
    "aarch64": "SCMP_ARCH_AARCH64",
    "arm64": "SCMP_ARCH_AARCH64",
    "i386": "SCMP_ARCH_X86",
    "i686": "SCMP_ARCH_X86",
    "armv7l": "SCMP_ARCH_ARM",
    "armv8l": "SCMP_ARCH_ARM",
}
_X32_BIT = seccomp_syscalls.X32_SYSCALL_BIT
_U32 = 0xFFFFFFFF


# --- actions, rules and conditions --------------------------------------------------------------

_ALLOWING = (RET_ALLOW, RET_LOG)


def _action(name: str, errno: int | None, where: str) -> int:
    """The SECCOMP_RET_* value of an OCI action name."""
    if name == "SCMP_ACT_ERRNO":
        return RET_ERRNO | ((EPERM if errno is None else errno) & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return RET_TRACE | ((EPERM if errno is None else errno) & 0xFFFF)
    fixed = {
        "SCMP_ACT_KILL": RET_KILL_THREAD,
        "SCMP_ACT_KILL_THREAD": RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS": RET_KILL_PROCESS,
        "SCMP_ACT_TRAP": RET_TRAP,
        "SCMP_ACT_ALLOW": RET_ALLOW,
        "SCMP_ACT_LOG": RET_LOG,
        "SCMP_ACT_NOTIFY": RET_USER_NOTIF,
    }
    if name not in fixed:
        raise InvalidArgument(f"{where}: unknown seccomp action {name!r}")
    return fixed[name]


_OPS = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)

_Cond = tuple[int, str, int, int]  # (argument index, op, value, value_two)
_Rule = tuple[list[str], int, list[_Cond]]  # (names, SECCOMP_RET_* value, conditions)


def _rules(profile: LinuxSeccomp) -> list[_Rule]:
    out: list[_Rule] = []
    for i, call in enumerate(profile.syscalls):
        where = f"linux.seccomp.syscalls[{i}]"
        action = _action(call.action, call.errno_ret, where)
        if action == RET_USER_NOTIF:
            _check_notify(profile, call, where)
        conds = []
        for j, arg in enumerate(call.args):
            if not 0 <= arg.index <= 5:
                raise InvalidArgument(f"{where}.args[{j}]: argument index {arg.index} is not 0-5")
            if arg.op not in _OPS:
                raise InvalidArgument(f"{where}.args[{j}]: unknown comparison {arg.op!r}")
            two = arg.value_two or 0
            if not (0 <= arg.value < 1 << 64 and 0 <= two < 1 << 64):
                raise InvalidArgument(f"{where}.args[{j}]: value out of the unsigned 64-bit range")
            conds.append((arg.index, arg.op, arg.value, two))
        out.append((list(call.names), action, conds))
    return out


def _check_notify(profile: LinuxSeccomp, call: LinuxSyscall, where: str) -> None:
    # runc's rules: a notify action needs somewhere to send the listener fd, and notifying on
    # write(2) would deadlock the runtime's own error reporting.
    if not profile.listener_path:
        raise InvalidArgument(f"{where}: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
    if "write" in call.names:
        raise InvalidArgument(f"{where}: SCMP_ACT_NOTIFY cannot be used for the write syscall")


# --- one architecture's section -----------------------------------------------------------------

# A decision for a range of syscall numbers: ("ret", value) or ("rules", number).
_Decision = tuple[str, int]


class _Section:
    """Decisions over the 32-bit syscall-number space for one ``AUDIT_ARCH`` value.

    ``ranges`` holds a few wide intervals (bad-arch halves, the default, the ENOSYS tail) by their
    first number; ``points`` the decisions of single syscalls, which take precedence.
    """

    def __init__(self, default: int) -> None:
        self.default = default
        self.ranges: dict[int, _Decision] = {0: ("ret", RET_KILL_PROCESS)}
        self.points: dict[int, _Decision] = {}
        self.calls: dict[int, list[tuple[int, list[_Cond]]]] = {}
        self.args64: dict[int, bool] = {}

    def cover(self, first: int, last: int, decision: _Decision) -> None:
        """Give ``decision`` to every number in ``first..last`` (a wide range: few per section)."""
        after = self._range_at(last + 1) if last < _U32 else None
        for start in [s for s in self.ranges if first <= s <= last]:
            del self.ranges[start]
        self.ranges[first] = decision
        if after is not None:
            self.ranges[last + 1] = after

    def _range_at(self, number: int) -> _Decision:
        return self.ranges[max(s for s in self.ranges if s <= number)]

    def intervals(self) -> list[tuple[int, _Decision]]:
        """``(first number, decision)`` of each maximal run of equal decisions, in order."""
        range_starts = sorted(self.ranges)
        edges = set(range_starts) | set(self.points) | {p + 1 for p in self.points if p < _U32}
        merged: list[tuple[int, _Decision]] = []
        r = 0
        for start in sorted(edges):
            while r + 1 < len(range_starts) and range_starts[r + 1] <= start:
                r += 1
            decision = self.points.get(start, self.ranges[range_starts[r]])
            if not merged or merged[-1][1] != decision:
                merged.append((start, decision))
        return merged


def _fill(section: _Section, arch: str, rules: list[_Rule], enosys: bool, low: int, high: int) -> None:
    """Lay one seccomp architecture's rules over ``low..high`` of ``section``."""
    table = seccomp_syscalls.table(arch)
    section.cover(low, high, ("ret", section.default))
    known = [table[n] for names, _a, _c in rules for n in names if n in table]
    if enosys and known:
        top = max(known)
        if top < high:
            section.cover(top + 1, high, ("ret", RET_ERRNO | ENOSYS))
    per_call: dict[int, list[tuple[int, list[_Cond]]]] = {}
    for names, action, conds in rules:
        if action == section.default:
            continue  # runc drops rules that only repeat the default
        for name in names:
            number = table.get(name)
            if number is not None and low <= number <= high:
                per_call.setdefault(number, []).append((action, conds))
    for number, entries in per_call.items():
        unconditional = [action for action, conds in entries if not conds]
        if unconditional:
            section.points[number] = ("ret", unconditional[0])
        else:
            section.calls[number] = entries
            section.args64[number] = arch in _ARGS_64
            section.points[number] = ("rules", number)


def _emit_section(asm: Assembler, section: _Section) -> None:
    """The binary search over the section's intervals, then the decision blocks it jumps to."""
    asm.load(OFF_NR)
    rets: dict[int, str] = {}
    blocks: dict[int, str] = {}

    def target(decision: _Decision) -> str:
        kind, value = decision
        table = rets if kind == "ret" else blocks
        if value not in table:
            table[value] = asm.label()
        return table[value]

    def tree(intervals: list[tuple[int, _Decision]], here: str | None) -> None:
        if here is not None:
            asm.label(here)
        if len(intervals) == 1:
            asm.goto(target(intervals[0][1]))
            return
        mid = len(intervals) // 2
        left, right = intervals[:mid], intervals[mid:]
        left_label = target(left[0][1]) if len(left) == 1 else asm.label()
        right_label = target(right[0][1]) if len(right) == 1 else asm.label()
        asm.jump(JGE, right[0][0], right_label, left_label)
        if len(left) > 1:
            tree(left, left_label)
        if len(right) > 1:
            tree(right, right_label)

    tree(section.intervals(), None)
    for number in list(blocks):
        asm.label(blocks[number])
        for action, conds in section.calls[number]:
            next_rule = asm.label()
            for cond in conds:
                emit_condition(asm, cond, section.args64[number], next_rule)
            asm.ret(action)
            asm.label(next_rule)
        asm.goto(target(("ret", section.default)))
    for value, label in rets.items():
        asm.label(label)
        asm.ret(value)


# --- the program --------------------------------------------------------------------------------


def _arches(profile: LinuxSeccomp, machine: str) -> tuple[str, list[str]]:
    native = _NATIVE.get(machine)
    if native is None:
        raise Unsupported(f"seccomp: no syscall table for machine {machine!r}")
    for arch in profile.architectures:
        if arch not in _AUDIT_ARCH and arch not in _OTHER_ARCHES:
            raise InvalidArgument(f"linux.seccomp.architectures: unknown architecture {arch!r}")
    listed = [a for a in dict.fromkeys(profile.architectures) if a in _AUDIT_ARCH]
    return native, listed


def _skip_enosys(default: int) -> bool:
    # runc: no stub when the default already lets calls through, or already says ENOSYS.
    return default in _ALLOWING or default >> 16 == RET_TRACE >> 16 or default == RET_ERRNO | ENOSYS


def compile(profile: LinuxSeccomp, machine: str | None = None) -> bytes:
    """Compile ``profile`` into a classic-BPF seccomp program for ``machine`` (default: this one).

    Pure: reads nothing but its arguments and the syscall tables. See the module docstring for
    the exact semantics.

    Raises:
        InvalidArgument: an unknown action, comparison, architecture or flag; an argument index
            outside 0-5; NOTIFY without a listener path, on ``write``, or as the default action.
        Unsupported: no syscall table for ``machine``.
    """
    native, listed = _arches(profile, machine or os.uname().machine)
    for flag in profile.flags:
        if flag not in FLAGS:
            raise InvalidArgument(f"linux.seccomp.flags: unknown flag {flag!r}")
    default = _action(profile.default_action, profile.default_errno_ret, "linux.seccomp.defaultAction")
    if default == RET_USER_NOTIF:
        raise InvalidArgument("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
    rules = _rules(profile)
    enosys = set() if _skip_enosys(default) else set(listed)
    sections: dict[int, _Section] = {}
    for arch in dict.fromkeys([native, *listed]):
        audit = _AUDIT_ARCH[arch]
        section = sections.setdefault(audit, _Section(default))
        if arch == "SCMP_ARCH_X32":
            _fill(section, arch, rules, arch in enosys, _X32_BIT, _U32)
        elif arch == "SCMP_ARCH_X86_64":
            _fill(section, arch, rules, arch in enosys, 0, _X32_BIT - 1)
        else:
            _fill(section, arch, rules, arch in enosys, 0, _U32)
    asm = Assembler()
    asm.load(OFF_ARCH)
    labels = {audit: asm.label() for audit in sections}
    for audit, label in labels.items():
        after = asm.label()
        asm.jump(JEQ, audit, label, after)
        asm.label(after)
    asm.ret(RET_KILL_PROCESS)
    for audit, section in sections.items():
        asm.label(labels[audit])
        _emit_section(asm, section)
    return asm.assemble()
