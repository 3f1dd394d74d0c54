//! The processes a comparison starts: pinned with taskset, watched through
//! /proc (CPU time and RSS of the whole process tree), stopped on drop.
//!
//! It must never leave a process behind: every child is killed (SIGTERM, then
//! SIGKILL) when its handle drops, including on an early return.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A started, pinned process.
pub struct Proc {
    child: Child,
    /// Its name in messages.
    pub name: String,
}

impl Proc {
    /// Starts `argv` under `taskset -c CPUS`, output to `log`.
    pub fn start(
        name: &str,
        argv: &[String],
        cpus: &[usize],
        nice: Option<i32>,
        log: &Path,
    ) -> std::io::Result<Proc> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let mut cmd = if cpus.is_empty() {
            Command::new(&argv[0])
        } else {
            let list: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
            let mut c = Command::new("taskset");
            c.args(["-c", &list.join(",")]).arg(&argv[0]);
            c
        };
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // If compare dies without running its destructors (SIGKILL, the
        // watchdog), the kernel still stops the child: no orphaned proxies.
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if let Some(n) = nice {
                    libc::setpriority(libc::PRIO_PROCESS, 0, n);
                }
                Ok(())
            });
        }
        Ok(Proc {
            child: cmd.spawn()?,
            name: name.to_string(),
        })
    }

    /// Its pid (taskset execs the command, so this is the program itself).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until `addr` accepts connections, up to `limit`.
    pub fn wait_port(&mut self, addr: SocketAddr, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if self.exited() {
                return Err(format!("{} exited during start-up", self.name));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not listen on {addr} within {limit:?}",
                    self.name
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pid` and all its descendants.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(f) = stat_fields(p) {
                if let Some(pp) = f.get(1).and_then(|s| s.parse().ok()) {
                    parents.push((p, pp));
                }
            }
        }
    }
    let mut i = 0;
    while i < all.len() {
        let cur = all[i];
        all.extend(parents.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    all
}

/// Fields of /proc/PID/stat after the command name (field 3 is index 0).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(String::from).collect())
}

/// utime + stime of the process tree, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    tree(pid)
        .into_iter()
        .filter_map(stat_fields)
        .map(|f| {
            let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            t(11) + t(12)
        })
        .sum::<f64>()
        / hz
}

/// On-CPU nanoseconds of every thread of the process tree, from
/// `/proc/PID/task/TID/schedstat`: finer than the ticks of `cpu_seconds`.
pub fn on_cpu_ns(pid: u32) -> u64 {
    let mut total = 0;
    for p in tree(pid) {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            total += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// Resident set of the process tree, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    tree(pid)
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .sum()
}

/// Runs a command and returns the first non-empty line of its output.
pub fn first_line(argv: &[String]) -> Option<String> {
    let out = Command::new(&argv[0]).args(&argv[1..]).output().ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(String::from)
}

/// Whether `prog` can be executed (a path, or a name found on PATH).
pub fn available(prog: &str) -> bool {
    if prog.contains('/') {
        return Path::new(prog).is_file();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// Raises the open-file limit (children inherit it): to 1 Mi descriptors
/// where allowed (root may lift the hard limit), else to the hard limit.
pub fn raise_nofile() -> libc::rlim_t {
    let want: libc::rlim_t = 1 << 20;
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to an initialised rlimit.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        let lifted = libc::rlimit {
            rlim_cur: want.max(r.rlim_cur),
            rlim_max: want.max(r.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lifted) == 0 {
            return lifted.rlim_cur;
        }
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
    }
    r.rlim_cur
}

/// Sets the calling thread's nice value (threads it spawns later inherit it).
pub fn set_own_nice(nice: i32) -> Result<(), String> {
    // SAFETY: plain syscall on the calling thread.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("nice {nice}: {}", std::io::Error::last_os_error()))
    }
}

/// The nice value of this session's autogroup, raised for the comparison and
/// put back on drop. With `kernel.sched_autogroup_enabled = 1` (the bench
/// VMs) the scheduler first shares a CPU between sessions' autogroups, each
/// weighted by the group's own nice, and only then between the tasks inside a
/// group by theirs: a task's nice -10 does nothing against a build started
/// from another session. Measured (bench/results/2026-11-30-tail): with only
/// the task nice, measured threads waited up to 2-3 ms for a CPU while other
/// sessions' rustc ran.
pub struct AutogroupNice {
    before: Option<i32>,
}

impl AutogroupNice {
    /// Sets this session's autogroup nice to `nice`; without autogroups (the
    /// file is absent, or the knob is off and the group is unused) it does
    /// nothing, and a refusal is returned as the reason.
    pub fn raise(nice: i32) -> (AutogroupNice, Option<String>) {
        let before = read_autogroup_nice();
        if before.is_none() {
            return (AutogroupNice { before: None }, None);
        }
        match std::fs::write(AUTOGROUP, nice.to_string()) {
            Ok(()) => (AutogroupNice { before }, None),
            Err(e) => (
                AutogroupNice { before: None },
                Some(format!("autogroup nice {nice}: {e}")),
            ),
        }
    }
}

impl Drop for AutogroupNice {
    fn drop(&mut self) {
        if let Some(n) = self.before {
            let _ = std::fs::write(AUTOGROUP, n.to_string());
        }
    }
}

const AUTOGROUP: &str = "/proc/self/autogroup";

/// `/autogroup-55 nice 0` → 0; `None` without autogroups.
fn read_autogroup_nice() -> Option<i32> {
    parse_autogroup(&std::fs::read_to_string(AUTOGROUP).ok()?)
}

fn parse_autogroup(s: &str) -> Option<i32> {
    s.split_whitespace()
        .skip_while(|w| *w != "nice")
        .nth(1)?
        .parse()
        .ok()
}

/// (steal, total) jiffies of all CPUs from /proc/stat.
pub fn steal_ticks() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    (f.get(7).copied().unwrap_or(0), f.iter().take(8).sum())
}

/// Steal as a percentage of all CPU time between two readings.
pub fn steal_pct(a: (u64, u64), b: (u64, u64)) -> f64 {
    let total = b.1.saturating_sub(a.1).max(1) as f64;
    b.0.saturating_sub(a.0) as f64 * 100.0 / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autogroup_nice_is_read_from_the_proc_line() {
        assert_eq!(parse_autogroup("/autogroup-55 nice 0\n"), Some(0));
        assert_eq!(parse_autogroup("/autogroup-7 nice -10\n"), Some(-10));
        assert_eq!(parse_autogroup(""), None);
    }
}
