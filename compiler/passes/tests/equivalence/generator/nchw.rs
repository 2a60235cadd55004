//! Rank-4 (NCHW) blocks: Conv/BatchNorm/activation chains, squeeze-excite, residual,
//! pooling, explicit Pad, Concat, rank-4 MatMul and Flatten.

use super::Gen;
use neoc_ir::ops::{BinaryOp, Conv, GlobalPool, Pad, PadMode, Pool, PoolKind, UnaryOp};
use neoc_ir::{Op, ValueId};

impl Gen {
    /// A random conv whose output channel count is `out_c` (or random when `None`),
    /// stride 1 and "same" pads when `keep_shape`.
    pub(super) fn conv(&mut self, x: ValueId, out_c: Option<u64>, keep_shape: bool) -> ValueId {
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
            None if group == 1 && cin.is_multiple_of(16) && self.rng.chance(0.5) => {
                self.rng.pick(&[16, 32])
            }
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

    pub(super) fn conv_simple(&mut self, x: ValueId, m: u64) -> ValueId {
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

    pub(super) fn batch_norm(&mut self, x: ValueId) -> ValueId {
        let c = self.dims(x)[1];
        let scale = self.konst(&[c], 0.5, 1.5);
        let bias = self.konst(&[c], -0.5, 0.5);
        let mean = self.konst(&[c], -0.5, 0.5);
        let var = self.konst(&[c], 0.2, 2.0);
        let op = Op::BatchNorm(neoc_ir::ops::BatchNorm { epsilon: 1e-5 });
        self.node(op, &[x, scale, bias, mean, var])
    }

    /// Conv (+bias) → BatchNorm? → activation?
    pub(super) fn conv_block(&mut self, x: ValueId) -> ValueId {
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
    pub(super) fn se_block(&mut self, x: ValueId) -> ValueId {
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
    pub(super) fn residual_block(&mut self, x: ValueId) -> ValueId {
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

    pub(super) fn pool_block(&mut self, x: ValueId) -> ValueId {
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

    /// An explicit Pad feeding a Conv or a pooling window (what `fold-pad` folds), with
    /// values and modes it must refuse: non-zero constants, `-inf` before an average,
    /// reflect/edge modes.
    pub(super) fn pad_block(&mut self, x: ValueId) -> ValueId {
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
}
