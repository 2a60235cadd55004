//! [`expand_mma`]: the exact meaning of [`Expr::Mma`] (a warp's tensor-core step) in
//! kernel IR without it, through block-local arrays and barriers.
//!
//! Every thread stores its A, B and C fragments into three block-local arrays at its own
//! index, all threads meet at a barrier, then each thread computes its four elements of
//! D from the fragments of the other lanes of its warp (the PTX layout documented on
//! `Expr::Mma` says which lane holds which element), with A and B rounded to the input
//! format first and one `f32` fused multiply-add per product (a product of two f16 or
//! bf16 values is exact in `f32`); a second barrier keeps the next step's stores from
//! overwriting fragments still being read. It is what CPUs run (`gpu::emulate` expands
//! first) and what GPUs without `mma.m16n8k16` (sm_70, sm_75) run instead: the same
//! numbers up to the summation order.

use crate::expr::{BinaryOp, Expr, MmaInput};
use crate::kernel::{BufId, Kernel, LocalArray, ScalarType, Stmt, Var, VarId};

/// `k` with every [`Expr::Mma`] replaced (see the module docs); `k` itself when it has
/// none. `k` must pass [`crate::verify_kernel`] (an mma is then the whole value of an
/// assignment in uniform control flow of a block kernel).
pub fn expand_mma(k: &Kernel) -> Kernel {
    let Some(launch) = k.gpu else {
        return k.clone();
    };
    if !has_mma(&k.body) {
        return k.clone();
    }
    let mut out = k.clone();
    let block = u64::from(launch.block);
    let mut local = |name: &str, len: u64| {
        out.locals.push(LocalArray {
            name: name.into(),
            elem: ScalarType::F32,
            len,
        });
        BufId::local(out.locals.len() as u32 - 1)
    };
    let frags = Fragments {
        a: local("mma_a", 8 * block),
        b: local("mma_b", 4 * block),
        c: local("mma_c", 4 * block),
        acc: VarId(out.vars.len() as u32),
    };
    out.vars.push(Var {
        name: "mma_acc".into(),
        ty: ScalarType::F32,
        lanes: 1,
    });
    out.body = frags.block(k.body.clone());
    out
}

fn has_mma(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match s {
        Stmt::Assign {
            value: Expr::Mma { .. },
            ..
        } => true,
        Stmt::For { body, .. } => has_mma(body),
        Stmt::If {
            then, otherwise, ..
        } => has_mma(then) || has_mma(otherwise),
        _ => false,
    })
}

/// The block-local arrays the fragments go through, and the accumulator variable.
struct Fragments {
    a: BufId,
    b: BufId,
    c: BufId,
    acc: VarId,
}

impl Fragments {
    fn block(&self, stmts: Vec<Stmt>) -> Vec<Stmt> {
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            match s {
                Stmt::Assign {
                    var,
                    value: Expr::Mma { a, b, c, input },
                } => self.step(&mut out, var, (a, b, c), input),
                other => out.push(other.map_bodies(&mut |b| self.block(b))),
            }
        }
        out
    }

    /// `d = mma(a, b, c)` as statements (module docs).
    fn step(&self, out: &mut Vec<Stmt>, d: VarId, (a, b, c): (VarId, VarId, VarId), f: MmaInput) {
        let t = Expr::ThreadIdx;
        let i64c = Expr::i64;
        let store = |buf, index, value| Stmt::Store { buf, index, value };
        out.push(store(self.a, t.clone() * i64c(8), Expr::var(a)));
        out.push(store(self.b, t.clone() * i64c(4), Expr::var(b)));
        out.push(store(self.c, t.clone() * i64c(4), Expr::var(c)));
        out.push(Stmt::Barrier);
        let lane = t.clone() % i64c(32);
        let warp = t.clone() - lane.clone();
        let (g, q) = (lane.clone() / i64c(4), lane % i64c(4));
        for i in 0..4i64 {
            // This thread's element i of D: row g + 8·(i/2), column 2q + i%2.
            let col = q.clone() * i64c(2) + i64c(i % 2);
            out.push(Stmt::Assign {
                var: self.acc,
                value: Expr::load(self.c, t.clone() * i64c(4) + i64c(i)),
            });
            for kk in 0..16i64 {
                // A[row][kk]: lane (row % 8)·4 + (kk % 8)/2, element kk%2 + 2·(row/8) +
                // 4·(kk/8); B[kk][col]: lane col·4 + (kk % 8)/2, element kk%2 + 2·(kk/8).
                let a_lane = g.clone() * i64c(4) + i64c(kk % 8 / 2);
                let a_at =
                    (warp.clone() + a_lane) * i64c(8) + i64c(kk % 2 + 2 * (i / 2) + 4 * (kk / 8));
                let b_lane = col.clone() * i64c(4) + i64c(kk % 8 / 2);
                let b_at = (warp.clone() + b_lane) * i64c(4) + i64c(kk % 2 + 2 * (kk / 8));
                let x = round(f, Expr::load(self.a, a_at));
                let y = round(f, Expr::load(self.b, b_at));
                out.push(Stmt::Assign {
                    var: self.acc,
                    value: Expr::fma(x, y, Expr::var(self.acc)),
                });
            }
            out.push(store(
                self.c,
                t.clone() * i64c(4) + i64c(i),
                Expr::var(self.acc),
            ));
        }
        out.push(Stmt::Assign {
            var: d,
            value: Expr::vload(self.c, t * i64c(4), 4),
        });
        out.push(Stmt::Barrier);
    }
}

/// `x` (f32) rounded to `f` to nearest even, as f32.
fn round(f: MmaInput, x: Expr) -> Expr {
    match f {
        MmaInput::F16 => Expr::cast(ScalarType::F32, Expr::cast(ScalarType::F16, x)),
        MmaInput::BF16 => {
            let u = |v: i64| Expr::IConst(v, ScalarType::U32);
            let bits = Expr::bitcast(ScalarType::U32, x);
            let odd = Expr::binary(
                BinaryOp::And,
                Expr::binary(BinaryOp::Shr, bits.clone(), u(16)),
                u(1),
            );
            let r = bits + u(0x7fff) + odd;
            let r = Expr::binary(BinaryOp::And, r, u(0xffff_0000));
            Expr::bitcast(ScalarType::F32, r)
        }
    }
}
