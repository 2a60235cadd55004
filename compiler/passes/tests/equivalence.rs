//! Property tests of the optimizer against the reference interpreter.
//!
//! `random_graphs_survive_every_opt_level`: a seeded generator builds small random graphs
//! (Conv/BatchNorm/activation chains, Gemm/MatMul with constant weights, residual adds,
//! elementwise chains with broadcast constants, Reshape/Transpose pairs, Identity,
//! duplicated subexpressions, scalar pre-scales, pooling, Concat, Softmax). Each graph
//! is optimized at every level 0..=3 and must stay well-formed (every node's recorded
//! output types equal the types re-inferred from its inputs, producers before
//! consumers) and compute the same outputs as the unoptimized graph within
//! `|a - b| <= 1e-5 + 1e-4 * |b|`. A failure prints the seed and both graphs;
//! `NEOC_EQUIV_SEED=<seed>` reruns one case, `NEOC_EQUIV_CASES=<n>` changes the count,
//! `NEOC_EQUIV_TRACE=1` prints each graph and each pass as it finishes,
//! `NEOC_EQUIV_DISABLE=a,b` leaves passes out.
//!
//! `interpreter_matches_onnxruntime`: the oracle itself is checked against the stored
//! onnxruntime outputs of the small test models (and those models are checked again
//! after optimization at every level).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_ir::interp::{self, compare, Tolerance};
use neoc_ir::ops::{
    BinaryOp, Concat, Conv, Gemm, GlobalPool, Pad, PadMode, Pool, PoolKind, Reduce, ReduceKind,
    Reshape, Softmax, Transpose, UnaryOp,
};
use neoc_ir::{DType, Graph, Op, Tensor, TensorType, ValueDef, ValueId};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// xorshift64* — small, seedable, good enough to pick shapes and weights.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize].clone()
    }
}

/// Builds one random graph through the public builder API.
struct Gen {
    rng: Rng,
    g: Graph,
    count: usize,
    inputs: Vec<Tensor>,
    extra_outputs: Vec<ValueId>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng::new(seed),
            g: Graph::new(format!("seed{seed}")),
            count: 0,
            inputs: Vec::new(),
            extra_outputs: Vec::new(),
        }
    }

    fn dims(&self, v: ValueId) -> Vec<u64> {
        self.g.value(v).ty.shape.as_fixed().unwrap()
    }

    fn try_node(&mut self, op: Op, ins: &[ValueId]) -> Option<ValueId> {
        self.count += 1;
        let name = format!("n{}_{}", self.count, op.name());
        let ins = ins.iter().map(|&v| Some(v)).collect();
        self.g.add_node(name, op, ins, vec![]).ok().map(|o| o[0])
    }

    fn node(&mut self, op: Op, ins: &[ValueId]) -> ValueId {
        let desc = format!("{op}");
        let shapes: Vec<String> = ins
            .iter()
            .map(|&v| self.g.value(v).ty.to_string())
            .collect();
        self.try_node(op, ins)
            .unwrap_or_else(|| panic!("generator built an invalid node {desc} on {shapes:?}"))
    }

    fn input(&mut self, dims: &[u64]) -> ValueId {
        let n: u64 = dims.iter().product();
        let data: Vec<f32> = (0..n).map(|_| self.rng.uniform(-2.0, 2.0)).collect();
        self.inputs.push(Tensor::from_f32(dims.to_vec(), &data));
        let name = format!("x{}", self.inputs.len() - 1);
        self.g.add_input(name, TensorType::new(DType::F32, dims))
    }

    fn konst(&mut self, dims: &[u64], lo: f32, hi: f32) -> ValueId {
        let n: u64 = dims.iter().product();
        let data: Vec<f32> = (0..n).map(|_| self.rng.uniform(lo, hi)).collect();
        self.count += 1;
        self.g.add_const(
            format!("c{}", self.count),
            Tensor::from_f32(dims.to_vec(), &data),
        )
    }

    fn scalar(&mut self, lo: f32, hi: f32) -> ValueId {
        let dims: &[u64] = if self.rng.chance(0.5) { &[] } else { &[1] };
        self.konst(dims, lo, hi)
    }

    fn activation(&mut self) -> UnaryOp {
        let all = [
            UnaryOp::Relu,
            UnaryOp::Clip { min: 0.0, max: 6.0 },
            UnaryOp::Sigmoid,
            UnaryOp::HardSwish,
            UnaryOp::LeakyRelu { alpha: 0.1 },
            UnaryOp::Tanh,
        ];
        self.rng.pick(&all)
    }

    fn maybe_act(&mut self, v: ValueId, p: f64) -> ValueId {
        if self.rng.chance(p) {
            let a = self.activation();
            self.node(Op::Unary(a), &[v])
        } else {
            v
        }
    }

    /// Occasionally makes an intermediate value a graph output too (passes must then
    /// keep it).
    fn maybe_output(&mut self, v: ValueId) {
        if self.rng.chance(0.08) {
            self.extra_outputs.push(v);
        }
    }

    /// `v * s` or `v + s` by a scalar constant (candidates for folding into a
    /// following Conv/Gemm).
    fn maybe_prescale(&mut self, v: ValueId) -> ValueId {
        if !self.rng.chance(0.25) {
            return v;
        }
        let s = self.scalar(0.5, 1.5);
        let op = self.rng.pick(&[BinaryOp::Mul, BinaryOp::Add]);
        self.node(Op::Binary(op), &[v, s])
    }

    // ---- rank-4 (NCHW) blocks ----

    /// A random conv whose output channel count is `out_c` (or random when `None`),
    /// stride 1 and "same" pads when `keep_shape`.
    fn conv(&mut self, x: ValueId, out_c: Option<u64>, keep_shape: bool) -> ValueId {
        let d = self.dims(x);
        let cin = d[1];
        let divisors: Vec<u64> = (1..=cin).filter(|g| cin.is_multiple_of(*g)).collect();
        let group = if self.rng.chance(0.6) {
            1
        } else {
            self.rng.pick(&divisors)
        };
        let m = match out_c {
            Some(m) if m % group == 0 => m,
            Some(m) => return self.conv_simple(x, m),
            None => group * self.rng.range(1, if group == 1 { 7 } else { 2 }),
        };
        let mut kernel = vec![];
        let mut strides = vec![];
        let mut dilations = vec![];
        let mut pads = vec![0; 4];
        for i in 0..2 {
            let size = d[2 + i];
            let k = if keep_shape {
                self.rng.pick(&[1, 3])
            } else {
                self.rng.range(1, 3.min(size))
            };
            let dil = if !keep_shape && k > 1 && size >= 5 && self.rng.chance(0.2) {
                2
            } else {
                1
            };
            let span = dil * (k - 1) + 1;
            if keep_shape {
                pads[i] = (span - 1) / 2;
                pads[2 + i] = span - 1 - pads[i];
            } else {
                pads[i] = self.rng.range(0, span - 1);
                pads[2 + i] = self.rng.range(0, span - 1);
            }
            kernel.push(k);
            dilations.push(dil);
            strides.push(if !keep_shape && size >= 5 && self.rng.chance(0.3) {
                2
            } else {
                1
            });
        }
        let fan_in = (cin / group * kernel[0] * kernel[1]) as f32;
        let s = 1.0 / fan_in.sqrt();
        let w = self.konst(&[m, cin / group, kernel[0], kernel[1]], -s, s);
        let mut ins = vec![x, w];
        if self.rng.chance(0.6) {
            ins.push(self.konst(&[m], -0.5, 0.5));
        }
        let op = Op::Conv(Conv {
            kernel,
            strides,
            pads,
            dilations,
            group,
        });
        match self.try_node(op, &ins) {
            Some(v) => v,
            None => self.conv_simple(x, m),
        }
    }

    fn conv_simple(&mut self, x: ValueId, m: u64) -> ValueId {
        let cin = self.dims(x)[1];
        let w = self.konst(&[m, cin, 1, 1], -1.0, 1.0);
        let op = Op::Conv(Conv {
            kernel: vec![1, 1],
            strides: vec![1, 1],
            pads: vec![0; 4],
            dilations: vec![1, 1],
            group: 1,
        });
        self.node(op, &[x, w])
    }

    fn batch_norm(&mut self, x: ValueId) -> ValueId {
        let c = self.dims(x)[1];
        let scale = self.konst(&[c], 0.5, 1.5);
        let bias = self.konst(&[c], -0.5, 0.5);
        let mean = self.konst(&[c], -0.5, 0.5);
        let var = self.konst(&[c], 0.2, 2.0);
        let op = Op::BatchNorm(neoc_ir::ops::BatchNorm { epsilon: 1e-5 });
        self.node(op, &[x, scale, bias, mean, var])
    }

    /// Conv (+bias) → BatchNorm? → activation?
    fn conv_block(&mut self, x: ValueId) -> ValueId {
        let x = self.maybe_prescale(x);
        let y = self.conv(x, None, false);
        self.maybe_output(y);
        let z = if self.rng.chance(0.5) {
            self.batch_norm(y)
        } else {
            y
        };
        let z = self.maybe_act(z, 0.7);
        if z != y && self.rng.chance(0.1) {
            // The conv output has a second reader: folds and fusions must keep it.
            self.node(Op::Binary(BinaryOp::Add), &[z, y])
        } else {
            z
        }
    }

    /// Squeeze-and-excitation: `x * sigmoid(conv(relu(conv(globalpool(x)))))`, a
    /// broadcast multiply whose operands have different shapes.
    fn se_block(&mut self, x: ValueId) -> ValueId {
        let c = self.dims(x)[1];
        let kind = PoolKind::Avg {
            count_include_pad: false,
        };
        let s = self.node(Op::GlobalPool(GlobalPool { kind }), &[x]);
        let mid = self.rng.range(1, 3);
        let s = self.conv_simple(s, mid);
        let s = self.node(Op::Unary(UnaryOp::Relu), &[s]);
        let s = self.conv_simple(s, c);
        let s = self.node(Op::Unary(UnaryOp::Sigmoid), &[s]);
        if self.rng.chance(0.5) {
            self.node(Op::Binary(BinaryOp::Mul), &[x, s])
        } else {
            self.node(Op::Binary(BinaryOp::Mul), &[s, x])
        }
    }

    /// `x + f(x)` with a shape-preserving branch.
    fn residual_block(&mut self, x: ValueId) -> ValueId {
        let c = self.dims(x)[1];
        let mut y = self.conv(x, Some(c), true);
        if self.rng.chance(0.5) {
            y = self.batch_norm(y);
        }
        y = self.maybe_act(y, 0.5);
        let sum = if self.rng.chance(0.5) {
            self.node(Op::Binary(BinaryOp::Add), &[x, y])
        } else {
            self.node(Op::Binary(BinaryOp::Add), &[y, x])
        };
        self.maybe_act(sum, 0.5)
    }

    fn pool_block(&mut self, x: ValueId) -> ValueId {
        let d = self.dims(x);
        if self.rng.chance(0.2) {
            let kind = if self.rng.chance(0.5) {
                PoolKind::Max
            } else {
                PoolKind::Avg {
                    count_include_pad: false,
                }
            };
            return self.node(Op::GlobalPool(GlobalPool { kind }), &[x]);
        }
        let kind = if self.rng.chance(0.5) {
            PoolKind::Max
        } else {
            PoolKind::Avg {
                count_include_pad: self.rng.chance(0.5),
            }
        };
        let mut kernel = vec![];
        let mut pads = vec![0; 4];
        let mut strides = vec![];
        for i in 0..2 {
            let k = self.rng.range(1, 3.min(d[2 + i]));
            pads[i] = self.rng.range(0, k - 1);
            pads[2 + i] = self.rng.range(0, k - 1);
            kernel.push(k);
            strides.push(self.rng.range(1, 2));
        }
        let op = Op::Pool(Pool {
            kind,
            kernel,
            strides,
            pads,
            dilations: vec![1, 1],
            ceil_mode: self.rng.chance(0.3),
        });
        match self.try_node(op, &[x]) {
            Some(v) => v,
            None => x,
        }
    }

    /// A broadcastable constant for `dims`: scalar, per-channel, trailing or full.
    fn broadcast_const(&mut self, dims: &[u64], lo: f32, hi: f32) -> ValueId {
        let r = dims.len();
        let shape: Vec<u64> = match self.rng.range(0, 3) {
            0 => vec![],
            1 if r == 4 => vec![dims[1], 1, 1],
            1 => vec![dims[r - 1]],
            2 => vec![1; r],
            _ => dims[1..].to_vec(),
        };
        self.konst(&shape, lo, hi)
    }

    /// A chain of unary functions and binary ops with broadcast constants.
    fn elementwise_chain(&mut self, mut x: ValueId) -> ValueId {
        let d = self.dims(x);
        for _ in 0..self.rng.range(1, 4) {
            x = match self.rng.range(0, 6) {
                0 | 1 => {
                    let a = self.activation();
                    self.node(Op::Unary(a), &[x])
                }
                2 => {
                    let u = self.rng.pick(&[UnaryOp::Abs, UnaryOp::Neg, UnaryOp::Exp]);
                    if u == UnaryOp::Exp {
                        // Keep magnitudes bounded.
                        let t = self.node(Op::Unary(UnaryOp::Tanh), &[x]);
                        self.node(Op::Unary(u), &[t])
                    } else {
                        self.node(Op::Unary(u), &[x])
                    }
                }
                3 => {
                    let c = self.broadcast_const(&d, 0.5, 2.0);
                    self.node(Op::Binary(BinaryOp::Div), &[x, c])
                }
                _ => {
                    let op = self.rng.pick(&[
                        BinaryOp::Add,
                        BinaryOp::Sub,
                        BinaryOp::Mul,
                        BinaryOp::Max,
                        BinaryOp::Min,
                    ]);
                    let c = self.broadcast_const(&d, -1.5, 1.5);
                    if self.rng.chance(0.5) {
                        self.node(Op::Binary(op), &[x, c])
                    } else {
                        self.node(Op::Binary(op), &[c, x])
                    }
                }
            };
        }
        x
    }

    fn scalar_of(&mut self, v: f32) -> ValueId {
        self.count += 1;
        self.g
            .add_const(format!("k{}", self.count), Tensor::from_f32(vec![], &[v]))
    }

    /// `x op k` or `k op x` for a scalar constant `k`.
    fn with_scalar(&mut self, op: BinaryOp, x: ValueId, k: f32, k_first: bool) -> ValueId {
        let c = self.scalar_of(k);
        let ins = if k_first { [c, x] } else { [x, c] };
        self.node(Op::Binary(op), &ins)
    }

    /// GELU as exporters spell it (erf form with Div or Mul by 1/sqrt(2), the 0.5 in
    /// different places; or the tanh approximation), and now and then a decoy with a
    /// perturbed constant that a GELU recogniser must leave alone.
    fn gelu(&mut self, x: ValueId) -> ValueId {
        let decoy = self.rng.chance(0.25);
        let half = if decoy && self.rng.chance(0.5) {
            0.55
        } else {
            0.5
        };
        let flip = self.rng.chance(0.5);
        let inner = if self.rng.chance(0.6) {
            let scaled = if self.rng.chance(0.5) {
                let r2 = if decoy { 1.5 } else { std::f32::consts::SQRT_2 };
                self.with_scalar(BinaryOp::Div, x, r2, false)
            } else {
                self.with_scalar(BinaryOp::Mul, x, std::f32::consts::FRAC_1_SQRT_2, flip)
            };
            self.node(Op::Unary(UnaryOp::Erf), &[scaled])
        } else {
            // tanh(sqrt(2/pi) * (x + 0.044715 x^3))
            let cube = if self.rng.chance(0.5) {
                let three = self.scalar_of(3.0);
                self.node(Op::Binary(BinaryOp::Pow), &[x, three])
            } else {
                let sq = self.node(Op::Binary(BinaryOp::Mul), &[x, x]);
                self.node(Op::Binary(BinaryOp::Mul), &[sq, x])
            };
            let c = self.with_scalar(BinaryOp::Mul, cube, 0.044715, flip);
            let sum = self.node(Op::Binary(BinaryOp::Add), &[x, c]);
            let s = self.with_scalar(BinaryOp::Mul, sum, 0.797_884_6, !flip);
            self.node(Op::Unary(UnaryOp::Tanh), &[s])
        };
        let one_plus = self.with_scalar(BinaryOp::Add, inner, 1.0, flip);
        if self.rng.chance(0.5) {
            let xh = self.with_scalar(BinaryOp::Mul, x, half, !flip);
            self.node(Op::Binary(BinaryOp::Mul), &[xh, one_plus])
        } else {
            let p = self.node(Op::Binary(BinaryOp::Mul), &[x, one_plus]);
            self.with_scalar(BinaryOp::Mul, p, half, flip)
        }
    }

    /// An explicit Pad feeding a Conv or a pooling window (what `fold-pad` folds), with
    /// values and modes it must refuse: non-zero constants, `-inf` before an average,
    /// reflect/edge modes.
    fn pad_block(&mut self, x: ValueId) -> ValueId {
        let x = match self.rng.range(0, 3) {
            0 => self.node(Op::Unary(UnaryOp::Relu), &[x]),
            1 => self.node(Op::Unary(UnaryOp::Clip { min: 0.0, max: 6.0 }), &[x]),
            _ => x,
        };
        let d = self.dims(x);
        let reader = self.rng.range(0, 2); // conv, max pool, average pool
        let mode = match self.rng.range(0, 5) {
            0 => PadMode::Reflect,
            1 => PadMode::Edge,
            _ => PadMode::Constant,
        };
        let value = match self.rng.range(0, 4) {
            0 if reader == 1 => f32::NEG_INFINITY,
            1 => 0.5,
            _ => 0.0,
        };
        let mut pads = vec![0i64; 8];
        for i in 0..2 {
            // Reflect needs pads below the dim.
            let most = (d[2 + i] - 1).min(2);
            pads[2 + i] = self.rng.range(0, most) as i64;
            pads[6 + i] = self.rng.range(0, most) as i64;
        }
        let p = self.node(Op::Pad(Pad { pads, mode, value }), &[x]);
        self.maybe_output_rarely(p);
        match reader {
            0 => self.conv(p, None, false),
            _ => {
                let kind = if reader == 1 {
                    PoolKind::Max
                } else {
                    PoolKind::Avg {
                        count_include_pad: self.rng.chance(0.5),
                    }
                };
                let pd = self.dims(p);
                let k = [
                    self.rng.range(1, 3.min(pd[2])),
                    self.rng.range(1, 3.min(pd[3])),
                ];
                let own = if self.rng.chance(0.5) {
                    vec![0; 4]
                } else {
                    vec![
                        self.rng.range(0, k[0] - 1),
                        self.rng.range(0, k[1] - 1),
                        self.rng.range(0, k[0] - 1),
                        self.rng.range(0, k[1] - 1),
                    ]
                };
                let op = Op::Pool(Pool {
                    kind,
                    kernel: k.to_vec(),
                    strides: vec![self.rng.range(1, 2), self.rng.range(1, 2)],
                    pads: own,
                    dilations: vec![1, 1],
                    ceil_mode: self.rng.chance(0.2),
                });
                self.try_node(op, &[p]).unwrap_or(p)
            }
        }
    }

    fn maybe_output_rarely(&mut self, v: ValueId) {
        if self.rng.chance(0.05) {
            self.extra_outputs.push(v);
        }
    }

    fn reduce(&mut self, kind: ReduceKind, x: ValueId, axis: usize) -> ValueId {
        let op = Op::Reduce(Reduce {
            kind,
            axes: vec![axis],
            keepdims: true,
        });
        self.node(op, &[x])
    }

    /// Softmax written as primitives along axis 1 or the last axis (what `fuse-softmax`
    /// recognises), sometimes without the max subtraction, sometimes a decoy whose sum
    /// runs over another axis.
    fn softmax_prims(&mut self, x: ValueId) -> ValueId {
        let r = self.dims(x).len();
        let axis = if self.rng.chance(0.5) { 1 } else { r - 1 };
        let e = if self.rng.chance(0.7) {
            let m = self.reduce(ReduceKind::Max, x, axis);
            let z = self.node(Op::Binary(BinaryOp::Sub), &[x, m]);
            self.node(Op::Unary(UnaryOp::Exp), &[z])
        } else {
            let t = self.node(Op::Unary(UnaryOp::Tanh), &[x]);
            self.node(Op::Unary(UnaryOp::Exp), &[t])
        };
        let sum_axis = if r > 2 && self.rng.chance(0.15) {
            (axis + 1) % r
        } else {
            axis
        };
        let s = self.reduce(ReduceKind::Sum, e, sum_axis);
        self.node(Op::Binary(BinaryOp::Div), &[e, s])
    }

    /// LayerNorm over the last axis written as primitives (what `fuse-layernorm`
    /// recognises), with `Pow(d, 2)` or `d * d`, optional scale and bias.
    fn layernorm_prims(&mut self, x: ValueId) -> ValueId {
        let d = self.dims(x);
        let a = d.len() - 1;
        let mean = self.reduce(ReduceKind::Mean, x, a);
        let dev = self.node(Op::Binary(BinaryOp::Sub), &[x, mean]);
        let sq = if self.rng.chance(0.5) {
            let two = self.scalar_of(2.0);
            self.node(Op::Binary(BinaryOp::Pow), &[dev, two])
        } else {
            self.node(Op::Binary(BinaryOp::Mul), &[dev, dev])
        };
        let var = self.reduce(ReduceKind::Mean, sq, a);
        // A row of nearly equal values (after a saturated tanh, say) has a tiny variance,
        // and dividing by it amplifies the last-bit differences that fusion may
        // legitimately introduce; a large epsilon keeps the graph well conditioned.
        let eps = self.rng.pick(&[1e-2, 5e-2]);
        let eps = self.scalar_of(eps);
        let ve = self.node(Op::Binary(BinaryOp::Add), &[var, eps]);
        let den = self.node(Op::Unary(UnaryOp::Sqrt), &[ve]);
        let mut y = self.node(Op::Binary(BinaryOp::Div), &[dev, den]);
        if self.rng.chance(0.7) {
            let s = self.konst(&[d[a]], 0.5, 1.5);
            y = self.node(Op::Binary(BinaryOp::Mul), &[y, s]);
        }
        if self.rng.chance(0.7) {
            let b = self.konst(&[d[a]], -0.5, 0.5);
            y = self.node(Op::Binary(BinaryOp::Add), &[y, b]);
        }
        y
    }

    /// Transpose and (usually) its inverse; or Reshape and back.
    fn movement_pair(&mut self, x: ValueId) -> ValueId {
        let d = self.dims(x);
        let r = d.len();
        if self.rng.chance(0.5) {
            let mut perm: Vec<usize> = (0..r).collect();
            for i in (1..r).rev() {
                let j = self.rng.range(0, i as u64) as usize;
                perm.swap(i, j);
            }
            let t = self.node(Op::Transpose(Transpose { perm: perm.clone() }), &[x]);
            let t = if self.rng.chance(0.3) {
                self.maybe_act(t, 1.0)
            } else {
                t
            };
            let mut inv = vec![0; r];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i;
            }
            self.node(Op::Transpose(Transpose { perm: inv }), &[t])
        } else {
            let n: u64 = d.iter().product();
            let shape = if self.rng.chance(0.5) {
                vec![n]
            } else {
                vec![d[0], n / d[0]]
            };
            let t = self.node(Op::Reshape(Reshape { shape }), &[x]);
            let t = if self.rng.chance(0.3) {
                self.maybe_act(t, 1.0)
            } else {
                t
            };
            self.node(Op::Reshape(Reshape { shape: d }), &[t])
        }
    }

    /// The same subexpression twice (a CSE candidate), combined.
    fn duplicate(&mut self, x: ValueId) -> ValueId {
        let d = self.dims(x);
        let (a, b) = match self.rng.range(0, 2) {
            0 => {
                let u = self.activation();
                (self.node(Op::Unary(u), &[x]), self.node(Op::Unary(u), &[x]))
            }
            1 => {
                let c = self.broadcast_const(&d, -1.0, 1.0);
                (
                    self.node(Op::Binary(BinaryOp::Mul), &[x, c]),
                    self.node(Op::Binary(BinaryOp::Mul), &[x, c]),
                )
            }
            _ if d.len() == 4 => {
                let w = self.konst(&[d[1], d[1], 1, 1], -0.5, 0.5);
                let op = Op::Conv(Conv {
                    kernel: vec![1, 1],
                    strides: vec![1, 1],
                    pads: vec![0; 4],
                    dilations: vec![1, 1],
                    group: 1,
                });
                (self.node(op.clone(), &[x, w]), self.node(op, &[x, w]))
            }
            _ => {
                let w = self.konst(&[d[1], d[1]], -0.5, 0.5);
                (
                    self.node(Op::MatMul, &[x, w]),
                    self.node(Op::MatMul, &[x, w]),
                )
            }
        };
        let op = self
            .rng
            .pick(&[BinaryOp::Add, BinaryOp::Mul, BinaryOp::Sub]);
        self.node(Op::Binary(op), &[a, b])
    }

    fn concat_block(&mut self, x: ValueId) -> ValueId {
        let y = self.elementwise_chain(x);
        let ins = if self.rng.chance(0.5) { [x, y] } else { [y, x] };
        self.node(Op::Concat(Concat { axis: 1 }), &ins)
    }

    /// MatMul over the last dim of a rank-4 tensor (batched, broadcast weight).
    fn matmul4(&mut self, x: ValueId) -> ValueId {
        let d = self.dims(x);
        let n = self.rng.range(2, 6);
        let s = 1.0 / (d[3] as f32).sqrt();
        let w = self.konst(&[d[3], n], -s, s);
        let y = self.node(Op::MatMul, &[x, w]);
        self.maybe_act(y, 0.5)
    }

    fn flatten(&mut self, x: ValueId) -> ValueId {
        let d = self.dims(x);
        let x = if d[1] * d[2] * d[3] > 96 || self.rng.chance(0.3) {
            let kind = PoolKind::Avg {
                count_include_pad: false,
            };
            self.node(Op::GlobalPool(GlobalPool { kind }), &[x])
        } else {
            x
        };
        let d = self.dims(x);
        self.node(
            Op::Reshape(Reshape {
                shape: vec![d[0], d[1] * d[2] * d[3]],
            }),
            &[x],
        )
    }

    // ---- rank-2 ([N, F]) blocks ----

    /// Gemm (or MatMul) with constant weights → bias → activation.
    fn dense_block(&mut self, x: ValueId, out_f: Option<u64>) -> ValueId {
        let x = self.maybe_prescale(x);
        let d = self.dims(x);
        let (m, k) = (d[0], d[1]);
        let n = out_f.unwrap_or_else(|| self.rng.range(1, 9));
        let s = 1.0 / (k as f32).sqrt();
        let y = if self.rng.chance(0.65) {
            let trans_b = self.rng.chance(0.5);
            let w = if trans_b {
                self.konst(&[n, k], -s, s)
            } else {
                self.konst(&[k, n], -s, s)
            };
            let (alpha, beta) = if self.rng.chance(0.25) {
                (self.rng.uniform(0.5, 1.5), self.rng.uniform(0.5, 1.5))
            } else {
                (1.0, 1.0)
            };
            let gemm = Op::Gemm(Gemm {
                alpha,
                beta,
                trans_a: false,
                trans_b,
            });
            match self.rng.range(0, 2) {
                0 => {
                    let cshape = self.rng.pick(&[vec![n], vec![1, n], vec![m, n], vec![]]);
                    let c = self.konst(&cshape, -0.5, 0.5);
                    self.node(gemm, &[x, w, c])
                }
                1 => {
                    let y = self.node(gemm, &[x, w]);
                    let b = self.konst(&[n], -0.5, 0.5);
                    self.node(Op::Binary(BinaryOp::Add), &[y, b])
                }
                _ => self.node(gemm, &[x, w]),
            }
        } else {
            let w = self.konst(&[k, n], -s, s);
            let y = self.node(Op::MatMul, &[x, w]);
            if self.rng.chance(0.7) {
                let b = self.konst(&[n], -0.5, 0.5);
                self.node(Op::Binary(BinaryOp::Add), &[y, b])
            } else {
                y
            }
        };
        self.maybe_output(y);
        self.maybe_act(y, 0.7)
    }

    fn dense_residual(&mut self, x: ValueId) -> ValueId {
        let f = self.dims(x)[1];
        let y = self.dense_block(x, Some(f));
        self.node(Op::Binary(BinaryOp::Add), &[x, y])
    }

    fn softmax(&mut self, x: ValueId) -> ValueId {
        let log = self.rng.chance(0.3);
        self.node(Op::Softmax(Softmax { axis: 1, log }), &[x])
    }

    /// A whole graph: one or two inputs, 2–7 blocks, one or more outputs.
    fn build(mut self) -> (Graph, Vec<Tensor>) {
        let mut x = if self.rng.chance(0.7) {
            let dims = [
                self.rng.range(1, 2),
                self.rng.range(1, 5),
                self.rng.range(3, 8),
                self.rng.range(3, 8),
            ];
            self.input(&dims)
        } else {
            let dims = [self.rng.range(1, 3), self.rng.range(2, 12)];
            self.input(&dims)
        };
        if self.rng.chance(0.15) {
            let d = self.dims(x);
            let y = self.input(&d);
            x = self.node(Op::Binary(BinaryOp::Add), &[x, y]);
        }
        for _ in 0..self.rng.range(2, 7) {
            let rank4 = self.dims(x).len() == 4;
            x = if rank4 {
                match self.rng.range(0, 16) {
                    0..=2 => self.conv_block(x),
                    11 => self.se_block(x),
                    12 => self.gelu(x),
                    13 => self.pad_block(x),
                    14 => self.softmax_prims(x),
                    15 => self.layernorm_prims(x),
                    3 => self.residual_block(x),
                    4 => self.pool_block(x),
                    5 => self.elementwise_chain(x),
                    6 => self.movement_pair(x),
                    7 => self.duplicate(x),
                    8 => self.concat_block(x),
                    9 => self.matmul4(x),
                    10 => self.node(Op::Identity, &[x]),
                    _ => self.flatten(x),
                }
            } else {
                match self.rng.range(0, 11) {
                    0..=2 => self.dense_block(x, None),
                    3 => self.dense_residual(x),
                    4 => self.elementwise_chain(x),
                    5 => self.movement_pair(x),
                    6 => self.duplicate(x),
                    7 => self.softmax(x),
                    8 => self.gelu(x),
                    9 => self.softmax_prims(x),
                    10 => self.layernorm_prims(x),
                    _ => self.node(Op::Identity, &[x]),
                }
            };
        }
        let mut outs = vec![x];
        for v in std::mem::take(&mut self.extra_outputs) {
            if !outs.contains(&v) {
                outs.push(v);
            }
        }
        self.g.set_outputs(outs);
        (self.g, self.inputs)
    }
}

/// Checks the graph invariants a pass must keep: acyclic, every read value defined
/// before it is read (by a live node, an input or a constant), every node's recorded
/// output types equal to those re-inferred from its inputs, outputs defined.
fn check_well_formed(g: &Graph) -> Result<(), String> {
    let order = g.topo_order();
    if order.len() != g.node_count() {
        return Err(format!(
            "topo order has {} of {} nodes (cycle)",
            order.len(),
            g.node_count()
        ));
    }
    let mut defined: HashSet<ValueId> = g
        .values()
        .filter(|(_, v)| matches!(v.def, ValueDef::Input(_) | ValueDef::Const(_)))
        .map(|(id, _)| id)
        .collect();
    for n in order {
        let node = g.node(n);
        let here = format!("node `{}` ({})", node.name, node.op);
        for v in node.inputs.iter().flatten() {
            if !defined.contains(v) {
                return Err(format!("{here} reads {v} before it is defined"));
            }
        }
        let tys: Vec<Option<&TensorType>> = node
            .inputs
            .iter()
            .map(|v| v.map(|v| &g.value(v).ty))
            .collect();
        let inferred = node
            .op
            .infer(&tys)
            .map_err(|e| format!("{here}: inputs no longer type-check: {e:?}"))?;
        let recorded: Vec<TensorType> = node
            .outputs
            .iter()
            .map(|v| g.value(*v).ty.clone())
            .collect();
        if inferred != recorded {
            return Err(format!(
                "{here}: recorded output types {recorded:?}, inferred {inferred:?}"
            ));
        }
        for (i, v) in node.outputs.iter().enumerate() {
            if g.value(*v).def != ValueDef::Node(n, i) {
                return Err(format!("{here}: output {v} is not defined by it"));
            }
            defined.insert(*v);
        }
    }
    for v in g.outputs() {
        if !defined.contains(v) {
            return Err(format!("graph output {v} is not defined"));
        }
    }
    Ok(())
}

/// Largest errors seen over a whole test run.
#[derive(Default)]
struct Stats {
    max_abs: f64,
    max_rel: f64,
    compared: usize,
}

/// Optimizes a clone of `g` at `level` and compares it with `want`; `Err` describes
/// the failure.
fn check_level(
    g: &Graph,
    inputs: &[Tensor],
    want: &[Tensor],
    level: u8,
    tol: Tolerance,
    stats: &mut Stats,
    fired: &mut BTreeMap<String, usize>,
) -> Result<(), String> {
    let mut opt = g.clone();
    if std::env::var_os("NEOC_EQUIV_TRACE").is_some() {
        // Names every pass as it finishes, on a scratch copy, so a pass that loops or
        // panics is the one after the last name printed.
        let all: Vec<String> = neoc_passes::pass_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut scratch = g.clone();
        let mut sink = |name: &str, _: &Graph| eprintln!("-O{level}: {name} done");
        let off = disabled_passes();
        let _ = neoc_passes::optimize_with(&mut scratch, level, &off, &all, &mut sink);
    }
    let changed = neoc_passes::optimize(&mut opt, level, &disabled_passes())
        .map_err(|e| format!("-O{level}: optimize failed: {e}"))?;
    for p in changed {
        *fired.entry(format!("-O{level} {p}")).or_default() += 1;
    }
    let fail = |what: String| format!("-O{level}: {what}\noptimized graph:\n{opt}");
    check_well_formed(&opt).map_err(|e| fail(format!("ill-formed after optimize: {e}")))?;
    let got = interp::run(&opt, inputs).map_err(|e| fail(format!("interpreter: {e}")))?;
    if got.len() != want.len() {
        return Err(fail(format!("{} outputs, want {}", got.len(), want.len())));
    }
    for (i, (gt, wt)) in got.iter().zip(want).enumerate() {
        let c = compare(gt, wt, tol);
        stats.max_abs = stats.max_abs.max(c.max_abs);
        stats.max_rel = stats.max_rel.max(c.max_rel);
        stats.compared += gt.num_elements() as usize;
        if !c.ok() {
            return Err(fail(format!(
                "output {i} differs: {c:?} (max abs {:.3e}, max rel {:.3e})",
                c.max_abs, c.max_rel
            )));
        }
    }
    Ok(())
}

/// Passes named in `NEOC_EQUIV_DISABLE` (comma-separated), to isolate a failing pass.
fn disabled_passes() -> Vec<String> {
    std::env::var("NEOC_EQUIV_DISABLE")
        .map(|s| s.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// What checking one seed found.
#[derive(Default)]
struct SeedReport {
    stats: Stats,
    fired: BTreeMap<String, usize>,
    ops: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

/// Builds the graph of `seed`, runs it, and checks it at every opt level.
fn check_seed(seed: u64, tol: Tolerance) -> SeedReport {
    let mut r = SeedReport::default();
    let (g, inputs) = Gen::new(seed).build();
    if std::env::var_os("NEOC_EQUIV_TRACE").is_some() {
        eprintln!("seed {seed}:\n{g}");
    }
    for n in g.topo_order() {
        *r.ops.entry(g.node(n).op.name()).or_default() += 1;
    }
    if let Err(e) = check_well_formed(&g) {
        r.failures.push(format!(
            "seed {seed}: generated graph is ill-formed: {e}\n{g}"
        ));
        return r;
    }
    let want = match interp::run(&g, &inputs) {
        Ok(w) => w,
        Err(e) => {
            r.failures.push(format!(
                "seed {seed}: interpreter on the original: {e}\n{g}"
            ));
            return r;
        }
    };
    for level in 0..=3 {
        if let Err(e) = check_level(&g, &inputs, &want, level, tol, &mut r.stats, &mut r.fired) {
            r.failures
                .push(format!("seed {seed} {e}\noriginal graph:\n{g}"));
        }
    }
    r
}

/// Runs `f` on its own thread and waits at most `limit`, so that a rewrite (or a
/// reference function) that loops forever becomes a failure instead of a hung test.
fn with_timeout<T: Send + 'static>(
    limit: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).map_err(|e| match e {
        std::sync::mpsc::RecvTimeoutError::Timeout => {
            format!("no result within {limit:?}: a pass or the interpreter does not terminate")
        }
        std::sync::mpsc::RecvTimeoutError::Disconnected => "panicked".to_string(),
    })
}

/// Longest one stored model may take (import, five interpreter runs, four pipelines).
const MODEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Longest one seed may take; far above the few milliseconds a case needs, so only a
/// pass (or reference function) that does not terminate trips it.
const SEED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[test]
fn random_graphs_survive_every_opt_level() {
    let tol = Tolerance {
        atol: 1e-5,
        rtol: 1e-4,
    };
    let seeds: Vec<u64> = match env_u64("NEOC_EQUIV_SEED") {
        Some(s) => vec![s],
        None => (0..env_u64("NEOC_EQUIV_CASES").unwrap_or(200))
            .map(|i| 0x5EED_0000 + i)
            .collect(),
    };
    let mut total = SeedReport::default();
    for &seed in &seeds {
        let r = match with_timeout(SEED_TIMEOUT, move || check_seed(seed, tol)) {
            Ok(r) => r,
            Err(why) => {
                total.failures.push(format!(
                    "seed {seed}: {why}; rerun with NEOC_EQUIV_SEED={seed} NEOC_EQUIV_TRACE=1"
                ));
                // A stuck thread keeps a core busy; stop here.
                break;
            }
        };
        total.stats.max_abs = total.stats.max_abs.max(r.stats.max_abs);
        total.stats.max_rel = total.stats.max_rel.max(r.stats.max_rel);
        total.stats.compared += r.stats.compared;
        for (k, v) in r.fired {
            *total.fired.entry(k).or_default() += v;
        }
        for (k, v) in r.ops {
            *total.ops.entry(k).or_default() += v;
        }
        total.failures.extend(r.failures);
    }
    eprintln!(
        "{} graphs x 4 levels, {} elements compared: max abs error {:.3e}, max rel error {:.3e}",
        seeds.len(),
        total.stats.compared,
        total.stats.max_abs,
        total.stats.max_rel
    );
    eprintln!("ops generated: {:?}", total.ops);
    eprintln!("passes that changed graphs: {:?}", total.fired);
    if !total.failures.is_empty() {
        for f in total.failures.iter().take(3) {
            eprintln!("---- FAILURE ----\n{f}");
        }
        panic!(
            "{} (graph, level) cases failed; rerun one with NEOC_EQUIV_SEED=<seed>",
            total.failures.len()
        );
    }
}

#[test]
fn generator_is_deterministic() {
    let (a, ia) = Gen::new(7).build();
    let (b, ib) = Gen::new(7).build();
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(ia, ib);
}

/// The harness itself: a slightly wrong graph and a dangling read are both caught.
#[test]
fn harness_catches_wrong_and_broken_graphs() {
    let (g, inputs) = Gen::new(11).build();
    let want = interp::run(&g, &inputs).unwrap();
    let mut wrong = g.clone();
    let out = wrong.outputs()[0];
    let k = wrong.add_const("k", Tensor::from_f32(vec![], &[1.001]));
    let scaled = wrong
        .add_node(
            "scale",
            Op::Binary(BinaryOp::Mul),
            vec![Some(out), Some(k)],
            vec![],
        )
        .unwrap();
    let mut outs = wrong.outputs().to_vec();
    outs[0] = scaled[0];
    wrong.set_outputs(outs);
    let got = interp::run(&wrong, &inputs).unwrap();
    let nonzero = want[0].to_f64_vec().iter().any(|v| v.abs() > 0.1);
    assert!(!nonzero || !compare(&got[0], &want[0], Tolerance::F32).ok());

    let mut broken = g.clone();
    let first = broken.topo_order()[0];
    broken.remove_node(first);
    assert!(check_well_formed(&broken).is_err() || broken.node_count() == 0);
    assert!(interp::run(&broken, &inputs).is_err());
}

// ---- the oracle against onnxruntime ----

fn read_npy(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let descr = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => panic!("{}: unsupported npy dtype {other:?}", path.display()),
    };
    match descr.as_str() {
        "<f4" => Tensor::from_f32(shape, &npy.into_vec::<f32>().unwrap()),
        "<i8" => Tensor::from_i64(shape, &npy.into_vec::<i64>().unwrap()),
        "<f8" => Tensor::from_f64_as(DType::F64, shape, &npy.into_vec::<f64>().unwrap()),
        d => panic!("{}: unsupported npy dtype {d}", path.display()),
    }
}

const ORACLE_MODELS: &[&str] = &[
    "mlp",
    "lenet",
    "ops_conv",
    "ops_pool",
    "ops_elementwise",
    "ops_linear",
    "ops_shape",
    "ops_bn",
    "ops_opset7",
    "ops_opset11",
    "ops_opset21",
];

/// Checks one stored model: the interpreter on the imported graph, and on the graph
/// optimized at each level, against the onnxruntime outputs. Returns the failures.
fn check_model(name: &str, tol: Tolerance) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testmodels/models")
        .join(name);
    let model = dir.join("model.onnx");
    let info = neoc_onnx::read_model_info(&model).unwrap();
    let g = neoc_onnx::import_file(&model, &Default::default())
        .unwrap_or_else(|e| panic!("{name}: import: {e}"));
    let inputs: Vec<Tensor> = g
        .inputs()
        .iter()
        .map(|&v| read_npy(&dir.join("inputs").join(format!("{}.npy", g.value(v).name))))
        .collect();
    let want: Vec<Tensor> = info
        .outputs
        .iter()
        .map(|o| read_npy(&dir.join("expected").join(format!("{}.npy", o.name))))
        .collect();
    let mut failures = Vec::new();
    let mut stats = Stats::default();
    for level in [None, Some(0), Some(1), Some(2), Some(3)] {
        let what = level.map_or("imported".to_string(), |l| format!("-O{l}"));
        let mut opt = g.clone();
        if let Some(l) = level {
            if let Err(e) = neoc_passes::optimize(&mut opt, l, &disabled_passes()) {
                failures.push(format!("{name} {what}: optimize failed: {e}"));
                continue;
            }
            if let Err(e) = check_well_formed(&opt) {
                failures.push(format!("{name} {what}: {e}"));
                continue;
            }
        }
        let got = match interp::run(&opt, &inputs) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name} {what}: {e}"));
                continue;
            }
        };
        for ((o, gt), wt) in info.outputs.iter().zip(&got).zip(&want) {
            let c = compare(gt, wt, tol);
            stats.max_abs = stats.max_abs.max(c.max_abs);
            stats.max_rel = stats.max_rel.max(c.max_rel);
            if !c.ok() {
                failures.push(format!("{name}/{} ({what}): {c:?}", o.name));
            }
        }
    }
    eprintln!(
        "{name}: {} outputs, max abs error {:.3e}, max rel error {:.3e}",
        want.len(),
        stats.max_abs,
        stats.max_rel
    );
    failures
}

#[test]
fn interpreter_matches_onnxruntime() {
    let tol = Tolerance {
        atol: 1e-5,
        rtol: 1e-4,
    };
    let mut failures = Vec::new();
    for name in ORACLE_MODELS {
        match with_timeout(MODEL_TIMEOUT, move || check_model(name, tol)) {
            Ok(f) => failures.extend(f),
            Err(why) => {
                failures.push(format!("{name}: {why}"));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
