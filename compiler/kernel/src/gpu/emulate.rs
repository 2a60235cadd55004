//! The CPU meaning of a block kernel: [`emulate`] rewrites it into an ordinary kernel
//! with one parallel iteration per block, so CPUs (and CI without a GPU) run exactly
//! the computation a GPU would.
//!
//! This is loop fission at barriers. Inside one block, the statements between two
//! barriers run for every thread before any statement after the barrier runs, so they
//! become a loop over the block's threads (`for t in 0..block`). A loop or `if` that
//! contains a barrier is uniform across the block (`rules.rs` checks it) and runs once
//! per block, its body split the same way. A variable that carries a value from one such
//! thread loop into another (or into the next trip of an enclosing uniform loop) is per
//! thread: it becomes a block-local array indexed by the thread. A shuffle first stores
//! its operand in a block-local array at the thread's index, then (after an implicit
//! barrier) reads the partner's element (`t ^ lane_mask`).
//!
//! The result computes what the GPU computes for any interleaving the barriers allow;
//! `gpu_schedule.rs` (driver tests) checks every GPU schedule through it against the
//! reference outputs.

use std::collections::HashSet;

use super::collapse::map_expr;
use super::rules::walk;
use crate::expr::{BinaryOp, Expr};
use crate::kernel::{BufId, Kernel, LocalArray, LoopKind, ScalarType, Stmt, Var, VarId};

/// `k` itself when it is not a block kernel; otherwise the ordinary kernel that runs its
/// `grid` blocks as the iterations of one top-level parallel loop (see the module docs).
/// `k` must pass [`crate::verify_kernel`].
pub fn emulate(k: &Kernel) -> Kernel {
    let Some(launch) = k.gpu else {
        return k.clone();
    };
    // Tensor-core steps first become block-local arrays and barriers.
    let mut out = super::expand_mma(k);
    out.gpu = None;
    let thread = new_var(&mut out, "thread", ScalarType::I64, 1);
    let blk = new_var(&mut out, "block", ScalarType::I64, 1);
    let mut e = Emulation {
        k: out,
        block: launch.block,
        thread,
        segments: Vec::new(),
        uniform_vars: HashSet::new(),
    };
    let body = std::mem::take(&mut e.k.body);
    let body = e.hoist_shuffles(body);
    let body = e.fission(body);
    let per_thread = e.per_thread_vars();
    let mut arrays = Vec::new();
    for v in per_thread {
        let var = e.k.vars[v.0 as usize].clone();
        let len = u64::from(launch.block) * u64::from(var.lanes);
        arrays.push((
            v,
            local(&mut e.k, &format!("{}_t", var.name), var.ty, len),
            var.lanes,
        ));
    }
    let body = e.rewrite(body, &arrays, false);
    let mut out = e.k;
    out.body = vec![Stmt::For {
        var: blk,
        lo: Expr::i64(0),
        hi: Expr::i64(launch.grid as i64),
        kind: LoopKind::Parallel,
        body,
    }];
    replace_block_idx(&mut out.body, blk);
    out
}

struct Emulation {
    k: Kernel,
    block: u32,
    /// The counter of every thread loop.
    thread: VarId,
    /// For each thread loop: the variables it reads before assigning them
    /// (values carried in from elsewhere).
    segments: Vec<HashSet<VarId>>,
    /// Counters of loops that run once per block.
    uniform_vars: HashSet<VarId>,
}

fn new_var(k: &mut Kernel, name: &str, ty: ScalarType, lanes: u32) -> VarId {
    k.vars.push(Var {
        name: name.into(),
        ty,
        lanes,
    });
    VarId(k.vars.len() as u32 - 1)
}

fn local(k: &mut Kernel, name: &str, elem: ScalarType, len: u64) -> BufId {
    k.locals.push(LocalArray {
        name: name.into(),
        elem,
        len,
    });
    BufId::local(k.locals.len() as u32 - 1)
}

/// Whether `s` contains a barrier (after [`Emulation::hoist_shuffles`], the only kind of
/// synchronisation).
fn has_barrier(s: &Stmt) -> bool {
    match s {
        Stmt::Barrier => true,
        Stmt::For { body, .. } => body.iter().any(has_barrier),
        Stmt::If {
            then, otherwise, ..
        } => then.iter().chain(otherwise).any(has_barrier),
        Stmt::Assign { .. } | Stmt::Store { .. } => false,
    }
}

fn has_shuffle(e: &Expr) -> bool {
    let mut found = false;
    walk(e, &mut |x| found |= matches!(x, Expr::ShuffleXor { .. }));
    found
}

impl Emulation {
    /// Turns every shuffle into a store of its operand to a fresh block-local array at
    /// the thread's index, a barrier, and a load of the partner's element.
    fn hoist_shuffles(&mut self, stmts: Vec<Stmt>) -> Vec<Stmt> {
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            match s {
                Stmt::Assign { var, value } if has_shuffle(&value) => {
                    let value = self.hoist_in(value, &mut out);
                    out.push(Stmt::Assign { var, value });
                }
                Stmt::Store { buf, index, value } if has_shuffle(&value) => {
                    let value = self.hoist_in(value, &mut out);
                    out.push(Stmt::Store { buf, index, value });
                }
                s => out.push(s.map_bodies(&mut |b| self.hoist_shuffles(b))),
            }
        }
        out
    }

    fn hoist_in(&mut self, value: Expr, out: &mut Vec<Stmt>) -> Expr {
        let mut stores = Vec::new();
        let block = u64::from(self.block);
        let k = &mut self.k;
        let value = map_expr(&value, &mut |x| {
            let Expr::ShuffleXor { value, lane_mask } = x else {
                return None;
            };
            let ty = value.ty(k).unwrap_or(ScalarType::F32);
            let n = k.locals.len();
            let arr = local(k, &format!("shuffle{n}"), ty, block);
            stores.push(Stmt::Store {
                buf: arr,
                index: Expr::ThreadIdx,
                value: (**value).clone(),
            });
            let partner = Expr::binary(
                BinaryOp::Xor,
                Expr::ThreadIdx,
                Expr::i64(i64::from(*lane_mask)),
            );
            Some(Expr::load(arr, partner))
        });
        out.extend(stores);
        out.push(Stmt::Barrier);
        value
    }

    /// Splits `stmts` at barriers into thread loops; statements containing barriers
    /// run once per block.
    fn fission(&mut self, stmts: Vec<Stmt>) -> Vec<Stmt> {
        let mut out = Vec::new();
        let mut run = Vec::new();
        for s in stmts {
            if !has_barrier(&s) {
                run.push(s);
                continue;
            }
            self.flush(&mut run, &mut out);
            match s {
                Stmt::For {
                    var, lo, hi, body, ..
                } => {
                    self.uniform_vars.insert(var);
                    let body = self.fission(body);
                    out.push(Stmt::For {
                        var,
                        lo,
                        hi,
                        kind: LoopKind::Serial,
                        body,
                    });
                }
                Stmt::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let then = self.fission(then);
                    let otherwise = self.fission(otherwise);
                    out.push(Stmt::If {
                        cond,
                        then,
                        otherwise,
                    });
                }
                _ => {} // the barrier itself: the end of a thread loop
            }
        }
        self.flush(&mut run, &mut out);
        out
    }

    /// Ends the current run of statements as one thread loop.
    fn flush(&mut self, run: &mut Vec<Stmt>, out: &mut Vec<Stmt>) {
        if run.is_empty() {
            return;
        }
        let body = std::mem::take(run);
        let mut defined = HashSet::new();
        let mut live_in = HashSet::new();
        live_in_block(&body, &mut defined, &mut live_in);
        self.segments.push(live_in);
        out.push(Stmt::For {
            var: self.thread,
            lo: Expr::i64(0),
            hi: Expr::i64(i64::from(self.block)),
            kind: LoopKind::Serial,
            body,
        });
    }

    /// Variables whose value crosses from one thread loop to another: every variable
    /// some thread loop reads before assigning it, except the counters of
    /// once-per-block loops (the same for every thread).
    fn per_thread_vars(&self) -> Vec<VarId> {
        let mut vars: Vec<VarId> = self
            .segments
            .iter()
            .flatten()
            .filter(|v| !self.uniform_vars.contains(v) && **v != self.thread)
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        vars.sort();
        vars
    }

    /// Inside thread loops: per-thread variables read and written through their arrays,
    /// `thread_idx` is the loop's counter.
    fn rewrite(&self, stmts: Vec<Stmt>, arrays: &[(VarId, BufId, u32)], inside: bool) -> Vec<Stmt> {
        let t = self.thread;
        let slot = |lanes: u32| {
            if lanes == 1 {
                Expr::Var(t)
            } else {
                Expr::Var(t) * Expr::i64(i64::from(lanes))
            }
        };
        let fix = |e: &Expr| {
            map_expr(e, &mut |x| match x {
                Expr::ThreadIdx if inside => Some(Expr::Var(t)),
                Expr::Var(v) => arrays.iter().find(|a| a.0 == *v).map(|&(_, arr, lanes)| {
                    if lanes == 1 {
                        Expr::load(arr, slot(1))
                    } else {
                        Expr::vload(arr, slot(lanes), lanes)
                    }
                }),
                _ => None,
            })
        };
        stmts
            .into_iter()
            .map(|s| match s {
                Stmt::For {
                    var,
                    lo,
                    hi,
                    kind,
                    body,
                } => {
                    let inner = inside || var == t;
                    Stmt::For {
                        var,
                        lo: fix(&lo),
                        hi: fix(&hi),
                        kind,
                        body: self.rewrite(body, arrays, inner),
                    }
                }
                Stmt::If {
                    cond,
                    then,
                    otherwise,
                } => Stmt::If {
                    cond: fix(&cond),
                    then: self.rewrite(then, arrays, inside),
                    otherwise: self.rewrite(otherwise, arrays, inside),
                },
                Stmt::Assign { var, value } => match arrays.iter().find(|a| a.0 == var) {
                    Some(&(_, arr, lanes)) => Stmt::Store {
                        buf: arr,
                        index: slot(lanes),
                        value: fix(&value),
                    },
                    None => Stmt::Assign {
                        var,
                        value: fix(&value),
                    },
                },
                Stmt::Store { buf, index, value } => Stmt::Store {
                    buf,
                    index: fix(&index),
                    value: fix(&value),
                },
                Stmt::Barrier => Stmt::Barrier,
            })
            .collect()
    }
}

/// Adds to `live_in` the variables `stmts` read before assigning them; `defined` holds
/// those assigned so far on every path (an assignment inside a loop or `if` does not
/// count, except a loop's own counter inside the loop).
fn live_in_block(stmts: &[Stmt], defined: &mut HashSet<VarId>, live_in: &mut HashSet<VarId>) {
    let read = |e: &Expr, defined: &HashSet<VarId>, live_in: &mut HashSet<VarId>| {
        walk(e, &mut |x| {
            if let Expr::Var(v) = x {
                if !defined.contains(v) {
                    live_in.insert(*v);
                }
            }
        })
    };
    for s in stmts {
        match s {
            Stmt::Assign { var, value } => {
                read(value, defined, live_in);
                defined.insert(*var);
            }
            Stmt::Store { index, value, .. } => {
                read(index, defined, live_in);
                read(value, defined, live_in);
            }
            Stmt::For {
                var, lo, hi, body, ..
            } => {
                read(lo, defined, live_in);
                read(hi, defined, live_in);
                let mut inner = defined.clone();
                inner.insert(*var);
                live_in_block(body, &mut inner, live_in);
            }
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                read(cond, defined, live_in);
                live_in_block(then, &mut defined.clone(), live_in);
                live_in_block(otherwise, &mut defined.clone(), live_in);
            }
            Stmt::Barrier => {}
        }
    }
}

fn replace_block_idx(stmts: &mut [Stmt], blk: VarId) {
    let fix = |e: &mut Expr| {
        *e = map_expr(e, &mut |x| {
            matches!(x, Expr::BlockIdx).then_some(Expr::Var(blk))
        })
    };
    for s in stmts {
        match s {
            Stmt::For { lo, hi, body, .. } => {
                fix(lo);
                fix(hi);
                replace_block_idx(body, blk);
            }
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                fix(cond);
                replace_block_idx(then, blk);
                replace_block_idx(otherwise, blk);
            }
            Stmt::Assign { value, .. } => fix(value),
            Stmt::Store { index, value, .. } => {
                fix(index);
                fix(value);
            }
            Stmt::Barrier => {}
        }
    }
}
