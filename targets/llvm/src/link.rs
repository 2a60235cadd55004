//! Object file → ELF shared object, with lld.
//!
//! The linker is found in this order: the `NEOC_LLD` environment variable (a path to
//! `ld.lld` or `rust-lld`); the `rust-lld` that ships with the Rust toolchain
//! (`$(rustc --print sysroot)/lib/rustlib/<host>/bin/rust-lld`); `ld.lld` or
//! `ld.lld-19` on `PATH`. `-z defs` makes any undefined symbol a link error, so a
//! produced `.so` depends on nothing (no libc, no libm).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{LlvmError, Result};

/// A linker binary and how to invoke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linker {
    pub path: PathBuf,
    /// `rust-lld` is a multi-flavour driver and needs `-flavor gnu`.
    pub needs_flavor: bool,
}

impl Linker {
    fn from_path(path: PathBuf) -> Linker {
        let needs_flavor = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("rust-lld") || n == "lld");
        Linker { path, needs_flavor }
    }
}

/// Finds the linker as described in the module docs.
pub fn find_linker() -> Result<Linker> {
    let mut tried = Vec::new();
    if let Some(p) = std::env::var_os("NEOC_LLD") {
        let path = PathBuf::from(p);
        if path.is_file() {
            return Ok(Linker::from_path(path));
        }
        tried.push(format!("NEOC_LLD={} (no such file)", path.display()));
        return Err(LlvmError::LinkerNotFound { tried });
    }
    tried.push("NEOC_LLD (not set)".to_string());

    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    match rust_lld_path(&rustc) {
        Ok(path) if path.is_file() => return Ok(Linker::from_path(path)),
        Ok(path) => tried.push(format!("{} (no such file)", path.display())),
        Err(why) => tried.push(format!("rust-lld of the Rust toolchain ({why})")),
    }

    for name in ["ld.lld", "ld.lld-19"] {
        match search_path(name) {
            Some(path) => return Ok(Linker::from_path(path)),
            None => tried.push(format!("`{name}` on PATH (not found)")),
        }
    }
    Err(LlvmError::LinkerNotFound { tried })
}

/// `$(rustc --print sysroot)/lib/rustlib/<host>/bin/rust-lld`.
fn rust_lld_path(rustc: &std::ffi::OsStr) -> std::result::Result<PathBuf, String> {
    let run = |args: &[&str]| -> std::result::Result<String, String> {
        let out = Command::new(rustc).args(args).output().map_err(|e| {
            format!(
                "running `{} {}`: {e}",
                rustc.to_string_lossy(),
                args.join(" ")
            )
        })?;
        if !out.status.success() {
            return Err(format!("`{}` failed", args.join(" ")));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let sysroot = run(&["--print", "sysroot"])?;
    let version = run(&["-vV"])?;
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .ok_or("no `host:` line in `rustc -vV`")?;
    Ok(Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host.trim())
        .join("bin/rust-lld"))
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "neoc-link-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|source| LlvmError::Io {
            context: format!("creating temporary directory {}", dir.display()),
            source,
        })?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Links one relocatable object into a shared object and returns its bytes.
pub(crate) fn link_shared_object(object: &[u8]) -> Result<Vec<u8>> {
    let linker = find_linker()?;
    let dir = TempDir::new()?;
    let input = dir.0.join("kernels.o");
    let output = dir.0.join("kernels.so");
    std::fs::write(&input, object).map_err(|source| LlvmError::Io {
        context: format!("writing {}", input.display()),
        source,
    })?;
    let mut cmd = Command::new(&linker.path);
    if linker.needs_flavor {
        cmd.args(["-flavor", "gnu"]);
    }
    cmd.args([
        "-shared",
        "--no-undefined",
        "-z",
        "defs",
        "-z",
        "noexecstack",
        "-z",
        "relro",
        "-z",
        "now",
        "--hash-style=both",
        "--gc-sections",
        "--build-id=none",
        "--strip-all",
        "-o",
    ])
    .arg(&output)
    .arg(&input);
    let out = cmd.output().map_err(|e| LlvmError::LinkFailed {
        linker: linker.path.display().to_string(),
        stderr: format!("could not run the linker: {e}"),
    })?;
    if !out.status.success() {
        return Err(LlvmError::LinkFailed {
            linker: linker.path.display().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    std::fs::read(&output).map_err(|source| LlvmError::Io {
        context: format!("reading {}", output.display()),
        source,
    })
}
