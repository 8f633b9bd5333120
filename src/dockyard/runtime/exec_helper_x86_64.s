/*
 * dockyard-runtime's sealed exec helper for x86_64 (see exec_helper.py).
 *
 * Build and check:  as --64 -o h.o exec_helper_x86_64.s && objcopy -O binary -j .text h.o h.bin
 * tests/unit/runtime/test_exec_helper.py assembles this file and compares the bytes with the
 * ones embedded in exec_helper.py.
 *
 * argv[0][0] is the mode: 'X' exec at once, 'T' make fd 0 the controlling tty first,
 * 'F' wait on the exec fifo (fd 3, an O_PATH fd) first. Before any mode, every signal gets its
 * default disposition and the signal mask is emptied: SIG_IGN and the mask survive execve(2)
 * (signal(7)), and the Python that started us ignores SIGPIPE and SIGXFSZ, glibc's posix_spawn
 * leaves its two internal signals (32, 33) ignored, and a caller may block or ignore others. argv[1] is the absolute path to execute,
 * argv[2..] its argv. Any failure prints "dockyard-runtime: exec helper: errno NNN" on fd 2 and
 * exits 127. Registers: syscall number in eax, arguments in rdi, rsi, rdx (syscall(2)).
 */
        .intel_syntax noprefix
        .text
        .globl _start
_start:
        mov     eax, 157                /* prctl(PR_SET_DUMPABLE, 0): first, before anything can look */
        mov     edi, 4
        xor     esi, esi
        syscall
        mov     r12d, 1                 /* rt_sigaction(sig, &dfl, NULL, 8) for sig 1..64 */
sigdfl:
        mov     eax, 13
        mov     edi, r12d
        lea     rsi, [rip+dfl]
        xor     edx, edx
        mov     r10d, 8
        syscall                         /* EINVAL for SIGKILL and SIGSTOP: ignored */
        inc     r12d
        cmp     r12d, 64
        jbe     sigdfl
        mov     eax, 14                 /* rt_sigprocmask(SIG_SETMASK, &empty, NULL, 8) */
        mov     edi, 2
        lea     rsi, [rip+dfl]
        xor     edx, edx
        mov     r10d, 8
        syscall
        cmp     qword ptr [rsp], 2      /* argc >= 2: mode and path */
        jb      usage
        mov     rax, [rsp+8]            /* argv[0][0] is the mode: X exec, T tty, F fifo */
        movzx   eax, byte ptr [rax]
        cmp     al, 'X'
        je      run
        cmp     al, 'T'
        je      tty
        cmp     al, 'F'
        jne     usage
        mov     eax, 2                  /* open("/proc/self/fd/3", O_WRONLY|O_CLOEXEC): blocks until start */
        lea     rdi, [rip+fifo]
        mov     esi, 0x80001
        syscall
        test    eax, eax
        js      fail
        mov     edi, eax                /* write(fd, "0", 1) */
        mov     eax, 1
        lea     rsi, [rip+zero]
        mov     edx, 1
        syscall
        mov     eax, 3                  /* close(3): the O_PATH fd of the fifo */
        mov     edi, 3
        syscall
        jmp     run
tty:
        mov     eax, 16                 /* ioctl(0, TIOCSCTTY, 0) */
        xor     edi, edi
        mov     esi, 0x540e
        xor     edx, edx
        syscall
        test    eax, eax
        js      fail
run:
        mov     rcx, [rsp]              /* execve(argv[1], &argv[2], envp = &argv[argc+1]) */
        mov     rdi, [rsp+16]
        lea     rsi, [rsp+24]
        lea     rdx, [rsp+rcx*8+16]
        mov     eax, 59
        syscall
        jmp     fail
usage:
        mov     eax, -22                /* EINVAL */
fail:
        neg     eax                     /* "NNN\n" (errno) into the red zone below rsp */
        mov     byte ptr [rsp-5], 10
        lea     rdi, [rsp-6]
        mov     ecx, 10
        mov     r8d, 3
digit:
        xor     edx, edx
        div     ecx
        add     dl, '0'
        mov     [rdi], dl
        dec     rdi
        dec     r8d
        jnz     digit
        mov     eax, 1                  /* write(2, msg, 37) */
        mov     edi, 2
        lea     rsi, [rip+msg]
        mov     edx, 37
        syscall
        mov     eax, 1                  /* write(2, rsp-8, 4) */
        mov     edi, 2
        lea     rsi, [rsp-8]
        mov     edx, 4
        syscall
        mov     eax, 231                /* exit_group(127) */
        mov     edi, 127
        syscall
fifo:
        .ascii  "/proc/self/fd/3\0"
zero:
        .ascii  "0"
msg:
        .ascii  "dockyard-runtime: exec helper: errno "
dfl:                                    /* struct kernel_sigaction {SIG_DFL, flags 0, restorer 0, mask 0}; */
        .quad   0, 0, 0, 0              /* its first 8 bytes double as the empty sigset_t */
