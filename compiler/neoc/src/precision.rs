//! `neoc compile --precision fp16|bf16` (`docs/cuda.md`, "Precision") and the accuracy
//! report it prints: the 16-bit plan and the fp32 plan of the same model, both compiled
//! and run on this machine's CPU on one deterministic input (or the `--calibration`
//! samples, read as `--quantize int8` reads them), compared output by output.
//!
//! Why run compiled plans instead of the reference interpreter (as `--quantize int8`
//! does): the 16-bit storage is a property of the plan (which buffers are narrowed, how
//! the kernels round), not of the graph, so only the compiled code shows its error. For a
//! CUDA target the kernels are the CPU lowering's; the GPU's rounding is the same
//! (`fptrunc`/`fpext` are IEEE on both), its summation order may differ.

use crate::diag::Failure;
use clap::Args;
use neoc_artifact::Artifact;
use neoc_driver::CompileOptions;
use neoc_kernel::Precision;
use neoc_runtime::{DType, Model, TensorRef};
use std::fmt::Write as _;

/// Reduced-precision storage.
#[derive(Args, Debug, Default)]
pub struct PrecisionArgs {
    /// Storage of float weights and activations between kernels: fp32, fp16 or bf16
    /// (arithmetic stays f32; inputs and outputs stay f32).
    #[arg(long, value_name = "fp32|fp16|bf16", default_value = "fp32")]
    precision: String,
    /// With fp16/bf16: skip the accuracy report (it compiles and runs an fp32 plan too).
    #[arg(long = "no-accuracy-report")]
    no_accuracy_report: bool,
}

impl PrecisionArgs {
    pub fn precision(&self) -> Result<Precision, Failure> {
        Precision::from_name(&self.precision).ok_or_else(|| {
            Failure::usage(format!(
                "--precision `{}`: expected fp32, fp16 or bf16",
                self.precision
            ))
        })
    }

    pub fn wants_report(&self) -> bool {
        !self.no_accuracy_report
    }
}

/// One output's error, 16-bit plan against fp32 plan.
#[derive(Debug, Clone, Default)]
pub struct OutputError {
    pub name: String,
    pub max_abs: f64,
    /// `max_abs` over the largest `|fp32|` of the output.
    pub rel: f64,
    /// Rows whose arg-max agrees, and rows, for outputs shaped like class scores
    /// (`[classes]` or `[batch, classes]`).
    pub top1: Option<(usize, usize)>,
}

/// A deterministic input for `spec`: floats in [-1, 1) (a fixed sequence), integers
/// `0..10` (valid token ids and class indices for any model), booleans true.
fn input_bytes(spec: &neoc_runtime::TensorSpec, seed: u64) -> Vec<u8> {
    let n = spec.shape.iter().product::<u64>() as usize;
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out = Vec::with_capacity(n * 8);
    for i in 0..n {
        let r = next();
        match spec.dtype {
            DType::F32 => {
                let x = (r >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                out.extend_from_slice(&x.to_le_bytes());
            }
            DType::F64 => {
                let x = (r >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
                out.extend_from_slice(&x.to_le_bytes());
            }
            DType::I64 => out.extend_from_slice(&((i % 10) as i64).to_le_bytes()),
            DType::I32 => out.extend_from_slice(&((i % 10) as i32).to_le_bytes()),
            DType::Bool | DType::U8 => out.push(1),
            other => {
                let size = other.size_bytes();
                out.extend(std::iter::repeat_n(0u8, size));
            }
        }
    }
    out
}

fn f32s(t: &neoc_runtime::Tensor) -> Vec<f64> {
    match t.dtype() {
        DType::F32 => t
            .as_bytes()
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        _ => Vec::new(),
    }
}

fn argmax_rows(v: &[f64], row: usize) -> Vec<usize> {
    v.chunks(row)
        .map(|r| {
            let mut best = 0;
            for (i, x) in r.iter().enumerate() {
                if *x > r[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Runs both plans on the same inputs — each sample (`--calibration`), or one
/// deterministic input — and compares their float outputs (worst sample; top-1 rows
/// summed over samples).
pub fn compare(
    reduced: &Model,
    full: &Model,
    samples: Option<&[Vec<neoc_ir::Tensor>]>,
) -> Result<Vec<OutputError>, String> {
    let inputs: Vec<Vec<Vec<u8>>> = match samples {
        Some(s) => s
            .iter()
            .map(|one| one.iter().map(|t| t.bytes().to_vec()).collect())
            .collect(),
        None => vec![full
            .inputs()
            .iter()
            .enumerate()
            .map(|(i, s)| input_bytes(s, i as u64 + 1))
            .collect()],
    };
    let mut out: Vec<OutputError> = Vec::new();
    for one in &inputs {
        let refs: Vec<TensorRef<'_>> = full
            .inputs()
            .iter()
            .zip(one)
            .map(|(s, b)| TensorRef::new(s.dtype, &s.shape, b))
            .collect();
        let errors = compare_one(reduced, full, &refs)?;
        if out.is_empty() {
            out = errors;
            continue;
        }
        for (o, e) in out.iter_mut().zip(errors) {
            o.max_abs = o.max_abs.max(e.max_abs);
            o.rel = o.rel.max(e.rel);
            o.top1 = match (o.top1, e.top1) {
                (Some((a, n)), Some((b, m))) => Some((a + b, n + m)),
                (t, _) => t,
            };
        }
    }
    Ok(out)
}

fn compare_one(
    reduced: &Model,
    full: &Model,
    refs: &[TensorRef<'_>],
) -> Result<Vec<OutputError>, String> {
    let a = reduced.run(refs).map_err(|e| e.to_string())?;
    let b = full.run(refs).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for ((spec, got), want) in full.outputs().iter().zip(&a).zip(&b) {
        let (g, w) = (f32s(got), f32s(want));
        if w.is_empty() {
            continue;
        }
        let max_abs = g
            .iter()
            .zip(&w)
            .map(|(x, y)| (x - y).abs())
            .fold(
                0f64,
                |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
            );
        let scale = w.iter().fold(0f64, |m, v| m.max(v.abs()));
        let row = spec.shape.last().copied().unwrap_or(1) as usize;
        // Class scores: [classes] or [batch, classes].
        let top1 = (row > 1 && spec.shape.len() <= 2).then(|| {
            let (ga, wa) = (argmax_rows(&g, row), argmax_rows(&w, row));
            (ga.iter().zip(&wa).filter(|(x, y)| x == y).count(), wa.len())
        });
        out.push(OutputError {
            name: spec.name.clone(),
            max_abs,
            rel: max_abs / scale.max(f64::MIN_POSITIVE),
            top1,
        });
    }
    Ok(out)
}

/// The report's text.
pub fn text(p: Precision, where_: &str, inputs: &str, errors: &[OutputError]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} accuracy against the fp32 plan ({where_}, {inputs}):",
        p.name()
    );
    for e in errors {
        let _ = write!(
            s,
            "  output {}: max abs error {:.3e}, relative {:.3e} (of the largest |fp32| value)",
            e.name, e.max_abs, e.rel
        );
        if let Some((agree, rows)) = e.top1 {
            let _ = write!(s, ", top-1 agrees on {agree}/{rows} rows");
        }
        s.push('\n');
    }
    s
}

/// The accuracy report of a `--precision fp16|bf16` compilation: `compile` builds the
/// model with other options (the fp32 plan; the 16-bit plan for this CPU when `artifact`
/// cannot run here).
pub fn report(
    opts: &CompileOptions,
    artifact: &Artifact,
    samples: Option<&[Vec<neoc_ir::Tensor>]>,
    compile: impl Fn(&CompileOptions) -> Result<Artifact, Failure>,
) -> Result<String, Failure> {
    let load = |a: &Artifact| Model::from_bytes(a.to_bytes());
    let (reduced, full, where_) = match load(artifact) {
        Ok(m) => {
            let full = compile(&CompileOptions {
                precision: Precision::F32,
                progress: Default::default(),
                ..opts.clone()
            })?;
            (m, full, "this CPU".to_string())
        }
        Err(_) => {
            // Another architecture (a CUDA or cross target): both plans for this CPU.
            let host = |precision| CompileOptions {
                target: "host".into(),
                precision,
                progress: Default::default(),
                ..opts.clone()
            };
            let reduced = compile(&host(opts.precision))?;
            let full = compile(&host(Precision::F32))?;
            let m = load(&reduced).map_err(|e| Failure::from(e.to_string()))?;
            (
                m,
                full,
                format!("the {} plan lowered for this CPU", opts.target),
            )
        }
    };
    let full = load(&full).map_err(|e| Failure::from(e.to_string()))?;
    let errors = compare(&reduced, &full, samples).map_err(Failure::from)?;
    let inputs = match samples {
        Some(s) => format!("{} calibration samples, worst sample", s.len()),
        None => "one deterministic input".to_string(),
    };
    Ok(text(opts.precision, &where_, &inputs, &errors))
}
