//! `Expr::DotBytes`, the int8 GEMM step: `acc + Σ u8(a.byte[j]) · i8(b.byte[j])` per
//! `i32` lane.
//!
//! With AVX-512 VNNI (or AVX-VNNI for 8 lanes) in the function's target features this
//! is one `vpdpbusd` (`llvm.x86.avx512.vpdpbusd.{128,256,512}`). Other x86 vectors use
//! two `pmaddwd` on the even and odd bytes widened in place to i16 (exact: every
//! product fits, |255 · −128| < 2^15, and `pmaddwd` adds pairs into i32). Otherwise,
//! portably: the bytes are widened to `i16`, multiplied, widened to `i32` and the four
//! products of each lane added with shuffles (`smull`/`saddw` chains on AArch64). AArch64
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

    /// The x86 `pmaddwd` intrinsic for `lanes` i32 lanes, when this function may use it
    /// (AVX-512 BW for 16 lanes, AVX2 for 8, SSE2 for 4).
    fn pmaddwd_intrinsic(&self, lanes: u32) -> Option<&'static str> {
        let triple = self.ir.module.get_triple();
        if !triple.as_str().to_string_lossy().starts_with("x86_64") {
            return None;
        }
        let attr = |name: &str| {
            self.func
                .get_string_attribute(AttributeLoc::Function, name)
                .map(|a| a.get_string_value().to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let (features, cpu) = (attr("target-features"), attr("target-cpu"));
        let has = |f: &str| features.split(',').any(|x| x == f);
        let v4 = cpu == "x86-64-v4" || has("+avx512bw") || VNNI_CPUS.contains(&cpu.as_str());
        let v3 = v4 || cpu == "x86-64-v3" || has("+avx2");
        match lanes {
            16 if v4 => Some("llvm.x86.avx512.pmaddw.d.512"),
            8 if v3 => Some("llvm.x86.avx2.pmadd.wd"),
            4 => Some("llvm.x86.sse2.pmadd.wd"),
            _ => None,
        }
    }

    /// Without VNNI on x86: the even and odd bytes of each word widened to i16 in place
    /// (`a & 0xff` / `a >> 8` logically, `b << 8 >> 8` / `b >> 8` arithmetically) and two
    /// `pmaddwd`, which add the products of each pair of i16 words exactly into i32.
    fn dot_bytes_pmaddwd(
        &self,
        name: &str,
        lanes: u32,
        (acc, a, b): (
            BasicValueEnum<'ctx>,
            BasicValueEnum<'ctx>,
            BasicValueEnum<'ctx>,
        ),
    ) -> Result<BasicValueEnum<'ctx>> {
        let ctx = self.ir.ctx;
        let e = |err| self.ir.err(err);
        let i16t = ctx.i16_type();
        let words = i16t.vec_type(2 * lanes);
        let splat =
            |v: u64| VectorType::const_vector(&vec![i16t.const_int(v, false); 2 * lanes as usize]);
        let a = self
            .b()
            .build_bit_cast(a, words, "")
            .map_err(e)?
            .into_vector_value();
        let b = self
            .b()
            .build_bit_cast(b, words, "")
            .map_err(e)?
            .into_vector_value();
        let (mask, eight) = (splat(0xff), splat(8));
        let a_even = self.b().build_and(a, mask, "").map_err(e)?;
        let a_odd = self.b().build_right_shift(a, eight, false, "").map_err(e)?;
        let b_shl = self.b().build_left_shift(b, eight, "").map_err(e)?;
        let b_even = self
            .b()
            .build_right_shift(b_shl, eight, true, "")
            .map_err(e)?;
        let b_odd = self.b().build_right_shift(b, eight, true, "").map_err(e)?;
        let f = self.ir.intrinsic(name, &[])?;
        let even = self
            .ir
            .call(f, &[a_even.into(), b_even.into()])?
            .into_vector_value();
        let odd = self
            .ir
            .call(f, &[a_odd.into(), b_odd.into()])?
            .into_vector_value();
        let sum = self.b().build_int_add(even, odd, "").map_err(e)?;
        Ok(self
            .b()
            .build_int_add(acc.into_vector_value(), sum, "")
            .map_err(e)?
            .into())
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
        if let Some(name) = self.pmaddwd_intrinsic(lanes) {
            return self.dot_bytes_pmaddwd(name, lanes, (acc, a, b));
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
