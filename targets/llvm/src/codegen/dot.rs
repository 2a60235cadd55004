//! `Expr::DotBytes`, the int8 GEMM step: `acc + Σ a.byte[j] · i8(b.byte[j])` per `i32`
//! lane, `a`'s bytes unsigned or signed (`ByteSign`).
//!
//! One instruction where the function's target features have one for the signedness:
//!
//! | ISA | u8 · i8 (`Unsigned`) | i8 · i8 (`Signed`) |
//! |---|---|---|
//! | x86 AVX-512 VNNI / AVX-VNNI | `vpdpbusd` | `vpdpbusd` of `a ^ 0x80`, minus `vpdpbusd(0, 0x80, b)` |
//! | x86 without | two `pmaddwd` on bytes widened in place | the same, `a` widened signed |
//! | AArch64 i8mm | `usdot` | `sdot` |
//! | AArch64 dotprod | `sdot` of `a ^ 0x80`, minus `sdot(0, 0x80, b)` | `sdot` |
//! | otherwise | widen to i16, multiply, add the four products with shuffles | the same |
//!
//! The two-instruction forms are exact (`(a ^ 0x80)` is `a ∓ 128` in the other
//! signedness, and the second dot product is that `∓128 · Σb`), but the int8 GEMM does
//! not need them: it asks for the signedness its CPU level multiplies directly
//! (`VectorUnit::signed_dot_bytes`), so the inner loop is one instruction per step.
//! AArch64 instructions work on 4 lanes (128 bits); other widths are split or padded.

use super::KernelGen;
use crate::Result;
use inkwell::attributes::AttributeLoc;
use inkwell::types::{BasicTypeEnum, VectorType};
use inkwell::values::{BasicMetadataValueEnum, BasicValueEnum, IntValue, VectorValue};
use neoc_kernel::{ByteSign, Expr};

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

/// `0x80` in every byte: XOR flips a byte between u8 and i8 (`x ^ 0x80 = x ∓ 128`).
const SIGN_BITS: u64 = 0x8080_8080;

/// The AArch64 dot-product instructions a function may use.
#[derive(Clone, Copy)]
struct ArmDot {
    /// `sdot`/`udot` (ARMv8.2 dotprod).
    dotprod: bool,
    /// `usdot` (ARMv8.6 i8mm).
    i8mm: bool,
}

/// (`acc`, `a`, `b`) of one dot product.
type Operands<'ctx> = (
    BasicValueEnum<'ctx>,
    BasicValueEnum<'ctx>,
    BasicValueEnum<'ctx>,
);

impl<'ctx> KernelGen<'_, '_, 'ctx> {
    /// The function's `target-features` and `target-cpu`.
    fn target_attrs(&self) -> (String, String) {
        let attr = |name: &str| {
            self.func
                .get_string_attribute(AttributeLoc::Function, name)
                .map(|a| a.get_string_value().to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        (attr("target-features"), attr("target-cpu"))
    }

    fn triple_starts_with(&self, arch: &str) -> bool {
        let triple = self.ir.module.get_triple();
        triple.as_str().to_string_lossy().starts_with(arch)
    }

    /// The VNNI intrinsic for `lanes` i32 lanes, when this function may use it.
    fn vnni_intrinsic(&self, lanes: u32) -> Option<&'static str> {
        let (features, cpu) = self.target_attrs();
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
        if !self.triple_starts_with("x86_64") {
            return None;
        }
        let (features, cpu) = self.target_attrs();
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

    /// AArch64 dot products this function may use (the levels state `+dotprod` and
    /// `+i8mm` in their features: `crate::aarch64::features`).
    fn arm_dot(&self) -> Option<ArmDot> {
        if !self.triple_starts_with("aarch64") {
            return None;
        }
        let (features, _) = self.target_attrs();
        let has = |f: &str| features.split(',').any(|x| x == f);
        let dot = ArmDot {
            dotprod: has("+dotprod"),
            i8mm: has("+i8mm"),
        };
        (dot.dotprod || dot.i8mm).then_some(dot)
    }

    /// `splat(SIGN_BITS)` as `lanes` i32 lanes.
    fn sign_bits(&self, lanes: u32) -> VectorValue<'ctx> {
        let i32t = self.ir.ctx.i32_type();
        VectorType::const_vector(&vec![i32t.const_int(SIGN_BITS, false); lanes as usize])
    }

    /// `a ^ 0x80` in every byte.
    fn flip_signs(&self, a: BasicValueEnum<'ctx>, lanes: u32) -> Result<BasicValueEnum<'ctx>> {
        Ok(self
            .b()
            .build_xor(a.into_vector_value(), self.sign_bits(lanes), "")
            .map_err(|e| self.ir.err(e))?
            .into())
    }

    /// The dot product of the other signedness through `dot`, an instruction for one:
    /// `dot(acc, a ^ 0x80, b) − dot(0, 0x80, b)`. Exact: `a ^ 0x80` reads as `a ∓ 128`
    /// in `dot`'s signedness of `a`, and the second term is that `∓128 · Σb`.
    fn dot_flipped(
        &self,
        lanes: u32,
        (acc, a, b): Operands<'ctx>,
        dot: &dyn Fn(Operands<'ctx>) -> Result<BasicValueEnum<'ctx>>,
    ) -> Result<BasicValueEnum<'ctx>> {
        let zero = acc.into_vector_value().get_type().const_zero();
        let sum = dot((acc, self.flip_signs(a, lanes)?, b))?;
        let shift = dot((zero.into(), self.sign_bits(lanes).into(), b))?;
        Ok(self
            .b()
            .build_int_sub(sum.into_vector_value(), shift.into_vector_value(), "")
            .map_err(|e| self.ir.err(e))?
            .into())
    }

    /// A call of the VNNI intrinsic `name`.
    fn vpdpbusd(&self, name: &str, (acc, a, b): Operands<'ctx>) -> Result<BasicValueEnum<'ctx>> {
        let f = self.ir.intrinsic(name, &[])?;
        let args: Vec<BasicMetadataValueEnum<'ctx>> = vec![acc.into(), a.into(), b.into()];
        self.ir.call(f, &args)
    }

    /// Without VNNI on x86: the even and odd bytes of each word widened to i16 in place
    /// (`a & 0xff` / `a >> 8` logically, or `a << 8 >> 8` / `a >> 8` arithmetically for
    /// signed `a`; `b` always arithmetically) and two `pmaddwd`, which add the products
    /// of each pair of i16 words exactly into i32.
    fn dot_bytes_pmaddwd(
        &self,
        name: &str,
        lanes: u32,
        sign: ByteSign,
        (acc, a, b): Operands<'ctx>,
    ) -> Result<BasicValueEnum<'ctx>> {
        let ctx = self.ir.ctx;
        let e = |err| self.ir.err(err);
        let i16t = ctx.i16_type();
        let words = i16t.vec_type(2 * lanes);
        let splat =
            |v: u64| VectorType::const_vector(&vec![i16t.const_int(v, false); 2 * lanes as usize]);
        let as_words = |v: BasicValueEnum<'ctx>| -> Result<VectorValue<'ctx>> {
            Ok(self
                .b()
                .build_bit_cast(v, words, "")
                .map_err(e)?
                .into_vector_value())
        };
        let (a, b) = (as_words(a)?, as_words(b)?);
        let eight = splat(8);
        let halves = |v: VectorValue<'ctx>, signed: bool| -> Result<_> {
            let even = if signed {
                let shl = self.b().build_left_shift(v, eight, "").map_err(e)?;
                self.b()
                    .build_right_shift(shl, eight, true, "")
                    .map_err(e)?
            } else {
                self.b().build_and(v, splat(0xff), "").map_err(e)?
            };
            let odd = self
                .b()
                .build_right_shift(v, eight, signed, "")
                .map_err(e)?;
            Ok((even, odd))
        };
        let (a_even, a_odd) = halves(a, sign == ByteSign::Signed)?;
        let (b_even, b_odd) = halves(b, true)?;
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

    /// One AArch64 dot-product instruction (`sdot`, or `usdot` with unsigned `a`) on
    /// vectors of `lanes` i32 lanes (one-lane vectors for scalars): split into (or padded
    /// to) 4-lane quads.
    fn arm_dot_call(
        &self,
        signed_a: bool,
        lanes: u32,
        (acc, a, b): Operands<'ctx>,
    ) -> Result<BasicValueEnum<'ctx>> {
        let ctx = self.ir.ctx;
        let e = |err| self.ir.err(err);
        let (i32t, v4) = (ctx.i32_type(), ctx.i32_type().vec_type(4));
        let v16 = ctx.i8_type().vec_type(16);
        let name = if signed_a {
            "llvm.aarch64.neon.sdot"
        } else {
            "llvm.aarch64.neon.usdot"
        };
        let types: [BasicTypeEnum<'ctx>; 2] = [v4.into(), v16.into()];
        let f = self.ir.intrinsic(name, &types)?;
        let (acc, a, b) = (
            acc.into_vector_value(),
            a.into_vector_value(),
            b.into_vector_value(),
        );
        // Lanes `at..at + n` of `v` (indices past its end: poison).
        let lanes_of = |v: VectorValue<'ctx>, at: u32, n: u32| -> Result<VectorValue<'ctx>> {
            let width = v.get_type().get_size();
            let mask: Vec<IntValue<'ctx>> = (at..at + n)
                .map(|i| {
                    if i < width {
                        i32t.const_int(u64::from(i), false)
                    } else {
                        i32t.get_poison()
                    }
                })
                .collect();
            self.b()
                .build_shuffle_vector(
                    v,
                    v.get_type().get_poison(),
                    VectorType::const_vector(&mask),
                    "",
                )
                .map_err(e)
        };
        let mut quads = Vec::new();
        for at in (0..lanes).step_by(4) {
            let bytes = |v: VectorValue<'ctx>| -> Result<BasicMetadataValueEnum<'ctx>> {
                let quad = lanes_of(v, at, 4)?;
                Ok(self.b().build_bit_cast(quad, v16, "").map_err(e)?.into())
            };
            let args = [lanes_of(acc, at, 4)?.into(), bytes(a)?, bytes(b)?];
            quads.push(self.ir.call(f, &args)?.into_vector_value());
        }
        // Concatenate the quads pairwise, then keep `lanes` lanes.
        while quads.len() > 1 {
            if quads.len() % 2 == 1 {
                quads.push(quads[0].get_type().get_poison());
            }
            let mut next = Vec::with_capacity(quads.len() / 2);
            for pair in quads.chunks(2) {
                let n = 2 * pair[0].get_type().get_size();
                let mask: Vec<IntValue<'ctx>> = (0..n)
                    .map(|i| i32t.const_int(u64::from(i), false))
                    .collect();
                let both = self
                    .b()
                    .build_shuffle_vector(pair[0], pair[1], VectorType::const_vector(&mask), "")
                    .map_err(e)?;
                next.push(both);
            }
            quads = next;
        }
        Ok(lanes_of(quads[0], 0, lanes)?.into())
    }

    /// Scalars run as one-lane vectors.
    fn scalar_as_vector(&self, v: BasicValueEnum<'ctx>, lanes: u32) -> Result<VectorValue<'ctx>> {
        if lanes > 1 {
            return Ok(v.into_vector_value());
        }
        let i32t = self.ir.ctx.i32_type();
        self.b()
            .build_insert_element(i32t.vec_type(1).get_poison(), v, i32t.const_zero(), "")
            .map_err(|e| self.ir.err(e))
    }

    /// The inverse of [`Self::scalar_as_vector`].
    fn vector_as_scalar(&self, v: VectorValue<'ctx>, lanes: u32) -> Result<BasicValueEnum<'ctx>> {
        if lanes > 1 {
            return Ok(v.into());
        }
        self.b()
            .build_extract_element(v, self.ir.ctx.i32_type().const_zero(), "")
            .map_err(|e| self.ir.err(e))
    }

    pub(super) fn dot_bytes(
        &mut self,
        acc: &Expr,
        a: &Expr,
        b: &Expr,
        sign: ByteSign,
    ) -> Result<BasicValueEnum<'ctx>> {
        let lanes = acc.lanes(self.kernel);
        let ops = (self.expr(acc)?, self.expr(a)?, self.expr(b)?);
        let signed = sign == ByteSign::Signed;
        if let Some(name) = self.vnni_intrinsic(lanes) {
            let dot = |ops| self.vpdpbusd(name, ops);
            return if signed {
                self.dot_flipped(lanes, ops, &dot)
            } else {
                dot(ops)
            };
        }
        if let Some(name) = self.pmaddwd_intrinsic(lanes) {
            return self.dot_bytes_pmaddwd(name, lanes, sign, ops);
        }
        if let Some(arm) = self.arm_dot() {
            let vector =
                |v| -> Result<BasicValueEnum<'ctx>> { Ok(self.scalar_as_vector(v, lanes)?.into()) };
            let ops = (vector(ops.0)?, vector(ops.1)?, vector(ops.2)?);
            let sdot = |ops| self.arm_dot_call(true, lanes, ops);
            let usdot = |ops| self.arm_dot_call(false, lanes, ops);
            // `arm_dot` has at least one of the two.
            let sum = match (signed, arm.dotprod) {
                (true, true) => sdot(ops)?,
                (false, _) if arm.i8mm => usdot(ops)?,
                (false, _) => self.dot_flipped(lanes, ops, &sdot)?,
                // i8mm without dotprod (no such core): `usdot` of `a ^ 0x80`.
                (true, false) => self.dot_flipped(lanes, ops, &usdot)?,
            };
            return self.vector_as_scalar(sum.into_vector_value(), lanes);
        }
        self.dot_bytes_portable(lanes, signed, ops)
    }

    /// Portably: the bytes are widened to `i16`, multiplied, widened to `i32` and the
    /// four products of each lane added with shuffles (`smull`/`saddw` chains on
    /// AArch64).
    fn dot_bytes_portable(
        &self,
        lanes: u32,
        signed_a: bool,
        (acc, a, b): Operands<'ctx>,
    ) -> Result<BasicValueEnum<'ctx>> {
        let ctx = self.ir.ctx;
        let e = |err| self.ir.err(err);
        let i32t = ctx.i32_type();
        let n = lanes as usize;
        let vector = |v: BasicValueEnum<'ctx>| self.scalar_as_vector(v, lanes);
        let (acc, a, b) = (vector(acc)?, vector(a)?, vector(b)?);
        let bytes = ctx.i8_type().vec_type(4 * lanes);
        let wide16 = ctx.i16_type().vec_type(4 * lanes);
        let ab = self.b().build_bit_cast(a, bytes, "").map_err(e)?;
        let bb = self.b().build_bit_cast(b, bytes, "").map_err(e)?;
        let a16 = if signed_a {
            self.b()
                .build_int_s_extend(ab.into_vector_value(), wide16, "")
                .map_err(e)?
        } else {
            self.b()
                .build_int_z_extend(ab.into_vector_value(), wide16, "")
                .map_err(e)?
        };
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
        self.vector_as_scalar(sum, lanes)
    }
}
