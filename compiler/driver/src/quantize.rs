//! `neoc compile --quantize int8`: post-training static quantization of a float model.
//!
//! 1. **Calibrate.** The float graph runs in the reference interpreter
//!    ([`neoc_ir::interp`]) on the calibration samples; the range of every activation
//!    that will be quantized is recorded (`minmax`: the extremes; `percentile`: the
//!    0.01 % and 99.99 % quantiles of the observed values; `entropy`: the clipping
//!    threshold minimising the KL divergence between the value histogram and its
//!    8-bit quantization, TensorRT's method, on the positive side).
//! 2. **Rewrite to QDQ form.** A copy of the graph gets, for every Conv / Gemm / MatMul
//!    with constant weights (the *anchors*; minus `--keep-float`): per-output-channel
//!    symmetric int8 weights (`scale = max|w| / 127`), and QuantizeLinear →
//!    DequantizeLinear pairs (u8, per tensor, asymmetric) on the anchors' activation
//!    inputs, on their outputs (after a ReLU that follows), and on values that feed a
//!    quantized anchor through a residual Add. This is the form onnxruntime's QDQ models
//!    have, so the `int8-qdq` pass then folds it onto the int8 kernels exactly as for a
//!    pre-quantized model: requantization, ReLU and residual adds in the epilogue, u8
//!    between kernels.
//! 3. **Measure.** The quantized graph (after `int8-qdq`, i.e. with the int8 ops'
//!    reference semantics) runs on the same samples; per graph output the report gives
//!    the error against float. With `--accuracy-budget X` (max relative L2 error of any
//!    output on any sample), the anchors whose inputs and weights lose the most to
//!    quantization are kept in float, one at a time, until the budget holds.
//! 4. **Warn** when the int8 plan is not expected to beat float: no VNNI on any code
//!    variant of the target, or products too small for the packing and
//!    requantization around them to pay off.

use crate::DriverError;
use neoc_ir::interp;
use neoc_ir::ops::{BinaryOp, Cast, UnaryOp};
use neoc_ir::{DType, Graph, NodeId, Op, Tensor, ValueId};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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
}

/// One graph output's error, int8 against float, over the calibration samples.
#[derive(Debug, Clone, Default)]
pub struct OutputError {
    pub name: String,
    /// Largest `‖int8 − float‖₂ / ‖float‖₂` of any sample.
    pub rel_l2: f64,
    pub max_abs: f64,
    /// Smallest cosine similarity of any sample.
    pub cosine: f64,
    /// Samples whose arg-max agrees (outputs of more than one element).
    pub argmax_agree: usize,
}

/// What `--quantize int8` did.
#[derive(Debug, Clone, Default)]
pub struct QuantizeReport {
    pub method: &'static str,
    pub samples: usize,
    pub int8: Vec<String>,
    /// Anchors kept in float, with the reason.
    pub float: Vec<(String, String)>,
    pub outputs: Vec<OutputError>,
    pub budget: Option<f64>,
    pub warnings: Vec<String>,
}

impl QuantizeReport {
    /// The report as text (what `--report FILE` holds).
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "int8 quantization: {} calibration samples, {} ranges; {} layers int8, {} float",
            self.samples,
            self.method,
            self.int8.len(),
            self.float.len()
        );
        if let Some(b) = self.budget {
            let _ = writeln!(s, "accuracy budget: relative L2 error <= {b}");
        }
        for o in &self.outputs {
            let _ = writeln!(
                s,
                "output {}: relative L2 error {:.4} (worst sample), max abs error {:.4}, \
                 cosine {:.5} (worst), arg-max agrees on {}/{} samples",
                o.name, o.rel_l2, o.max_abs, o.cosine, o.argmax_agree, self.samples
            );
        }
        for (n, why) in &self.float {
            let _ = writeln!(s, "float: {n} ({why})");
        }
        for n in &self.int8 {
            let _ = writeln!(s, "int8: {n}");
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }
}

fn bad(message: impl Into<String>) -> DriverError {
    DriverError::Usage(message.into())
}

/// Reads the calibration samples for `graph`'s inputs (see `docs/quantization.md`; also
/// the samples of `--precision`'s accuracy report).
pub fn load_samples(graph: &Graph, dir: &Path) -> Result<Vec<Vec<Tensor>>, DriverError> {
    let inputs: Vec<(String, Vec<u64>)> = graph
        .inputs()
        .iter()
        .map(|&v| {
            let val = graph.value(v);
            (
                val.name.clone(),
                val.ty.shape.as_fixed().unwrap_or_default(),
            )
        })
        .collect();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(format!("--calibration {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut samples = Vec::new();
    if inputs.len() == 1 {
        let dims = &inputs[0].1;
        for p in entries
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        {
            let t = read_npy(p)?;
            samples.extend(split(t, dims, p)?.into_iter().map(|t| vec![t]));
        }
    } else {
        for d in entries.iter().filter(|p| p.is_dir()) {
            let mut one = Vec::new();
            for (name, dims) in &inputs {
                let p = d.join(format!("{name}.npy"));
                let t = read_npy(&p)?;
                if t.shape != *dims {
                    return Err(bad(format!(
                        "{}: shape {:?}, input `{name}` is {dims:?}",
                        p.display(),
                        t.shape
                    )));
                }
                one.push(t);
            }
            samples.push(one);
        }
    }
    if samples.is_empty() {
        return Err(bad(format!(
            "--calibration {}: no samples (one .npy per sample for a one-input model, one \
             folder of <input>.npy files per sample otherwise)",
            dir.display()
        )));
    }
    Ok(samples)
}

/// `t` as samples of `dims`: itself, or split along axis 0 when that axis is a
/// multiple of the model's batch.
fn split(t: Tensor, dims: &[u64], p: &Path) -> Result<Vec<Tensor>, DriverError> {
    if t.shape == dims {
        return Ok(vec![t]);
    }
    let fits = !dims.is_empty()
        && t.shape.len() == dims.len()
        && t.shape[1..] == dims[1..]
        && dims[0] > 0
        && t.shape[0].is_multiple_of(dims[0]);
    if !fits {
        return Err(bad(format!(
            "{}: shape {:?} is neither the input's {dims:?} nor a stack of them along axis 0",
            p.display(),
            t.shape
        )));
    }
    let per = t.bytes().len() / (t.shape[0] / dims[0]) as usize;
    Ok(t.bytes()
        .chunks(per)
        .filter_map(|c| {
            Tensor::from_bytes(t.dtype, dims.to_vec(), bytes::Bytes::copy_from_slice(c)).ok()
        })
        .collect())
}

fn read_npy(p: &Path) -> Result<Tensor, DriverError> {
    let data = std::fs::read(p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
    let npy = npyz::NpyFile::new(&data[..])
        .map_err(|e| bad(format!("{} is not a .npy file: {e}", p.display())))?;
    let shape = npy.shape().to_vec();
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        _ => String::new(),
    };
    let t = match descr.as_str() {
        "<f4" => {
            let v: Vec<f32> = npy
                .into_vec()
                .map_err(|e| bad(format!("{}: {e}", p.display())))?;
            Tensor::from_f32(shape, &v)
        }
        "<i8" => {
            let v: Vec<i64> = npy
                .into_vec()
                .map_err(|e| bad(format!("{}: {e}", p.display())))?;
            Tensor::from_i64(shape, &v)
        }
        other => {
            return Err(bad(format!(
                "{}: calibration samples must be float32 or int64 .npy, got `{other}`",
                p.display()
            )))
        }
    };
    Ok(t)
}

/// An anchor the rewrite may quantize: node, weight value, per-channel axis of the
/// weights.
#[derive(Debug, Clone)]
struct Anchor {
    node: NodeId,
    name: String,
    weights: ValueId,
    /// Axis of the weights that indexes output channels.
    axis: usize,
}

fn anchors(graph: &Graph) -> Vec<Anchor> {
    let mut out = Vec::new();
    for n in graph.topo_order() {
        let node = graph.node(n);
        let (Some(Some(x)), Some(Some(w))) = (node.inputs.first(), node.inputs.get(1)) else {
            continue;
        };
        let Some(wt) = graph.const_value(*w) else {
            continue;
        };
        if wt.dtype != DType::F32 || graph.value(*x).ty.dtype != DType::F32 {
            continue;
        }
        let axis = match &node.op {
            Op::Conv(c) if c.kernel.len() <= 2 => 0,
            Op::Gemm(g) if g.alpha == 1.0 && g.beta == 1.0 && !g.trans_a => usize::from(!g.trans_b),
            Op::MatMul if wt.shape.len() == 2 => 1,
            _ => continue,
        };
        out.push(Anchor {
            node: n,
            name: node.name.clone(),
            weights: *w,
            axis,
        });
    }
    out
}

/// Observed values of one activation: extremes and a bounded sample for quantiles.
#[derive(Debug, Clone, Default)]
struct Observed {
    min: f32,
    max: f32,
    sample: Vec<f32>,
}

const KEEP_PER_RUN: usize = 1 << 14;

impl Observed {
    fn add(&mut self, t: &Tensor) {
        let v = t.to_f32_vec();
        for &x in &v {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        let step = (v.len() / KEEP_PER_RUN).max(1);
        self.sample.extend(v.iter().step_by(step).copied());
    }

    /// The (lo, hi) range to quantize to, containing 0.
    fn range(&mut self, method: Calibration) -> (f32, f32) {
        let (lo, hi) = match method {
            Calibration::MinMax => (self.min, self.max),
            Calibration::Percentile => {
                self.sample.sort_by(f32::total_cmp);
                let q = |p: f64| {
                    let i = ((self.sample.len() - 1) as f64 * p).round() as usize;
                    self.sample.get(i).copied().unwrap_or(0.0)
                };
                (q(0.0001), q(0.9999))
            }
            Calibration::Entropy => entropy_range(&self.sample, self.min, self.max),
        };
        (lo.min(0.0), hi.max(0.0))
    }
}

/// TensorRT-style KL calibration on the magnitude histogram: the clipping threshold
/// whose 128-bin quantization of the clipped distribution diverges least from it.
fn entropy_range(sample: &[f32], min: f32, max: f32) -> (f32, f32) {
    let amax = min.abs().max(max.abs());
    if amax == 0.0 || sample.is_empty() {
        return (min, max);
    }
    const BINS: usize = 2048;
    let mut hist = vec![0f64; BINS];
    for &x in sample {
        let b = ((x.abs() / amax) * BINS as f32) as usize;
        hist[b.min(BINS - 1)] += 1.0;
    }
    let mut best = (f64::INFINITY, BINS);
    for i in (128..=BINS).step_by(16) {
        let mut p: Vec<f64> = hist[..i].to_vec();
        p[i - 1] += hist[i..].iter().sum::<f64>();
        let mut q = vec![0f64; i];
        let per = i as f64 / 128.0;
        for j in 0..128 {
            let (a, b) = (
                (j as f64 * per) as usize,
                (((j + 1) as f64 * per) as usize).min(i),
            );
            let total: f64 = hist[a..b].iter().sum();
            let nonzero = hist[a..b].iter().filter(|&&h| h > 0.0).count();
            for k in a..b {
                if hist[k] > 0.0 {
                    q[k] = total / nonzero as f64;
                }
            }
        }
        let (ps, qs) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
        let kl: f64 = p
            .iter()
            .zip(&q)
            .filter(|(a, _)| **a > 0.0)
            .map(|(a, b)| {
                let (a, b) = (a / ps, (b / qs).max(1e-12));
                a * (a / b).ln()
            })
            .sum();
        if kl < best.0 {
            best = (kl, i);
        }
    }
    let t = amax * best.1 as f32 / BINS as f32;
    (min.max(-t), max.min(t))
}

/// u8 asymmetric (scale, zero point) for `range`.
fn qparams((lo, hi): (f32, f32)) -> (f32, f32) {
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zp = (-lo / scale).round().clamp(0.0, 255.0);
    (scale, zp)
}

/// Values the rewrite quantizes, given the anchors to quantize.
fn quantized_values(graph: &Graph, chosen: &[&Anchor]) -> Vec<ValueId> {
    let mut set: Vec<ValueId> = Vec::new();
    let push = |v: ValueId, set: &mut Vec<ValueId>| {
        if !set.contains(&v) && !graph.outputs().contains(&v) {
            set.push(v);
        }
    };
    for a in chosen {
        let node = graph.node(a.node);
        if let Some(Some(x)) = node.inputs.first() {
            push(*x, &mut set);
        }
        // The output, after a ReLU that alone reads it.
        let y = node.outputs[0];
        let readers = graph.consumers(y);
        let y = match readers.as_slice() {
            [r] if graph.node(*r).op == Op::Unary(UnaryOp::Relu) => graph.node(*r).outputs[0],
            _ => y,
        };
        push(y, &mut set);
    }
    // Residual adds between quantized values: the sum (after a ReLU) too.
    let qset: HashSet<ValueId> = set.iter().copied().collect();
    for n in graph.topo_order() {
        let node = graph.node(n);
        if node.op != Op::Binary(BinaryOp::Add) {
            continue;
        }
        let both = node.inputs.iter().flatten().all(|v| qset.contains(v));
        if both && node.inputs.len() == 2 {
            let y = node.outputs[0];
            let readers = graph.consumers(y);
            let y = match readers.as_slice() {
                [r] if graph.node(*r).op == Op::Unary(UnaryOp::Relu) => graph.node(*r).outputs[0],
                _ => y,
            };
            push(y, &mut set);
        }
    }
    set
}

/// A copy of `graph` with QDQ around the chosen anchors (module docs, step 2).
fn rewrite(
    graph: &Graph,
    chosen: &[&Anchor],
    params: &HashMap<ValueId, (f32, f32)>,
) -> Result<Graph, neoc_ir::IrError> {
    let mut g = Graph::new(graph.name.clone());
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    for &v in graph.inputs() {
        let val = graph.value(v);
        let nv = g.add_input(val.name.clone(), val.ty.clone());
        let mapped = match params.get(&v) {
            Some(&p) => qdq(&mut g, &val.name, nv, p)?,
            None => nv,
        };
        map.insert(v, mapped);
    }
    let weights: HashMap<ValueId, usize> = chosen.iter().map(|a| (a.weights, a.axis)).collect();
    let chosen_nodes: HashSet<NodeId> = chosen.iter().map(|a| a.node).collect();
    for n in graph.topo_order() {
        let nd = graph.node(n);
        let mut ins = Vec::with_capacity(nd.inputs.len());
        for (i, v) in nd.inputs.iter().enumerate() {
            let Some(v) = v else {
                ins.push(None);
                continue;
            };
            if let Some(&m) = map.get(v) {
                ins.push(Some(m));
                continue;
            }
            let Some(t) = graph.const_value(*v) else {
                return Err(neoc_ir::IrError::Internal(format!(
                    "quantize: value {} read before it is defined",
                    graph.value(*v).name
                )));
            };
            let name = graph.value(*v).name.clone();
            let nv = match weights.get(v) {
                Some(&axis) if i == 1 && chosen_nodes.contains(&n) => {
                    quantized_weights(&mut g, &name, t, axis)?
                }
                _ => {
                    let c = g.add_const(name, t.clone());
                    map.insert(*v, c);
                    c
                }
            };
            ins.push(Some(nv));
        }
        let names = nd
            .outputs
            .iter()
            .map(|&o| graph.value(o).name.clone())
            .collect();
        let outs = g.add_node_unfolded(nd.name.clone(), nd.op.clone(), ins, names)?;
        for (&o, &no) in nd.outputs.iter().zip(&outs) {
            let mapped = match params.get(&o) {
                Some(&p) => qdq(&mut g, &graph.value(o).name.clone(), no, p)?,
                None => no,
            };
            map.insert(o, mapped);
        }
    }
    let outs = graph
        .outputs()
        .iter()
        .map(|o| map.get(o).copied())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| neoc_ir::IrError::Internal("quantize: an output was not rebuilt".into()))?;
    g.set_outputs(outs);
    Ok(g)
}

/// `DequantizeLinear(QuantizeLinear(v))` (u8, `(scale, zero point)`) in the form the
/// ONNX importer gives them: Div, Round, Add, Clip, Cast to u8; Cast, Sub, Mul.
fn qdq(
    g: &mut Graph,
    base: &str,
    v: ValueId,
    (scale, zp): (f32, f32),
) -> Result<ValueId, neoc_ir::IrError> {
    let node = |g: &mut Graph, suffix: &str, op: Op, ins: Vec<ValueId>| {
        let name = format!("{base}/{suffix}");
        g.add_node_unfolded(
            &name,
            op,
            ins.into_iter().map(Some).collect(),
            vec![name.clone()],
        )
        .map(|o| o[0])
    };
    let s = g.add_const(format!("{base}/scale"), Tensor::from_f32(vec![], &[scale]));
    let z = g.add_const(
        format!("{base}/zero_point"),
        Tensor::from_f32(vec![], &[zp]),
    );
    let d = node(g, "q_scaled", Op::Binary(BinaryOp::Div), vec![v, s])?;
    let r = node(g, "q_rounded", Op::Unary(UnaryOp::Round), vec![d])?;
    let a = node(g, "q_shifted", Op::Binary(BinaryOp::Add), vec![r, z])?;
    let clip = Op::Unary(UnaryOp::Clip {
        min: 0.0,
        max: 255.0,
    });
    let c = node(g, "q_saturated", clip, vec![a])?;
    let q = node(g, "q", Op::Cast(Cast { to: DType::U8 }), vec![c])?;
    let f = node(g, "dq_f", Op::Cast(Cast { to: DType::F32 }), vec![q])?;
    let sub = node(g, "dq_centered", Op::Binary(BinaryOp::Sub), vec![f, z])?;
    node(g, "dq", Op::Binary(BinaryOp::Mul), vec![sub, s])
}

/// Per-channel symmetric int8 weights along `axis`, as the unfolded
/// `Mul(Cast<f32>(w_i8), scale)` the `int8-qdq` pass reads.
fn quantized_weights(
    g: &mut Graph,
    name: &str,
    t: &Tensor,
    axis: usize,
) -> Result<ValueId, neoc_ir::IrError> {
    let (q, scale) = quantize_weights(t, axis);
    let mut sshape = vec![1u64; t.shape.len() - axis];
    sshape[0] = t.shape[axis];
    let qc = g.add_const(
        format!("{name}/int8"),
        Tensor::from_i64_wrapping(DType::I8, t.shape.clone(), &q),
    );
    let sc = g.add_const(format!("{name}/scale"), Tensor::from_f32(sshape, &scale));
    let f = g.add_node_unfolded(
        format!("{name}/dq_f"),
        Op::Cast(Cast { to: DType::F32 }),
        vec![Some(qc)],
        vec![format!("{name}/dq_f")],
    )?[0];
    Ok(g.add_node_unfolded(
        format!("{name}/dq"),
        Op::Binary(BinaryOp::Mul),
        vec![Some(f), Some(sc)],
        vec![format!("{name}/dq")],
    )?[0])
}

/// (int8 values, per-channel scales) of `t` along `axis`.
fn quantize_weights(t: &Tensor, axis: usize) -> (Vec<i64>, Vec<f32>) {
    let v = t.to_f32_vec();
    let channels = t.shape[axis] as usize;
    let inner: usize = t.shape[axis + 1..].iter().product::<u64>() as usize;
    let ch = |i: usize| (i / inner) % channels;
    let mut amax = vec![0f32; channels];
    for (i, x) in v.iter().enumerate() {
        amax[ch(i)] = amax[ch(i)].max(x.abs());
    }
    let scale: Vec<f32> = amax
        .iter()
        .map(|&a| if a > 0.0 { a / 127.0 } else { 1.0 })
        .collect();
    let q = v
        .iter()
        .enumerate()
        .map(|(i, x)| (x / scale[ch(i)]).round_ties_even().clamp(-127.0, 127.0) as i64)
        .collect();
    (q, scale)
}

/// Relative quantization loss of an anchor: its weights' relative L2 error plus its
/// input's (from the activation's range and spread). Used to pick what stays float.
fn loss(graph: &Graph, a: &Anchor, stats: &HashMap<ValueId, (f32, f32, f64)>) -> f64 {
    let Some(t) = graph.const_value(a.weights) else {
        return 0.0;
    };
    let (q, s) = quantize_weights(t, a.axis);
    let v = t.to_f32_vec();
    let inner: usize = t.shape[a.axis + 1..].iter().product::<u64>() as usize;
    let c = s.len();
    let (mut err, mut norm) = (0f64, 0f64);
    for (i, (x, qi)) in v.iter().zip(&q).enumerate() {
        let d = f64::from(*x) - *qi as f64 * f64::from(s[(i / inner) % c]);
        err += d * d;
        norm += f64::from(*x) * f64::from(*x);
    }
    let w = (err / norm.max(1e-30)).sqrt();
    let x = graph.node(a.node).inputs[0]
        .and_then(|x| stats.get(&x))
        .map_or(0.0, |&(lo, hi, rms)| {
            // Uniform rounding noise of a u8 step over the signal's RMS.
            let step = f64::from(hi - lo) / 255.0;
            step / 12f64.sqrt() / rms.max(1e-30)
        });
    w + x
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
    let all = anchors(graph);
    let keep = |a: &Anchor| {
        let op = graph.node(a.node).op.name();
        opts.keep_float
            .iter()
            .any(|k| k == &a.name || k.eq_ignore_ascii_case(op))
    };
    let mut float: Vec<(String, String)> = all
        .iter()
        .filter(|a| keep(a))
        .map(|a| (a.name.clone(), "--keep-float".to_string()))
        .collect();
    let mut chosen: Vec<&Anchor> = all.iter().filter(|a| !keep(a)).collect();
    let every = quantized_values(graph, &all.iter().collect::<Vec<_>>());

    // Calibration: ranges of every value that may be quantized, float outputs.
    let interp_err = |e: interp::InterpError| bad(format!("calibration run failed: {e}"));
    let mut observed: HashMap<ValueId, Observed> = HashMap::new();
    let mut sums: HashMap<ValueId, (f64, usize)> = HashMap::new();
    let mut float_out: Vec<Vec<Tensor>> = Vec::new();
    for s in &samples {
        let values = interp::run_values(graph, s).map_err(interp_err)?;
        for &v in &every {
            if let Some(Some(t)) = values.get(v.0 as usize) {
                observed.entry(v).or_default().add(t);
                let e = sums.entry(v).or_default();
                e.0 += t
                    .to_f32_vec()
                    .iter()
                    .map(|x| f64::from(*x).powi(2))
                    .sum::<f64>();
                e.1 += t.num_elements() as usize;
            }
        }
        let outs = graph
            .outputs()
            .iter()
            .map(|o| values.get(o.0 as usize).cloned().flatten())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("calibration run: an output was not computed"))?;
        float_out.push(outs);
    }
    let mut ranges: HashMap<ValueId, (f32, f32)> = HashMap::new();
    let mut stats: HashMap<ValueId, (f32, f32, f64)> = HashMap::new();
    for (v, o) in observed.iter_mut() {
        let r = o.range(opts.method);
        ranges.insert(*v, r);
        let (sq, n) = sums.get(v).copied().unwrap_or((0.0, 1));
        stats.insert(*v, (r.0, r.1, (sq / n.max(1) as f64).sqrt()));
    }

    let costs: HashMap<NodeId, (f64, f64)> = all
        .iter()
        .filter_map(|a| cost(graph, a).map(|c| (a.node, c)))
        .collect();
    let mut report;
    loop {
        let set = quantized_values(graph, &chosen);
        let params: HashMap<ValueId, (f32, f32)> = set
            .iter()
            .filter_map(|v| ranges.get(v).map(|&r| (*v, qparams(r))))
            .collect();
        let q =
            rewrite(graph, &chosen, &params).map_err(|e| DriverError::Internal(e.to_string()))?;
        let mut check = q.clone();
        neoc_passes::optimize(&mut check, 1, &[])
            .map_err(|e| DriverError::Internal(e.to_string()))?;
        let mut outputs: Vec<OutputError> = graph
            .outputs()
            .iter()
            .map(|&o| OutputError {
                name: graph.value(o).name.clone(),
                cosine: 1.0,
                ..OutputError::default()
            })
            .collect();
        for (s, want) in samples.iter().zip(&float_out) {
            let got = interp::run(&check, s).map_err(interp_err)?;
            for ((e, g), w) in outputs.iter_mut().zip(&got).zip(want) {
                compare(e, g, w);
            }
        }
        report = QuantizeReport {
            method: opts.method.name(),
            samples: samples.len(),
            int8: chosen.iter().map(|a| a.name.clone()).collect(),
            float: float.clone(),
            outputs,
            budget: opts.accuracy_budget,
            warnings: Vec::new(),
        };
        let worst = report.outputs.iter().map(|o| o.rel_l2).fold(0.0, f64::max);
        match opts.accuracy_budget {
            Some(b) if worst > b && !chosen.is_empty() => {
                let (i, _) = chosen
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (i, loss(graph, a, &stats)))
                    .fold((0, f64::MIN), |m, x| if x.1 > m.1 { x } else { m });
                let a = chosen.remove(i);
                float.push((
                    a.name.clone(),
                    format!("accuracy budget: error {worst:.4} > {b}"),
                ));
            }
            _ => {
                *graph = q;
                break;
            }
        }
    }
    if !target_has_vnni {
        report.warnings.push(
            "no code variant of the target has an int8 dot product (x86 VNNI vpdpbusd, \
             AArch64 sdot/usdot): the int8 kernels use pmaddwd pairs (x86) or widening \
             multiplies (AArch64) there, about half as fast, and may not beat float \
             (targets x86_64-avx512-vnni, x86_64-avx2-vnni, aarch64-neoverse-n1 have one)"
                .into(),
        );
    }
    let (macs, elems) = chosen
        .iter()
        .filter_map(|a| costs.get(&a.node))
        .fold((0.0, 0.0), |(m, e), c| (m + c.0, e + c.1));
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

/// Folds one sample's int8 output `got` against float `want` into `e`.
fn compare(e: &mut OutputError, got: &Tensor, want: &Tensor) {
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let (mut d2, mut w2, mut g2, mut dot) = (0f64, 0f64, 0f64, 0f64);
    for (a, b) in g.iter().zip(&w) {
        d2 += (a - b) * (a - b);
        w2 += b * b;
        g2 += a * a;
        dot += a * b;
        e.max_abs = e.max_abs.max((a - b).abs());
    }
    e.rel_l2 = e.rel_l2.max((d2 / w2.max(1e-30)).sqrt());
    let cos = if w2 == 0.0 && g2 == 0.0 {
        1.0
    } else {
        dot / (w2.sqrt() * g2.sqrt()).max(1e-30)
    };
    e.cosine = e.cosine.min(cos);
    let argmax = |v: &[f64]| {
        v.iter()
            .enumerate()
            .fold((0, f64::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m })
            .0
    };
    if g.len() > 1 && argmax(&g) == argmax(&w) {
        e.argmax_agree += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neoc_ir::TensorType;

    /// A little-endian float32 `.npy` (format 1.0) of `shape`.
    fn npy(shape: &[u64], values: &[f32]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let tuple = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        for v in values {
            out.extend(v.to_le_bytes());
        }
        out
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("neoc-quant-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn one_input_samples_are_files_and_stacks_split_along_axis_0() {
        let mut g = Graph::new("g");
        g.add_input("x", TensorType::new(DType::F32, &[1, 2]));
        let d = tmp("one");
        std::fs::write(d.join("a.npy"), npy(&[1, 2], &[1.0, 2.0])).unwrap();
        std::fs::write(
            d.join("b.npy"),
            npy(&[3, 2], &[3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
        )
        .unwrap();
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
        let s = load_samples(&g, &d).unwrap();
        let firsts: Vec<f32> = s.iter().map(|v| v[0].to_f32_vec()[0]).collect();
        assert_eq!(firsts, [1.0, 3.0, 5.0, 7.0]);
        std::fs::write(d.join("c.npy"), npy(&[1, 3], &[0.0; 3])).unwrap();
        let e = load_samples(&g, &d).unwrap_err().to_string();
        assert!(e.contains("c.npy") && e.contains("[1, 3]"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn several_inputs_take_one_folder_per_sample() {
        let mut g = Graph::new("g");
        g.add_input("x", TensorType::new(DType::F32, &[2]));
        g.add_input("y", TensorType::new(DType::F32, &[1]));
        let d = tmp("many");
        for (i, dir) in ["s0", "s1"].iter().enumerate() {
            let p = d.join(dir);
            std::fs::create_dir_all(&p).unwrap();
            let v = i as f32;
            std::fs::write(p.join("x.npy"), npy(&[2], &[v, v])).unwrap();
            std::fs::write(p.join("y.npy"), npy(&[1], &[v + 10.0])).unwrap();
        }
        let s = load_samples(&g, &d).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1][1].to_f32_vec(), [11.0]);
        std::fs::remove_file(d.join("s1").join("y.npy")).unwrap();
        let e = load_samples(&g, &d).unwrap_err().to_string();
        assert!(e.contains("y.npy"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn weights_are_symmetric_per_channel() {
        let t = Tensor::from_f32(vec![2, 3], &[1.27, -0.635, 0.0, 0.0, 0.0, 0.0]);
        let (q, s) = quantize_weights(&t, 0);
        assert_eq!(q, [127, -64, 0, 0, 0, 0]);
        assert_eq!(s, [0.01, 1.0]);
        // A range is widened to contain 0; u8 zero point where 0 lands.
        assert_eq!(qparams((0.0, 2.55)), (0.01, 0.0));
        let (scale, zp) = qparams((-1.0, 1.55));
        assert_eq!((scale, zp), (0.01, 100.0));
    }
}
