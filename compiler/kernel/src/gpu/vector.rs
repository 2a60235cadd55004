//! 128-bit memory accesses for elementwise kernels on GPUs.
//!
//! After [`super::collapse`] an elementwise kernel is one parallel loop with one element
//! per thread: `for i in 0..N parallel { … x[i] … y[i] = … }`. A GPU moves memory in
//! 32-byte sectors whichever width a thread asks for, but four 4-byte loads cost four
//! instructions where one `ld.global.v4.f32` does. [`vectorize`] gives each thread four
//! consecutive elements — `for q in 0..N/4 parallel { the four elements' loads; the four
//! elements' statements with i = 4q + l; the four elements' stores }` — and the NVPTX
//! backend (whose buffers are 16-byte aligned, see `targets/llvm/src/codegen/gpu.rs`)
//! merges each buffer's four adjacent accesses into one vector access (LLVM's
//! load/store vectorizer).
//!
//! Only straight-line loops are rewritten whose stores are all at `i` — the counter
//! itself, or the mixed-radix recombination of its digits that the collapse writes for a
//! broadcast (`Flat` proves it) — of 4-byte elements, and that read no buffer they write;
//! loads at `i` merge, other loads (a broadcast operand) stay per element. The last
//! `N % 4` elements follow in a second parallel loop (one per thread). The result computes
//! what the loop computes, element by element (the iterations were independent, which
//! `collapse` proved or the lowering marked).

use std::collections::HashMap;

use super::collapse::map_expr;
use super::rules::walk;
use crate::expr::{BinaryOp, Expr};
use crate::kernel::{BufId, Kernel, LoopKind, ScalarType, Stmt, Var, VarId};

/// Elements per thread: 16 bytes of 4-byte elements.
pub const LANES: i64 = 4;

/// `k` with its top-level elementwise loops giving each thread [`LANES`] consecutive
/// elements (see the module docs); other kernels unchanged.
pub fn vectorize(k: &Kernel) -> Kernel {
    if k.gpu.is_some() {
        return k.clone();
    }
    let mut out = k.clone();
    let body = std::mem::take(&mut out.body);
    for s in body {
        match s {
            Stmt::For {
                var,
                lo: Expr::IConst(0, _),
                hi: Expr::IConst(n, t),
                kind: LoopKind::Parallel,
                body,
            } if n >= LANES && elementwise(k, &Flat::new(var, n, &body), &body) => {
                let q = new_var(&mut out, "quad", ScalarType::I64);
                let quads = four_lanes(&mut out, &Flat::new(var, n, &body), q, &body);
                let whole = n / LANES * LANES;
                out.body.push(Stmt::For {
                    var: q,
                    lo: Expr::i64(0),
                    hi: Expr::IConst(n / LANES, t),
                    kind: LoopKind::Parallel,
                    body: quads,
                });
                if whole < n {
                    // The last n % 4 elements, one per thread (the first threads).
                    out.body.push(Stmt::For {
                        var,
                        lo: Expr::i64(whole),
                        hi: Expr::IConst(n, t),
                        kind: LoopKind::Parallel,
                        body,
                    });
                }
            }
            s => out.body.push(s),
        }
    }
    out
}

/// The body of `for q`: the loads at `i` of all four elements first (consecutive, so
/// they merge into one vector load per buffer), then each element's statements with
/// `i = 4q + l`, its stores kept in variables, then the stores of all four elements.
fn four_lanes(k: &mut Kernel, flat: &Flat, q: VarId, body: &[Stmt]) -> Vec<Stmt> {
    let i = flat.i;
    let at = |l: i64| Expr::Var(q) * Expr::i64(LANES) + Expr::i64(l);
    let mut loaded: Vec<BufId> = Vec::new();
    let mut stored: Vec<BufId> = Vec::new();
    for s in body {
        let (Stmt::Assign { value, .. } | Stmt::Store { value, .. }) = s else {
            continue;
        };
        walk(value, &mut |x| {
            if let Expr::Load { buf, index } = x {
                if flat.is_i(index) && !loaded.contains(buf) {
                    loaded.push(*buf);
                }
            }
        });
        if let Stmt::Store { buf, .. } = s {
            if !stored.contains(buf) {
                stored.push(*buf);
            }
        }
    }
    let mut out = Vec::new();
    let mut load_vars = Vec::new();
    for &b in &loaded {
        let elem = k.buffer(b).map_or(ScalarType::F32, |(t, _)| t);
        let vars: Vec<VarId> = (0..LANES).map(|_| new_var(k, "elem", elem)).collect();
        for (l, v) in vars.iter().enumerate() {
            out.push(Stmt::Assign {
                var: *v,
                value: Expr::load(b, at(l as i64)),
            });
        }
        load_vars.push((b, vars));
    }
    let mut store_vars = Vec::new();
    for &b in &stored {
        let elem = k.buffer(b).map_or(ScalarType::F32, |(t, _)| t);
        let vars: Vec<VarId> = (0..LANES).map(|_| new_var(k, "result", elem)).collect();
        store_vars.push((b, vars));
    }
    for l in 0..LANES as usize {
        out.push(Stmt::Assign {
            var: i,
            value: at(l as i64),
        });
        let fix = |e: &Expr| {
            map_expr(e, &mut |x| match x {
                Expr::Load { buf, index } if flat.is_i(index) => load_vars
                    .iter()
                    .find(|(b, _)| b == buf)
                    .map(|(_, vars)| Expr::Var(vars[l])),
                _ => None,
            })
        };
        for s in body {
            out.push(match s {
                Stmt::Assign { var, value } => Stmt::Assign {
                    var: *var,
                    value: fix(value),
                },
                Stmt::Store { buf, index, value } if flat.is_i(index) => {
                    let vars = &store_vars.iter().find(|(b, _)| b == buf).map(|v| &v.1);
                    match vars {
                        Some(vars) => Stmt::Assign {
                            var: vars[l],
                            value: fix(value),
                        },
                        None => s.clone(),
                    }
                }
                Stmt::Store { buf, index, value } => Stmt::Store {
                    buf: *buf,
                    index: index.clone(),
                    value: fix(value),
                },
                other => other.clone(),
            });
        }
    }
    for (b, vars) in store_vars {
        for (l, v) in vars.into_iter().enumerate() {
            out.push(Stmt::Store {
                buf: b,
                index: at(l as i64),
                value: Expr::Var(v),
            });
        }
    }
    out
}

fn new_var(k: &mut Kernel, name: &str, ty: ScalarType) -> VarId {
    k.vars.push(Var {
        name: name.into(),
        ty,
        lanes: 1,
    });
    VarId(k.vars.len() as u32 - 1)
}

/// Proves that an index expression equals the loop counter `i` for every `i < n`: `i`
/// itself, or the mixed-radix recombination `Σ a_k · digit_k` that the collapse writes
/// for a broadcast, where each digit is a variable assigned once from `(i / a_k) % b_k`
/// and the digits tile `i` exactly (`a_0 = 1`, `a_k · b_k = a_{k+1}`, the last digit
/// unbounded or covering `n`).
struct Flat {
    i: VarId,
    n: i64,
    /// Variables that are digits of `i`: divisor and modulus (`None`: no `%`).
    digits: HashMap<VarId, (i64, Option<i64>)>,
}

impl Flat {
    fn new(i: VarId, n: i64, body: &[Stmt]) -> Flat {
        let mut count: HashMap<VarId, usize> = HashMap::new();
        for s in body {
            if let Stmt::Assign { var, .. } = s {
                *count.entry(*var).or_default() += 1;
            }
        }
        let digit = |e: &Expr| -> Option<(i64, Option<i64>)> {
            let div = |e: &Expr| match e {
                Expr::Var(v) if *v == i => Some(1),
                Expr::Binary {
                    op: BinaryOp::Div,
                    lhs,
                    rhs,
                } if **lhs == Expr::Var(i) => match **rhs {
                    Expr::IConst(a, _) if a > 0 => Some(a),
                    _ => None,
                },
                _ => None,
            };
            match e {
                Expr::Binary {
                    op: BinaryOp::Rem,
                    lhs,
                    rhs,
                } => match **rhs {
                    Expr::IConst(b, _) if b > 0 => Some((div(lhs)?, Some(b))),
                    _ => None,
                },
                e => Some((div(e)?, None)),
            }
        };
        let mut digits = HashMap::new();
        for s in body {
            if let Stmt::Assign { var, value } = s {
                if count[var] == 1 {
                    if let Some(d) = digit(value) {
                        digits.insert(*var, d);
                    }
                }
            }
        }
        Flat { i, n, digits }
    }

    fn is_i(&self, e: &Expr) -> bool {
        let mut terms = Vec::new();
        if !self.terms(e, &mut terms) {
            return false;
        }
        terms.sort_by_key(|t| t.1);
        let mut next = 1;
        for (k, &(coef, a, b)) in terms.iter().enumerate() {
            if a != next || coef != a {
                return false;
            }
            match b {
                Some(b) => next = a * b,
                None if k + 1 == terms.len() => return true,
                None => return false,
            }
        }
        next >= self.n
    }

    /// `e` as terms `(coefficient, divisor, modulus)` of digits of `i`.
    fn terms(&self, e: &Expr, out: &mut Vec<(i64, i64, Option<i64>)>) -> bool {
        let digit = |e: &Expr| match e {
            Expr::Var(v) if *v == self.i => Some((1, None)),
            Expr::Var(v) => self.digits.get(v).copied(),
            _ => None,
        };
        match e {
            Expr::Binary {
                op: BinaryOp::Add,
                lhs,
                rhs,
            } => self.terms(lhs, out) && self.terms(rhs, out),
            Expr::Binary {
                op: BinaryOp::Mul,
                lhs,
                rhs,
            } => match (digit(lhs), &**rhs) {
                (Some((a, b)), Expr::IConst(c, _)) => {
                    out.push((*c, a, b));
                    true
                }
                _ => false,
            },
            e => match digit(e) {
                Some((a, b)) => {
                    out.push((1, a, b));
                    true
                }
                None => false,
            },
        }
    }
}

/// Straight-line and scalar; at least one store, every store at `i` (see [`Flat`]) of a
/// 4-byte element; no load of a buffer the loop writes; loads at `i` of 4-byte elements
/// only (they become vector loads), loads elsewhere (broadcast operands) of any type.
fn elementwise(k: &Kernel, flat: &Flat, body: &[Stmt]) -> bool {
    let mut stored = Vec::new();
    for s in body {
        match s {
            Stmt::Assign { var, .. } => {
                if *var == flat.i || k.var(*var).is_none_or(|v| v.lanes != 1) {
                    return false;
                }
            }
            Stmt::Store { buf, index, value } => {
                let four = k.buffer(*buf).is_some_and(|(t, _)| t.size_bytes() == 4);
                if !four || value.lanes(k) != 1 || !flat.is_i(index) {
                    return false;
                }
                stored.push(*buf);
            }
            Stmt::For { .. } | Stmt::If { .. } | Stmt::Barrier => return false,
        }
    }
    // Loads move ahead of the stores: no buffer may be both read and written.
    let mut ok = !stored.is_empty();
    for s in body {
        let (Stmt::Assign { value, .. } | Stmt::Store { value, .. }) = s else {
            continue;
        };
        walk(value, &mut |x| match x {
            Expr::Load { buf, index } => {
                ok &= !stored.contains(buf);
                if flat.is_i(index) {
                    ok &= k.buffer(*buf).is_some_and(|(t, _)| t.size_bytes() == 4);
                }
            }
            Expr::VLoad { .. } => ok = false,
            _ => {}
        });
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::KernelBuilder;
    use crate::kernel::Access;

    fn kernel(n: i64, shifted: bool) -> Kernel {
        let mut b = KernelBuilder::new("k");
        let x = b.param("x", ScalarType::F32, 64, Access::Read);
        let y = b.param("y", ScalarType::F32, 64, Access::Write);
        b.for_loop("i", 0, n, LoopKind::Parallel, |b, i| {
            let src = if shifted {
                i.clone() + Expr::i64(1)
            } else {
                i.clone()
            };
            b.store(y, i, Expr::load(x, src).exp());
        });
        b.finish()
    }

    #[test]
    fn four_elements_per_thread_when_every_access_is_at_the_index() {
        let k = vectorize(&kernel(64, false));
        assert_eq!(super::super::launch_threads(&k), 16);
        crate::verify_kernel(&k).unwrap();
        // A length that is not a multiple of 4: a tail loop of the last 3.
        let k = vectorize(&kernel(63, false));
        assert_eq!(k.body.len(), 2);
        assert_eq!(super::super::launch_threads(&k), 15);
        // A shifted read is a broadcast operand (per element); a shifted store: unchanged.
        assert_ne!(vectorize(&kernel(60, true)), kernel(60, true));
        let mut shifted = kernel(60, false);
        if let Stmt::For { body, .. } = &mut shifted.body[0] {
            if let Stmt::Store { index, .. } = &mut body[0] {
                *index = index.clone() + Expr::i64(1);
            }
        }
        assert_eq!(vectorize(&shifted), shifted);
    }

    #[test]
    fn broadcast_indices_recombined_from_digits_count_as_the_counter() {
        // y[(i/35)*35 + ((i/7)%5)*7 + i%7] = a[same] + b[(i/7)%5], as the collapse writes.
        let mut b = KernelBuilder::new("k");
        let a = b.param("a", ScalarType::F32, 210, Access::Read);
        let c = b.param("c", ScalarType::F32, 5, Access::Read);
        let y = b.param("y", ScalarType::F32, 210, Access::Write);
        let (d0, d1, d2) = (
            b.var("d0", ScalarType::I64),
            b.var("d1", ScalarType::I64),
            b.var("d2", ScalarType::I64),
        );
        let build = |b: &mut KernelBuilder, wrong: bool| {
            b.for_loop("i", 0, 210, LoopKind::Parallel, |b, i| {
                b.assign(d0, i.clone() / Expr::i64(35));
                b.assign(d1, (i.clone() / Expr::i64(7)) % Expr::i64(5));
                b.assign(d2, i % Expr::i64(if wrong { 5 } else { 7 }));
                let at =
                    Expr::var(d0) * Expr::i64(35) + Expr::var(d1) * Expr::i64(7) + Expr::var(d2);
                let v = Expr::load(a, at.clone()) + Expr::load(c, Expr::var(d1));
                b.store(y, at, v);
            });
        };
        let mut wrong = KernelBuilder::new("w");
        for (name, t, len) in [("a", ScalarType::F32, 210), ("c", ScalarType::F32, 5)] {
            wrong.param(name, t, len, Access::Read);
        }
        wrong.param("y", ScalarType::F32, 210, Access::Write);
        let (w0, w1, w2) = (
            wrong.var("d0", ScalarType::I64),
            wrong.var("d1", ScalarType::I64),
            wrong.var("d2", ScalarType::I64),
        );
        assert_eq!((w0, w1, w2), (d0, d1, d2));
        build(&mut b, false);
        build(&mut wrong, true);
        let k = vectorize(&b.finish());
        assert_eq!(super::super::launch_threads(&k), 52);
        crate::verify_kernel(&k).unwrap();
        // i % 5 is not the digit below i / 7: not provably y[i].
        let w = wrong.finish();
        assert_eq!(vectorize(&w), w);
    }
}
