"""A classic-BPF assembler for seccomp filters: symbolic labels, long jumps, argument tests.

Classic BPF (include/uapi/linux/filter.h) encodes an instruction as ``struct sock_filter { u16 code;
u8 jt; u8 jf; u32 k; }``. A conditional jump names its two targets as *8-bit* forward offsets, so
it can reach at most 255 instructions ahead; only ``ja`` has a 32-bit offset. Programs as large as
Docker's profile need longer reaches, so :class:`Assembler` lets the compiler name targets with
labels and, when resolving them, replaces every conditional jump that is too far by a short jump
to an adjacent ``ja`` trampoline. Inserting trampolines moves code, so resolution repeats until
nothing is out of range; each jump is trampolined at most once, so it ends.

:func:`emit_condition` writes the comparison of one syscall argument with libseccomp's shapes:
on 64-bit ABIs two 32-bit loads, high word first, then low word; on 32-bit ABIs the low word only.
``struct seccomp_data`` puts ``nr`` at offset 0, ``arch`` at 4 and ``args[i]`` at ``16 + 8 * i``,
low word first on the little-endian machines this runtime supports.
"""

from __future__ import annotations

import struct

from dockyard.errors import InvalidArgument

__all__ = ["JA", "JEQ", "JGE", "JGT", "OFF_ARCH", "OFF_NR", "Assembler", "emit_condition"]

BPF_MAXINSNS = 4096
_U32 = 0xFFFFFFFF

# Classic BPF opcodes (include/uapi/linux/filter.h, bpf_common.h).
LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
JA = 0x05  # BPF_JMP | BPF_JA
JEQ = 0x15
JGT = 0x25
JGE = 0x35
RET = 0x06  # BPF_RET | BPF_K
OFF_NR, OFF_ARCH, OFF_ARGS = 0, 4, 16


class Assembler:
    """Instructions with symbolic jump targets; ``assemble`` resolves them, adding trampolines.

    An item is ``("label", name)`` or ``(code, jt, jf, k)``: for conditional jumps ``jt`` and
    ``jf`` are label names, for ``ja`` ``k`` is; everything else uses numbers.
    """

    def __init__(self) -> None:
        self.items: list[tuple[object, ...]] = []
        self._count = 0

    def label(self, name: str | None = None) -> str:
        """A new unique label name (not yet placed); with ``name``, place that label here."""
        if name is not None:
            self.items.append(("label", name))
            return name
        self._count += 1
        return f"L{self._count}"

    def load(self, offset: int) -> None:
        """``ld [offset]``: A = the u32 of seccomp_data at ``offset``."""
        self.items.append((LD_ABS, 0, 0, offset))

    def alu_and(self, k: int) -> None:
        """``and #k``: A &= k."""
        self.items.append((AND_K, 0, 0, k & _U32))

    def jump(self, code: int, k: int, jt: str, jf: str) -> None:
        """A conditional jump (``JEQ``, ``JGT``, ``JGE``) comparing A with ``k``."""
        self.items.append((code, jt, jf, k & _U32))

    def goto(self, target: str) -> None:
        """``ja target``."""
        self.items.append((JA, 0, 0, target))

    def ret(self, value: int) -> None:
        """``ret #value``: the filter's verdict."""
        self.items.append((RET, 0, 0, value & _U32))

    def assemble(self) -> bytes:
        """The program as bytes, every label resolved.

        Raises:
            InvalidArgument: the program exceeds the kernel's 4096 instructions.
        """
        items = list(self.items)
        for serial in range(64):
            positions, far = _layout(items)
            if not far:
                return _encode(items, positions)
            items = _add_trampolines(items, far, serial)
        raise AssertionError("trampolines did not converge")


def _layout(items: list[tuple[object, ...]]) -> tuple[dict[str, int], list[int]]:
    """Label positions, and the indexes of the conditional jumps that cannot reach a target."""
    positions: dict[str, int] = {}
    pc = 0
    for item in items:
        if item[0] == "label":
            positions[str(item[1])] = pc
        else:
            pc += 1
    far = []
    pc = 0
    for index, item in enumerate(items):
        if item[0] == "label":
            continue
        conditional = item[0] not in (JA, LD_ABS, AND_K, RET)
        if conditional and any(positions[str(t)] - pc - 1 > 255 for t in (item[1], item[2])):
            far.append(index)
        pc += 1
    return positions, far


def _add_trampolines(
    items: list[tuple[object, ...]], far: list[int], serial: int
) -> list[tuple[object, ...]]:
    """Send both targets of each far jump through adjacent ``ja`` trampolines."""
    out: list[tuple[object, ...]] = []
    start = 0
    for index in far:
        code, jt, jf, k = items[index]
        near = (f"T{serial}_{index}_t", f"T{serial}_{index}_f")
        out += items[start:index]
        out += [
            (code, near[0], near[1], k),
            ("label", near[0]),
            (JA, 0, 0, jt),
            ("label", near[1]),
            (JA, 0, 0, jf),
        ]
        start = index + 1
    out += items[start:]
    return out


def _encode(items: list[tuple[object, ...]], positions: dict[str, int]) -> bytes:
    out = []
    pc = 0
    for item in items:
        if item[0] == "label":
            continue
        code, jt, jf, k = item
        if code == JA:
            k = positions[str(k)] - pc - 1
        elif code not in (LD_ABS, AND_K, RET):
            jt = positions[str(jt)] - pc - 1
            jf = positions[str(jf)] - pc - 1
        # struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } in the host's byte order.
        out.append(struct.pack("=HBBI", code, jt, jf, k))
        pc += 1
    if len(out) > BPF_MAXINSNS:
        raise InvalidArgument(f"seccomp profile needs {len(out)} BPF instructions; the kernel takes 4096")
    return b"".join(out)


def emit_condition(asm: Assembler, cond: tuple[int, str, int, int], args64: bool, fail: str) -> None:
    """Compare argument ``cond = (index, op, value, value_two)``; fall through when the condition
    holds, jump to ``fail`` when it does not. ``op`` is an OCI ``SCMP_CMP_*`` name;
    ``SCMP_CMP_MASKED_EQ`` takes the mask from ``value`` and the datum from ``value_two``."""
    index, op, value, two = cond
    low, high = OFF_ARGS + 8 * index, OFF_ARGS + 8 * index + 4  # little-endian u64 halves
    passed = asm.label()
    if op == "SCMP_CMP_MASKED_EQ":
        if args64:
            low_half = asm.label()
            asm.load(high)
            asm.alu_and(value >> 32)
            asm.jump(JEQ, two >> 32, low_half, fail)
            asm.label(low_half)
        asm.load(low)
        asm.alu_and(value)
        asm.jump(JEQ, two & _U32, passed, fail)
    else:
        # Per op: (pass/fail when high > v, when high == v check low, when high < v) and the
        # low-word test as (code, target if true, target if false).
        hi, lo = value >> 32, value & _U32
        low_test = {
            "SCMP_CMP_EQ": (JEQ, passed, fail),
            "SCMP_CMP_NE": (JEQ, fail, passed),
            "SCMP_CMP_GT": (JGT, passed, fail),
            "SCMP_CMP_GE": (JGE, passed, fail),
            "SCMP_CMP_LT": (JGE, fail, passed),
            "SCMP_CMP_LE": (JGT, fail, passed),
        }[op]
        if args64:
            above, below = {
                "SCMP_CMP_EQ": (fail, fail),
                "SCMP_CMP_NE": (passed, passed),
                "SCMP_CMP_GT": (passed, fail),
                "SCMP_CMP_GE": (passed, fail),
                "SCMP_CMP_LT": (fail, passed),
                "SCMP_CMP_LE": (fail, passed),
            }[op]
            asm.load(high)
            equal = asm.label()
            if above == below:
                asm.jump(JEQ, hi, equal, above)
            else:
                not_above = asm.label()
                asm.jump(JGT, hi, above, not_above)
                asm.label(not_above)
                asm.jump(JEQ, hi, equal, below)
            asm.label(equal)
        asm.load(low)
        code, on_true, on_false = low_test
        asm.jump(code, lo, on_true, on_false)
    asm.label(passed)
