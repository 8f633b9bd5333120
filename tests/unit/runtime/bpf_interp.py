"""Small interpreters for the BPF the runtime generates, so unit tests can run it without root.

``run_seccomp`` executes a classic-BPF seccomp filter (Documentation/networking/filter.rst,
include/uapi/linux/filter.h) on a ``struct seccomp_data``, after the checks the kernel's
``seccomp_check_filter`` / ``bpf_check_classic`` make (length, jump targets, aligned loads inside
the 64-byte ``seccomp_data``, a final return). ``run_device_filter`` executes the subset of eBPF a
cgroup device program uses on a ``struct bpf_cgroup_dev_ctx``.
"""

from __future__ import annotations

import struct

__all__ = ["RET_ACTION_MASK", "RET_DATA_MASK", "run_device_filter", "run_seccomp", "seccomp_data"]

BPF_MAXINSNS = 4096
SECCOMP_DATA_SIZE = 64
RET_ACTION_MASK = 0xFFFF0000
RET_DATA_MASK = 0x0000FFFF
_U32 = 0xFFFFFFFF


def seccomp_data(nr: int, arch: int, args: tuple[int, ...] = (), ip: int = 0) -> bytes:
    """``struct seccomp_data`` on a little-endian machine: nr, arch, instruction_pointer, args[6]."""
    full = (tuple(args) + (0,) * 6)[:6]
    return struct.pack("<iIQ6Q", nr, arch, ip, *[a & 0xFFFFFFFFFFFFFFFF for a in full])


_decoded: dict[bytes, list[tuple[int, int, int, int]]] = {}


def _decode(program: bytes) -> list[tuple[int, int, int, int]]:
    if program not in _decoded:
        _decoded[program] = _check(program)
    return _decoded[program]


def _check(program: bytes) -> list[tuple[int, int, int, int]]:
    if len(program) % 8 or not program:
        raise ValueError("a classic BPF program is a non-empty sequence of 8-byte instructions")
    insns = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    if len(insns) > BPF_MAXINSNS:
        raise ValueError(f"{len(insns)} instructions: the kernel takes at most {BPF_MAXINSNS}")
    for pc, (code, jt, jf, k) in enumerate(insns):
        cls = code & 0x07
        if cls == 0x05:  # BPF_JMP
            targets = [pc + 1 + k] if code == 0x05 else [pc + 1 + jt, pc + 1 + jf]
            if any(t >= len(insns) for t in targets):
                raise ValueError(f"instruction {pc}: jump out of the program")
        if code == 0x20 and (k % 4 or k + 4 > SECCOMP_DATA_SIZE):
            raise ValueError(f"instruction {pc}: load outside seccomp_data")
    if insns[-1][0] & 0x07 != 0x06:
        raise ValueError("the program does not end with a return")
    return insns


def _alu(op: int, a: int, operand: int) -> int:
    ops = {
        0x00: lambda: a + operand,
        0x10: lambda: a - operand,
        0x20: lambda: a * operand,
        0x30: lambda: a // operand,
        0x40: lambda: a | operand,
        0x50: lambda: a & operand,
        0x60: lambda: a << operand,
        0x70: lambda: a >> operand,
        0x80: lambda: -a,
        0x90: lambda: a % operand,
        0xA0: lambda: a ^ operand,
    }
    return ops[op]() & _U32


def _jump(op: int, a: int, operand: int) -> bool:
    return {0x10: a == operand, 0x20: a > operand, 0x30: a >= operand, 0x40: bool(a & operand)}[op]


def run_seccomp(program: bytes, data: bytes) -> tuple[int, int]:
    """Run the filter on ``data``; return ``(steps executed, SECCOMP_RET_* value)``."""
    insns = _decode(program)
    a = x = 0
    mem = [0] * 16
    pc = steps = 0
    while True:
        code, jt, jf, k = insns[pc]
        steps += 1
        cls = code & 0x07
        pc += 1
        if code == 0x20:  # ld [k]
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x00:  # ld #k
            a = k
        elif code == 0x60:  # ld M[k]
            a = mem[k]
        elif code == 0x01:  # ldx #k
            x = k
        elif code == 0x61:  # ldx M[k]
            x = mem[k]
        elif code == 0x02:  # st M[k]
            mem[k] = a
        elif code == 0x03:  # stx M[k]
            mem[k] = x
        elif cls == 0x04:  # alu
            a = _alu(code & 0xF0, a, x if code & 0x08 else k)
        elif code == 0x05:  # ja
            pc += k
        elif cls == 0x05:
            pc += jt if _jump(code & 0xF0, a, x if code & 0x08 else k) else jf
        elif code == 0x06:  # ret #k
            return steps, k
        elif code == 0x16:  # ret a
            return steps, a
        elif code == 0x07:  # tax
            x = a
        elif code == 0x87:  # txa
            a = x
        else:
            raise ValueError(f"instruction {pc - 1}: opcode {code:#x} not supported")


def run_device_filter(program: bytes, dev_type: str, major: int, minor: int, access: str) -> int:
    """Run a ``BPF_PROG_TYPE_CGROUP_DEVICE`` program; return r0 (1 allows, 0 denies)."""
    kind = {"b": 1, "c": 2}[dev_type]
    bits = sum({"m": 1, "r": 2, "w": 4}[c] for c in access)
    ctx = struct.pack("<III", bits << 16 | kind, major, minor)
    regs = [0] * 11
    pc = 0
    count = len(program) // 8
    mask64 = (1 << 64) - 1
    while 0 <= pc < count:
        code, regs_byte, off, imm = struct.unpack_from("<BBhi", program, pc * 8)
        dst, src = regs_byte & 0x0F, regs_byte >> 4
        pc += 1
        if code == 0x61:  # ldxw dst, [src + off]; r1 is the context
            if src != 1:
                raise ValueError("only loads from the context are supported")
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x57:
            regs[dst] &= imm & mask64
        elif code == 0x77:
            regs[dst] >>= imm
        elif code == 0xB7:
            regs[dst] = imm & mask64
        elif code == 0xBF:
            regs[dst] = regs[src]
        elif code == 0x55:
            if regs[dst] != imm & mask64:
                pc += off
        elif code == 0x95:
            return regs[0]
        else:
            raise ValueError(f"eBPF opcode {code:#x} not supported")
    raise ValueError("the device program ran off its end")
