//! Tensor cores: [`neoc_kernel::Expr::Mma`] as one `mma.sync.aligned.m16n8k16.row.col`
//! (sm_80 and newer).
//!
//! The kernel IR keeps fragments as `f32` vectors (A: 8 lanes, B: 4, C/D: 4, in the PTX
//! fragment layout, documented on `Expr::Mma`); here A and B are rounded to the input
//! format and packed two per 32-bit register, lower index in the low half:
//!
//! - f16: `fptrunc` to `<8 x half>`, pairs as `<2 x half>`, then
//!   `llvm.nvvm.mma.m16n8k16.row.col.f32.f32(4 × <2 x half>, 2 × <2 x half>, 4 × float)`;
//! - bf16: the `f32` bits rounded to nearest even in their top 16 bits (as `narrow.rs`
//!   stores bf16), pairs as `i32`, then `llvm.nvvm.mma.m16n8k16.row.col.bf16(6 × i32,
//!   4 × float)`.
//!
//! Both return `{float, float, float, float}`, the thread's lanes of D. Older GPUs and
//! CPUs never reach this: `nvptx.rs` compiles `neoc_kernel::gpu::expand_mma` of the
//! kernels for sm_70/sm_75, and CPUs compile `neoc_kernel::gpu::emulate` (which expands
//! too).

use super::KernelGen;
use crate::Result;
use inkwell::types::BasicMetadataTypeEnum;
use inkwell::values::{BasicMetadataValueEnum, BasicValueEnum, VectorValue};
use neoc_kernel::{MmaInput, VarId};

impl<'ctx> KernelGen<'_, '_, 'ctx> {
    /// One tensor-core step (see the module docs).
    pub(super) fn mma(
        &mut self,
        (a, b, c): (VarId, VarId, VarId),
        input: MmaInput,
    ) -> Result<BasicValueEnum<'ctx>> {
        self.gpu_only("mma")?;
        let ctx = self.ir.ctx;
        let f32t = ctx.f32_type();
        let i32t = ctx.i32_type();
        let load = |this: &Self, v: VarId| -> Result<VectorValue<'ctx>> {
            let ptr = this.var_ptr(v)?;
            let lanes = this.kernel.var(v).map_or(1, |v| v.lanes);
            let ty = f32t.vec_type(lanes);
            let x = this
                .b()
                .build_load(ty, ptr, "")
                .map_err(|e| this.ir.err(e))?;
            Ok(x.into_vector_value())
        };
        let (av, bv, cv) = (load(self, a)?, load(self, b)?, load(self, c)?);
        let mut args: Vec<BasicMetadataValueEnum<'ctx>> = Vec::new();
        let mut types: Vec<BasicMetadataTypeEnum<'ctx>> = Vec::new();
        let name = match input {
            MmaInput::F16 => {
                let half2 = ctx.f16_type().vec_type(2);
                for v in [av, bv] {
                    let n = v.get_type().get_size();
                    let h = self
                        .b()
                        .build_float_trunc(v, ctx.f16_type().vec_type(n), "")
                        .map_err(|e| self.ir.err(e))?;
                    for p in 0..n / 2 {
                        let pair = self.pair(h, p, half2)?;
                        args.push(pair.into());
                        types.push(half2.into());
                    }
                }
                "llvm.nvvm.mma.m16n8k16.row.col.f32.f32"
            }
            MmaInput::BF16 => {
                for v in [av, bv] {
                    let n = v.get_type().get_size();
                    let bits = self.bf16_bits(v)?;
                    for p in 0..n / 2 {
                        let pair = self.pair(bits, p, ctx.i16_type().vec_type(2))?;
                        let word = self
                            .b()
                            .build_bit_cast(pair, i32t, "")
                            .map_err(|e| self.ir.err(e))?;
                        args.push(word.into());
                        types.push(i32t.into());
                    }
                }
                "llvm.nvvm.mma.m16n8k16.row.col.bf16"
            }
        };
        for i in 0..4u64 {
            let lane = i32t.const_int(i, false);
            let x = self
                .b()
                .build_extract_element(cv, lane, "")
                .map_err(|e| self.ir.err(e))?;
            args.push(x.into());
            types.push(f32t.into());
        }
        let ret = ctx.struct_type(&[f32t.into(); 4], false);
        let f = self.nvvm(name, ret.fn_type(&types, false));
        let d = self.ir.call(f, &args)?.into_struct_value();
        let mut out = f32t.vec_type(4).get_undef();
        for i in 0..4u32 {
            let x = self
                .b()
                .build_extract_value(d, i, "")
                .map_err(|e| self.ir.err(e))?;
            out = self
                .b()
                .build_insert_element(out, x, i32t.const_int(u64::from(i), false), "")
                .map_err(|e| self.ir.err(e))?;
        }
        Ok(out.into())
    }

    /// Elements `2p` and `2p + 1` of `v` as a two-element vector of type `pair`.
    fn pair(
        &self,
        v: VectorValue<'ctx>,
        p: u32,
        pair: inkwell::types::VectorType<'ctx>,
    ) -> Result<VectorValue<'ctx>> {
        let i32t = self.ir.ctx.i32_type();
        let mut out = pair.get_undef();
        for j in 0..2u32 {
            let x = self
                .b()
                .build_extract_element(v, i32t.const_int(u64::from(2 * p + j), false), "")
                .map_err(|e| self.ir.err(e))?;
            out = self
                .b()
                .build_insert_element(out, x, i32t.const_int(u64::from(j), false), "")
                .map_err(|e| self.ir.err(e))?;
        }
        Ok(out)
    }

    /// The bfloat16 bits (`i16` lanes) of the `f32` vector `v`, rounded to nearest even.
    fn bf16_bits(&self, v: VectorValue<'ctx>) -> Result<VectorValue<'ctx>> {
        let ctx = self.ir.ctx;
        let n = v.get_type().get_size();
        let i32v = ctx.i32_type().vec_type(n);
        let splat = |x: u64| {
            let c = ctx.i32_type().const_int(x, false);
            inkwell::types::VectorType::const_vector(&vec![c; n as usize])
        };
        let b = self.b();
        let err = |e| self.ir.err(e);
        let bits = b
            .build_bit_cast(v, i32v, "")
            .map_err(err)?
            .into_vector_value();
        let odd = b
            .build_right_shift(bits, splat(16), false, "")
            .map_err(err)?;
        let odd = b.build_and(odd, splat(1), "").map_err(err)?;
        let r = b.build_int_add(bits, splat(0x7fff), "").map_err(err)?;
        let r = b.build_int_add(r, odd, "").map_err(err)?;
        let r = b.build_right_shift(r, splat(16), false, "").map_err(err)?;
        b.build_int_truncate(r, ctx.i16_type().vec_type(n), "")
            .map_err(err)
    }
}
