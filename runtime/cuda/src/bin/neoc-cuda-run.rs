//! `neoc-cuda-run`: runs a CUDA artifact on the GPU, compares its outputs with reference
//! `.npy` files and times it. Built on the x86-64 build machine without LLVM (it depends
//! only on the runtime crates) and copied to the GPU machine by `scripts/gpu-pack`.
//!
//! ```text
//! neoc-cuda-run MODEL.neo [--inputs DIR] [--expected DIR --rtol R --atol A]
//!               [--bench N] [--warmup W] [--out DIR]
//! ```
//!
//! Inputs are `DIR/<input name>.npy` (zeros without `--inputs`), references `DIR/<output name>.npy`. An element
//! passes when `|got - want| <= atol + rtol * |want|`. Prints one `RESULT` line per output
//! and with `--bench` one `BENCH` line (median and mean milliseconds per run, inputs and
//! outputs copied every run). Exit status: 0 all pass, 1 a mismatch, 2 an error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use neoc_cuda::{npy, CudaModel};
use neoc_runtime::TensorRef;

struct Args {
    model: PathBuf,
    inputs: Option<PathBuf>,
    expected: Option<PathBuf>,
    rtol: f64,
    atol: f64,
    bench: usize,
    warmup: usize,
    out: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        model: PathBuf::new(),
        inputs: None,
        expected: None,
        rtol: 1e-3,
        atol: 1e-4,
        bench: 0,
        warmup: 10,
        out: None,
    };
    let mut model = None;
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--inputs" => a.inputs = Some(val("--inputs")?.into()),
            "--expected" => a.expected = Some(val("--expected")?.into()),
            "--out" => a.out = Some(val("--out")?.into()),
            "--rtol" => a.rtol = val("--rtol")?.parse().map_err(|e| format!("--rtol: {e}"))?,
            "--atol" => a.atol = val("--atol")?.parse().map_err(|e| format!("--atol: {e}"))?,
            "--bench" => {
                a.bench = val("--bench")?
                    .parse()
                    .map_err(|e| format!("--bench: {e}"))?
            }
            "--warmup" => {
                a.warmup = val("--warmup")?
                    .parse()
                    .map_err(|e| format!("--warmup: {e}"))?
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => model = Some(PathBuf::from(s)),
        }
    }
    a.model = model.ok_or("no model file given")?;
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!(
                "usage: neoc-cuda-run MODEL.neo [--inputs DIR] [--expected DIR --rtol R --atol A] \
                 [--bench N] [--warmup W] [--out DIR]"
            );
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let t = Instant::now();
    let mut model = CudaModel::load(&args.model).map_err(|e| e.to_string())?;
    let (wb, ab) = model.device_bytes();
    println!(
        "MODEL {} on {} (sm_{}), variant {}, {} launches, weights {} B, arena {} B, loaded in {:.1} ms",
        args.model.display(),
        model.device_name(),
        model.device_sm(),
        model.variant(),
        model.launches(),
        wb,
        ab,
        t.elapsed().as_secs_f64() * 1e3
    );
    // Without --inputs every input is zeros (enough for timing).
    let inputs: Vec<npy::Npy> = model
        .inputs()
        .iter()
        .map(|s| match &args.inputs {
            Some(dir) => npy::read(&dir.join(format!("{}.npy", s.name))),
            None => Ok(npy::Npy {
                dtype: s.dtype,
                shape: s.shape.clone(),
                data: vec![0; s.byte_len() as usize],
            }),
        })
        .collect::<Result<_, _>>()?;
    let refs: Vec<TensorRef<'_>> = inputs
        .iter()
        .map(|t| TensorRef::new(t.dtype, &t.shape, &t.data))
        .collect();
    let outputs = model.run(&refs).map_err(|e| e.to_string())?;
    let mut ok = true;
    for (spec, got) in model.outputs().iter().zip(&outputs) {
        if let Some(dir) = &args.out {
            let bytes = npy::encode(got.dtype(), got.shape(), got.as_bytes())?;
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            std::fs::write(dir.join(format!("{}.npy", spec.name)), bytes)
                .map_err(|e| e.to_string())?;
        }
        let Some(dir) = &args.expected else { continue };
        let want = npy::read(&dir.join(format!("{}.npy", spec.name)))?;
        if want.shape != got.shape() {
            println!(
                "RESULT {} FAIL shape {:?} vs reference {:?}",
                spec.name,
                got.shape(),
                want.shape
            );
            ok = false;
            continue;
        }
        let (Some(g), Some(w)) = (
            npy::values(got.dtype(), got.as_bytes()),
            npy::values(want.dtype, &want.data),
        ) else {
            println!(
                "RESULT {} SKIP dtype {} not compared",
                spec.name,
                want.dtype.name()
            );
            continue;
        };
        let (mut max_abs, mut max_rel, mut bad) = (0f64, 0f64, 0usize);
        for (x, y) in g.iter().zip(&w) {
            let d = (x - y).abs();
            let same = x == y || (x.is_nan() && y.is_nan());
            if !same {
                max_abs = max_abs.max(d);
                max_rel = max_rel.max(d / y.abs().max(f64::MIN_POSITIVE));
                if d.is_nan() || d > args.atol + args.rtol * y.abs() {
                    bad += 1;
                }
            }
        }
        let top1 = top1_agreement(&g, &w, got.shape());
        println!(
            "RESULT {} {} max_abs {:.3e} max_rel {:.3e} outside {} of {} (rtol {} atol {}){}",
            spec.name,
            if bad == 0 { "PASS" } else { "FAIL" },
            max_abs,
            max_rel,
            bad,
            g.len(),
            args.rtol,
            args.atol,
            top1.map(|(a, n)| format!(" top1 {a}/{n}"))
                .unwrap_or_default()
        );
        ok &= bad == 0;
    }
    if args.bench > 0 {
        for _ in 0..args.warmup {
            model.run(&refs).map_err(|e| e.to_string())?;
        }
        let mut times = Vec::with_capacity(args.bench);
        for _ in 0..args.bench {
            let t = Instant::now();
            model.run(&refs).map_err(|e| e.to_string())?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        times.sort_by(f64::total_cmp);
        println!(
            "BENCH {} median_ms {:.4} mean_ms {:.4} min_ms {:.4} runs {} graphs {}",
            args.model.display(),
            times[times.len() / 2],
            mean,
            times[0],
            times.len(),
            if model.uses_graphs() { "on" } else { "off" }
        );
    }
    Ok(ok)
}

/// For a `[batch, classes]` output: in how many rows the arg-max agrees.
fn top1_agreement(got: &[f64], want: &[f64], shape: &[u64]) -> Option<(usize, usize)> {
    let [rows, cols] = shape else { return None };
    let (rows, cols) = (*rows as usize, *cols as usize);
    if cols < 2 {
        return None;
    }
    let argmax = |v: &[f64]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
    };
    let agree = (0..rows)
        .filter(|r| {
            let s = r * cols..(r + 1) * cols;
            argmax(&got[s.clone()]) == argmax(&want[s])
        })
        .count();
    Some((agree, rows))
}
