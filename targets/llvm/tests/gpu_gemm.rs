//! The GPU GEMM schedule (`neoc_kernel::gpu::gemm`) on odd shapes: every tile shape, on
//! products whose M, N and K are not multiples of the tiles (and batch-1 rows), run
//! through the CPU emulation of block kernels (`neoc_kernel::gpu::emulate`), against a
//! plain triple loop computed here from the same inputs.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{ptr, Lib};
use neoc_kernel::gpu::gemm::{product_kernel, Tile};

/// Deterministic values in [-1, 1).
fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

#[test]
fn block_gemm_matches_a_plain_product_on_odd_shapes() {
    let target = neoc_target_spec::lookup("x86_64-avx2").unwrap();
    let level = target.levels[0].clone();
    let shapes: [(i64, i64, i64, i64); 5] = [
        (1, 1, 100, 70),  // one row (batch-1 linear layer)
        (2, 37, 45, 29),  // nothing a multiple of any tile
        (1, 130, 70, 33), // more than one block along M, K just over a step
        (3, 16, 64, 16),  // exactly one ROWS tile per batch
        (1, 5, 3, 1),     // K = 1
    ];
    let tiles = [
        None,
        Some(Tile::LARGE),
        Some(Tile::MEDIUM),
        Some(Tile::SMALL),
        Some(Tile::ROWS),
    ];
    let mut kernels = Vec::new();
    for (si, &shape) in shapes.iter().enumerate() {
        for (ti, &tile) in tiles.iter().enumerate() {
            let k = product_kernel(&format!("gemm_{si}_{ti}"), shape, tile);
            neoc_kernel::verify_kernel(&k).unwrap();
            assert!(k.gpu.is_some(), "not a block kernel");
            kernels.push(neoc_kernel::gpu::emulate(&k));
        }
    }
    let lib = Lib::compile(kernels, &target, &level);
    for (si, &(batch, m, n, k)) in shapes.iter().enumerate() {
        let (bu, mu, nu, ku) = (batch as usize, m as usize, n as usize, k as usize);
        let a = data(bu * mu * ku, si as u64 + 1);
        let b = data(bu * ku * nu, si as u64 + 100);
        let mut want = vec![0f64; bu * mu * nu];
        for bi in 0..bu {
            for i in 0..mu {
                for j in 0..nu {
                    want[(bi * mu + i) * nu + j] = (0..ku)
                        .map(|kk| {
                            f64::from(a[(bi * mu + i) * ku + kk])
                                * f64::from(b[(bi * ku + kk) * nu + j])
                        })
                        .sum();
                }
            }
        }
        for (ti, tile) in tiles.iter().enumerate() {
            let (mut a, mut b) = (a.clone(), b.clone());
            let mut c = vec![f32::NAN; bu * mu * nu];
            let name = format!("gemm_{si}_{ti}");
            lib.call(&name, &[ptr(&mut a), ptr(&mut b), ptr(&mut c)], 0, 1);
            for (e, (&got, &want)) in c.iter().zip(&want).enumerate() {
                // f32 sums of k products of values below 1.
                let tol = 1e-6 * (k as f64 + 1.0);
                assert!(
                    (f64::from(got) - want).abs() <= tol,
                    "{name} {tile:?}: element {e}: {got} vs {want}"
                );
            }
        }
    }
}

/// `ptxas`, from `NEOC_PTXAS` or the `nvidia-cuda-nvcc-cu12` wheel in `.venv-ci` /
/// `.venv-cuda` (as the driver's CUDA tests find it).
fn ptxas() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("NEOC_PTXAS") {
        return Some(p.into());
    }
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for venv in [".venv-ci", ".venv-cuda"] {
        for e in std::fs::read_dir(repo.join(venv).join("lib"))
            .ok()?
            .flatten()
        {
            let p = e.path().join("site-packages/nvidia/cuda_nvcc/bin/ptxas");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Every tile shape compiled to PTX for each CUDA architecture: `ptxas` assembles it
/// (with `.shared` tiles and `bar.sync`), and for `sm_90` prints what `ptxas -v`
/// reports (registers, shared memory, spills) per tile shape.
#[test]
fn block_gemm_ptx_assembles_and_reports_resources() {
    let tiles = [Tile::LARGE, Tile::MEDIUM, Tile::SMALL, Tile::ROWS];
    let names = ["large", "medium", "small", "rows"];
    let kernels: Vec<_> = tiles
        .iter()
        .zip(names)
        .map(|(&t, name)| product_kernel(&format!("gemm_{name}"), (1, 300, 300, 300), Some(t)))
        .collect();
    let module = neoc_kernel::Module { kernels };
    let threads: Vec<u64> = module
        .kernels
        .iter()
        .map(neoc_kernel::gpu::launch_threads)
        .collect();
    let Some(ptxas) = ptxas() else {
        eprintln!("SKIP block_gemm_ptx: no ptxas (NEOC_PTXAS or .venv-ci)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("neoc_gpu_gemm_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for target in ["cuda-sm70", "cuda-sm80", "cuda-sm90"] {
        let t = neoc_target_spec::lookup(target).unwrap();
        let level = &t.levels[0];
        let opts = neoc_llvm::CodegenOptions::default();
        let ptx = neoc_llvm::compile_ptx(&module, &threads, &t, level, &opts).unwrap();
        assert!(
            ptx.contains(".shared") && ptx.contains("bar.sync"),
            "{target}"
        );
        let file = dir.join(format!("{target}.ptx"));
        std::fs::write(&file, &ptx).unwrap();
        let out = std::process::Command::new(&ptxas)
            .arg(format!("-arch={}", level.name))
            .arg("-v")
            .arg("-o")
            .arg(dir.join(format!("{target}.cubin")))
            .arg(&file)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ptxas {target}:\n{log}");
        if target == "cuda-sm90" {
            let mut kernel = "";
            for line in log.lines() {
                if let Some(name) = line.split("entry function '").nth(1) {
                    kernel = name.split('\'').next().unwrap_or("");
                } else if line.contains("Used") || line.contains("spill") {
                    let info = line.trim_start_matches("ptxas info    : ").trim();
                    println!("{target} {kernel}: {info}");
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
