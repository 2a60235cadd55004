//! `neoc roofline`: this machine's peak fp32 FMA throughput, and neoc's SGEMM against it.
//!
//! The peak is measured, not looked up: 12 independent vector FMA chains per core (enough
//! to cover FMA latency × issue width on current x86 cores), on the widest vectors the
//! CPU has, on 1 thread and on all. SGEMM is a `MatMul` of two runtime inputs compiled by
//! neoc for the host (the same code path as a model's MatMul), so the fraction printed is
//! what compiled models get.

use neoc_runtime::{Model, TensorRef};
use std::time::Instant;

/// FMAs per chain per call of the peak loop.
const ITERS: u64 = 10_000_000;

/// GFLOP/s of one thread running the FMA loop, and the vector width used.
fn peak_one_thread() -> (f64, &'static str) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return (unsafe { fma_loop_avx512() }, "avx512 (16 lanes)");
        }
        if std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx")
        {
            // SAFETY: the CPU has AVX and FMA (checked just above).
            return (unsafe { fma_loop_avx2() }, "avx2 (8 lanes)");
        }
    }
    (0.0, "none (no FMA vectors on this CPU)")
}

macro_rules! fma_loop {
    ($name:ident, $feat:literal, $ty:ty, $set1:ident, $fma:ident, $store:ident, $lanes:expr) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        unsafe fn $name() -> f64 {
            use std::arch::x86_64::*;
            let (x, y) = ($set1(0.999_999), $set1(1e-7));
            let mut acc: [$ty; 12] = [$set1(1.0); 12];
            let t = Instant::now();
            for _ in 0..ITERS {
                for a in acc.iter_mut() {
                    *a = $fma(*a, x, y);
                }
            }
            let secs = t.elapsed().as_secs_f64();
            // Keep the result alive so the loop is not removed.
            let mut sink = [0f32; $lanes];
            for a in acc {
                // SAFETY: `sink` holds exactly one vector of f32 lanes.
                unsafe { $store(sink.as_mut_ptr(), a) };
                std::hint::black_box(sink);
            }
            (ITERS * 12 * $lanes * 2) as f64 / secs / 1e9
        }
    };
}
fma_loop!(
    fma_loop_avx512,
    "avx512f",
    __m512,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps,
    16
);
fma_loop!(
    fma_loop_avx2,
    "avx,fma",
    __m256,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps,
    8
);

/// Median seconds of `iters` runs of a 1024-cube-style MatMul compiled for the host.
fn sgemm_secs(m: u64, k: u64, n: u64, threads: usize, iters: usize) -> Result<f64, String> {
    let text = format!(
        "graph sgemm(%a: f32[{m},{k}] \"a\", %b: f32[{k},{n}] \"b\") -> (%y) {{\n  \
         %y = MatMul(%a, %b) : f32[{m},{n}] \"y\"\n}}\n"
    );
    let graph = neoc_ir::parse::parse_graph(&text).map_err(|e| e.to_string())?;
    let opts = neoc_driver::CompileOptions {
        target: "host".into(),
        ..Default::default()
    };
    let (artifact, _) =
        neoc_driver::compile_graph(graph, "sgemm", &opts).map_err(|e| e.to_string())?;
    let model = Model::from_bytes(artifact.to_bytes()).map_err(|e| e.to_string())?;
    let a: Vec<u8> = (0..m * k)
        .flat_map(|i| ((i % 7) as f32 * 0.1).to_le_bytes())
        .collect();
    let b: Vec<u8> = (0..k * n)
        .flat_map(|i| ((i % 5) as f32 * 0.1).to_le_bytes())
        .collect();
    let (a_dims, b_dims) = ([m, k], [k, n]);
    let inputs = [
        TensorRef::new(neoc_artifact::DType::F32, &a_dims, &a),
        TensorRef::new(neoc_artifact::DType::F32, &b_dims, &b),
    ];
    let mut ctx = model
        .new_context_with_threads(threads)
        .map_err(|e| e.to_string())?;
    ctx.run(&model, &inputs).map_err(|e| e.to_string())?;
    let mut times: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            ctx.run(&model, &inputs).map(|_| t.elapsed().as_secs_f64())
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

pub fn roofline(threads: usize) -> Result<(), String> {
    let all = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    // Best of three: a VM's other tenants can only make a run slower, never faster.
    let (mut one, mut many, mut width) = (0f64, 0f64, "");
    for _ in 0..3 {
        let (g, w) = peak_one_thread();
        one = one.max(g);
        width = w;
        let sum: f64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..all).map(|_| s.spawn(|| peak_one_thread().0)).collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
        });
        many = many.max(sum);
    }
    println!("peak fp32 FMA, {width}: {one:.1} GFLOP/s on 1 thread, {many:.1} on {all} threads");
    println!(
        "{:<22} {:>8} {:>10} {:>10} {:>9}",
        "sgemm (MatMul)", "threads", "ms", "GFLOP/s", "of peak"
    );
    for (m, k, n) in [(1024u64, 1024u64, 1024u64), (4096, 1024, 4096)] {
        let flops = 2.0 * (m * k * n) as f64;
        for (t, peak) in [(1usize, one), (all, many)] {
            let secs = sgemm_secs(m, k, n, t, if m > 1024 { 3 } else { 10 })?;
            let g = flops / secs / 1e9;
            println!(
                "{:<22} {t:>8} {:>10.2} {g:>10.1} {:>8.0}%",
                format!("{m}x{k}x{n}"),
                secs * 1e3,
                100.0 * g / peak.max(f64::MIN_POSITIVE)
            );
        }
    }
    Ok(())
}
