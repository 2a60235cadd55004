//! The seeded random graph generator: [`Rng`] and [`Gen`], its building helpers and
//! [`Gen::build`]; the blocks it chooses from are in `nchw` (rank-4 Conv, pooling and
//! Pad blocks) and `patterns` (elementwise, normalization, movement and dense blocks).

mod nchw;
mod patterns;

use neoc_ir::ops::{BinaryOp, UnaryOp};
use neoc_ir::{DType, Graph, Op, Tensor, TensorType, ValueId};

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
pub(crate) struct Gen {
    rng: Rng,
    g: Graph,
    count: usize,
    inputs: Vec<Tensor>,
    extra_outputs: Vec<ValueId>,
}

impl Gen {
    pub(crate) fn new(seed: u64) -> Gen {
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

    /// A whole graph: one or two inputs, 2–7 blocks, one or more outputs.
    pub(crate) fn build(mut self) -> (Graph, Vec<Tensor>) {
        let mut x = if self.rng.chance(0.7) {
            // Sometimes 16 or 32 channels, which the blocked layout of -O3 needs.
            let channels = if self.rng.chance(0.25) {
                self.rng.pick(&[16, 32])
            } else {
                self.rng.range(1, 5)
            };
            let dims = [
                self.rng.range(1, 2),
                channels,
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
