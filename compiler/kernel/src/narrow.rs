//! Reduced-precision storage (`neoc compile --precision fp16|bf16`): a kernel's `f32`
//! buffers narrowed to 16 bits in memory while its arithmetic stays `f32`.
//!
//! Why a rewrite of finished kernels instead of half-typed graph values: every lowering
//! (tiled GEMM, Winograd, softmax, layer norm, …) keeps computing exactly as it does in
//! `f32` — accumulators, reductions and the internals of softmax/layer norm never see a
//! 16-bit value — and only the bytes that cross memory between kernels (weights,
//! activations) shrink. The planner (`neoc_driver::plan`) decides which buffers are
//! narrowed (never model inputs/outputs, never scratch, never a buffer some kernel reads
//! with another element type) and calls [`narrow_params`] on each kernel.
//!
//! - **Loads widen:** `buf[i]` becomes `f32(buf[i])` (`f16`: `fpext`; `bf16`: the `u16`
//!   bits shifted into the top half of an `f32`, exact). Vector loads widen lane-wise.
//! - **Stores narrow:** `buf[i] = x` becomes `buf[i] = narrow(x)`; `f16`: `fptrunc`
//!   (round to nearest even, overflow to ±inf as IEEE); `bf16` (with `x` first held in a
//!   variable, so that an epilogue is not evaluated twice): round to nearest even on the
//!   `f32` bits (`(b + 0x7fff + ((b >> 16) & 1)) >> 16`; a NaN whose payload lies only in the
//!   low 16 bits becomes ±inf, no kernel produces one).

use crate::expr::{BinaryOp, Expr};
use crate::kernel::{BufId, Kernel, ScalarType, Stmt, Var, VarId};
use std::collections::HashMap;

/// How float tensors are stored between kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    #[default]
    F32,
    /// IEEE half: 11-bit significand, range ±65504.
    F16,
    /// bfloat16: 8-bit significand, the range of `f32`.
    BF16,
}

impl Precision {
    /// `fp32`, `fp16`, `bf16` (the `--precision` values; `f32`/`f16`/`half` accepted).
    pub fn from_name(s: &str) -> Option<Precision> {
        Some(match s {
            "fp32" | "f32" | "float32" => Precision::F32,
            "fp16" | "f16" | "half" | "float16" => Precision::F16,
            "bf16" | "bfloat16" => Precision::BF16,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "fp32",
            Precision::F16 => "fp16",
            Precision::BF16 => "bf16",
        }
    }

    /// The kernel element type of a narrowed `f32` buffer.
    pub fn storage(self) -> ScalarType {
        match self {
            Precision::F32 => ScalarType::F32,
            Precision::F16 => ScalarType::F16,
            Precision::BF16 => ScalarType::U16,
        }
    }

    /// Converts `f32` little-endian bytes (a constant) to this precision's storage,
    /// rounding to nearest even. Half saturates finite values at ±65504 (a weight or a
    /// mask constant such as `f32::MIN` must stay finite: `0 · -inf` would be NaN).
    pub fn narrow_bytes(self, f32_bytes: &[u8]) -> Vec<u8> {
        let vals = f32_bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        match self {
            Precision::F32 => f32_bytes.to_vec(),
            Precision::F16 => vals
                .flat_map(|x| {
                    let x = if x.is_finite() {
                        x.clamp(-65504.0, 65504.0)
                    } else {
                        x
                    };
                    half::f16::from_f32(x).to_le_bytes()
                })
                .collect(),
            Precision::BF16 => vals
                .flat_map(|x| half::bf16::from_f32(x).to_le_bytes())
                .collect(),
        }
    }
}

/// Narrows the `f32` parameters `params` of `k` to `p`'s storage type, rewriting every
/// load of them to widen and every store to narrow. Parameters of another element type
/// are left alone (the caller does not pass them).
pub fn narrow_params(k: &mut Kernel, params: &[usize], p: Precision) {
    if p == Precision::F32 || params.is_empty() {
        return;
    }
    let set: Vec<BufId> = params
        .iter()
        .filter(|&&i| k.params.get(i).is_some_and(|q| q.elem == ScalarType::F32))
        .map(|&i| BufId(i as u32))
        .collect();
    if set.is_empty() {
        return;
    }
    let mut body = std::mem::take(&mut k.body);
    let mut rw = Rewriter {
        set: &set,
        p,
        temps: HashMap::new(),
        new_vars: Vec::new(),
        first_var: k.vars.len() as u32,
    };
    rw.block(&mut body, k);
    let new_vars = std::mem::take(&mut rw.new_vars);
    k.vars.extend(new_vars);
    k.body = body;
    for b in &set {
        k.params[b.0 as usize].elem = p.storage();
    }
}

struct Rewriter<'a> {
    set: &'a [BufId],
    p: Precision,
    /// One temporary per lane count for values about to be stored narrowed.
    temps: HashMap<u32, VarId>,
    new_vars: Vec<Var>,
    first_var: u32,
}

impl Rewriter<'_> {
    fn lanes(&self, e: &Expr, k: &Kernel) -> u32 {
        match e {
            Expr::Var(v) if v.0 >= self.first_var => {
                self.new_vars[(v.0 - self.first_var) as usize].lanes
            }
            _ => e.lanes(k),
        }
    }

    fn temp(&mut self, lanes: u32) -> VarId {
        let next = VarId(self.first_var + self.new_vars.len() as u32);
        *self.temps.entry(lanes).or_insert_with(|| {
            self.new_vars.push(Var {
                name: format!("narrow{lanes}"),
                ty: ScalarType::F32,
                lanes,
            });
            next
        })
    }

    /// Rewrites a block; a narrowed store becomes `t = value; buf[i] = narrow(t)`.
    fn block(&mut self, stmts: &mut Vec<Stmt>, k: &Kernel) {
        let mut out = Vec::with_capacity(stmts.len());
        for mut s in stmts.drain(..) {
            match &mut s {
                Stmt::For { lo, hi, body, .. } => {
                    self.expr(lo);
                    self.expr(hi);
                    self.block(body, k);
                }
                Stmt::Assign { value, .. } => self.expr(value),
                Stmt::Barrier => {}
                Stmt::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    self.expr(cond);
                    self.block(then, k);
                    self.block(otherwise, k);
                }
                Stmt::Store { buf, index, value } => {
                    self.expr(index);
                    self.expr(value);
                    if self.set.contains(buf) && self.p == Precision::F16 {
                        // One use of the value: no temporary.
                        let v = std::mem::replace(value, Expr::BConst(false));
                        *value = Expr::cast(ScalarType::F16, v);
                    } else if self.set.contains(buf) {
                        let lanes = self.lanes(value, k);
                        let t = self.temp(lanes);
                        let v = std::mem::replace(value, Expr::Var(t));
                        out.push(Stmt::Assign { var: t, value: v });
                        *value = narrow(self.p, Expr::Var(t), lanes);
                    }
                }
            }
            out.push(s);
        }
        *stmts = out;
    }

    fn expr(&mut self, e: &mut Expr) {
        match e {
            Expr::Load { buf, index } => {
                self.expr(index);
                if self.set.contains(buf) {
                    let load = std::mem::replace(e, Expr::BConst(false));
                    *e = widen(self.p, load, 1);
                }
            }
            Expr::VLoad { buf, index, lanes } => {
                self.expr(index);
                if self.set.contains(buf) {
                    let n = *lanes;
                    let load = std::mem::replace(e, Expr::BConst(false));
                    *e = widen(self.p, load, n);
                }
            }
            Expr::FConst(..)
            | Expr::IConst(..)
            | Expr::BConst(_)
            | Expr::Var(_)
            | Expr::ThreadIdx
            | Expr::BlockIdx
            | Expr::Mma { .. } => {}
            Expr::ShuffleXor { value: arg, .. }
            | Expr::Unary { arg, .. }
            | Expr::Splat { arg, .. }
            | Expr::LaneReduce { arg, .. }
            | Expr::Cast { arg, .. }
            | Expr::Bitcast { arg, .. } => self.expr(arg),
            Expr::Binary { lhs, rhs, .. } | Expr::Cmp { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond);
                self.expr(then);
                self.expr(otherwise);
            }
            Expr::Fma { a, b, c }
            | Expr::DotBytes {
                acc: a, a: b, b: c, ..
            } => {
                self.expr(a);
                self.expr(b);
                self.expr(c);
            }
        }
    }
}

/// A `u32` constant, splatted to `lanes`.
fn u32c(v: i64, lanes: u32) -> Expr {
    let c = Expr::IConst(v, ScalarType::U32);
    if lanes > 1 {
        Expr::splat(c, lanes)
    } else {
        c
    }
}

/// `x` (loaded from narrowed storage) as `f32`.
fn widen(p: Precision, x: Expr, lanes: u32) -> Expr {
    match p {
        Precision::F32 => x,
        Precision::F16 => Expr::cast(ScalarType::F32, x),
        Precision::BF16 => Expr::bitcast(
            ScalarType::F32,
            Expr::binary(
                BinaryOp::Shl,
                Expr::cast(ScalarType::U32, x),
                u32c(16, lanes),
            ),
        ),
    }
}

/// The `f32` value `x` (a variable: it is used more than once) in narrowed storage.
fn narrow(p: Precision, x: Expr, lanes: u32) -> Expr {
    match p {
        Precision::F32 => x,
        Precision::F16 => Expr::cast(ScalarType::F16, x),
        Precision::BF16 => {
            let bits = Expr::bitcast(ScalarType::U32, x);
            let odd = Expr::binary(
                BinaryOp::And,
                Expr::binary(BinaryOp::Shr, bits.clone(), u32c(16, lanes)),
                u32c(1, lanes),
            );
            let rounded = Expr::binary(
                BinaryOp::Add,
                Expr::binary(BinaryOp::Add, bits, u32c(0x7fff, lanes)),
                odd,
            );
            Expr::cast(
                ScalarType::U16,
                Expr::binary(BinaryOp::Shr, rounded, u32c(16, lanes)),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Access, LoopKind};
    use crate::KernelBuilder;

    fn halves(p: Precision, xs: &[f32]) -> Vec<u16> {
        let bytes: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        p.narrow_bytes(&bytes)
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn constants_round_to_nearest_even_and_half_saturates() {
        // 1 + 2^-11 is half-way between two halves: to the even one (1.0).
        let h = halves(
            Precision::F16,
            &[1.0, 1.0 + 2f32.powi(-11), 1e6, f32::MIN, f32::NEG_INFINITY],
        );
        assert_eq!(h, [0x3c00, 0x3c00, 0x7bff, 0xfbff, 0xfc00]);
        // bf16 keeps the f32 range; 1 + 2^-8 is half-way: to even (1.0).
        let b = halves(
            Precision::BF16,
            &[1.0, 1.0 + 2f32.powi(-8), 2f32.powi(32), -2.0],
        );
        assert_eq!(b, [0x3f80, 0x3f80, 0x4f80, 0xc000]);
    }

    #[test]
    fn narrowed_kernels_widen_loads_and_narrow_stores_and_verify() {
        for p in [Precision::F16, Precision::BF16] {
            let mut b = KernelBuilder::new("k");
            let x = b.param("x", ScalarType::F32, 64, Access::Read);
            let y = b.param("y", ScalarType::F32, 64, Access::Write);
            let idx = b.param("i", ScalarType::I64, 4, Access::Read);
            b.for_loop("c", 0, 4, LoopKind::Parallel, |b, c| {
                let v = Expr::vload(x, c.clone() * Expr::i64(16), 16);
                b.store(y, c.clone() * Expr::i64(16), v);
                let s = Expr::load(x, Expr::load(idx, c.clone()));
                b.store(y, c, s);
            });
            let mut k = b.finish();
            narrow_params(&mut k, &[0, 1, 2], p);
            assert_eq!(k.params[0].elem, p.storage());
            assert_eq!(k.params[1].elem, p.storage());
            // Not an f32 buffer: untouched.
            assert_eq!(k.params[2].elem, ScalarType::I64);
            crate::verify_kernel(&k).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            // bf16 reads a stored value twice: one temporary per lane count holds it;
            // fp16 converts it in place.
            let temps: Vec<(&str, u32)> = k
                .vars
                .iter()
                .filter(|v| v.name.starts_with("narrow"))
                .map(|v| (v.name.as_str(), v.lanes))
                .collect();
            if p == Precision::BF16 {
                assert_eq!(temps, [("narrow16", 16), ("narrow1", 1)]);
            } else {
                assert!(temps.is_empty(), "{temps:?}");
            }
        }
    }
}
