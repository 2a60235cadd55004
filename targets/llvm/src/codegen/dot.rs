//! `Expr::DotBytes`, the int8 GEMM step: `acc + Σ u8(a.byte[j]) · i8(b.byte[j])` per
//! `i32` lane.
//!
//! With AVX-512 VNNI (or AVX-VNNI for 8 lanes) in the function's target features this
//! is one `vpdpbusd` (`llvm.x86.avx512.vpdpbusd.{128,256,512}`). Otherwise, portably: the
//! bytes are widened to `i16` (u8 · i8 products fit: |255 · −128| < 2^15), multiplied,
//! widened to `i32` and the four products of each lane added with shuffles — LLVM turns
//! that into `vpmaddwd`-style code on x86 and `smull`/`saddw` chains on AArch64. AArch64
//! `sdot`/`udot` multiply bytes of one signedness only (u8 × i8 is `usdot`, ARMv8.6
//! i8mm), so AArch64 uses the portable form for now.

use super::KernelGen;
use crate::Result;
use inkwell::attributes::AttributeLoc;
use inkwell::types::VectorType;
use inkwell::values::{BasicMetadataValueEnum, BasicValueEnum, VectorValue};
use neoc_kernel::Expr;

/// CPUs (LLVM names) whose ISA includes AVX-512 VNNI.
const VNNI_CPUS: &[&str] = &[
    "icelake-server",
    "icelake-client",
    "tigerlake",
    "sapphirerapids",
    "emeraldrapids",
    "graniterapids",
    "cooperlake",
    "cascadelake",
    "znver4",
    "znver5",
];

impl<'ctx> KernelGen<'_, '_, 'ctx> {
    /// The VNNI intrinsic for `lanes` i32 lanes, when this function may use it.
    fn vnni_intrinsic(&self, lanes: u32) -> Option<&'static str> {
        let attr = |name: &str| {
            self.func
                .get_string_attribute(AttributeLoc::Function, name)
                .map(|a| a.get_string_value().to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let (features, cpu) = (attr("target-features"), attr("target-cpu"));
        let has = |f: &str| features.split(',').any(|x| x == f);
        let avx512 = has("+avx512vnni") || VNNI_CPUS.contains(&cpu.as_str());
        match lanes {
            16 if avx512 => Some("llvm.x86.avx512.vpdpbusd.512"),
            8 if avx512 || has("+avxvnni") => Some("llvm.x86.avx512.vpdpbusd.256"),
            4 if avx512 || has("+avxvnni") => Some("llvm.x86.avx512.vpdpbusd.128"),
            _ => None,
        }
    }

    pub(super) fn dot_bytes(
        &mut self,
        acc: &Expr,
        a: &Expr,
        b: &Expr,
    ) -> Result<BasicValueEnum<'ctx>> {
        let lanes = acc.lanes(self.kernel);
        let (acc, a, b) = (self.expr(acc)?, self.expr(a)?, self.expr(b)?);
        if let Some(name) = self.vnni_intrinsic(lanes) {
            let f = self.ir.intrinsic(name, &[])?;
            let args: Vec<BasicMetadataValueEnum<'ctx>> = vec![acc.into(), a.into(), b.into()];
            return self.ir.call(f, &args);
        }
        let ctx = self.ir.ctx;
        let e = |err| self.ir.err(err);
        let i32t = ctx.i32_type();
        let n = lanes as usize;
        // Scalars run as one-lane vectors.
        let as_vector = |v: BasicValueEnum<'ctx>| -> Result<VectorValue<'ctx>> {
            if lanes > 1 {
                return Ok(v.into_vector_value());
            }
            self.b()
                .build_insert_element(i32t.vec_type(1).get_poison(), v, i32t.const_zero(), "")
                .map_err(e)
        };
        let (acc, a, b) = (as_vector(acc)?, as_vector(a)?, as_vector(b)?);
        let bytes = ctx.i8_type().vec_type(4 * lanes);
        let wide16 = ctx.i16_type().vec_type(4 * lanes);
        let ab = self.b().build_bit_cast(a, bytes, "").map_err(e)?;
        let bb = self.b().build_bit_cast(b, bytes, "").map_err(e)?;
        let a16 = self
            .b()
            .build_int_z_extend(ab.into_vector_value(), wide16, "")
            .map_err(e)?;
        let b16 = self
            .b()
            .build_int_s_extend(bb.into_vector_value(), wide16, "")
            .map_err(e)?;
        let prod = self.b().build_int_mul(a16, b16, "").map_err(e)?;
        let prod = self
            .b()
            .build_int_s_extend(prod, i32t.vec_type(4 * lanes), "")
            .map_err(e)?;
        let mut sum = acc;
        for j in 0..4u64 {
            let idx: Vec<_> = (0..n as u64)
                .map(|l| i32t.const_int(4 * l + j, false))
                .collect();
            let part = self
                .b()
                .build_shuffle_vector(
                    prod,
                    prod.get_type().get_poison(),
                    VectorType::const_vector(&idx),
                    "",
                )
                .map_err(e)?;
            sum = self.b().build_int_add(sum, part, "").map_err(e)?;
        }
        if lanes > 1 {
            return Ok(sum.into());
        }
        self.b()
            .build_extract_element(sum, i32t.const_zero(), "")
            .map_err(e)
    }
}
