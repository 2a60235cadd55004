//! Blocks of any rank: elementwise chains with broadcast constants, GELU, Softmax and
//! LayerNorm spelled in primitives, movement pairs, duplicated subexpressions and
//! dense (Gemm/MatMul) blocks.

use super::Gen;
use neoc_ir::ops::{
    BinaryOp, Concat, Conv, Gemm, GlobalPool, PoolKind, Reduce, ReduceKind, Reshape, Softmax,
    Transpose, UnaryOp,
};
use neoc_ir::{Op, Tensor, ValueId};

impl Gen {
    /// A broadcastable constant for `dims`: scalar, per-channel, trailing or full.
    pub(super) fn broadcast_const(&mut self, dims: &[u64], lo: f32, hi: f32) -> ValueId {
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
    pub(super) fn elementwise_chain(&mut self, mut x: ValueId) -> ValueId {
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

    pub(super) fn scalar_of(&mut self, v: f32) -> ValueId {
        self.count += 1;
        self.g
            .add_const(format!("k{}", self.count), Tensor::from_f32(vec![], &[v]))
    }

    /// `x op k` or `k op x` for a scalar constant `k`.
    pub(super) fn with_scalar(
        &mut self,
        op: BinaryOp,
        x: ValueId,
        k: f32,
        k_first: bool,
    ) -> ValueId {
        let c = self.scalar_of(k);
        let ins = if k_first { [c, x] } else { [x, c] };
        self.node(Op::Binary(op), &ins)
    }

    /// GELU as exporters spell it (erf form with Div or Mul by 1/sqrt(2), the 0.5 in
    /// different places; or the tanh approximation), and now and then a decoy with a
    /// perturbed constant that a GELU recogniser must leave alone.
    pub(super) fn gelu(&mut self, x: ValueId) -> ValueId {
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

    pub(super) fn maybe_output_rarely(&mut self, v: ValueId) {
        if self.rng.chance(0.05) {
            self.extra_outputs.push(v);
        }
    }

    pub(super) fn reduce(&mut self, kind: ReduceKind, x: ValueId, axis: usize) -> ValueId {
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
    pub(super) fn softmax_prims(&mut self, x: ValueId) -> ValueId {
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
    pub(super) fn layernorm_prims(&mut self, x: ValueId) -> ValueId {
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
    pub(super) fn movement_pair(&mut self, x: ValueId) -> ValueId {
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
    pub(super) fn duplicate(&mut self, x: ValueId) -> ValueId {
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

    pub(super) fn concat_block(&mut self, x: ValueId) -> ValueId {
        let y = self.elementwise_chain(x);
        let ins = if self.rng.chance(0.5) { [x, y] } else { [y, x] };
        self.node(Op::Concat(Concat { axis: 1 }), &ins)
    }

    /// MatMul over the last dim of a rank-4 tensor (batched, broadcast weight).
    pub(super) fn matmul4(&mut self, x: ValueId) -> ValueId {
        let d = self.dims(x);
        let n = self.rng.range(2, 6);
        let s = 1.0 / (d[3] as f32).sqrt();
        let w = self.konst(&[d[3], n], -s, s);
        let y = self.node(Op::MatMul, &[x, w]);
        self.maybe_act(y, 0.5)
    }

    pub(super) fn flatten(&mut self, x: ValueId) -> ValueId {
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
    pub(super) fn dense_block(&mut self, x: ValueId, out_f: Option<u64>) -> ValueId {
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

    pub(super) fn dense_residual(&mut self, x: ValueId) -> ValueId {
        let f = self.dims(x)[1];
        let y = self.dense_block(x, Some(f));
        self.node(Op::Binary(BinaryOp::Add), &[x, y])
    }

    pub(super) fn softmax(&mut self, x: ValueId) -> ValueId {
        let log = self.rng.chance(0.3);
        self.node(Op::Softmax(Softmax { axis: 1, log }), &[x])
    }
}
