//! Generic lowering of kernel IR to LLVM IR.
//!
//! Each kernel `k` becomes two functions:
//!
//! ```text
//! define void @k(ptr %args, i64 %task, i64 %ntasks)           ; exported
//!     loads args[i] for every param, calls @k.body, returns
//! define private void @k.body(ptr noalias nocapture align(E) dereferenceable(L) %p0, …,
//!                             i64 %task, i64 %ntasks) alwaysinline
//!     the loop nest
//! ```
//!
//! The split lets the parameters carry `noalias` (the kernel IR guarantees that distinct
//! buffers never overlap unless both are read-only); when LLVM inlines the body it turns
//! those into scoped alias metadata, which the vectorizer needs. Variables are `alloca`s
//! in the entry block (SROA/mem2reg promote them). `bool` is `i1` in registers and an
//! `i8` 0/1 in memory.

use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::module::{Linkage, Module};
use inkwell::types::{BasicTypeEnum, VectorType};
use inkwell::values::{
    AsValueRef, BasicMetadataValueEnum, BasicValue, BasicValueEnum, FunctionValue, IntValue,
    MetadataValue, PointerValue, VectorValue,
};
use inkwell::{FloatPredicate, IntPredicate};
use neoc_kernel::{Access, BinaryOp, Expr, Kernel, LoopKind, ScalarType, Stmt, UnaryOp, VarId};

use crate::ir::Ir;
use crate::math::MathLib;
use crate::Result;

mod dot;
mod gpu;
mod mma;
mod scalar;

/// Function attributes shared by every function of a module: the CPU level.
#[derive(Debug, Clone)]
pub(crate) struct FnAttrs {
    pub cpu: String,
    pub features: String,
    /// The target has SIMD registers: `Vectorize` marks become vectorizer hints (false
    /// for NVPTX, where a thread is scalar and the hint only produces remarks).
    pub simd: bool,
}

impl FnAttrs {
    /// Adds `nounwind`, `"no-builtins"` (so no pass turns loops into `memset`/`memcpy`
    /// calls, which would be undefined symbols) and the target CPU and features.
    pub fn apply(&self, ctx: &Context, f: FunctionValue<'_>) {
        f.add_attribute(AttributeLoc::Function, enum_attr(ctx, "nounwind", 0));
        f.add_attribute(
            AttributeLoc::Function,
            ctx.create_string_attribute("no-builtins", ""),
        );
        f.add_attribute(
            AttributeLoc::Function,
            ctx.create_string_attribute("target-cpu", &self.cpu),
        );
        if !self.features.is_empty() {
            f.add_attribute(
                AttributeLoc::Function,
                ctx.create_string_attribute("target-features", &self.features),
            );
        }
    }
}

pub(crate) fn enum_attr(ctx: &Context, name: &str, val: u64) -> Attribute {
    ctx.create_enum_attribute(Attribute::get_named_enum_kind_id(name), val)
}

/// Generates the kernels of one LLVM module.
pub(crate) struct ModuleCodegen<'a, 'ctx> {
    ctx: &'ctx Context,
    module: &'a Module<'ctx>,
    attrs: FnAttrs,
    math: MathLib<'ctx>,
}

/// The name of the kernel an LLVM verifier message is about, if one is named in it.
pub(crate) fn kernel_named_in(message: &str, module: &neoc_kernel::Module) -> String {
    module
        .kernels
        .iter()
        .find(|k| {
            message.contains(&format!("@{}(", k.name))
                || message.contains(&format!("@{}.body", k.name))
        })
        .map_or_else(|| "<unknown>".to_string(), |k| k.name.clone())
}

impl<'a, 'ctx> ModuleCodegen<'a, 'ctx> {
    pub fn new(ctx: &'ctx Context, module: &'a Module<'ctx>, attrs: FnAttrs) -> Self {
        let math = MathLib::new(attrs.clone());
        ModuleCodegen {
            ctx,
            module,
            attrs,
            math,
        }
    }

    /// Adds the exported function of `k` and its body to the module.
    pub fn kernel(&mut self, k: &Kernel) -> Result<()> {
        // A block kernel's CPU meaning: one task per block (`docs/cuda.md`).
        let emulated;
        let k = if k.gpu.is_some() {
            emulated = neoc_kernel::gpu::emulate(k);
            &emulated
        } else {
            k
        };
        let body = self.kernel_body(k)?;
        let ctx = self.ctx;
        let ptr = ctx.ptr_type(inkwell::AddressSpace::default());
        let i64t = ctx.i64_type();

        // The exported entry point of the calling convention.
        let entry = self.module.add_function(
            &k.name,
            ctx.void_type()
                .fn_type(&[ptr.into(), i64t.into(), i64t.into()], false),
            Some(Linkage::External),
        );
        self.attrs.apply(ctx, entry);
        entry.add_attribute(AttributeLoc::Param(0), enum_attr(ctx, "nocapture", 0));
        entry.add_attribute(AttributeLoc::Param(0), enum_attr(ctx, "readonly", 0));
        let builder = ctx.create_builder();
        let ir = Ir {
            ctx,
            module: self.module,
            b: &builder,
            what: &k.name,
        };
        builder.position_at_end(ctx.append_basic_block(entry, "entry"));
        let args = param(&ir, entry, 0)?.into_pointer_value();
        let mut call_args: Vec<BasicMetadataValueEnum<'ctx>> = Vec::new();
        for i in 0..k.params.len() {
            // SAFETY: `args` points at one pointer per parameter (calling convention).
            let slot = unsafe {
                builder.build_in_bounds_gep(ptr, args, &[i64t.const_int(i as u64, false)], "")
            }
            .map_err(|e| ir.err(e))?;
            let p = builder
                .build_load(ptr, slot, &k.params[i].name)
                .map_err(|e| ir.err(e))?;
            call_args.push(p.into());
        }
        call_args.push(param(&ir, entry, 1)?.into());
        call_args.push(param(&ir, entry, 2)?.into());
        builder
            .build_call(body, &call_args, "")
            .map_err(|e| ir.err(e))?;
        builder.build_return(None).map_err(|e| ir.err(e))?;
        Ok(())
    }

    /// Adds `k.body`: the loop nest as a private `alwaysinline` function of one pointer
    /// per buffer, then `task` and `ntasks` (the entry points of the CPU calling
    /// convention and of the NVPTX kernels both call it).
    pub fn kernel_body(&mut self, k: &Kernel) -> Result<FunctionValue<'ctx>> {
        let ctx = self.ctx;
        let ptr = ctx.ptr_type(inkwell::AddressSpace::default());
        let i64t = ctx.i64_type();

        // One pointer parameter per buffer, then task and ntasks.
        let mut body_params: Vec<_> = k.params.iter().map(|_| ptr.into()).collect();
        body_params.push(i64t.into());
        body_params.push(i64t.into());
        let body_name = format!("{}.body", k.name);
        let body = self.module.add_function(
            &body_name,
            ctx.void_type().fn_type(&body_params, false),
            Some(Linkage::Private),
        );
        self.attrs.apply(ctx, body);
        body.add_attribute(AttributeLoc::Function, enum_attr(ctx, "alwaysinline", 0));
        for (i, p) in k.params.iter().enumerate() {
            let loc = AttributeLoc::Param(i as u32);
            body.add_attribute(loc, enum_attr(ctx, "noalias", 0));
            body.add_attribute(loc, enum_attr(ctx, "nocapture", 0));
            body.add_attribute(loc, enum_attr(ctx, "noundef", 0));
            let align = p.elem.size_bytes().max(gpu::buffer_align(self.module));
            body.add_attribute(loc, enum_attr(ctx, "align", align));
            if p.byte_len() > 0 {
                body.add_attribute(loc, enum_attr(ctx, "dereferenceable", p.byte_len()));
            }
            if p.access == Access::Read {
                body.add_attribute(loc, enum_attr(ctx, "readonly", 0));
            }
        }

        let builder = ctx.create_builder();
        let ir = Ir {
            ctx,
            module: self.module,
            b: &builder,
            what: &k.name,
        };
        builder.position_at_end(ctx.append_basic_block(body, "entry"));
        let mut bufs = Vec::new();
        for i in 0..k.params.len() {
            bufs.push(param(&ir, body, i as u32)?.into_pointer_value());
        }
        let mut vars = Vec::new();
        for v in &k.vars {
            vars.push(
                builder
                    .build_alloca(value_type(ctx, v.ty, v.lanes), &v.name)
                    .map_err(|e| ir.err(e))?,
            );
        }
        let nvptx = gpu::is_nvptx(&ir);
        let locals = gpu::locals(&ir, k, nvptx)?;
        let n = k.params.len() as u32;
        let mut gen = KernelGen {
            ir,
            math: &mut self.math,
            kernel: k,
            func: body,
            bufs,
            vars,
            task: param_int(&ir, body, n)?,
            ntasks: param_int(&ir, body, n + 1)?,
            simd: self.attrs.simd,
            locals,
            nvptx,
        };
        // A block kernel's threads each run the whole body: no task chunking.
        gen.block(&k.body, k.gpu.is_none())?;
        builder.build_return(None).map_err(|e| ir.err(e))?;
        Ok(body)
    }
}

fn param<'ctx>(ir: &Ir<'_, 'ctx>, f: FunctionValue<'ctx>, i: u32) -> Result<BasicValueEnum<'ctx>> {
    f.get_nth_param(i)
        .ok_or_else(|| ir.internal(format!("function parameter {i} missing")))
}

fn param_int<'ctx>(ir: &Ir<'_, 'ctx>, f: FunctionValue<'ctx>, i: u32) -> Result<IntValue<'ctx>> {
    Ok(param(ir, f, i)?.into_int_value())
}

/// The LLVM type of a value of `t` in registers.
fn reg_type(ctx: &Context, t: ScalarType) -> BasicTypeEnum<'_> {
    match t {
        ScalarType::F16 => ctx.f16_type().into(),
        ScalarType::F32 => ctx.f32_type().into(),
        ScalarType::F64 => ctx.f64_type().into(),
        ScalarType::I8 | ScalarType::U8 => ctx.i8_type().into(),
        ScalarType::I16 | ScalarType::U16 => ctx.i16_type().into(),
        ScalarType::I32 | ScalarType::U32 => ctx.i32_type().into(),
        ScalarType::I64 | ScalarType::U64 => ctx.i64_type().into(),
        ScalarType::Bool => ctx.bool_type().into(),
    }
}

/// The LLVM type of a value of `lanes` × `t` in registers (a vector when `lanes > 1`).
fn value_type(ctx: &Context, t: ScalarType, lanes: u32) -> BasicTypeEnum<'_> {
    match (lanes, reg_type(ctx, t)) {
        (1, scalar) => scalar,
        (n, BasicTypeEnum::FloatType(f)) => f.vec_type(n).into(),
        (n, BasicTypeEnum::IntType(i)) => i.vec_type(n).into(),
        (_, other) => other,
    }
}

/// The LLVM type of an element of `t` in memory.
fn mem_type(ctx: &Context, t: ScalarType) -> BasicTypeEnum<'_> {
    match t {
        ScalarType::Bool => ctx.i8_type().into(),
        t => reg_type(ctx, t),
    }
}

struct KernelGen<'a, 'b, 'ctx> {
    ir: Ir<'a, 'ctx>,
    math: &'b mut MathLib<'ctx>,
    kernel: &'a Kernel,
    func: FunctionValue<'ctx>,
    bufs: Vec<PointerValue<'ctx>>,
    vars: Vec<PointerValue<'ctx>>,
    task: IntValue<'ctx>,
    ntasks: IntValue<'ctx>,
    simd: bool,
    /// Storage of the block-local arrays (`codegen/gpu.rs`).
    locals: Vec<PointerValue<'ctx>>,
    /// Compiling for NVPTX.
    nvptx: bool,
}

impl<'ctx> KernelGen<'_, '_, 'ctx> {
    fn b(&self) -> &Builder<'ctx> {
        self.ir.b
    }

    fn var_ptr(&self, v: VarId) -> Result<PointerValue<'ctx>> {
        self.vars
            .get(v.0 as usize)
            .copied()
            .ok_or_else(|| self.ir.internal(format!("unknown variable {v}")))
    }

    fn var_type(&self, v: VarId) -> Result<ScalarType> {
        self.kernel
            .var(v)
            .map(|v| v.ty)
            .ok_or_else(|| self.ir.internal(format!("unknown variable {v}")))
    }

    fn append(&self, name: &str) -> BasicBlock<'ctx> {
        self.ir.ctx.append_basic_block(self.func, name)
    }

    fn br(&self, to: BasicBlock<'ctx>) -> Result<()> {
        self.b()
            .build_unconditional_branch(to)
            .map(|_| ())
            .map_err(|e| self.ir.err(e))
    }

    fn current_block(&self) -> Result<BasicBlock<'ctx>> {
        self.b()
            .get_insert_block()
            .ok_or_else(|| self.ir.internal("builder is not positioned"))
    }

    fn block(&mut self, stmts: &[Stmt], top: bool) -> Result<()> {
        for s in stmts {
            self.stmt(s, top)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt, top: bool) -> Result<()> {
        match s {
            Stmt::Assign { var, value } => {
                let v = self.expr(value)?;
                let p = self.var_ptr(*var)?;
                self.b().build_store(p, v).map_err(|e| self.ir.err(e))?;
            }
            Stmt::Store { buf, index, value } => {
                let v = self.expr(value)?;
                let elem = self.buf_elem(*buf)?;
                let addr = self.address(*buf, index)?;
                let v: BasicValueEnum<'ctx> = if elem == ScalarType::Bool {
                    self.b()
                        .build_int_z_extend(v.into_int_value(), self.ir.ctx.i8_type(), "")
                        .map_err(|e| self.ir.err(e))?
                        .into()
                } else {
                    v
                };
                let st = self.b().build_store(addr, v).map_err(|e| self.ir.err(e))?;
                // Vector stores are only element-aligned.
                st.set_alignment(elem.size_bytes() as u32)
                    .map_err(|e| self.ir.internal(e.to_string()))?;
            }
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond)?.into_int_value();
                let then_bb = self.append("if.then");
                let else_bb = self.append("if.else");
                let merge = self.append("if.end");
                self.b()
                    .build_conditional_branch(c, then_bb, else_bb)
                    .map_err(|e| self.ir.err(e))?;
                self.b().position_at_end(then_bb);
                self.block(then, false)?;
                self.br(merge)?;
                self.b().position_at_end(else_bb);
                self.block(otherwise, false)?;
                self.br(merge)?;
                self.b().position_at_end(merge);
            }
            Stmt::For {
                var,
                lo,
                hi,
                kind,
                body,
            } => self.for_loop(*var, lo, hi, *kind, body, top)?,
            Stmt::Barrier => self.barrier()?,
        }
        Ok(())
    }

    fn for_loop(
        &mut self,
        var: VarId,
        lo: &Expr,
        hi: &Expr,
        kind: LoopKind,
        body: &[Stmt],
        top: bool,
    ) -> Result<()> {
        let ir = self.ir;
        let i64t = ir.ctx.i64_type();
        let mut lo = self.expr(lo)?.into_int_value();
        let mut hi = self.expr(hi)?.into_int_value();
        if top && kind == LoopKind::Parallel {
            // Chunk `task` of `ntasks`: [lo + task·c, min(lo + (task+1)·c, hi)),
            // c = ceil(n / ntasks).
            let one = i64t.const_int(1, false);
            let zero = i64t.const_zero();
            let nt = ir.isel(
                ir.icmp(IntPredicate::SLT, self.ntasks, one)?,
                one,
                self.ntasks,
            )?;
            let n = ir.isub(hi, lo)?;
            let n = ir.isel(ir.icmp(IntPredicate::SLT, n, zero)?, zero, n)?;
            let chunk = self
                .b()
                .build_int_signed_div(ir.isub(ir.iadd(n, nt)?, one)?, nt, "chunk")
                .map_err(|e| ir.err(e))?;
            let offset = self
                .b()
                .build_int_mul(self.task, chunk, "")
                .map_err(|e| ir.err(e))?;
            let start = ir.iadd(lo, offset)?;
            let start = ir.isel(ir.icmp(IntPredicate::SLT, start, hi)?, start, hi)?;
            let end = ir.iadd(start, chunk)?;
            let end = ir.isel(ir.icmp(IntPredicate::SLT, end, hi)?, end, hi)?;
            lo = start;
            hi = end;
        }
        let pre = self.current_block()?;
        let header = self.append("for.header");
        let body_bb = self.append("for.body");
        let latch = self.append("for.latch");
        let exit = self.append("for.exit");
        self.br(header)?;

        self.b().position_at_end(header);
        let phi = self.b().build_phi(i64t, "i").map_err(|e| self.ir.err(e))?;
        let i = phi.as_basic_value().into_int_value();
        let c = self.ir.icmp(IntPredicate::SLT, i, hi)?;
        self.b()
            .build_conditional_branch(c, body_bb, exit)
            .map_err(|e| self.ir.err(e))?;

        self.b().position_at_end(body_bb);
        let p = self.var_ptr(var)?;
        self.b().build_store(p, i).map_err(|e| self.ir.err(e))?;
        self.block(body, false)?;
        self.br(latch)?;

        self.b().position_at_end(latch);
        // i < hi ≤ i64::MAX, so i + 1 does not overflow.
        let next = self
            .b()
            .build_int_nsw_add(i, i64t.const_int(1, false), "i.next")
            .map_err(|e| self.ir.err(e))?;
        let back = self
            .b()
            .build_unconditional_branch(header)
            .map_err(|e| self.ir.err(e))?;
        if let Some(md) = self.loop_metadata(kind) {
            let kind_id = self.ir.ctx.get_kind_id("llvm.loop");
            back.set_metadata(md, kind_id)
                .map_err(|e| self.ir.internal(e.to_string()))?;
        }
        phi.add_incoming(&[(&lo, pre), (&next, latch)]);
        self.b().position_at_end(exit);
        Ok(())
    }

    /// `!llvm.loop` metadata for a schedule mark: a distinct self-referential node.
    fn loop_metadata(&mut self, kind: LoopKind) -> Option<MetadataValue<'ctx>> {
        let ctx = self.ir.ctx;
        let props: Vec<MetadataValue<'ctx>> = match kind {
            LoopKind::Serial | LoopKind::Parallel => return None,
            LoopKind::Vectorize if !self.simd => return None,
            LoopKind::Vectorize => vec![ctx.metadata_node(&[
                ctx.metadata_string("llvm.loop.vectorize.enable").into(),
                ctx.bool_type().const_int(1, false).into(),
            ])],
            LoopKind::Unroll => {
                vec![ctx.metadata_node(&[ctx.metadata_string("llvm.loop.unroll.full").into()])]
            }
        };
        Some(self_referential_node(ctx, &props))
    }

    fn buf_elem(&self, buf: neoc_kernel::BufId) -> Result<ScalarType> {
        self.kernel
            .buffer(buf)
            .map(|(elem, _)| elem)
            .ok_or_else(|| self.ir.internal(format!("unknown buffer {buf}")))
    }

    fn address(&mut self, buf: neoc_kernel::BufId, index: &Expr) -> Result<PointerValue<'ctx>> {
        let elem = self.buf_elem(buf)?;
        let base = match buf.local_index() {
            Some(i) => self.locals.get(i),
            None => self.bufs.get(buf.0 as usize),
        }
        .copied()
        .ok_or_else(|| self.ir.internal(format!("unknown buffer {buf}")))?;
        let idx = self.expr(index)?.into_int_value();
        // SAFETY: kernel IR indexes within the buffer's `len` elements.
        unsafe {
            self.b()
                .build_in_bounds_gep(mem_type(self.ir.ctx, elem), base, &[idx], "")
        }
        .map_err(|e| self.ir.err(e))
    }

    fn ty(&self, e: &Expr) -> Result<ScalarType> {
        e.ty(self.kernel)
            .ok_or_else(|| self.ir.internal(format!("ill-typed expression {e:?}")))
    }

    fn expr(&mut self, e: &Expr) -> Result<BasicValueEnum<'ctx>> {
        let ctx = self.ir.ctx;
        Ok(match e {
            Expr::FConst(v, t) => reg_type(ctx, *t).into_float_type().const_float(*v).into(),
            Expr::IConst(v, t) => reg_type(ctx, *t)
                .into_int_type()
                .const_int(*v as u64, true)
                .into(),
            Expr::BConst(v) => ctx.bool_type().const_int(u64::from(*v), false).into(),
            Expr::Var(v) => {
                let lanes = self.kernel.var(*v).map_or(1, |v| v.lanes);
                let ty = value_type(ctx, self.var_type(*v)?, lanes);
                let p = self.var_ptr(*v)?;
                self.b().build_load(ty, p, "").map_err(|e| self.ir.err(e))?
            }
            Expr::Load { buf, index } => {
                let elem = self.buf_elem(*buf)?;
                let addr = self.address(*buf, index)?;
                let v = self
                    .b()
                    .build_load(mem_type(ctx, elem), addr, "")
                    .map_err(|e| self.ir.err(e))?;
                if elem == ScalarType::Bool {
                    self.ir
                        .icmp(
                            IntPredicate::NE,
                            v.into_int_value(),
                            ctx.i8_type().const_zero(),
                        )?
                        .into()
                } else {
                    v
                }
            }
            Expr::VLoad { buf, index, lanes } => {
                let elem = self.buf_elem(*buf)?;
                let addr = self.address(*buf, index)?;
                let v = self
                    .b()
                    .build_load(value_type(ctx, elem, *lanes), addr, "")
                    .map_err(|e| self.ir.err(e))?;
                if let Some(i) = v.as_instruction_value() {
                    i.set_alignment(elem.size_bytes() as u32)
                        .map_err(|e| self.ir.internal(e.to_string()))?;
                }
                v
            }
            Expr::Splat { arg, lanes } => {
                let x = self.expr(arg)?;
                self.splat(x, *lanes)?.into()
            }
            Expr::LaneReduce { op, arg } => {
                let mut v = self.expr(arg)?.into_vector_value();
                // Pairwise: halve the vector with two shuffles and one lane-wise op.
                let i32t = ctx.i32_type();
                let mut n = v.get_type().get_size();
                while n > 1 {
                    let half = n / 2;
                    let pick = |from: u32| {
                        let idx: Vec<_> = (from..from + half)
                            .map(|i| i32t.const_int(u64::from(i), false))
                            .collect();
                        VectorType::const_vector(&idx)
                    };
                    let lo = self
                        .b()
                        .build_shuffle_vector(v, v.get_type().get_poison(), pick(0), "")
                        .map_err(|e| self.ir.err(e))?;
                    let hi = self
                        .b()
                        .build_shuffle_vector(v, v.get_type().get_poison(), pick(half), "")
                        .map_err(|e| self.ir.err(e))?;
                    v = self.vector_binary(*op, lo, hi)?;
                    n = half;
                }
                self.b()
                    .build_extract_element(v, i32t.const_zero(), "")
                    .map_err(|e| self.ir.err(e))?
            }
            Expr::Unary { op, arg } if arg.lanes(self.kernel) > 1 => {
                let x = self.expr(arg)?.into_vector_value();
                match op {
                    UnaryOp::Neg => self
                        .b()
                        .build_float_neg(x, "")
                        .map_err(|e| self.ir.err(e))?
                        .into(),
                    _ => return Err(self.ir.internal(format!("vector {op:?}"))),
                }
            }
            Expr::Unary { op, arg } => {
                let t = self.ty(arg)?;
                let v = self.expr(arg)?;
                self.unary(*op, t, v)?
            }
            // Against a constant that is not NaN, NaN-propagating min/max is one compare
            // and select (`x < c ? c : x` keeps a NaN `x`), which x86 does in one
            // `maxps`/`minps`; the general form needs two NaN checks. Clip and ReLU
            // epilogues are all of this kind.
            Expr::Binary {
                op: op @ (BinaryOp::Min | BinaryOp::Max),
                lhs,
                rhs,
            } if self.ty(lhs)?.is_float() && (plain_constant(rhs) || plain_constant(lhs)) => {
                let (x, c) = if plain_constant(rhs) {
                    (lhs, rhs)
                } else {
                    (rhs, lhs)
                };
                let p = if *op == BinaryOp::Max {
                    FloatPredicate::OLT
                } else {
                    FloatPredicate::OGT
                };
                let (xv, cv) = (self.expr(x)?, self.expr(c)?);
                let e = |err| self.ir.err(err);
                match (xv, cv) {
                    (BasicValueEnum::VectorValue(a), BasicValueEnum::VectorValue(b)) => {
                        let below = self.b().build_float_compare(p, a, b, "").map_err(e)?;
                        self.b().build_select(below, b, a, "").map_err(e)?
                    }
                    (a, b) => {
                        let (a, b) = (a.into_float_value(), b.into_float_value());
                        self.ir.fsel(self.ir.fcmp(p, a, b)?, b, a)?.into()
                    }
                }
            }
            Expr::Binary { op, lhs, rhs } if lhs.lanes(self.kernel) > 1 => {
                let a = self.expr(lhs)?.into_vector_value();
                let b = self.expr(rhs)?.into_vector_value();
                self.vector_binary(*op, a, b)?.into()
            }
            Expr::Binary { op, lhs, rhs } => {
                let t = self.ty(lhs)?;
                let a = self.expr(lhs)?;
                let b = self.expr(rhs)?;
                self.binary(*op, t, a, b)?
            }
            Expr::Cmp { op, lhs, rhs } => {
                let t = self.ty(lhs)?;
                let a = self.expr(lhs)?;
                let b = self.expr(rhs)?;
                self.cmp(*op, t, a, b)?.into()
            }
            Expr::Select {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond)?.into_int_value();
                let a = self.expr(then)?;
                let b = self.expr(otherwise)?;
                self.b()
                    .build_select(c, a, b, "")
                    .map_err(|e| self.ir.err(e))?
            }
            Expr::Cast { to, arg } if arg.lanes(self.kernel) > 1 => {
                let from = self.ty(arg)?;
                let v = self.expr(arg)?.into_vector_value();
                self.vector_cast(v, from, *to)?.into()
            }
            Expr::Cast { to, arg } => {
                let from = self.ty(arg)?;
                let v = self.expr(arg)?;
                self.cast(v, from, *to)?
            }
            Expr::Bitcast { to, arg } => {
                let n = arg.lanes(self.kernel);
                let v = self.expr(arg)?;
                let t = value_type(self.ir.ctx, *to, n);
                self.b()
                    .build_bit_cast(v, t, "")
                    .map_err(|e| self.ir.err(e))?
            }
            Expr::Fma { a, b, c } if a.lanes(self.kernel) > 1 => {
                let args: Vec<BasicMetadataValueEnum<'ctx>> = vec![
                    self.expr(a)?.into(),
                    self.expr(b)?.into(),
                    self.expr(c)?.into(),
                ];
                self.vector_intrinsic("llvm.fma", &args)?
            }
            Expr::Fma { a, b, c } => {
                let a = self.expr(a)?.into_float_value();
                let b = self.expr(b)?.into_float_value();
                let c = self.expr(c)?.into_float_value();
                self.ir.fma(a, b, c)?.into()
            }
            Expr::DotBytes { acc, a, b, a_sign } => self.dot_bytes(acc, a, b, *a_sign)?,
            Expr::ThreadIdx => self.thread_idx()?,
            Expr::BlockIdx => self.block_idx()?,
            Expr::ShuffleXor { value, lane_mask } => self.shuffle_xor(value, *lane_mask)?,
            Expr::Mma { a, b, c, input } => self.mma((*a, *b, *c), *input)?,
        })
    }

    /// Lane-wise [`Expr::Cast`] of a vector: float↔float (`fpext`/`fptrunc`, the
    /// `--precision` conversions), int↔int (wrapping like the scalar form) and int→float.
    fn vector_cast(
        &self,
        v: VectorValue<'ctx>,
        from: ScalarType,
        to: ScalarType,
    ) -> Result<VectorValue<'ctx>> {
        if from == to {
            return Ok(v);
        }
        let e = |err| self.ir.err(err);
        let n = v.get_type().get_size();
        Ok(match reg_type(self.ir.ctx, to) {
            BasicTypeEnum::FloatType(t) if from.is_float() => {
                let vt = t.vec_type(n);
                if to.size_bytes() > from.size_bytes() {
                    let wide = self.b().build_float_ext(v, vt, "").map_err(e)?;
                    // Behind a fence, or InstCombine narrows `maximum(fpext a, fpext b)`
                    // back to half, which x86 without AVX-512 FP16 scalarizes (a softmax
                    // row maximum ran 7x slower at --precision fp16).
                    let fence = self.ir.intrinsic("llvm.arithmetic.fence", &[vt.into()])?;
                    self.ir.call(fence, &[wide.into()])?.into_vector_value()
                } else {
                    self.b().build_float_trunc(v, vt, "").map_err(e)?
                }
            }
            BasicTypeEnum::IntType(t) if from.is_int() && to.is_int() => {
                let vt = t.vec_type(n);
                match to.size_bytes().cmp(&from.size_bytes()) {
                    std::cmp::Ordering::Greater if from.is_signed() => {
                        self.b().build_int_s_extend(v, vt, "").map_err(e)?
                    }
                    std::cmp::Ordering::Greater => {
                        self.b().build_int_z_extend(v, vt, "").map_err(e)?
                    }
                    std::cmp::Ordering::Less => {
                        self.b().build_int_truncate(v, vt, "").map_err(e)?
                    }
                    std::cmp::Ordering::Equal => v,
                }
            }
            // int→float rounds to nearest (the int8 epilogue's exact i32 sums).
            BasicTypeEnum::FloatType(t) if from.is_int() && from.is_signed() => {
                let vt = t.vec_type(n);
                self.b().build_signed_int_to_float(v, vt, "").map_err(e)?
            }
            BasicTypeEnum::FloatType(t) if from.is_int() => {
                let vt = t.vec_type(n);
                self.b().build_unsigned_int_to_float(v, vt, "").map_err(e)?
            }
            _ => return Err(self.ir.internal(format!("vector cast from {from} to {to}"))),
        })
    }

    /// A vector of `lanes` copies of the scalar `x` (insertelement + shufflevector).
    fn splat(&self, x: BasicValueEnum<'ctx>, lanes: u32) -> Result<VectorValue<'ctx>> {
        let ctx = self.ir.ctx;
        let vty = match x.get_type() {
            BasicTypeEnum::FloatType(t) => t.vec_type(lanes),
            BasicTypeEnum::IntType(t) => t.vec_type(lanes),
            _ => return Err(self.ir.internal("splat of a non-scalar")),
        };
        let zero = ctx.i32_type().const_zero();
        let one = self
            .b()
            .build_insert_element(vty.get_poison(), x, zero, "")
            .map_err(|e| self.ir.err(e))?;
        let mask = VectorType::const_vector(&vec![zero; lanes as usize]);
        self.b()
            .build_shuffle_vector(one, vty.get_poison(), mask, "")
            .map_err(|e| self.ir.err(e))
    }

    /// Calls the intrinsic `name` overloaded on the (vector) type of `args[0]`.
    fn vector_intrinsic(
        &self,
        name: &str,
        args: &[BasicMetadataValueEnum<'ctx>],
    ) -> Result<BasicValueEnum<'ctx>> {
        let Some(BasicMetadataValueEnum::VectorValue(first)) = args.first() else {
            return Err(self.ir.internal(format!("{name} without a vector operand")));
        };
        let f = self.ir.intrinsic(name, &[first.get_type().into()])?;
        self.ir.call(f, args)
    }

    /// Lane-wise float arithmetic on two vectors (the verifier admits no other kind).
    fn vector_binary(
        &self,
        op: BinaryOp,
        a: VectorValue<'ctx>,
        b: VectorValue<'ctx>,
    ) -> Result<VectorValue<'ctx>> {
        let e = |err| self.ir.err(err);
        if a.get_type().get_element_type().is_int_type() {
            // Unsigned bit arithmetic of the bf16 conversions (`narrow.rs`); shift
            // amounts there are constants below the lane width.
            return Ok(match op {
                BinaryOp::Add => self.b().build_int_add(a, b, "").map_err(e)?,
                // Wrapping i32 arithmetic of the int8 epilogue.
                BinaryOp::Sub => self.b().build_int_sub(a, b, "").map_err(e)?,
                BinaryOp::Mul => self.b().build_int_mul(a, b, "").map_err(e)?,
                BinaryOp::And => self.b().build_and(a, b, "").map_err(e)?,
                BinaryOp::Shl => self.b().build_left_shift(a, b, "").map_err(e)?,
                BinaryOp::Shr => self.b().build_right_shift(a, b, false, "").map_err(e)?,
                _ => return Err(self.ir.internal(format!("integer vector {op:?}"))),
            });
        }
        Ok(match op {
            BinaryOp::Add => self.b().build_float_add(a, b, "").map_err(e)?,
            BinaryOp::Sub => self.b().build_float_sub(a, b, "").map_err(e)?,
            BinaryOp::Mul => self.b().build_float_mul(a, b, "").map_err(e)?,
            BinaryOp::Div => self.b().build_float_div(a, b, "").map_err(e)?,
            // NaN-propagating, as the scalar forms.
            BinaryOp::Min | BinaryOp::Max => {
                let name = if op == BinaryOp::Min {
                    "llvm.minimum"
                } else {
                    "llvm.maximum"
                };
                self.vector_intrinsic(name, &[a.into(), b.into()])?
                    .into_vector_value()
            }
            _ => return Err(self.ir.internal(format!("vector {op:?}"))),
        })
    }
}

/// A distinct node `!{self, props...}` as `llvm.loop` metadata requires.
fn self_referential_node<'ctx>(
    ctx: &'ctx Context,
    props: &[MetadataValue<'ctx>],
) -> MetadataValue<'ctx> {
    use inkwell::llvm_sys::core::{LLVMMDNodeInContext2, LLVMMetadataAsValue, LLVMValueAsMetadata};
    use inkwell::llvm_sys::debuginfo::{LLVMMetadataReplaceAllUsesWith, LLVMTemporaryMDNode};
    // SAFETY: plain LLVM C API calls on live objects of `ctx`; the temporary node is
    // consumed by LLVMMetadataReplaceAllUsesWith, which also frees it.
    unsafe {
        let raw = ctx.raw();
        let temp = LLVMTemporaryMDNode(raw, std::ptr::null_mut(), 0);
        let mut ops = vec![temp];
        for p in props {
            ops.push(LLVMValueAsMetadata(p.as_value_ref()));
        }
        let node = LLVMMDNodeInContext2(raw, ops.as_mut_ptr(), ops.len());
        LLVMMetadataReplaceAllUsesWith(temp, node);
        MetadataValue::new(LLVMMetadataAsValue(raw, node))
    }
}

/// A float constant that is not NaN (or a vector of one): the operand that lets a
/// NaN-propagating min/max be a single compare and select.
fn plain_constant(e: &Expr) -> bool {
    match e {
        Expr::FConst(v, _) => !v.is_nan(),
        Expr::Splat { arg, .. } => plain_constant(arg),
        _ => false,
    }
}
