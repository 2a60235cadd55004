//! `neoc compile --quantize int8`: post-training static quantization of a float model.
//!
//! 1. **Calibrate** ([`calibrate`]). The float graph, compiled for this machine's CPU
//!    with every value that may be quantized as an extra output, runs on the
//!    calibration samples on all cores ([`evaluate`]; the reference interpreter where
//!    native code cannot run); the range of every such activation is observed
//!    ([`observe`]: `minmax`, the extremes; `percentile`, the exact 0.01 % and 99.99 %
//!    quantiles; `entropy`, the clipping threshold minimising the KL divergence between
//!    the magnitude histogram and its 8-bit quantization, TensorRT's method).
//! 2. **Rewrite to QDQ form** ([`rewrite`]). A copy of the graph gets, for every Conv / Gemm / MatMul
//!    with constant weights (the *anchors*; minus `--keep-float`): per-output-channel
//!    symmetric int8 weights (`scale = max|w| / 127`), and QuantizeLinear →
//!    DequantizeLinear pairs (u8, per tensor, asymmetric) on the anchors' activation
//!    inputs, on their outputs (after a ReLU that follows), and on values that feed a
//!    quantized anchor through a residual Add. This is the form onnxruntime's QDQ models
//!    have, so the `int8-qdq` pass then folds it onto the int8 kernels exactly as for a
//!    pre-quantized model: requantization, ReLU and residual adds in the epilogue, u8
//!    between kernels.
//! 3. **Measure** ([`budget`]). The quantized graph, compiled for the host (so through
//!    the int8 kernels), runs on the same samples; per graph output the report gives the
//!    error against float. With `--accuracy-budget X` (max relative L2 error of any
//!    output on any sample), each layer's effect is measured (the error with it alone
//!    back in float) and layers go back to float in that order until the budget holds.
//! 4. **Warn** when the int8 plan is not expected to beat float: no VNNI on any code
//!    variant of the target, or products too small for the packing and
//!    requantization around them to pay off.

mod budget;
mod calibrate;
mod evaluate;
mod observe;
mod report;
mod rewrite;
mod samples;

pub use evaluate::host_target;
pub use report::{OutputError, QuantizeReport, Timing};
pub use samples::load_samples;

use crate::DriverError;
use neoc_ir::{Graph, NodeId, Op, ValueId};
use rewrite::Anchor;
use std::collections::HashMap;
use std::path::PathBuf;

/// How activation ranges are chosen from the calibration data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Calibration {
    #[default]
    MinMax,
    Percentile,
    Entropy,
}

impl Calibration {
    pub fn from_name(s: &str) -> Option<Calibration> {
        Some(match s {
            "minmax" => Calibration::MinMax,
            "percentile" => Calibration::Percentile,
            "entropy" => Calibration::Entropy,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Calibration::MinMax => "minmax",
            Calibration::Percentile => "percentile",
            Calibration::Entropy => "entropy",
        }
    }
}

/// The `--quantize int8` options.
#[derive(Debug, Clone, Default)]
pub struct QuantizeOptions {
    /// Calibration samples (`--calibration DIR`).
    pub calibration: PathBuf,
    pub method: Calibration,
    /// Node names or operator names (`Conv`, `Gemm`, `MatMul`) kept in float.
    pub keep_float: Vec<String>,
    /// Largest allowed relative L2 error of any output on any sample.
    pub accuracy_budget: Option<f64>,
    /// Where to write the report (it is also returned).
    pub report: Option<PathBuf>,
    /// What runs calibration and the accuracy checks.
    pub engine: Engine,
}

/// What runs the graphs of calibration and the accuracy checks ([`evaluate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// Code compiled for the host CPU; the interpreter where that is impossible or
    /// where the whole calibration is less work than compiling (`INTERPRET_BELOW`).
    #[default]
    Auto,
    /// Compiled code only (an error where impossible).
    Compiled,
    /// The reference interpreter (`neoc_ir::interp`): exact, slow.
    Interpreter,
}

impl Engine {
    pub fn from_name(s: &str) -> Option<Engine> {
        Some(match s {
            "auto" => Engine::Auto,
            "compiled" => Engine::Compiled,
            "interpreter" => Engine::Interpreter,
            _ => return None,
        })
    }
}

fn bad(message: impl Into<String>) -> DriverError {
    DriverError::Usage(message.into())
}

/// The target to generate code for: when the graph has int8 convolutions the default
/// `x86_64` target gains an AVX-512 VNNI variant (first, so the runtime prefers it where
/// the CPU has it) and an AVX-VNNI one before `avx2` (client cores without AVX-512):
/// `avx512-vnni`, `avx512`, `avx2-vnni`, `avx2`. No CPU has a choice between the middle
/// two (AVX-512 without VNNI predates AVX-VNNI). Float models keep their two variants
/// (and compile times).
pub fn with_vnni_variant(
    mut target: neoc_target_spec::Target,
    graph: &Graph,
) -> neoc_target_spec::Target {
    let int8 = graph
        .topo_order()
        .into_iter()
        .any(|n| matches!(graph.node(n).op, Op::QConv(_)));
    if int8 && target.name == "x86_64" {
        target.levels.insert(0, neoc_target_spec::X86_AVX512_VNNI);
        let avx2 = target.levels.len() - 1;
        target.levels.insert(avx2, neoc_target_spec::X86_AVX2_VNNI);
    }
    target
}

/// Below this many multiply-adds per activation element read or written, int8 is not
/// expected to pay for its packing and requantization.
const MIN_MACS_PER_ELEMENT: f64 = 32.0;

/// With `Engine::Auto`, calibrations of fewer multiply-adds (anchors × samples) run in
/// the interpreter: ~0.5 s of it (~0.5 G multiply-adds/s on 2 cores), about what
/// compiling even a tiny model for the host takes (the digits CNN: 0.6 s to compile,
/// 0.04 s to interpret its 128 samples).
const INTERPRET_BELOW: f64 = 2.5e8;

/// (multiply-adds, activation elements read and written) of an anchor.
fn cost(graph: &Graph, a: &Anchor) -> Option<(f64, f64)> {
    let node = graph.node(a.node);
    let elems = |v: ValueId| {
        graph
            .value(v)
            .ty
            .shape
            .as_fixed()
            .map(|d| d.iter().product::<u64>() as f64)
    };
    let w = graph.const_value(a.weights)?;
    let per_output = w.num_elements() as f64 / w.shape[a.axis] as f64;
    let out = elems(node.outputs[0])?;
    let x = elems(node.inputs[0]?)?;
    Some((out * per_output, out + x))
}

/// Quantizes `graph` in place (module docs). `target_has_vnni`: whether a code variant
/// of the target has the int8 dot product (else a warning).
pub fn apply(
    graph: &mut Graph,
    opts: &QuantizeOptions,
    target_has_vnni: bool,
) -> Result<QuantizeReport, DriverError> {
    let samples = load_samples(graph, &opts.calibration)?;
    let all = rewrite::anchors(graph);
    let keep = |a: &Anchor| {
        let op = graph.node(a.node).op.name();
        opts.keep_float
            .iter()
            .any(|k| k == &a.name || k.eq_ignore_ascii_case(op))
    };
    let kept: Vec<(String, String)> = all
        .iter()
        .filter(|a| keep(a))
        .map(|a| (a.name.clone(), "--keep-float".to_string()))
        .collect();
    let chosen: Vec<usize> = (0..all.len()).filter(|&i| !keep(&all[i])).collect();
    let every = rewrite::quantized_values(graph, &all.iter().collect::<Vec<_>>());

    let macs: f64 = all.iter().filter_map(|a| cost(graph, a)).map(|c| c.0).sum();
    let work = macs * samples.len() as f64;
    let (engine, why) = match opts.engine {
        Engine::Auto if work < INTERPRET_BELOW => (
            Engine::Interpreter,
            format!(
                "{:.0} M multiply-adds in all: interpreting costs less than compiling",
                work / 1e6
            ),
        ),
        Engine::Interpreter => (Engine::Interpreter, "asked for".to_string()),
        e => (e, String::new()),
    };
    let cal = calibrate::calibrate(graph, &every, &samples, opts.method, (engine, &why))?;
    let mut checker =
        budget::Checker::new(graph, &cal.ranges, &samples, &cal.float_out, (engine, why));
    let outcome = budget::search(&mut checker, &all, chosen, opts.accuracy_budget)?;
    let int8: Vec<&Anchor> = outcome.int8.iter().map(|&i| &all[i]).collect();
    let q = checker.rewrite(&int8)?;
    let mut report = QuantizeReport {
        method: opts.method.name(),
        samples: samples.len(),
        int8: int8.iter().map(|a| a.name.clone()).collect(),
        float: kept
            .into_iter()
            .chain(
                outcome
                    .float
                    .iter()
                    .map(|(i, why)| (all[*i].name.clone(), why.clone())),
            )
            .collect(),
        outputs: outcome.outputs,
        budget: opts.accuracy_budget,
        measured: outcome
            .measured
            .iter()
            .map(|&(i, e)| (all[i].name.clone(), e))
            .collect(),
        timing: Timing {
            engine: cal.engine.clone(),
            threads: cal.threads,
            calibration_compile: cal.compile_time,
            calibration_run: cal.run_time,
            checks: checker.checks,
            checks_time: checker.time,
        },
        warnings: Vec::new(),
    };
    let costs: HashMap<NodeId, (f64, f64)> = all
        .iter()
        .filter_map(|a| cost(graph, a).map(|c| (a.node, c)))
        .collect();
    let (macs, elems) = int8
        .iter()
        .filter_map(|a| costs.get(&a.node))
        .fold((0.0, 0.0), |(m, e), c| (m + c.0, e + c.1));
    *graph = q;
    if !target_has_vnni {
        report.warnings.push(
            "no code variant of the target has an int8 dot product (x86 VNNI vpdpbusd, \
             AArch64 sdot/usdot): the int8 kernels use pmaddwd pairs (x86) or widening \
             multiplies (AArch64) there, about half as fast, and may not beat float \
             (targets x86_64-avx512-vnni, x86_64-avx2-vnni, aarch64-neoverse-n1 have one)"
                .into(),
        );
    }
    if elems > 0.0 && macs / elems < MIN_MACS_PER_ELEMENT {
        report.warnings.push(format!(
            "the int8 layers do {:.0} multiply-adds per activation element they read or \
             write (fewer than {MIN_MACS_PER_ELEMENT}): packing and requantization may \
             cost more than int8 saves; int8 is not expected to be faster than float",
            macs / elems
        ));
    }
    if let Some(p) = &opts.report {
        std::fs::write(p, report.text())
            .map_err(|e| bad(format!("--report {}: {e}", p.display())))?;
    }
    Ok(report)
}
