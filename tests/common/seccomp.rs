//! A seccomp BPF filter that makes `io_uring_setup`, `io_uring_enter` and
//! `io_uring_register` fail with EPERM (as Docker's default profile does)
//! and allows every other syscall, for running the gateway as if inside such
//! a container.
//!
//! `install_io_uring_block` is async-signal-safe (no allocation, only
//! `prctl`), so it can run in a `pre_exec` hook between fork and exec. Must
//! never: be called on a test-harness thread other than one spawned for the
//! purpose (the filter is per thread and permanent).

use std::io;

const BPF_LD: u16 = 0x00;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_JMP: u16 = 0x05;
const BPF_JEQ: u16 = 0x10;
const BPF_JGT: u16 = 0x20;
const BPF_JGE: u16 = 0x30;
const BPF_K: u16 = 0x00;
const BPF_RET: u16 = 0x06;

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_MODE_FILTER: libc::c_ulong = 2;
const PR_SET_NO_NEW_PRIVS: libc::c_int = 38;
const PR_SET_SECCOMP: libc::c_int = 22;

/// `seccomp_data.nr` and `seccomp_data.arch` offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;

/// First and last io_uring syscall numbers (the same on x86_64 and aarch64).
const IO_URING_SETUP: u32 = 425;
const IO_URING_REGISTER: u32 = 427;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
/// Other architectures: matches nothing, so the filter allows everything
/// (and the fallback tests fail loudly rather than silently pass).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: u32 = 0;

const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The program: other architectures and syscalls outside 425..=427 are allowed.
static FILTER: [libc::sock_filter; 7] = [
    stmt(BPF_LD | BPF_W | BPF_ABS, OFF_ARCH),
    jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH, 0, 4),
    stmt(BPF_LD | BPF_W | BPF_ABS, OFF_NR),
    jump(BPF_JMP | BPF_JGE | BPF_K, IO_URING_SETUP, 0, 2),
    jump(BPF_JMP | BPF_JGT | BPF_K, IO_URING_REGISTER, 1, 0),
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | libc::EPERM as u32),
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
];

/// Installs the filter on the calling thread (and whatever it execs).
pub fn install_io_uring_block() -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: FILTER.len() as libc::c_ushort,
        filter: FILTER.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: plain prctl calls; `prog` points at a static program that
    // outlives the call, and the kernel copies it.
    unsafe {
        if libc::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(
            PR_SET_SECCOMP,
            SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
            0,
            0,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Calls `io_uring_setup(4, params)` directly; Ok(()) if a ring was created.
pub fn probe_io_uring() -> io::Result<()> {
    // io_uring_params is 120 bytes; zeroed is a valid request.
    let mut params = [0u8; 120];
    // SAFETY: the kernel writes at most sizeof(io_uring_params) into `params`.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is the ring we just created and own.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(())
}
