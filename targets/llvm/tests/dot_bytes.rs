//! `Expr::DotBytes` (the int8 GEMM step) compiled and run: vectors of 16, 8 and 4 lanes
//! and a scalar, at every x86 level this machine has, against a plain Rust sum; the
//! AVX-512 VNNI level must use `vpdpbusd`, the others `vpmaddwd`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ptr, runnable_levels, Lib};
use neoc_kernel::{Access, Expr, Kernel, KernelBuilder, ScalarType};
use neoc_llvm::CodegenOptions;

const N: u64 = 16 + 8 + 4 + 1;

fn kernel() -> Kernel {
    let i32t = ScalarType::I32;
    let mut b = KernelBuilder::new("dot");
    let acc = b.param("acc", i32t, N, Access::Read);
    let a = b.param("a", i32t, N, Access::Read);
    let w = b.param("w", i32t, N, Access::Read);
    let out = b.param("out", i32t, N, Access::Write);
    let mut at = 0i64;
    for lanes in [16u32, 8, 4, 1] {
        let load = |buf| {
            if lanes == 1 {
                Expr::load(buf, Expr::i64(at))
            } else {
                Expr::vload(buf, Expr::i64(at), lanes)
            }
        };
        let v = Expr::dot_bytes(load(acc), load(a), load(w));
        b.store(out, Expr::i64(at), v);
        at += i64::from(lanes);
    }
    b.finish()
}

fn want(acc: i32, a: i32, w: i32) -> i32 {
    let (a, w) = (a.to_le_bytes(), w.to_le_bytes());
    (0..4).fold(acc, |s, j| {
        s.wrapping_add(i32::from(a[j]) * i32::from(w[j] as i8))
    })
}

#[test]
fn byte_dot_products_match_at_every_level() {
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
        // Extremes of both signednesses, and a sum that does not fit 16 bits.
        let mut acc: Vec<i32> = (0..N as i32).map(|i| i * 1000 - 7000).collect();
        let mut a: Vec<i32> = (0..N as i32)
            .map(|i| i32::from_le_bytes([255, (i * 37) as u8, 0, 128]))
            .collect();
        let mut w: Vec<i32> = (0..N as i32)
            .map(|i| i32::from_le_bytes([0x80, (i * 91) as u8, 0x7f, 0xff]))
            .collect();
        let mut out = vec![0i32; N as usize];
        lib.call(
            "dot",
            &[ptr(&mut acc), ptr(&mut a), ptr(&mut w), ptr(&mut out)],
            0,
            1,
        );
        for i in 0..N as usize {
            assert_eq!(out[i], want(acc[i], a[i], w[i]), "{} lane {i}", l.name);
        }
    }
}
