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
    let mut kernels = kernels;
    {
        use neoc_kernel::gpu::gemm::{product_kernel_on, Schedule};
        use neoc_kernel::gpu::tensor_gemm::MmaTile;
        use neoc_kernel::MmaInput;
        for (f, t, name) in [
            (MmaInput::F16, MmaTile::LARGE, "mma_f16_large"),
            (MmaInput::F16, MmaTile::SMALL, "mma_f16_small"),
            (MmaInput::BF16, MmaTile::LARGE, "mma_bf16_large"),
        ] {
            let shape = (1, 300, 300, 300);
            kernels.push(product_kernel_on(name, shape, Schedule::Mma(f, t)));
        }
    }
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
        // Tensor cores from sm_80; sm_70 runs the expansion.
        let mmas = ptx.matches("mma.sync.aligned.m16n8k16").count();
        assert_eq!(mmas > 0, target != "cuda-sm70", "{target}: {mmas} mma");
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

/// One warp's `mma` kernel: fragments loaded from `a`, `b`, `c` (each lane's lanes
/// contiguous), D stored to `d` the same way.
fn mma_kernel(name: &str, input: neoc_kernel::MmaInput) -> neoc_kernel::Kernel {
    use neoc_kernel::{Access, Expr, GpuLaunch, KernelBuilder, ScalarType};
    let mut b = KernelBuilder::new(name);
    let pa = b.param("a", ScalarType::F32, 256, Access::Read);
    let pb = b.param("b", ScalarType::F32, 128, Access::Read);
    let pc = b.param("c", ScalarType::F32, 128, Access::Read);
    let pd = b.param("d", ScalarType::F32, 128, Access::Write);
    b.set_gpu(GpuLaunch { block: 32, grid: 1 });
    let t = Expr::ThreadIdx;
    let av = b.vector_var("af", ScalarType::F32, 8);
    let bv = b.vector_var("bf", ScalarType::F32, 4);
    let cv = b.vector_var("cf", ScalarType::F32, 4);
    let dv = b.vector_var("df", ScalarType::F32, 4);
    b.assign(av, Expr::vload(pa, t.clone() * Expr::i64(8), 8));
    b.assign(bv, Expr::vload(pb, t.clone() * Expr::i64(4), 4));
    b.assign(cv, Expr::vload(pc, t.clone() * Expr::i64(4), 4));
    b.assign(
        dv,
        Expr::Mma {
            a: av,
            b: bv,
            c: cv,
            input,
        },
    );
    b.store(pd, t * Expr::i64(4), Expr::var(dv));
    b.finish()
}

/// `x` rounded to `input` (to nearest even).
fn round_to(input: neoc_kernel::MmaInput, x: f32) -> f64 {
    match input {
        neoc_kernel::MmaInput::F16 => f64::from(half::f16::from_f32(x).to_f32()),
        neoc_kernel::MmaInput::BF16 => f64::from(half::bf16::from_f32(x).to_f32()),
    }
}

/// `Expr::Mma` through the CPU emulation (its expansion into block-local arrays) against
/// a 16×16 · 16×8 product computed here with the fragment layout of the PTX ISA.
#[test]
fn mma_step_matches_the_documented_fragment_layout() {
    use neoc_kernel::MmaInput;
    let target = neoc_target_spec::lookup("x86_64-avx2").unwrap();
    let level = target.levels[0].clone();
    let inputs = [MmaInput::F16, MmaInput::BF16];
    let kernels: Vec<_> = inputs
        .iter()
        .map(|&f| {
            let k = mma_kernel(&format!("mma_{}", f.name()), f);
            neoc_kernel::verify_kernel(&k).unwrap();
            neoc_kernel::gpu::emulate(&k)
        })
        .collect();
    let lib = Lib::compile(kernels, &target, &level);
    // Logical A (16×16), B (16×8), C (16×8), row-major.
    let (a, b, c) = (data(256, 7), data(128, 8), data(128, 9));
    let mut af = vec![0f32; 256];
    let mut bf = vec![0f32; 128];
    let mut cf = vec![0f32; 128];
    for l in 0..32 {
        let (g, q) = (l / 4, l % 4);
        for i in 0..8 {
            let (row, col) = (g + 8 * (i / 2 % 2), 2 * q + i % 2 + 8 * (i / 4));
            af[l * 8 + i] = a[row * 16 + col];
        }
        for i in 0..4 {
            let (k, n) = (2 * q + i % 2 + 8 * (i / 2), g);
            bf[l * 4 + i] = b[k * 8 + n];
            let (row, col) = (g + 8 * (i / 2), 2 * q + i % 2);
            cf[l * 4 + i] = c[row * 8 + col];
        }
    }
    for f in inputs {
        let mut d = vec![f32::NAN; 128];
        let (mut a1, mut b1, mut c1) = (af.clone(), bf.clone(), cf.clone());
        let name = format!("mma_{}", f.name());
        lib.call(
            &name,
            &[ptr(&mut a1), ptr(&mut b1), ptr(&mut c1), ptr(&mut d)],
            0,
            1,
        );
        for l in 0..32 {
            let (g, q) = (l / 4, l % 4);
            for i in 0..4 {
                let (row, col) = (g + 8 * (i / 2), 2 * q + i % 2);
                let want: f64 = f64::from(c[row * 8 + col])
                    + (0..16)
                        .map(|k| round_to(f, a[row * 16 + k]) * round_to(f, b[k * 8 + col]))
                        .sum::<f64>();
                let got = f64::from(d[l * 4 + i]);
                assert!(
                    (got - want).abs() < 1e-5,
                    "{name} D[{row}][{col}]: {got} vs {want}"
                );
            }
        }
    }
    // PTX: the tensor-core instruction on sm_80+, the expansion (no mma) on sm_70.
    let module = neoc_kernel::Module {
        kernels: inputs
            .iter()
            .map(|&f| mma_kernel(&format!("mma_{}", f.name()), f))
            .collect(),
    };
    let threads = [32u64, 32];
    let ptxas = ptxas();
    for target in ["cuda-sm70", "cuda-sm80", "cuda-sm90"] {
        let t = neoc_target_spec::lookup(target).unwrap();
        let level = &t.levels[0];
        let opts = neoc_llvm::CodegenOptions::default();
        let ptx = neoc_llvm::compile_ptx(&module, &threads, &t, level, &opts).unwrap();
        let mmas = ptx.matches("mma.sync.aligned.m16n8k16.row.col.f32").count();
        if target == "cuda-sm70" {
            assert_eq!(mmas, 0, "{target}");
        } else {
            assert!(
                ptx.contains("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"),
                "{target}"
            );
            assert!(
                ptx.contains("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"),
                "{target}"
            );
        }
        if let Some(ptxas) = &ptxas {
            let dir = std::env::temp_dir().join(format!("neoc_mma_{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("{target}.ptx"));
            std::fs::write(&file, &ptx).unwrap();
            let out = std::process::Command::new(ptxas)
                .arg(format!("-arch={}", level.name))
                .arg("-o")
                .arg(dir.join(format!("{target}.cubin")))
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ptxas {target}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// The tensor-core block GEMM (`gpu::tensor_gemm`) on odd shapes, both warp tiles and
/// both formats, through the emulation against a triple loop over the inputs rounded
/// to the format (products of rounded values are exact; sums in f64 here, f32 there).
#[test]
fn tensor_core_gemm_matches_a_plain_product_on_odd_shapes() {
    use neoc_kernel::gpu::gemm::{product_kernel_on, Schedule};
    use neoc_kernel::gpu::tensor_gemm::MmaTile;
    use neoc_kernel::MmaInput;
    let target = neoc_target_spec::lookup("x86_64-avx2").unwrap();
    let level = target.levels[0].clone();
    let shapes: [(i64, i64, i64, i64); 4] = [
        (1, 1, 70, 40),    // one row
        (2, 37, 45, 29),   // nothing a multiple of a tile
        (1, 70, 130, 100), // several blocks both ways, K over three steps
        (1, 64, 128, 32),  // exactly one large block
    ];
    let mut cases = Vec::new();
    for (si, &shape) in shapes.iter().enumerate() {
        for f in [MmaInput::F16, MmaInput::BF16] {
            for (ti, t) in [MmaTile::LARGE, MmaTile::SMALL].into_iter().enumerate() {
                cases.push((format!("tc_{si}_{}_{ti}", f.name()), shape, f, t, si));
            }
        }
    }
    let kernels: Vec<_> = cases
        .iter()
        .map(|(name, shape, f, t, _)| {
            let k = product_kernel_on(name, *shape, Schedule::Mma(*f, *t));
            neoc_kernel::verify_kernel(&k).unwrap();
            neoc_kernel::gpu::emulate(&k)
        })
        .collect();
    let lib = Lib::compile(kernels, &target, &level);
    for (name, (batch, m, n, k), f, _, si) in &cases {
        let (bu, mu, nu, ku) = (*batch as usize, *m as usize, *n as usize, *k as usize);
        let mut a = data(bu * mu * ku, *si as u64 + 1);
        let mut b = data(bu * ku * nu, *si as u64 + 100);
        let mut c = vec![f32::NAN; bu * mu * nu];
        lib.call(name, &[ptr(&mut a), ptr(&mut b), ptr(&mut c)], 0, 1);
        for bi in 0..bu {
            for i in 0..mu {
                for j in 0..nu {
                    let want: f64 = (0..ku)
                        .map(|kk| {
                            round_to(*f, a[(bi * mu + i) * ku + kk])
                                * round_to(*f, b[(bi * ku + kk) * nu + j])
                        })
                        .sum();
                    let got = f64::from(c[(bi * mu + i) * nu + j]);
                    assert!(
                        (got - want).abs() <= 1e-6 * (*k as f64 + 1.0),
                        "{name}: C[{bi}][{i}][{j}] = {got}, want {want}"
                    );
                }
            }
        }
    }
}
