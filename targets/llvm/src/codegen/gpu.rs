//! The GPU primitives of kernel IR: block-local arrays, thread and block indices,
//! barriers and warp shuffles.
//!
//! - Block-local arrays ([`neoc_kernel::LocalArray`]): in a block kernel compiled for
//!   NVPTX, one `addrspace(3)` global each (PTX `.shared`, one copy per block); anywhere
//!   else (CPUs, and NVPTX kernels without a launch shape, where a thread is one call of
//!   the kernel) a stack array of the call (`alloca`, PTX `.local`).
//! - `ThreadIdx`/`BlockIdx`: `llvm.nvvm.read.ptx.sreg.tid.x`/`ctaid.x`; `Barrier`:
//!   `llvm.nvvm.barrier0` (`bar.sync 0`); `ShuffleXor`:
//!   `llvm.nvvm.shfl.sync.bfly.{f32,i32}` with every lane of the warp taking part.
//!
//! A CPU never sees the last three: `ModuleCodegen::kernel` compiles a block kernel for
//! CPUs through `neoc_kernel::gpu::emulate`. Reaching one here is an internal error.

use super::{mem_type, KernelGen};
use crate::ir::Ir;
use crate::Result;
use inkwell::module::Linkage;
use inkwell::types::{BasicType, BasicTypeEnum};
use inkwell::values::{BasicValueEnum, FunctionValue, IntValue, PointerValue};
use inkwell::AddressSpace;
use neoc_kernel::{Expr, Kernel};

/// PTX's shared state space.
const SHARED: u16 = 3;

/// Whether `module` is compiled for NVPTX.
pub(super) fn is_nvptx(ir: &Ir<'_, '_>) -> bool {
    nvptx_module(ir.module)
}

fn nvptx_module(module: &inkwell::module::Module<'_>) -> bool {
    module
        .get_triple()
        .as_str()
        .to_string_lossy()
        .starts_with("nvptx")
}

/// The alignment, in bytes, every kernel buffer has on this target: 16 on NVPTX (the
/// planner aligns arena and weight offsets to 64 bytes, `cuMemAlloc` to 256, and views
/// start where their storage starts), so that four consecutive `f32` of a 4-aligned
/// index become one `ld.global.v4.f32` (`neoc_kernel::gpu::vectorize`); 1 (the element's
/// own alignment) elsewhere.
pub(super) fn buffer_align(module: &inkwell::module::Module<'_>) -> u64 {
    if nvptx_module(module) {
        16
    } else {
        1
    }
}

/// The storage of every block-local array of `k` (see the module docs). The builder is
/// at the end of the body's entry block.
pub(super) fn locals<'ctx>(
    ir: &Ir<'_, 'ctx>,
    k: &Kernel,
    nvptx: bool,
) -> Result<Vec<PointerValue<'ctx>>> {
    let mut out = Vec::with_capacity(k.locals.len());
    for (i, l) in k.locals.iter().enumerate() {
        let ty = mem_type(ir.ctx, l.elem).array_type(l.len as u32);
        if l.len > u64::from(u32::MAX) {
            return Err(ir.internal(format!("block-local array {} is too long", l.name)));
        }
        let p = if nvptx && k.gpu.is_some() {
            let g = ir.module.add_global(
                ty,
                Some(AddressSpace::from(SHARED)),
                &format!("{}__local{i}", k.name),
            );
            g.set_linkage(Linkage::Internal);
            g.set_initializer(&ty.get_undef());
            g.set_alignment(16);
            g.as_pointer_value()
        } else {
            let a = ir.b.build_alloca(ty, &l.name).map_err(|e| ir.err(e))?;
            if let Some(inst) = a.as_instruction() {
                inst.set_alignment(16)
                    .map_err(|e| ir.internal(e.to_string()))?;
            }
            a
        };
        out.push(p);
    }
    Ok(out)
}

impl<'ctx> KernelGen<'_, '_, 'ctx> {
    pub(super) fn gpu_only(&self, what: &str) -> Result<()> {
        if self.nvptx && self.kernel.gpu.is_some() {
            Ok(())
        } else {
            Err(self.ir.internal(format!(
                "{what} outside a block kernel compiled for NVPTX (CPUs compile \
                 neoc_kernel::gpu::emulate of a block kernel)"
            )))
        }
    }

    pub(super) fn nvvm(
        &self,
        name: &str,
        ty: inkwell::types::FunctionType<'ctx>,
    ) -> FunctionValue<'ctx> {
        self.ir
            .module
            .get_function(name)
            .unwrap_or_else(|| self.ir.module.add_function(name, ty, None))
    }

    /// A special register (`tid.x`, `ctaid.x`) as `i64`.
    fn sreg(&self, name: &str) -> Result<IntValue<'ctx>> {
        let i32t = self.ir.ctx.i32_type();
        let f = self.nvvm(
            &format!("llvm.nvvm.read.ptx.sreg.{name}"),
            i32t.fn_type(&[], false),
        );
        let v = self.ir.call(f, &[])?.into_int_value();
        self.b()
            .build_int_z_extend(v, self.ir.ctx.i64_type(), "")
            .map_err(|e| self.ir.err(e))
    }

    pub(super) fn thread_idx(&self) -> Result<BasicValueEnum<'ctx>> {
        self.gpu_only("thread_idx")?;
        Ok(self.sreg("tid.x")?.into())
    }

    pub(super) fn block_idx(&self) -> Result<BasicValueEnum<'ctx>> {
        self.gpu_only("block_idx")?;
        Ok(self.sreg("ctaid.x")?.into())
    }

    pub(super) fn barrier(&self) -> Result<()> {
        self.gpu_only("barrier")?;
        let f = self.nvvm(
            "llvm.nvvm.barrier0",
            self.ir.ctx.void_type().fn_type(&[], false),
        );
        self.b()
            .build_call(f, &[], "")
            .map_err(|e| self.ir.err(e))?;
        Ok(())
    }

    /// `value` of the lane `lane ^ mask` of this warp (`shfl.sync.bfly`, all 32 lanes).
    pub(super) fn shuffle_xor(&mut self, value: &Expr, mask: u32) -> Result<BasicValueEnum<'ctx>> {
        self.gpu_only("shuffle_xor")?;
        let v = self.expr(value)?;
        let i32t = self.ir.ctx.i32_type();
        let (name, ty): (_, BasicTypeEnum<'ctx>) = match v {
            BasicValueEnum::FloatValue(f) if f.get_type() == self.ir.ctx.f32_type() => {
                ("llvm.nvvm.shfl.sync.bfly.f32", f.get_type().into())
            }
            BasicValueEnum::IntValue(i) if i.get_type() == i32t => {
                ("llvm.nvvm.shfl.sync.bfly.i32", i32t.into())
            }
            _ => {
                return Err(self
                    .ir
                    .internal("shuffle of a value that is not f32 or i32"))
            }
        };
        let f = self.nvvm(
            name,
            ty.fn_type(&[i32t.into(), ty.into(), i32t.into(), i32t.into()], false),
        );
        let all = i32t.const_int(0xffff_ffff, false);
        // The `c` operand of a butterfly shuffle: clamp 31 (the whole warp).
        let clamp = i32t.const_int(0x1f, false);
        self.ir.call(
            f,
            &[
                all.into(),
                v.into(),
                i32t.const_int(u64::from(mask), false).into(),
                clamp.into(),
            ],
        )
    }
}
