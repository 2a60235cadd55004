//! `Expr::DotBytes` (the int8 GEMM step) compiled and run: vectors of 16, 8 and 4 lanes
//! and a scalar, with unsigned and signed `a` bytes, against a plain Rust sum.
//!
//! - x86 levels this machine runs: the AVX-512 VNNI level uses `vpdpbusd`, the others
//!   `vpmaddwd`. AVX-VNNI (`x86_64-avx2-vnni`) is checked in the assembly (VEX
//!   `vpdpbusd` on ymm, no zmm) and run only on a CPU that has it: neither this
//!   development machine nor `qemu-x86_64` 7.2 (whose TCG lacks AVX-VNNI) does.
//! - AArch64 levels: the assembly of the dotprod levels has `sdot` and no `usdot`, that
//!   of Neoverse V1 (i8mm) `usdot` and `sdot`, that of the base levels neither; each is
//!   run under `qemu-aarch64` on a core with exactly its extensions (Neoverse N1 for the
//!   dotprod levels, so a stray `usdot` would trap) through a small C harness that loads
//!   the shared object. Without qemu and the cross compiler the runs are skipped with a
//!   message, unless `NEOC_REQUIRE_QEMU=1` (CI) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ptr, runnable_levels, Lib};
use neoc_kernel::{Access, ByteSign, Expr, Kernel, KernelBuilder, Module, ScalarType};
use neoc_llvm::{compile_shared_object, CodegenOptions};
use neoc_target_spec::{CpuLevel, Target};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Lanes per sign: a vector of 16, 8, 4 and a scalar.
const PER_SIGN: u64 = 16 + 8 + 4 + 1;
const N: u64 = 2 * PER_SIGN;

/// `out[i] = dot_bytes(acc[i], a[i], w[i])` for every width, unsigned `a` in the first
/// half, signed in the second.
fn kernel() -> Kernel {
    let i32t = ScalarType::I32;
    let mut b = KernelBuilder::new("dot");
    let acc = b.param("acc", i32t, N, Access::Read);
    let a = b.param("a", i32t, N, Access::Read);
    let w = b.param("w", i32t, N, Access::Read);
    let out = b.param("out", i32t, N, Access::Write);
    let mut at = 0i64;
    for sign in [ByteSign::Unsigned, ByteSign::Signed] {
        for lanes in [16u32, 8, 4, 1] {
            let load = |buf| {
                if lanes == 1 {
                    Expr::load(buf, Expr::i64(at))
                } else {
                    Expr::vload(buf, Expr::i64(at), lanes)
                }
            };
            let v = Expr::dot_bytes_as(sign, load(acc), load(a), load(w));
            b.store(out, Expr::i64(at), v);
            at += i64::from(lanes);
        }
    }
    b.finish()
}

/// The inputs: extremes of both signednesses, and sums that do not fit 16 bits.
fn inputs() -> [Vec<i32>; 3] {
    let acc = (0..N as i32).map(|i| i * 1000 - 7000).collect();
    let a = (0..N as i32)
        .map(|i| i32::from_le_bytes([255, (i * 37) as u8, 0, 128]))
        .collect();
    let w = (0..N as i32)
        .map(|i| i32::from_le_bytes([0x80, (i * 91) as u8, 0x7f, 0xff]))
        .collect();
    [acc, a, w]
}

/// The plain sum for element `i`.
fn want(i: usize, acc: i32, a: i32, w: i32) -> i32 {
    let signed = i as u64 >= PER_SIGN;
    let (a, w) = (a.to_le_bytes(), w.to_le_bytes());
    (0..4).fold(acc, |s, j| {
        let x = if signed {
            i32::from(a[j] as i8)
        } else {
            i32::from(a[j])
        };
        s.wrapping_add(x * i32::from(w[j] as i8))
    })
}

fn check(label: &str, out: &[i32]) {
    let [acc, a, w] = inputs();
    for i in 0..N as usize {
        assert_eq!(out[i], want(i, acc[i], a[i], w[i]), "{label} element {i}");
    }
}

/// The kernel's shared object for `level`, and its assembly.
fn compile(target: &Target, level: &CpuLevel) -> (Vec<u8>, String) {
    let asm = std::env::temp_dir().join(format!(
        "neoc-dot-{}-{}-{}.s",
        std::process::id(),
        target.name,
        level.name
    ));
    let opts = CodegenOptions {
        emit_asm: Some(asm.clone()),
        ..CodegenOptions::default()
    };
    let module = Module {
        kernels: vec![kernel()],
    };
    let so = compile_shared_object(&module, target, level, &opts)
        .unwrap_or_else(|e| panic!("{}: {e}", level.name));
    let text = std::fs::read_to_string(&asm).unwrap();
    let _ = std::fs::remove_file(&asm);
    (so, text)
}

#[test]
fn byte_dot_products_match_at_every_x86_level() {
    let mut levels = runnable_levels();
    if std::arch::is_x86_feature_detected!("avx512vnni")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        let t = neoc_target_spec::lookup("x86_64-avx512-vnni").unwrap();
        let l = t.levels[0].clone();
        levels.push((t, l));
    }
    for (t, l) in levels {
        let asm =
            std::env::temp_dir().join(format!("neoc-dot-{}-{}.s", std::process::id(), l.name));
        let opts = CodegenOptions {
            emit_asm: Some(asm.clone()),
            ..CodegenOptions::default()
        };
        let lib = Lib::compile_opts(vec![kernel()], &t, &l, &opts);
        let text = std::fs::read_to_string(&asm).unwrap();
        let _ = std::fs::remove_file(&asm);
        assert_eq!(
            text.contains("vpdpbusd"),
            l.name == "avx512-vnni",
            "{}: vpdpbusd use",
            l.name
        );
        assert!(
            l.name == "avx512-vnni" || text.contains("vpmaddwd"),
            "{}: pmaddwd without VNNI",
            l.name
        );
        let [mut acc, mut a, mut w] = inputs();
        let mut out = vec![0i32; N as usize];
        lib.call(
            "dot",
            &[ptr(&mut acc), ptr(&mut a), ptr(&mut w), ptr(&mut out)],
            0,
            1,
        );
        check(l.name, &out);
    }
}

/// Whether this CPU has AVX-VNNI (CPUID leaf 7 sub-leaf 1, EAX bit 4; AVX for the OS
/// saving ymm state).
fn has_avx_vnni() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID is available on every x86-64 CPU; leaf 7 is queried only when the
    // maximum leaf says it exists. (`unused_unsafe`: newer std declares them safe.)
    #[allow(unused_unsafe)]
    let eax = unsafe {
        if __cpuid(0).eax < 7 {
            return false;
        }
        __cpuid_count(7, 1).eax
    };
    eax & (1 << 4) != 0 && std::arch::is_x86_feature_detected!("avx2")
}

/// AVX-VNNI: the VEX-encoded 256-bit `vpdpbusd` for 8 and 4 lanes, never a zmm register;
/// run where the CPU has it.
#[test]
fn avx_vnni_level_uses_vex_vpdpbusd() {
    let t = neoc_target_spec::lookup("x86_64-avx2-vnni").unwrap();
    let l = t.levels[0].clone();
    let (_, text) = compile(&t, &l);
    let vex = text
        .lines()
        .filter(|s| s.contains("{vex}") && s.contains("vpdpbusd") && s.contains("ymm"))
        .count();
    println!("avx2-vnni: {vex} VEX vpdpbusd on ymm");
    assert!(vex > 0, "no VEX vpdpbusd on ymm:\n{text}");
    assert!(!text.contains("zmm"), "zmm register at AVX-VNNI:\n{text}");
    assert!(
        !text.contains("vpmaddwd"),
        "pmaddwd despite AVX-VNNI:\n{text}"
    );
    if !has_avx_vnni() {
        let _ = writeln!(
            std::io::stderr(),
            "not run: this CPU has no AVX-VNNI (assembly checked only)"
        );
        return;
    }
    let lib = Lib::compile(vec![kernel()], &t, &l);
    let [mut acc, mut a, mut w] = inputs();
    let mut out = vec![0i32; N as usize];
    lib.call(
        "dot",
        &[ptr(&mut acc), ptr(&mut a), ptr(&mut w), ptr(&mut out)],
        0,
        1,
    );
    check("avx2-vnni", &out);
}

const LINKER: &str = "aarch64-linux-gnu-gcc";
const SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// Loads the shared object `argv[1]`, reads `acc`, `a`, `w` (`N` i32 each) from
/// `argv[2]`, calls `dot` and writes `out` to `argv[3]`.
const HARNESS: &str = r#"
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
typedef void (*kernel_fn)(void **, int64_t, int64_t);
int main(int argc, char **argv) {
    if (argc != 4) return 2;
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 2; }
    kernel_fn dot = (kernel_fn)dlsym(lib, "dot");
    if (!dot) { fprintf(stderr, "no symbol dot\n"); return 2; }
    static int32_t buf[4][N];
    FILE *in = fopen(argv[2], "rb");
    if (!in || fread(buf, sizeof(int32_t), 3 * N, in) != 3 * N) return 3;
    void *args[4] = {buf[0], buf[1], buf[2], buf[3]};
    dot(args, 0, 1);
    FILE *out = fopen(argv[3], "wb");
    if (!out || fwrite(buf[3], sizeof(int32_t), N, out) != N) return 4;
    return fclose(out) == 0 ? 0 : 4;
}
"#;

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// The cross-compiled harness, or `None` (with a message) when qemu or the cross
/// compiler is missing.
fn harness(dir: &Path) -> Option<PathBuf> {
    let missing: Vec<&str> = [
        ("qemu-aarch64", on_path("qemu-aarch64")),
        (LINKER, on_path(LINKER)),
        (SYSROOT, Path::new(SYSROOT).join("lib/libc.so.6").exists()),
    ]
    .iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| *name)
    .collect();
    if !missing.is_empty() {
        let msg = format!(
            "SKIPPED running AArch64 dot products: missing {} (apt-get install qemu-user \
             gcc-aarch64-linux-gnu libc6-dev-arm64-cross)",
            missing.join(", ")
        );
        assert!(
            std::env::var("NEOC_REQUIRE_QEMU").as_deref() != Ok("1"),
            "{msg} (NEOC_REQUIRE_QEMU=1)"
        );
        let _ = writeln!(std::io::stderr(), "{msg}");
        return None;
    }
    let src = dir.join("harness.c");
    std::fs::write(&src, HARNESS).unwrap();
    let exe = dir.join("harness");
    let out = Command::new(LINKER)
        .arg(format!("-DN={N}"))
        .args(["-O1", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-ldl")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}

/// Every AArch64 level: `sdot` where dotprod is (and no `usdot` without i8mm), `usdot`
/// with i8mm, neither on ARMv8.0; each run on an emulated core with its extensions.
#[test]
fn byte_dot_products_on_aarch64() {
    let dir = std::env::temp_dir().join(format!("neoc-dot-aarch64-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = harness(&dir);
    // (target, sdot, usdot, the emulated core)
    let cases = [
        ("aarch64", false, false, "cortex-a53"),
        ("aarch64-cortex-a72", false, false, "cortex-a72"),
        ("aarch64-cortex-a76", true, false, "neoverse-n1"),
        ("aarch64-neoverse-n1", true, false, "neoverse-n1"),
        ("aarch64-neoverse-v1", true, true, "max"),
    ];
    for (name, sdot, usdot, cpu) in cases {
        let t = neoc_target_spec::lookup(name).unwrap();
        let l = t.levels[0].clone();
        let (so, text) = compile(&t, &l);
        let count = |insn: &str| {
            text.lines()
                .filter(|s| s.trim_start().starts_with(insn))
                .count()
        };
        let (n_sdot, n_usdot) = (count("sdot\t"), count("usdot\t"));
        println!("{name}: {n_sdot} sdot, {n_usdot} usdot");
        assert_eq!((n_sdot > 0, n_usdot > 0), (sdot, usdot), "{name}:\n{text}");
        let Some(exe) = &exe else { continue };
        let lib = dir.join(format!("{name}.so"));
        std::fs::write(&lib, so).unwrap();
        let input = dir.join("input.bin");
        let bytes: Vec<u8> = inputs()
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(&input, bytes).unwrap();
        let output = dir.join(format!("{name}.out"));
        let run = Command::new("qemu-aarch64")
            .args(["-L", SYSROOT, "-cpu", cpu])
            .args([exe, &lib, &input, &output])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{name} on -cpu {cpu}: {}: {}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
        let out: Vec<i32> = std::fs::read(&output)
            .unwrap()
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        check(&format!("{name} on -cpu {cpu}"), &out);
        println!("{name} on qemu -cpu {cpu}: all {N} lanes match");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
