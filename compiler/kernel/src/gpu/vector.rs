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
//! Only loops whose every memory access is at exactly `i` (or at a constant index) of a
//! 4-byte element, with straight-line bodies and no buffer both read and written, are
//! rewritten; the last `N % 4` elements follow in a second parallel loop (one per
//! thread). The result computes what the loop computes, element by element (the
//! iterations were independent, which `collapse` proved or the lowering marked).

use std::cell::Cell;

use super::collapse::map_expr;
use super::rules::walk;
use crate::expr::Expr;
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
            } if n >= LANES && elementwise(k, var, &body) => {
                let q = new_var(&mut out, "quad", ScalarType::I64);
                let quads = four_lanes(&mut out, var, q, &body);
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
fn four_lanes(k: &mut Kernel, i: VarId, q: VarId, body: &[Stmt]) -> Vec<Stmt> {
    let at = |l: i64| Expr::Var(q) * Expr::i64(LANES) + Expr::i64(l);
    let mut loaded: Vec<BufId> = Vec::new();
    let mut stored: Vec<BufId> = Vec::new();
    for s in body {
        let (Stmt::Assign { value, .. } | Stmt::Store { value, .. }) = s else {
            continue;
        };
        walk(value, &mut |x| {
            if let Expr::Load { buf, index } = x {
                if **index == Expr::Var(i) && !loaded.contains(buf) {
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
                Expr::Load { buf, index } if **index == Expr::Var(i) => load_vars
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
                Stmt::Store { buf, index, value } if *index == Expr::Var(i) => {
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

/// Straight-line, scalar, and every access at `i` or a constant, of 4-byte elements;
/// at least one access at `i`.
fn elementwise(k: &Kernel, i: VarId, body: &[Stmt]) -> bool {
    let at_i = Cell::new(false);
    let ok = Cell::new(true);
    let access = |buf, index: &Expr, lanes: u32| {
        let four = k.buffer(buf).is_some_and(|(t, _)| t.size_bytes() == 4);
        match index {
            Expr::Var(v) if *v == i => at_i.set(true),
            Expr::IConst(..) => {}
            _ => ok.set(false),
        }
        if !four || lanes != 1 {
            ok.set(false);
        }
    };
    let loads = |e: &Expr| {
        walk(e, &mut |x| match x {
            Expr::Load { buf, index } => access(*buf, index, 1),
            Expr::VLoad { buf, index, lanes } => access(*buf, index, *lanes),
            _ => {}
        });
    };
    let mut stored = Vec::new();
    for s in body {
        match s {
            Stmt::Assign { var, value } => {
                loads(value);
                if *var == i || k.var(*var).is_none_or(|v| v.lanes != 1) {
                    return false;
                }
            }
            Stmt::Store { buf, index, value } => {
                loads(value);
                access(*buf, index, value.lanes(k));
                stored.push(*buf);
                if *index != Expr::Var(i) {
                    return false;
                }
            }
            Stmt::For { .. } | Stmt::If { .. } | Stmt::Barrier => return false,
        }
    }
    // Loads move ahead of the stores: no buffer may be both read and written.
    let mut read_written = false;
    for s in body {
        let (Stmt::Assign { value, .. } | Stmt::Store { value, .. }) = s else {
            continue;
        };
        walk(value, &mut |x| {
            if let Expr::Load { buf, .. } | Expr::VLoad { buf, .. } = x {
                read_written |= stored.contains(buf);
            }
        });
    }
    ok.get() && at_i.get() && !read_written
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
        // A shifted read: unchanged.
        assert_eq!(vectorize(&kernel(60, true)), kernel(60, true));
    }
}
