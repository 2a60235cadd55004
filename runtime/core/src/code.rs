//! Loading a code variant: the ELF shared object is written to an anonymous memory file
//! (`memfd_create`) and opened with `dlopen("/proc/self/fd/N")`; where that fails, to a
//! private temporary file that is deleted right after loading. Nothing is left on disk.
//!
//! The memory file stays open while the library is loaded: glibc recognises an already
//! loaded library by its path, and a reused descriptor number would otherwise make a second
//! model silently get the first one's code.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};

/// Kernel ABI: `void kernel(void **args, int64_t task, int64_t ntasks)`.
pub(crate) type KernelFn = unsafe extern "C" fn(args: *const *mut u8, task: i64, ntasks: i64);

/// A loaded shared object. Dropping it unloads the code; kernel pointers resolved from it
/// must not outlive it.
#[derive(Debug)]
pub(crate) struct LoadedCode {
    // Field order is drop order: unload before closing the backing file.
    lib: Library,
    _backing: Option<File>,
}

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

impl LoadedCode {
    /// Loads `code` (an ELF shared object). Errors are human-readable reasons.
    pub fn load(code: &[u8]) -> Result<LoadedCode, String> {
        if !code.starts_with(ELF_MAGIC) {
            return Err("not an ELF shared object".into());
        }
        let memfd_err = match load_memfd(code) {
            Ok(c) => return Ok(c),
            Err(e) => e,
        };
        load_temp_file(code)
            .map_err(|e| format!("{e} (after in-memory loading failed: {memfd_err})"))
    }

    /// Resolves a kernel symbol.
    pub fn kernel(&self, symbol: &str) -> Option<KernelFn> {
        // SAFETY: the symbol is declared by the artifact as a kernel with the neoc kernel ABI;
        // the returned pointer is only used while `self` is alive (Model keeps both).
        unsafe { self.lib.get::<KernelFn>(symbol).ok().map(|s| *s) }
    }
}

fn dlopen(path: &Path) -> Result<Library, String> {
    // SAFETY: loading runs the object's initialisers; the artifact's code is trusted by
    // design (it is the compiled model), and neoc emits none.
    unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| e.to_string())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn load_memfd(code: &[u8]) -> Result<LoadedCode, String> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: a valid NUL-terminated name and flags.
    let fd = unsafe { libc::memfd_create(c"neoc-kernels".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor we own.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(code)
        .map_err(|e| format!("writing memfd: {e}"))?;
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let lib = dlopen(&path)?;
    Ok(LoadedCode {
        lib,
        _backing: Some(file),
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn load_memfd(_code: &[u8]) -> Result<LoadedCode, String> {
    Err("memfd_create is not available on this OS".into())
}

fn load_temp_file(code: &[u8]) -> Result<LoadedCode, String> {
    use std::os::unix::fs::OpenOptionsExt;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = std::env::temp_dir().join(format!(
        "neoc-kernels-{}-{}-{nanos}.so",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&path)?;
        f.write_all(code)?;
        f.sync_all()
    };
    let result = write()
        .map_err(|e| format!("writing {}: {e}", path.display()))
        .and_then(|()| dlopen(&path));
    // Loaded (or failed): the file is no longer needed either way.
    let _ = std::fs::remove_file(&path);
    Ok(LoadedCode {
        lib: result?,
        _backing: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared object exporting `k`, built with the system C compiler (None if missing).
    fn tiny_so() -> Option<Vec<u8>> {
        let dir = std::env::temp_dir().join(format!("neoc-code-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let src = dir.join("k.c");
        std::fs::write(
            &src,
            "void k(void** a, long t, long n) { *(int*)a[0] = 42; }",
        )
        .ok()?;
        let out = dir.join("k.so");
        // The host's `cc`, or the cross compiler when this test runs under qemu-user
        // (`cargo test --target aarch64-unknown-linux-gnu`): the first whose output is an
        // ELF for this architecture (e_machine at offset 18: 62 x86-64, 183 AArch64).
        let machine: u16 = if cfg!(target_arch = "aarch64") {
            183
        } else {
            62
        };
        let cross = format!("{}-linux-gnu-gcc", std::env::consts::ARCH);
        let so = ["cc", cross.as_str()].into_iter().find_map(|compiler| {
            let ok = std::process::Command::new(compiler)
                .args(["-shared", "-fPIC", "-O2", "-nostdlib", "-o"])
                .arg(&out)
                .arg(&src)
                .status()
                .is_ok_and(|s| s.success());
            let so = std::fs::read(&out).ok().filter(|_| ok)?;
            (so.get(18..20) == Some(&machine.to_le_bytes()[..])).then_some(so)
        });
        let _ = std::fs::remove_dir_all(&dir);
        if so.is_none() {
            eprintln!("SKIPPED: no working C compiler (cc)");
        }
        so
    }

    fn call(code: &LoadedCode) -> i32 {
        let mut v = 0i32;
        let args = [(&mut v as *mut i32).cast::<u8>()];
        let k = code.kernel("k").unwrap();
        // SAFETY: k writes one int through args[0].
        unsafe { k(args.as_ptr(), 0, 1) };
        v
    }

    #[test]
    fn both_loading_paths_work() {
        let Some(so) = tiny_so() else { return };
        #[cfg(target_os = "linux")]
        assert_eq!(call(&load_memfd(&so).unwrap()), 42);
        assert_eq!(call(&load_temp_file(&so).unwrap()), 42);
        assert!(LoadedCode::load(&so).unwrap().kernel("missing").is_none());
        assert!(LoadedCode::load(b"MZ not elf").is_err());
    }
}
