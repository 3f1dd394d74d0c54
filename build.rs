//! Build script: captures the commit being built, for `ringway_build_info`.
//!
//! Must never: fail the build. Without git or outside a checkout the commit
//! is `unknown`; it reruns only when HEAD moves (or this file changes), not
//! on every source edit.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `git ARGS` in the package's directory, trimmed; `None` on any failure.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// Reruns the script when `p` changes, if it exists (a missing path would
/// make cargo rerun it on every build).
fn watch(p: &Path) {
    if p.exists() {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let sha = git(&["rev-parse", "--short=12", "HEAD"]);
    println!(
        "cargo:rustc-env=RINGWAY_GIT_SHA={}",
        sha.as_deref().unwrap_or("unknown")
    );
    // HEAD moves when it is checked out elsewhere (HEAD, per worktree) or
    // when the branch it names gets a commit (the ref, or packed-refs, in
    // the common directory).
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        watch(&here.join(dir).join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
        let common = here.join(common);
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(&common.join(branch));
        }
        watch(&common.join("packed-refs"));
    }
}
