//! The verifier's rules for block kernels ([`crate::GpuLaunch`]): where thread indices,
//! barriers and shuffles may appear, and the launch shape and block-local arrays.
//!
//! A barrier or shuffle must be reached by every thread of the block together, so it
//! may only stand in *uniform* control flow: every enclosing loop's bounds and every
//! enclosing `if`'s condition are the same for all threads of a block. Uniform here is
//! a syntactic property: constants, [`Expr::BlockIdx`] and the counters of enclosing
//! uniform loops, combined by arithmetic, comparisons, selects and casts (no loads, no
//! [`Expr::ThreadIdx`], no other variables). [`crate::gpu::emulate`] relies on exactly
//! this: it runs such loops and ifs once per block and splits their bodies at barriers.

use crate::expr::Expr;
use crate::kernel::{Kernel, Stmt, VarId};

/// The most threads in a block (every CUDA GPU).
pub const MAX_BLOCK: u32 = 1024;

/// The most block-local (static shared) memory of one block kernel, in bytes.
pub const MAX_SHARED_BYTES: u64 = 48 * 1024;

/// Checks the rules of the module docs; an error message names what is wrong.
pub(crate) fn check_block_rules(k: &Kernel) -> Result<(), String> {
    for l in &k.locals {
        if l.len == 0 {
            return Err(format!("block-local array `{}` is empty", l.name));
        }
    }
    if let Some(g) = k.gpu {
        if g.block == 0 || g.block > MAX_BLOCK {
            return Err(format!("block of {} threads (1..={MAX_BLOCK})", g.block));
        }
        if g.grid == 0 {
            return Err("a grid of 0 blocks".into());
        }
        let shared: u64 = k.locals.iter().map(|l| l.len * l.elem.size_bytes()).sum();
        if shared > MAX_SHARED_BYTES {
            return Err(format!(
                "{shared} bytes of block-local arrays (at most {MAX_SHARED_BYTES})"
            ));
        }
    }
    let mut uniform_vars = Vec::new();
    block(k, &k.body, true, &mut uniform_vars)
}

fn block(k: &Kernel, stmts: &[Stmt], uniform: bool, uvars: &mut Vec<VarId>) -> Result<(), String> {
    for s in stmts {
        match s {
            Stmt::For {
                var, lo, hi, body, ..
            } => {
                no_shuffle(k, lo)?;
                no_shuffle(k, hi)?;
                let inner = uniform && is_uniform(lo, uvars) && is_uniform(hi, uvars);
                if inner {
                    uvars.push(*var);
                }
                block(k, body, inner, uvars)?;
                if inner {
                    uvars.pop();
                }
            }
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                no_shuffle(k, cond)?;
                let inner = uniform && is_uniform(cond, uvars);
                block(k, then, inner, uvars)?;
                block(k, otherwise, inner, uvars)?;
            }
            Stmt::Barrier => {
                if k.gpu.is_none() {
                    return Err("a barrier outside a block kernel".into());
                }
                if !uniform {
                    return Err(
                        "a barrier in control flow that is not uniform across the block".into(),
                    );
                }
            }
            Stmt::Assign {
                value: Expr::Mma { .. },
                ..
            } => mma_rules(k, uniform)?,
            Stmt::Assign { value, .. } => {
                shuffles_in_value(k, value, uniform)?;
                no_nested_mma(value)?;
            }
            Stmt::Store { buf, index, value } => {
                no_shuffle(k, index)?;
                no_nested_mma(index)?;
                shuffles_in_value(k, value, uniform)?;
                no_nested_mma(value)?;
                if let (Some(l), Expr::IConst(i, _)) = (k.local(*buf), index) {
                    let n = value.lanes(k) as i64;
                    if *i < 0 || i + n > l.len as i64 {
                        return Err(format!(
                            "store to {buf}[{i}] outside its {} elements",
                            l.len
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether `e` is the same for every thread of a block (see the module docs).
pub(crate) fn is_uniform(e: &Expr, uvars: &[VarId]) -> bool {
    match e {
        Expr::FConst(..) | Expr::IConst(..) | Expr::BConst(_) | Expr::BlockIdx => true,
        Expr::Var(v) => uvars.contains(v),
        Expr::Unary { arg, .. } | Expr::Cast { arg, .. } | Expr::Bitcast { arg, .. } => {
            is_uniform(arg, uvars)
        }
        Expr::Binary { lhs, rhs, .. } | Expr::Cmp { lhs, rhs, .. } => {
            is_uniform(lhs, uvars) && is_uniform(rhs, uvars)
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => is_uniform(cond, uvars) && is_uniform(then, uvars) && is_uniform(otherwise, uvars),
        _ => false,
    }
}

/// Every sub-expression of `e` (itself included), parents before children.
pub(crate) fn walk<'a>(e: &'a Expr, f: &mut impl FnMut(&'a Expr)) {
    f(e);
    match e {
        Expr::FConst(..)
        | Expr::IConst(..)
        | Expr::BConst(_)
        | Expr::Var(_)
        | Expr::ThreadIdx
        | Expr::BlockIdx
        | Expr::Mma { .. } => {}
        Expr::Load { index, .. } | Expr::VLoad { index, .. } => walk(index, f),
        Expr::Unary { arg, .. }
        | Expr::Splat { arg, .. }
        | Expr::LaneReduce { arg, .. }
        | Expr::Cast { arg, .. }
        | Expr::Bitcast { arg, .. }
        | Expr::ShuffleXor { value: arg, .. } => walk(arg, f),
        Expr::Binary { lhs, rhs, .. } | Expr::Cmp { lhs, rhs, .. } => {
            walk(lhs, f);
            walk(rhs, f);
        }
        Expr::Select {
            cond,
            then,
            otherwise,
        } => {
            walk(cond, f);
            walk(then, f);
            walk(otherwise, f);
        }
        Expr::Fma { a, b, c }
        | Expr::DotBytes {
            acc: a, a: b, b: c, ..
        } => {
            walk(a, f);
            walk(b, f);
            walk(c, f);
        }
    }
}

/// An [`Expr::Mma`] (the whole value of an assignment): in a block kernel of whole
/// warps, in uniform control flow.
fn mma_rules(k: &Kernel, uniform: bool) -> Result<(), String> {
    match k.gpu {
        None => Err("an mma outside a block kernel".into()),
        Some(g) if !g.block.is_multiple_of(32) => Err(format!(
            "an mma in blocks of {} threads (whole warps only)",
            g.block
        )),
        Some(_) if !uniform => {
            Err("an mma in control flow that is not uniform across the block".into())
        }
        Some(_) => Ok(()),
    }
}

/// Errors on an [`Expr::Mma`] anywhere in `e` (it may only be an assignment's value).
fn no_nested_mma(e: &Expr) -> Result<(), String> {
    let mut found = false;
    walk(e, &mut |x| found |= matches!(x, Expr::Mma { .. }));
    if found {
        return Err("an mma inside another expression".into());
    }
    Ok(())
}

/// Checks the thread indices and local accesses in `e`; errors on any shuffle.
fn no_shuffle(k: &Kernel, e: &Expr) -> Result<(), String> {
    let mut found = Ok(());
    walk(e, &mut |x| {
        if found.is_ok() {
            found = leaf(k, x).and_then(|_| match x {
                Expr::ShuffleXor { .. } => {
                    Err("a shuffle outside the value of an assignment or store".into())
                }
                _ => Ok(()),
            });
        }
    });
    found
}

/// Checks the shuffles of the value of an `Assign` or `Store`: uniform control flow,
/// not nested, partners inside the block.
fn shuffles_in_value(k: &Kernel, e: &Expr, uniform: bool) -> Result<(), String> {
    let mut found = Ok(());
    walk(e, &mut |x| {
        if found.is_err() {
            return;
        }
        found = leaf(k, x);
        let Expr::ShuffleXor { value, lane_mask } = x else {
            return;
        };
        let block = k.gpu.map_or(0, |g| g.block);
        // Partners `t ^ mask` stay below `block` for every `t < block` exactly when
        // `block` is a multiple of the power of two above the mask.
        let span = (*lane_mask + 1).next_power_of_two();
        found = if k.gpu.is_none() {
            Err("a shuffle outside a block kernel".into())
        } else if !uniform {
            Err("a shuffle in control flow that is not uniform across the block".into())
        } else if !block.is_multiple_of(span) {
            Err(format!(
                "shuffle lane mask {lane_mask} pairs threads outside a block of {block}"
            ))
        } else {
            no_shuffle(k, value)
        };
    });
    found
}

/// The rules for one expression node: thread indices only in block kernels, constant
/// indices of block-local arrays in bounds.
fn leaf(k: &Kernel, e: &Expr) -> Result<(), String> {
    match e {
        Expr::ThreadIdx | Expr::BlockIdx if k.gpu.is_none() => {
            Err("thread_idx/block_idx outside a block kernel".into())
        }
        Expr::Load { buf, index } | Expr::VLoad { buf, index, .. } => {
            let lanes = match e {
                Expr::VLoad { lanes, .. } => i64::from(*lanes),
                _ => 1,
            };
            match (k.local(*buf), index.as_ref()) {
                (Some(l), Expr::IConst(i, _)) if *i < 0 || i + lanes > l.len as i64 => {
                    Err(format!("load of {buf}[{i}] outside its {} elements", l.len))
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}
