//! Scalar arithmetic, comparisons and conversions of kernel expressions: the LLVM
//! instructions (and inline math) for `Unary`, `Binary`, `Cmp` and `Cast` on one value.
//! Vector lanes and the statement/loop structure stay in the parent module.

use super::{reg_type, KernelGen};
use crate::math::MathFn;
use crate::Result;
use inkwell::values::{BasicValueEnum, IntValue};
use inkwell::{FloatPredicate, IntPredicate};
use neoc_kernel::{BinaryOp, CmpOp, ScalarType, UnaryOp};

impl<'ctx> KernelGen<'_, '_, 'ctx> {
    pub(super) fn unary(
        &mut self,
        op: UnaryOp,
        t: ScalarType,
        v: BasicValueEnum<'ctx>,
    ) -> Result<BasicValueEnum<'ctx>> {
        let ir = &self.ir;
        if !t.is_float() {
            let x = v.into_int_value();
            let zero = x.get_type().const_zero();
            return Ok(match op {
                UnaryOp::Neg => ir.isub(zero, x)?.into(),
                UnaryOp::Abs => ir
                    .isel(ir.icmp(IntPredicate::SLT, x, zero)?, ir.isub(zero, x)?, x)?
                    .into(),
                UnaryOp::Not => ir.not(x)?.into(),
                _ => return Err(ir.internal(format!("{op:?} on {t}"))),
            });
        }
        let x = v.into_float_value();
        let r = match op {
            UnaryOp::Neg => ir.fneg(x)?,
            UnaryOp::Abs => ir.fabs(x)?,
            UnaryOp::Sqrt => ir.fintr("llvm.sqrt", &[x])?,
            UnaryOp::Floor => ir.fintr("llvm.floor", &[x])?,
            UnaryOp::Ceil => ir.fintr("llvm.ceil", &[x])?,
            UnaryOp::Round => ir.fintr("llvm.roundeven", &[x])?,
            UnaryOp::Exp => self.math.call(ir, MathFn::Exp, &[x])?,
            UnaryOp::Log => self.math.call(ir, MathFn::Log, &[x])?,
            UnaryOp::Tanh => self.math.call(ir, MathFn::Tanh, &[x])?,
            UnaryOp::Erf => self.math.call(ir, MathFn::Erf, &[x])?,
            UnaryOp::Sin => self.math.call(ir, MathFn::Sin, &[x])?,
            UnaryOp::Cos => self.math.call(ir, MathFn::Cos, &[x])?,
            UnaryOp::Atan => self.math.call(ir, MathFn::Atan, &[x])?,
            UnaryOp::Not => return Err(ir.internal(format!("{op:?} on {t}"))),
        };
        Ok(r.into())
    }

    pub(super) fn binary(
        &mut self,
        op: BinaryOp,
        t: ScalarType,
        a: BasicValueEnum<'ctx>,
        b: BasicValueEnum<'ctx>,
    ) -> Result<BasicValueEnum<'ctx>> {
        let ir = &self.ir;
        let e = |err| ir.err(err);
        if t.is_float() {
            let (a, b) = (a.into_float_value(), b.into_float_value());
            let r = match op {
                BinaryOp::Add => ir.fadd(a, b)?,
                BinaryOp::Sub => ir.fsub(a, b)?,
                BinaryOp::Mul => ir.fmul(a, b)?,
                BinaryOp::Div => ir.fdiv(a, b)?,
                BinaryOp::Rem => self.math.call(ir, MathFn::Fmod, &[a, b])?,
                BinaryOp::Pow => self.math.call(ir, MathFn::Pow, &[a, b])?,
                BinaryOp::Min | BinaryOp::Max => {
                    // NaN-propagating: a NaN operand makes a + b NaN.
                    let p = if op == BinaryOp::Min {
                        FloatPredicate::OLT
                    } else {
                        FloatPredicate::OGT
                    };
                    let pick = ir.fsel(ir.fcmp(p, a, b)?, a, b)?;
                    ir.fsel(ir.fcmp(FloatPredicate::UNO, a, b)?, ir.fadd(a, b)?, pick)?
                }
                BinaryOp::And | BinaryOp::Or | BinaryOp::Xor | BinaryOp::Shl | BinaryOp::Shr => {
                    return Err(ir.internal(format!("{op:?} on {t}")))
                }
            };
            return Ok(r.into());
        }
        let (a, b) = (a.into_int_value(), b.into_int_value());
        let signed = t.is_signed();
        let ity = a.get_type();
        let r = match op {
            BinaryOp::Add => ir.iadd(a, b)?,
            BinaryOp::Sub => ir.isub(a, b)?,
            BinaryOp::Mul => self.b().build_int_mul(a, b, "").map_err(e)?,
            BinaryOp::And => ir.and(a, b)?,
            BinaryOp::Or => ir.or(a, b)?,
            BinaryOp::Xor => self.b().build_xor(a, b, "").map_err(e)?,
            BinaryOp::Shl | BinaryOp::Shr => {
                // LLVM's shifts are poison from the bit width on: shift by width-1 and
                // once more instead, which gives the mathematical result (0, or the
                // sign for an arithmetic right shift).
                let width = ity.const_int(u64::from(ity.get_bit_width()), false);
                let big = ir.icmp(IntPredicate::UGE, b, width)?;
                let last = ity.const_int(u64::from(ity.get_bit_width()) - 1, false);
                let amount = ir.isel(big, last, b)?;
                let shift = |x, by| match op {
                    BinaryOp::Shl => self.b().build_left_shift(x, by, "").map_err(e),
                    _ => self.b().build_right_shift(x, by, signed, "").map_err(e),
                };
                let once = shift(a, amount)?;
                let one = ity.const_int(1, false);
                let twice = shift(once, one)?;
                ir.isel(big, twice, once)?
            }
            BinaryOp::Min | BinaryOp::Max => {
                let p = match (op == BinaryOp::Min, signed) {
                    (true, true) => IntPredicate::SLT,
                    (true, false) => IntPredicate::ULT,
                    (false, true) => IntPredicate::SGT,
                    (false, false) => IntPredicate::UGT,
                };
                ir.isel(ir.icmp(p, a, b)?, a, b)?
            }
            BinaryOp::Div | BinaryOp::Rem => {
                // Defined for every input: x/0 = x%0 = 0, and MIN/-1 wraps (= MIN,
                // remainder 0), instead of LLVM's undefined behaviour.
                let zero = ity.const_zero();
                let one = ity.const_int(1, false);
                let by_zero = ir.icmp(IntPredicate::EQ, b, zero)?;
                let by_m1 = if signed {
                    ir.icmp(IntPredicate::EQ, b, ity.const_all_ones())?
                } else {
                    ity.get_context().bool_type().const_zero()
                };
                let safe = ir.isel(ir.or(by_zero, by_m1)?, one, b)?;
                let raw = match (op, signed) {
                    (BinaryOp::Div, true) => {
                        self.b().build_int_signed_div(a, safe, "").map_err(e)?
                    }
                    (BinaryOp::Div, false) => {
                        self.b().build_int_unsigned_div(a, safe, "").map_err(e)?
                    }
                    (_, true) => self.b().build_int_signed_rem(a, safe, "").map_err(e)?,
                    (_, false) => self.b().build_int_unsigned_rem(a, safe, "").map_err(e)?,
                };
                let on_m1 = if op == BinaryOp::Div {
                    ir.isub(zero, a)?
                } else {
                    zero
                };
                let r = ir.isel(by_m1, on_m1, raw)?;
                ir.isel(by_zero, zero, r)?
            }
            BinaryOp::Pow => return Err(ir.internal(format!("{op:?} on {t}"))),
        };
        Ok(r.into())
    }

    pub(super) fn cmp(
        &mut self,
        op: CmpOp,
        t: ScalarType,
        a: BasicValueEnum<'ctx>,
        b: BasicValueEnum<'ctx>,
    ) -> Result<IntValue<'ctx>> {
        if t.is_float() {
            let p = match op {
                CmpOp::Lt => FloatPredicate::OLT,
                CmpOp::Le => FloatPredicate::OLE,
                CmpOp::Gt => FloatPredicate::OGT,
                CmpOp::Ge => FloatPredicate::OGE,
                CmpOp::Eq => FloatPredicate::OEQ,
                CmpOp::Ne => FloatPredicate::UNE,
            };
            return self.ir.fcmp(p, a.into_float_value(), b.into_float_value());
        }
        let signed = t.is_signed();
        let p = match (op, signed) {
            (CmpOp::Eq, _) => IntPredicate::EQ,
            (CmpOp::Ne, _) => IntPredicate::NE,
            (CmpOp::Lt, true) => IntPredicate::SLT,
            (CmpOp::Le, true) => IntPredicate::SLE,
            (CmpOp::Gt, true) => IntPredicate::SGT,
            (CmpOp::Ge, true) => IntPredicate::SGE,
            (CmpOp::Lt, false) => IntPredicate::ULT,
            (CmpOp::Le, false) => IntPredicate::ULE,
            (CmpOp::Gt, false) => IntPredicate::UGT,
            (CmpOp::Ge, false) => IntPredicate::UGE,
        };
        self.ir.icmp(p, a.into_int_value(), b.into_int_value())
    }

    /// Numeric conversion as documented on [`Expr::Cast`]; int→int wraps (two's
    /// complement truncation or extension by the source's signedness).
    pub(super) fn cast(
        &mut self,
        v: BasicValueEnum<'ctx>,
        from: ScalarType,
        to: ScalarType,
    ) -> Result<BasicValueEnum<'ctx>> {
        if from == to {
            return Ok(v);
        }
        let ir = &self.ir;
        let e = |err| ir.err(err);
        let b = self.b();
        let to_ty = reg_type(ir.ctx, to);
        if to == ScalarType::Bool {
            return Ok(if from.is_float() {
                let x = v.into_float_value();
                ir.fcmp(FloatPredicate::UNE, x, x.get_type().const_zero())?
            } else {
                let x = v.into_int_value();
                ir.icmp(IntPredicate::NE, x, x.get_type().const_zero())?
            }
            .into());
        }
        if from.is_float() {
            let x = v.into_float_value();
            if to.is_float() {
                let t = to_ty.into_float_type();
                if (from, to) == (ScalarType::F64, ScalarType::F16) {
                    // Through f32: a direct double → half truncation is a runtime
                    // library call on x86, and artifacts link no runtime library.
                    let f = b.build_float_trunc(x, ir.ctx.f32_type(), "").map_err(e)?;
                    return Ok(b.build_float_trunc(f, t, "").map_err(e)?.into());
                }
                return Ok(if to.size_bytes() > from.size_bytes() {
                    b.build_float_ext(x, t, "").map_err(e)?
                } else {
                    b.build_float_trunc(x, t, "").map_err(e)?
                }
                .into());
            }
            // Saturating, NaN → 0.
            if matches!(from, ScalarType::F32 | ScalarType::F64) && to.size_bytes() <= 2 {
                // Narrow integers (a standalone QuantizeLinear's f32 → u8): clamp in
                // float, convert exactly to i32, truncate. Same result as the
                // saturating intrinsic, which LLVM scalarizes for i8/i16 (one
                // `vcvttss2si` per element); this vectorizes.
                let bits = 8 * to.size_bytes() as i32;
                let (lo, hi) = if to.is_signed() {
                    (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
                } else {
                    (0.0, 2f64.powi(bits) - 1.0)
                };
                let ft = x.get_type();
                let c = ir.fintr("llvm.maxnum", &[x, ft.const_float(lo)])?;
                let c = ir.fintr("llvm.minnum", &[c, ft.const_float(hi)])?;
                let nan = ir.fcmp(FloatPredicate::UNO, x, x)?;
                let c = b
                    .build_select(nan, ft.const_zero(), c, "")
                    .map_err(e)?
                    .into_float_value();
                let i = b
                    .build_float_to_signed_int(c, ir.ctx.i32_type(), "")
                    .map_err(e)?;
                return Ok(b
                    .build_int_truncate(i, to_ty.into_int_type(), "")
                    .map_err(e)?
                    .into());
            }
            let name = if to.is_signed() {
                "llvm.fptosi.sat"
            } else {
                "llvm.fptoui.sat"
            };
            let f = ir.intrinsic(name, &[to_ty, x.get_type().into()])?;
            return ir.call(f, &[x.into()]);
        }
        // From an integer or bool.
        let x = v.into_int_value();
        let src_signed = from.is_signed();
        if to == ScalarType::F16 {
            // Through f32 (exact: every integer a half can hold is an f32): a direct
            // integer → half conversion can be a runtime library call.
            let f32t = ir.ctx.f32_type();
            let f = if src_signed {
                b.build_signed_int_to_float(x, f32t, "").map_err(e)?
            } else {
                b.build_unsigned_int_to_float(x, f32t, "").map_err(e)?
            };
            return Ok(b
                .build_float_trunc(f, to_ty.into_float_type(), "")
                .map_err(e)?
                .into());
        }
        if to.is_float() {
            let t = to_ty.into_float_type();
            return Ok(if src_signed {
                b.build_signed_int_to_float(x, t, "").map_err(e)?
            } else {
                b.build_unsigned_int_to_float(x, t, "").map_err(e)?
            }
            .into());
        }
        let t = to_ty.into_int_type();
        let (fw, tw) = (x.get_type().get_bit_width(), t.get_bit_width());
        Ok(if tw > fw {
            if src_signed {
                b.build_int_s_extend(x, t, "").map_err(e)?
            } else {
                b.build_int_z_extend(x, t, "").map_err(e)?
            }
        } else if tw < fw {
            b.build_int_truncate(x, t, "").map_err(e)?
        } else {
            x
        }
        .into())
    }
}
