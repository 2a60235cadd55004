//! Number formats the hardware lacks: bfloat16, ONNX's 8-bit floats and the 4-bit
//! integers. Kernels hold them in integer storage (`u16`, `u8`, `i8`) and convert with
//! integer arithmetic on the bits of an `f32` ([`Expr::Bitcast`]), so an artifact needs
//! no runtime library and no CPU feature.
//!
//! Only `Cast` computes on these types ([`convert`]); data movement (transpose, gather,
//! concat, slice, ...) copies their storage like any other type. Every other operator
//! refuses them ([`only_moves`]) — the frontends cast to `f32` around arithmetic.
//!
//! The 8-bit float algorithm is the one of `neoc_ir::minifloat` (which constant folding
//! uses): round to nearest even on the `f32` bits, saturate at the largest finite value.

use crate::expr::{BinaryOp, CmpOp, Expr, UnaryOp};
use crate::kernel::ScalarType;
use neoc_ir::minifloat::Format;
use neoc_ir::DType;

/// The kernel type that holds `dt` in memory, for types without native arithmetic.
pub(super) fn storage(dt: DType) -> Option<ScalarType> {
    Some(match dt {
        DType::BF16 => ScalarType::U16,
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => ScalarType::U8,
        DType::I4 => ScalarType::I8,
        DType::U4 => ScalarType::U8,
        _ => return None,
    })
}

/// True when `dt` is held in integer storage and only `Cast` and data movement may
/// touch it.
pub(super) fn only_moves(dt: DType) -> bool {
    storage(dt).is_some()
}

/// `x` (loaded from a buffer of `from`'s kernel type) converted to `to`, in `to`'s
/// kernel type; `plain` converts between the types with native arithmetic
/// (`Expr::Cast`).
pub(super) fn convert(from: DType, to: DType, x: Expr, plain: ScalarType) -> Expr {
    // Widen exotic sources to f32 (exact) or to their integer value.
    let (x, mid) = match from {
        DType::BF16 => (
            Expr::bitcast(
                ScalarType::F32,
                Expr::binary(
                    BinaryOp::Shl,
                    Expr::cast(ScalarType::U32, x),
                    Expr::IConst(16, ScalarType::U32),
                ),
            ),
            ScalarType::F32,
        ),
        DType::I4 => (x, ScalarType::I8),
        DType::U4 => (x, ScalarType::U8),
        d => match d.minifloat() {
            Some(f) => (decode_f8(f, x), ScalarType::F32),
            None => (x, plain_of(from, plain)),
        },
    };
    match to {
        DType::BF16 => encode_bf16(to_f32(x, mid)),
        DType::I4 | DType::U4 => {
            let (lo, hi) = to.narrow_int_range().unwrap_or((0, 0));
            let wide = if mid.is_float() {
                Expr::cast(
                    ScalarType::I32,
                    Expr::binary(
                        BinaryOp::Max,
                        Expr::binary(
                            BinaryOp::Min,
                            Expr::unary(UnaryOp::Round, Expr::cast(ScalarType::F64, x)),
                            Expr::FConst(hi as f64, ScalarType::F64),
                        ),
                        Expr::FConst(lo as f64, ScalarType::F64),
                    ),
                )
            } else {
                let w = if mid == ScalarType::U64 {
                    Expr::binary(BinaryOp::Min, x, Expr::IConst(hi, ScalarType::U64))
                } else {
                    x
                };
                let w = Expr::cast(ScalarType::I64, w);
                Expr::binary(
                    BinaryOp::Max,
                    Expr::binary(BinaryOp::Min, w, Expr::i64(hi)),
                    Expr::i64(lo),
                )
            };
            let t = if to == DType::I4 {
                ScalarType::I8
            } else {
                ScalarType::U8
            };
            Expr::cast(t, wide)
        }
        d => match d.minifloat() {
            Some(f) => encode_f8(f, to_f32(x, mid)),
            None => Expr::cast(plain, x),
        },
    }
}

/// The kernel type of a plain (natively computed) source.
fn plain_of(from: DType, fallback: ScalarType) -> ScalarType {
    super::scalar_type(from).unwrap_or(fallback)
}

fn to_f32(x: Expr, t: ScalarType) -> Expr {
    if t == ScalarType::F32 {
        x
    } else {
        Expr::cast(ScalarType::F32, x)
    }
}

fn i32c(v: i64) -> Expr {
    Expr::IConst(v, ScalarType::I32)
}

fn and(a: Expr, m: i64) -> Expr {
    Expr::binary(BinaryOp::And, a, i32c(m))
}

fn shr(a: Expr, n: i64) -> Expr {
    Expr::binary(BinaryOp::Shr, a, i32c(n))
}

fn shl(a: Expr, n: i64) -> Expr {
    Expr::binary(BinaryOp::Shl, a, i32c(n))
}

fn eq(a: Expr, v: i64) -> Expr {
    Expr::cmp(CmpOp::Eq, a, i32c(v))
}

/// `2^e` as an `f32` constant.
fn pow2(e: i32) -> Expr {
    Expr::f32(2f32.powi(e))
}

/// An 8-bit float (as `u8`) → `f32`, exactly.
fn decode_f8(f: Format, b: Expr) -> Expr {
    let m = i64::from(f.man_bits);
    let bi = Expr::cast(ScalarType::I32, b);
    let negative = Expr::cmp(CmpOp::Ne, and(bi.clone(), 0x80), i32c(0));
    let mag = and(bi.clone(), 0x7F);
    let exp = shr(mag.clone(), m);
    let man = and(mag.clone(), (1 << m) - 1);
    // Normal: place sign, rebiased exponent and mantissa into f32 bits.
    let normal = Expr::bitcast(
        ScalarType::F32,
        Expr::binary(
            BinaryOp::Or,
            Expr::binary(
                BinaryOp::Or,
                shl(and(bi.clone(), 0x80), 24),
                shl(exp.clone() + i32c(i64::from(127 - f.bias)), 23),
            ),
            shl(man.clone(), 23 - m),
        ),
    );
    // Subnormal: mantissa × 2^(1 - bias - m), signed.
    let sub_mag = Expr::cast(ScalarType::F32, man.clone()) * pow2(1 - f.bias - f.man_bits as i32);
    let sub = Expr::select(
        negative.clone(),
        Expr::unary(UnaryOp::Neg, sub_mag.clone()),
        sub_mag,
    );
    let mut v = Expr::select(eq(exp.clone(), 0), sub, normal);
    let nan = Expr::f32(f32::NAN);
    if f.uz {
        v = Expr::select(eq(bi, 0x80), nan, v);
    } else if f.has_inf {
        let top = (1i64 << f.exp_bits) - 1;
        let inf = Expr::select(
            negative,
            Expr::f32(f32::NEG_INFINITY),
            Expr::f32(f32::INFINITY),
        );
        v = Expr::select(eq(exp, top), Expr::select(eq(man, 0), inf, nan), v);
    } else {
        v = Expr::select(eq(mag, 0x7F), nan, v);
    }
    v
}

/// `f32` → an 8-bit float (as `u8`): nearest, ties to even, saturating; NaN → NaN.
fn encode_f8(f: Format, x: Expr) -> Expr {
    let m = i64::from(f.man_bits);
    let bits = Expr::bitcast(ScalarType::I32, x.clone());
    let sign = and(shr(bits.clone(), 24), 0x80);
    let a = Expr::unary(UnaryOp::Abs, x.clone());
    // In i64 so that rounding the largest magnitudes (inf, NaN) cannot wrap.
    let abits = Expr::cast(ScalarType::I64, and(bits, 0x7FFF_FFFF));
    let shift = 23 - m;
    let i64c = Expr::i64;
    let round_bit = Expr::binary(
        BinaryOp::And,
        Expr::binary(BinaryOp::Shr, abits.clone(), i64c(shift)),
        i64c(1),
    );
    let rounded = Expr::binary(
        BinaryOp::Shr,
        abits + i64c((1 << (shift - 1)) - 1) + round_bit,
        i64c(shift),
    );
    let normal = rounded - i64c(i64::from(127 - f.bias) << m);
    let sub = Expr::cast(
        ScalarType::I64,
        Expr::unary(
            UnaryOp::Round,
            a.clone() * pow2(f.bias - 1 + f.man_bits as i32),
        ),
    );
    let code = Expr::select(
        Expr::cmp(CmpOp::Lt, a, Expr::f32(f.min_normal())),
        sub,
        normal,
    );
    let code = Expr::cast(
        ScalarType::I32,
        Expr::binary(BinaryOp::Min, code, i64c(i64::from(f.max_code()))),
    );
    let signed = Expr::binary(BinaryOp::Or, code.clone(), sign.clone());
    let finite = if f.uz {
        Expr::select(eq(code, 0), i32c(0), signed)
    } else {
        signed
    };
    let nan = if f.uz {
        i32c(0x80)
    } else {
        Expr::binary(BinaryOp::Or, i32c(0x7F), sign)
    };
    let is_nan = Expr::cmp(CmpOp::Ne, x.clone(), x);
    Expr::cast(ScalarType::U8, Expr::select(is_nan, nan, finite))
}

/// `f32` → bfloat16 bits (as `u16`): nearest, ties to even; NaN → `0x7FC0`.
fn encode_bf16(x: Expr) -> Expr {
    let u32c = |v: i64| Expr::IConst(v, ScalarType::U32);
    let bits = Expr::bitcast(ScalarType::U32, x.clone());
    let lsb = Expr::binary(
        BinaryOp::And,
        Expr::binary(BinaryOp::Shr, bits.clone(), u32c(16)),
        u32c(1),
    );
    let rounded = Expr::binary(BinaryOp::Shr, bits + u32c(0x7FFF) + lsb, u32c(16));
    let is_nan = Expr::cmp(CmpOp::Ne, x.clone(), x);
    Expr::cast(ScalarType::U16, Expr::select(is_nan, u32c(0x7FC0), rounded))
}
