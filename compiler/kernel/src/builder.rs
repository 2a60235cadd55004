//! A small builder that keeps lowering code close to the loop nest it writes.

use crate::expr::Expr;
use crate::kernel::{
    Access, BufId, GpuLaunch, Kernel, LocalArray, LoopKind, Param, ScalarType, Stmt, Var, VarId,
};

/// Builds one [`Kernel`]; nesting follows the closures passed to `for_loop`/`if_then`.
#[derive(Debug)]
pub struct KernelBuilder {
    kernel: Kernel,
    /// Open blocks; the last one receives new statements.
    blocks: Vec<Vec<Stmt>>,
}

impl KernelBuilder {
    pub fn new(name: impl Into<String>) -> Self {
        KernelBuilder {
            kernel: Kernel {
                name: name.into(),
                params: Vec::new(),
                vars: Vec::new(),
                body: Vec::new(),
                locals: Vec::new(),
                gpu: None,
            },
            blocks: vec![Vec::new()],
        }
    }

    /// The kernel's symbol name.
    pub fn name(&self) -> &str {
        &self.kernel.name
    }

    /// Declares the next buffer parameter (`args[i]` in the calling convention).
    pub fn param(
        &mut self,
        name: impl Into<String>,
        elem: ScalarType,
        len: u64,
        access: Access,
    ) -> BufId {
        self.kernel.params.push(Param {
            name: name.into(),
            elem,
            len,
            access,
        });
        BufId(self.kernel.params.len() as u32 - 1)
    }

    /// Changes how the kernel uses parameter `b` (e.g. an input also written in place).
    pub fn set_access(&mut self, b: BufId, access: Access) {
        if let Some(p) = self.kernel.params.get_mut(b.0 as usize) {
            p.access = access;
        }
    }

    /// Declares a block-local array of `len` elements (see [`crate::LocalArray`]).
    pub fn local(&mut self, name: impl Into<String>, elem: ScalarType, len: u64) -> BufId {
        self.kernel.locals.push(LocalArray {
            name: name.into(),
            elem,
            len,
        });
        BufId::local(self.kernel.locals.len() as u32 - 1)
    }

    /// Makes the kernel a block kernel of this launch shape.
    pub fn set_gpu(&mut self, launch: GpuLaunch) {
        self.kernel.gpu = Some(launch);
    }

    /// `Stmt::Barrier`: waits for every thread of the block (block kernels only).
    pub fn barrier(&mut self) {
        self.push(Stmt::Barrier);
    }

    /// Declares a scalar variable.
    pub fn var(&mut self, name: impl Into<String>, ty: ScalarType) -> VarId {
        self.vector_var(name, ty, 1)
    }

    /// Declares a variable holding `lanes` values of `ty` (a scalar when `lanes == 1`).
    pub fn vector_var(&mut self, name: impl Into<String>, ty: ScalarType, lanes: u32) -> VarId {
        self.kernel.vars.push(Var {
            name: name.into(),
            ty,
            lanes,
        });
        VarId(self.kernel.vars.len() as u32 - 1)
    }

    /// Declares a variable and assigns its initial value.
    pub fn let_var(&mut self, name: impl Into<String>, ty: ScalarType, init: Expr) -> VarId {
        let v = self.var(name, ty);
        self.assign(v, init);
        v
    }

    pub fn push(&mut self, stmt: Stmt) {
        if let Some(block) = self.blocks.last_mut() {
            block.push(stmt);
        }
    }

    pub fn assign(&mut self, var: VarId, value: Expr) {
        self.push(Stmt::Assign { var, value });
    }

    pub fn store(&mut self, buf: BufId, index: Expr, value: Expr) {
        self.push(Stmt::Store { buf, index, value });
    }

    /// `for i in lo..hi { body(i) }` with a fresh `i64` counter named `name`.
    pub fn for_loop(
        &mut self,
        name: &str,
        lo: impl Into<Expr>,
        hi: impl Into<Expr>,
        kind: LoopKind,
        body: impl FnOnce(&mut Self, Expr),
    ) {
        let var = self.var(name, ScalarType::I64);
        self.blocks.push(Vec::new());
        body(self, Expr::Var(var));
        let body = self.blocks.pop().unwrap_or_default();
        self.push(Stmt::For {
            var,
            lo: lo.into(),
            hi: hi.into(),
            kind,
            body,
        });
    }

    /// Nested loops `0..extents[k]` (outermost first); `kinds[k]` marks loop k (missing
    /// entries are serial). The closure receives the counters, outermost first.
    pub fn loop_nest(
        &mut self,
        prefix: &str,
        extents: &[u64],
        kinds: &[LoopKind],
        body: impl FnOnce(&mut Self, &[Expr]),
    ) {
        fn go<F: FnOnce(&mut KernelBuilder, &[Expr])>(
            b: &mut KernelBuilder,
            prefix: &str,
            extents: &[u64],
            kinds: &[LoopKind],
            idx: &mut Vec<Expr>,
            body: F,
        ) {
            let depth = idx.len();
            if depth == extents.len() {
                body(b, idx);
                return;
            }
            let kind = kinds.get(depth).copied().unwrap_or(LoopKind::Serial);
            let name = format!("{prefix}{depth}");
            b.for_loop(&name, 0, extents[depth] as i64, kind, |b, i| {
                idx.push(i);
                go(b, prefix, extents, kinds, idx, body);
                idx.pop();
            });
        }
        let mut idx = Vec::with_capacity(extents.len());
        go(self, prefix, extents, kinds, &mut idx, body);
    }

    /// `if cond { then }`.
    pub fn if_then(&mut self, cond: Expr, then: impl FnOnce(&mut Self)) {
        self.blocks.push(Vec::new());
        then(self);
        let then = self.blocks.pop().unwrap_or_default();
        self.push(Stmt::If {
            cond,
            then,
            otherwise: Vec::new(),
        });
    }

    /// `if cond { then } else { otherwise }`.
    pub fn if_else(
        &mut self,
        cond: Expr,
        then: impl FnOnce(&mut Self),
        otherwise: impl FnOnce(&mut Self),
    ) {
        self.blocks.push(Vec::new());
        then(self);
        let then = self.blocks.pop().unwrap_or_default();
        self.blocks.push(Vec::new());
        otherwise(self);
        let otherwise = self.blocks.pop().unwrap_or_default();
        self.push(Stmt::If {
            cond,
            then,
            otherwise,
        });
    }

    pub fn finish(mut self) -> Kernel {
        self.kernel.body = self.blocks.pop().unwrap_or_default();
        self.kernel
    }
}

/// Row-major linear index of `idx` in a tensor of `dims`, as an `i64` expression.
/// Constant-zero terms are skipped so simple cases stay readable in printed IR.
pub fn linear_index(idx: &[Expr], dims: &[u64]) -> Expr {
    let mut acc: Option<Expr> = None;
    let mut stride: u64 = 1;
    let mut terms = Vec::with_capacity(idx.len());
    for (i, d) in idx.iter().zip(dims).rev() {
        if *d != 1 {
            let term = if stride == 1 {
                i.clone()
            } else {
                i.clone() * Expr::i64(stride as i64)
            };
            terms.push(term);
        }
        stride *= d;
    }
    for t in terms.into_iter().rev() {
        acc = Some(match acc {
            None => t,
            Some(a) => a + t,
        });
    }
    acc.unwrap_or(Expr::i64(0))
}
