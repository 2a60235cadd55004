//! Loop collapsing for GPUs: more threads for kernels whose parallel loop is short.
//!
//! A CPU kernel typically has one top-level `Parallel` loop over a few hundred rows (enough
//! for a dozen cores) and serial or `Vectorize` loops inside. On a GPU each top-level
//! iteration is one thread, so that shape leaves most of the GPU idle. This pass rewrites
//!
//! ```text
//! for v1 in a1..b1 (parallel) { P1; for v2 in a2..b2 { P2; … for vj in aj..bj { B } } }
//! ```
//!
//! into one parallel loop over `f in 0..Π tk` that recomputes `v1…vj` from `f`
//! (row-major, so neighbouring threads differ in the innermost `vj`: coalesced memory),
//! followed by the same prefixes `P` (assignments only) and body `B`. Legal when the
//! iterations of the collapsed loops are independent, which is proven here, not assumed
//! (`Vectorize` marks loops whose iterations may still accumulate into one element):
//!
//! - every loop is `Parallel` (the lowering's promise), or
//! - the body `B` writes every buffer at one affine index `Σ ck·vk + c0` whose strides keep
//!   distinct iterations apart (mixed radix: each `|ck|` exceeds the span of the smaller
//!   ones, including a vector store's lanes), reads any buffer it writes only at that
//!   same index, and assigns every variable before reading it in the same iteration.
//!
//! A top-level loop that is not marked parallel but passes the same proof becomes
//! parallel (small elementwise kernels run on one CPU task, but need threads on a GPU).
//! The flat elementwise form `for c in 0..C (parallel) { for i in c·K..min(c·K+K, N) {B} }`
//! (chunks for CPU tasks) becomes `for i in 0..N (parallel) {c = i / K; B}` under the same
//! proof. Nothing here changes what a kernel computes when run serially, so the CPU
//! backend can run a collapsed kernel too (the tests do, to check this pass on CPUs).

use std::collections::{HashMap, HashSet};

use crate::expr::{BinaryOp, Expr};
use crate::kernel::{Kernel, LoopKind, ScalarType, Stmt, Var, VarId};

/// Returns `k` with its top-level parallel loop nests collapsed where that is proven legal.
pub fn collapse(k: &Kernel) -> Kernel {
    if k.gpu.is_some() {
        // A block kernel already says how its threads share the work.
        return k.clone();
    }
    let mut out = k.clone();
    let body = std::mem::take(&mut out.body);
    out.body = body
        .into_iter()
        .map(|s| {
            let s = promote(&out, s);
            let s = unchunk(&mut out, s);
            collapse_nest(&mut out, s)
        })
        .collect();
    out
}

fn iconst(e: &Expr) -> Option<i64> {
    match e {
        Expr::IConst(v, _) => Some(*v),
        _ => None,
    }
}

fn new_var(k: &mut Kernel, name: &str) -> VarId {
    k.vars.push(Var {
        name: name.into(),
        ty: ScalarType::I64,
        lanes: 1,
    });
    VarId(k.vars.len() as u32 - 1)
}

fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary {
        op,
        lhs: Box::new(a),
        rhs: Box::new(b),
    }
}

/// A top-level serial or `Vectorize` loop whose iterations are proven independent becomes
/// `Parallel` (small elementwise kernels, which the CPU lowering keeps on one task).
fn promote(k: &Kernel, s: Stmt) -> Stmt {
    match s {
        Stmt::For {
            var,
            lo,
            hi,
            kind,
            body,
        } if kind != LoopKind::Parallel => {
            let kind = match (iconst(&lo), iconst(&hi)) {
                (Some(l), Some(h))
                    if h - l > 1 && independent(k, &[(var, l, h - l)], &[], &body) =>
                {
                    LoopKind::Parallel
                }
                _ => kind,
            };
            Stmt::For {
                var,
                lo,
                hi,
                kind,
                body,
            }
        }
        s => s,
    }
}

/// `for c in 0..C (parallel) { for i in c*K..min(c*K+K, N) { B } }` → one loop over `i`.
fn unchunk(k: &mut Kernel, s: Stmt) -> Stmt {
    let Stmt::For {
        var: c,
        lo,
        hi,
        kind: LoopKind::Parallel,
        body,
    } = &s
    else {
        return s;
    };
    let (Some(0), Some(chunks), [inner]) = (iconst(lo), iconst(hi), body.as_slice()) else {
        return s;
    };
    let Stmt::For {
        var: i,
        lo: ilo,
        hi: ihi,
        body: b,
        ..
    } = inner
    else {
        return s;
    };
    let chunk_of = |e: &Expr| match e {
        Expr::Binary {
            op: BinaryOp::Mul,
            lhs,
            rhs,
        } if **lhs == Expr::Var(*c) => iconst(rhs),
        _ => None,
    };
    let Some(size) = chunk_of(ilo) else { return s };
    let n = match ihi {
        Expr::Binary {
            op: BinaryOp::Min,
            lhs,
            rhs,
        } => match (&**lhs, iconst(rhs)) {
            (
                Expr::Binary {
                    op: BinaryOp::Add,
                    lhs: base,
                    rhs: add,
                },
                Some(n),
            ) if **base == *ilo && iconst(add) == Some(size) => n,
            _ => return s,
        },
        _ => return s,
    };
    if size <= 0 || n <= 0 || chunks.checked_mul(size).is_none_or(|t| t < n) {
        return s;
    }
    if !independent(k, &[(*i, 0, n)], &[], b) {
        return s;
    }
    let mut body = vec![Stmt::Assign {
        var: *c,
        value: bin(BinaryOp::Div, Expr::Var(*i), Expr::i64(size)),
    }];
    body.extend(b.iter().cloned());
    Stmt::For {
        var: *i,
        lo: Expr::i64(0),
        hi: Expr::i64(n),
        kind: LoopKind::Parallel,
        body,
    }
}

/// One level of a nest: its loop variable, bounds, kind and the assignments before the
/// next level.
struct Level {
    var: VarId,
    lo: i64,
    trips: i64,
    kind: LoopKind,
    prefix: Vec<Stmt>,
}

fn collapse_nest(k: &mut Kernel, s: Stmt) -> Stmt {
    let Stmt::For {
        kind: LoopKind::Parallel,
        ..
    } = &s
    else {
        return s;
    };
    // The chain of perfectly nested loops with constant bounds (assignments in between).
    let mut levels: Vec<Level> = Vec::new();
    let mut bodies: Vec<&[Stmt]> = Vec::new();
    let mut cur = &s;
    while let Stmt::For {
        var,
        lo,
        hi,
        kind,
        body,
    } = cur
    {
        let (Some(lo), Some(hi)) = (iconst(lo), iconst(hi)) else {
            break;
        };
        let split = body
            .iter()
            .position(|st| !matches!(st, Stmt::Assign { .. }))
            .unwrap_or(body.len());
        levels.push(Level {
            var: *var,
            lo,
            trips: (hi - lo).max(0),
            kind: *kind,
            prefix: body[..split].to_vec(),
        });
        bodies.push(body);
        match &body[split..] {
            [next @ Stmt::For { .. }] => cur = next,
            _ => break,
        }
    }
    if levels.is_empty() || levels.iter().any(|l| l.trips == 0) {
        return s;
    }
    // The deepest level whose nest is provably independent (at least two levels).
    for j in (2..=levels.len()).rev() {
        let chain = &levels[..j];
        let total = chain
            .iter()
            .try_fold(1i64, |acc, l| acc.checked_mul(l.trips.max(1)));
        let Some(total) = total.filter(|t| *t <= i64::from(i32::MAX)) else {
            continue;
        };
        let rest: &[Stmt] = &bodies[j - 1][chain[j - 1].prefix.len()..];
        let all_parallel = chain.iter().all(|l| l.kind == LoopKind::Parallel);
        let vars: Vec<(VarId, i64, i64)> = chain.iter().map(|l| (l.var, l.lo, l.trips)).collect();
        let prefixes: Vec<Stmt> = chain[..j]
            .iter()
            .flat_map(|l| l.prefix.iter().cloned())
            .collect();
        if !all_parallel && !independent(k, &vars, &prefixes, rest) {
            continue;
        }
        let f = new_var(k, "gpu_flat");
        let mut body = Vec::new();
        let mut inner = 1i64;
        let strides: Vec<i64> = chain
            .iter()
            .rev()
            .map(|l| {
                let s = inner;
                inner *= l.trips.max(1);
                s
            })
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        for (l, stride) in chain.iter().zip(strides) {
            let mut idx = Expr::Var(f);
            if stride > 1 {
                idx = bin(BinaryOp::Div, idx, Expr::i64(stride));
            }
            if stride * l.trips.max(1) < total {
                idx = bin(BinaryOp::Rem, idx, Expr::i64(l.trips.max(1)));
            }
            if l.lo != 0 {
                idx = bin(BinaryOp::Add, idx, Expr::i64(l.lo));
            }
            body.push(Stmt::Assign {
                var: l.var,
                value: idx,
            });
            body.extend(l.prefix.iter().cloned());
        }
        body.extend(rest.iter().cloned());
        return Stmt::For {
            var: f,
            lo: Expr::i64(0),
            hi: Expr::i64(total),
            kind: LoopKind::Parallel,
            body,
        };
    }
    s
}

/// Whether iterations over `vars` (`(var, lo, trips)`) of `prefixes` followed by `body`
/// are independent (the module docs list the rules).
fn independent(k: &Kernel, vars: &[(VarId, i64, i64)], prefixes: &[Stmt], body: &[Stmt]) -> bool {
    let loop_vars: HashSet<VarId> = vars.iter().map(|v| v.0).collect();
    // Substitutions: variables assigned once at the top level of the prefixes or body.
    let mut counts: HashMap<VarId, usize> = HashMap::new();
    count_assigns(prefixes, &mut counts);
    count_assigns(body, &mut counts);
    let mut subst: HashMap<VarId, Expr> = HashMap::new();
    for st in prefixes.iter().chain(body) {
        if let Stmt::Assign { var, value } = st {
            if counts.get(var) == Some(&1) && !loop_vars.contains(var) {
                let v = substitute(value, &subst);
                subst.insert(*var, v);
            }
        }
    }
    // Variables: defined before read within one iteration.
    let assigned: HashSet<VarId> = counts.keys().copied().collect();
    let mut defined: HashSet<VarId> = loop_vars.clone();
    if !defined_before_use(prefixes, &assigned, &mut defined)
        || !defined_before_use(body, &assigned, &mut defined)
    {
        return false;
    }
    // Memory: one affine index per written buffer, injective over the loop variables.
    let mut stores: Vec<(u32, Expr, u32)> = Vec::new();
    collect_stores(k, body, &mut stores);
    collect_stores(k, prefixes, &mut stores);
    let mut written: HashMap<u32, (Expr, u32)> = HashMap::new();
    for (buf, index, lanes) in stores {
        let index = substitute(&index, &subst);
        match written.get(&buf) {
            Some((i, l)) if *i != index || *l != lanes => return false,
            Some(_) => {}
            None => {
                if !injective(&index, lanes, vars) {
                    return false;
                }
                written.insert(buf, (index, lanes));
            }
        }
    }
    let mut ok = true;
    for st in prefixes.iter().chain(body) {
        for_each_expr(st, &mut |e| {
            let (buf, index, lanes) = match e {
                Expr::Load { buf, index } => (buf.0, index, 1),
                Expr::VLoad { buf, index, lanes } => (buf.0, index, *lanes),
                _ => return,
            };
            if let Some((w, wl)) = written.get(&buf) {
                if substitute(index, &subst) != *w || lanes != *wl {
                    ok = false;
                }
            }
        });
    }
    ok
}

fn count_assigns(stmts: &[Stmt], counts: &mut HashMap<VarId, usize>) {
    for s in stmts {
        match s {
            Stmt::Assign { var, .. } => *counts.entry(*var).or_default() += 1,
            Stmt::For { var, body, .. } => {
                *counts.entry(*var).or_default() += 2; // never substituted
                count_assigns(body, counts);
            }
            Stmt::If {
                then, otherwise, ..
            } => {
                // Conditional assignments are never substituted.
                let mut inner = HashMap::new();
                count_assigns(then, &mut inner);
                count_assigns(otherwise, &mut inner);
                for v in inner.into_keys() {
                    *counts.entry(v).or_default() += 2;
                }
            }
            Stmt::Store { .. } | Stmt::Barrier => {}
        }
    }
}

/// Walks `stmts` in order; false when a variable assigned somewhere in the iteration is
/// read before this iteration assigned it (a value carried from another iteration).
fn defined_before_use(
    stmts: &[Stmt],
    assigned: &HashSet<VarId>,
    defined: &mut HashSet<VarId>,
) -> bool {
    let reads_ok = |e: &Expr, defined: &HashSet<VarId>| {
        let mut ok = true;
        visit(e, &mut |x| {
            if let Expr::Var(v) = x {
                if assigned.contains(v) && !defined.contains(v) {
                    ok = false;
                }
            }
        });
        ok
    };
    for s in stmts {
        match s {
            Stmt::Assign { var, value } => {
                if !reads_ok(value, defined) {
                    return false;
                }
                defined.insert(*var);
            }
            Stmt::Store { index, value, .. } => {
                if !reads_ok(index, defined) || !reads_ok(value, defined) {
                    return false;
                }
            }
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                if !reads_ok(cond, defined) {
                    return false;
                }
                let (mut a, mut b) = (defined.clone(), defined.clone());
                if !defined_before_use(then, assigned, &mut a)
                    || !defined_before_use(otherwise, assigned, &mut b)
                {
                    return false;
                }
            }
            Stmt::For {
                var, lo, hi, body, ..
            } => {
                if !reads_ok(lo, defined) || !reads_ok(hi, defined) {
                    return false;
                }
                let mut inner = defined.clone();
                inner.insert(*var);
                if !defined_before_use(body, assigned, &mut inner) {
                    return false;
                }
            }
            Stmt::Barrier => {}
        }
    }
    true
}

fn value_lanes(k: &Kernel, e: &Expr) -> u32 {
    match e {
        Expr::VLoad { lanes, .. } | Expr::Splat { lanes, .. } => *lanes,
        Expr::Var(v) => k.var(*v).map_or(1, |v| v.lanes),
        Expr::LaneReduce { .. } => 1,
        Expr::Cmp { .. } => 1,
        _ => {
            let mut lanes = 1;
            for c in children(e) {
                lanes = lanes.max(value_lanes(k, c));
            }
            lanes
        }
    }
}

fn collect_stores(k: &Kernel, stmts: &[Stmt], out: &mut Vec<(u32, Expr, u32)>) {
    for s in stmts {
        match s {
            Stmt::Store { buf, index, value } => {
                out.push((buf.0, index.clone(), value_lanes(k, value)))
            }
            Stmt::For { body, .. } => collect_stores(k, body, out),
            Stmt::If {
                then, otherwise, ..
            } => {
                collect_stores(k, then, out);
                collect_stores(k, otherwise, out);
            }
            Stmt::Assign { .. } | Stmt::Barrier => {}
        }
    }
}

/// `index` as `Σ c·v + rest` with `rest` free of variables; then the mixed-radix test.
fn injective(index: &Expr, lanes: u32, vars: &[(VarId, i64, i64)]) -> bool {
    let mut coefs: HashMap<VarId, i64> = HashMap::new();
    if !affine(index, 1, vars, &mut coefs) {
        return false;
    }
    let mut dims: Vec<(i64, i64)> = Vec::new();
    for &(v, _, trips) in vars {
        let c = coefs.get(&v).copied().unwrap_or(0);
        if trips > 1 {
            if c == 0 {
                return false;
            }
            dims.push((c.abs(), trips));
        }
    }
    dims.sort_unstable();
    let mut span = i64::from(lanes.max(1)) - 1;
    for (c, trips) in dims {
        if c <= span {
            return false;
        }
        span = match c.checked_mul(trips - 1).and_then(|x| x.checked_add(span)) {
            Some(s) => s,
            None => return false,
        };
    }
    true
}

fn affine(
    e: &Expr,
    scale: i64,
    vars: &[(VarId, i64, i64)],
    coefs: &mut HashMap<VarId, i64>,
) -> bool {
    match e {
        Expr::IConst(..) => true,
        Expr::Var(v) if vars.iter().any(|x| x.0 == *v) => {
            *coefs.entry(*v).or_default() += scale;
            true
        }
        Expr::Binary {
            op: BinaryOp::Add,
            lhs,
            rhs,
        } => affine(lhs, scale, vars, coefs) && affine(rhs, scale, vars, coefs),
        Expr::Binary {
            op: BinaryOp::Sub,
            lhs,
            rhs,
        } => affine(lhs, scale, vars, coefs) && affine(rhs, -scale, vars, coefs),
        Expr::Binary {
            op: BinaryOp::Mul,
            lhs,
            rhs,
        } => match (iconst(lhs), iconst(rhs)) {
            (_, Some(c)) => scale
                .checked_mul(c)
                .is_some_and(|s| affine(lhs, s, vars, coefs)),
            (Some(c), _) => scale
                .checked_mul(c)
                .is_some_and(|s| affine(rhs, s, vars, coefs)),
            _ => var_free(e),
        },
        other => var_free(other),
    }
}

/// True when `e` reads no variable (its value is the same in every iteration).
fn var_free(e: &Expr) -> bool {
    let mut free = true;
    visit(e, &mut |x| {
        if matches!(x, Expr::Var(_)) {
            free = false;
        }
    });
    free
}

fn substitute(e: &Expr, map: &HashMap<VarId, Expr>) -> Expr {
    if map.is_empty() {
        return e.clone();
    }
    map_expr(e, &mut |x| match x {
        Expr::Var(v) => map.get(v).cloned(),
        _ => None,
    })
}

/// The direct subexpressions of `e`.
fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::FConst(..)
        | Expr::IConst(..)
        | Expr::BConst(_)
        | Expr::Var(_)
        | Expr::ThreadIdx
        | Expr::BlockIdx
        | Expr::Mma { .. } => vec![],
        Expr::Load { index, .. } | Expr::VLoad { index, .. } => vec![index],
        Expr::ShuffleXor { value: arg, .. }
        | Expr::Unary { arg, .. }
        | Expr::Splat { arg, .. }
        | Expr::LaneReduce { arg, .. }
        | Expr::Cast { arg, .. }
        | Expr::Bitcast { arg, .. } => vec![arg],
        Expr::Binary { lhs, rhs, .. } | Expr::Cmp { lhs, rhs, .. } => vec![lhs, rhs],
        Expr::Select {
            cond,
            then,
            otherwise,
        } => vec![cond, then, otherwise],
        Expr::Fma { a, b, c } => vec![a, b, c],
        Expr::DotBytes { acc, a, b, .. } => vec![acc, a, b],
    }
}

/// Calls `f` on `e` and every subexpression.
fn visit(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    for c in children(e) {
        visit(c, f);
    }
}

/// Calls `f` on every expression of `s` (not of nested statements' bodies' order).
fn for_each_expr(s: &Stmt, f: &mut impl FnMut(&Expr)) {
    match s {
        Stmt::Barrier => {}
        Stmt::Assign { value, .. } => visit(value, f),
        Stmt::Store { index, value, .. } => {
            visit(index, f);
            visit(value, f);
        }
        Stmt::If {
            cond,
            then,
            otherwise,
        } => {
            visit(cond, f);
            for s in then.iter().chain(otherwise) {
                for_each_expr(s, f);
            }
        }
        Stmt::For { lo, hi, body, .. } => {
            visit(lo, f);
            visit(hi, f);
            for s in body {
                for_each_expr(s, f);
            }
        }
    }
}

/// Rebuilds `e` bottom-up, replacing any node for which `f` returns `Some`.
pub(super) fn map_expr(e: &Expr, f: &mut impl FnMut(&Expr) -> Option<Expr>) -> Expr {
    if let Some(r) = f(e) {
        return r;
    }
    let mut m = |x: &Expr| Box::new(map_expr(x, f));
    match e {
        Expr::FConst(..)
        | Expr::IConst(..)
        | Expr::BConst(_)
        | Expr::Var(_)
        | Expr::ThreadIdx
        | Expr::BlockIdx
        | Expr::Mma { .. } => e.clone(),
        Expr::ShuffleXor { value, lane_mask } => Expr::ShuffleXor {
            value: m(value),
            lane_mask: *lane_mask,
        },
        Expr::Load { buf, index } => Expr::Load {
            buf: *buf,
            index: m(index),
        },
        Expr::VLoad { buf, index, lanes } => Expr::VLoad {
            buf: *buf,
            index: m(index),
            lanes: *lanes,
        },
        Expr::Unary { op, arg } => Expr::Unary {
            op: *op,
            arg: m(arg),
        },
        Expr::Splat { arg, lanes } => Expr::Splat {
            arg: m(arg),
            lanes: *lanes,
        },
        Expr::LaneReduce { op, arg } => Expr::LaneReduce {
            op: *op,
            arg: m(arg),
        },
        Expr::Cast { to, arg } => Expr::Cast {
            to: *to,
            arg: m(arg),
        },
        Expr::Bitcast { to, arg } => Expr::Bitcast {
            to: *to,
            arg: m(arg),
        },
        Expr::Binary { op, lhs, rhs } => Expr::Binary {
            op: *op,
            lhs: m(lhs),
            rhs: m(rhs),
        },
        Expr::Cmp { op, lhs, rhs } => Expr::Cmp {
            op: *op,
            lhs: m(lhs),
            rhs: m(rhs),
        },
        Expr::Select {
            cond,
            then,
            otherwise,
        } => Expr::Select {
            cond: m(cond),
            then: m(then),
            otherwise: m(otherwise),
        },
        Expr::Fma { a, b, c } => Expr::Fma {
            a: m(a),
            b: m(b),
            c: m(c),
        },
        Expr::DotBytes { acc, a, b, a_sign } => Expr::DotBytes {
            acc: m(acc),
            a: m(a),
            b: m(b),
            a_sign: *a_sign,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::KernelBuilder;
    use crate::kernel::Access;

    fn nest(reduce: bool) -> Kernel {
        let mut b = KernelBuilder::new("k");
        let x = b.param("x", ScalarType::F32, 64 * 32, Access::Read);
        let y = b.param("y", ScalarType::F32, 64 * 32, Access::ReadWrite);
        b.for_loop("r", 0, 64, LoopKind::Parallel, |b, r| {
            b.for_loop("c", 0, 32, LoopKind::Vectorize, |b, c| {
                let at = r.clone() * Expr::i64(32) + c.clone();
                if reduce {
                    // Every column adds into the row's first element: not independent.
                    let dst = r.clone() * Expr::i64(32);
                    let v = Expr::load(y, dst.clone()) + Expr::load(x, at);
                    b.store(y, dst, v);
                } else {
                    b.store(y, at.clone(), Expr::load(x, at) * Expr::f32(2.0));
                }
            });
        });
        b.finish()
    }

    #[test]
    fn an_elementwise_nest_becomes_one_loop_of_every_element() {
        let k = collapse(&nest(false));
        assert_eq!(super::super::launch_threads(&k), 64 * 32);
        assert_eq!(super::super::launch_threads(&nest(false)), 64);
    }

    #[test]
    fn a_reduction_through_memory_is_left_alone() {
        let k = nest(true);
        assert_eq!(collapse(&k), k);
    }
}
