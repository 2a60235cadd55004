//! Elementwise operators: unary functions and broadcasting binary functions.
//!
//! Spec: <https://onnx.ai/onnx/operators/> (Relu, LeakyRelu, Sigmoid, Tanh, Clip, Add, ...).
//! Clip's bounds became inputs in opset 11; the ONNX frontend folds them into
//! [`UnaryOp::Clip`] when they are constants. Binary ops broadcast numpy-style (opset 7+;
//! the opset-6 `broadcast`/`axis` attributes are resolved by the frontend).

use crate::dtype::DType;
use crate::error::{shape_err, OpResult};
use crate::shape::{broadcast_shapes, strides, Shape, TensorType};
use crate::tensor::Tensor;

/// An elementwise function of one tensor. The output has the input's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    Sigmoid,
    /// `max(0, min(1, alpha * x + beta))`
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    /// `x * hardsigmoid(x; 1/6, 1/2)`
    HardSwish,
    Elu {
        alpha: f32,
    },
    Tanh,
    /// `min(max(x, min), max)`; infinite bounds mean "no bound".
    Clip {
        min: f32,
        max: f32,
    },
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Abs,
    Neg,
    Erf,
    Floor,
    Ceil,
    /// Round half to even.
    Round,
    Softplus,
    /// `x * Φ(x)`: exact `0.5 x (1 + erf(x / √2))`, or with `tanh` the approximation
    /// `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
    Gelu {
        tanh: bool,
    },
    /// A trigonometric or hyperbolic function.
    Trig(TrigFn),
    /// Bitwise complement of an integer.
    BitNot,
}

/// The trigonometric and hyperbolic functions of ONNX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrigFn {
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
}

impl TrigFn {
    pub const ALL: [TrigFn; 11] = [
        TrigFn::Sin,
        TrigFn::Cos,
        TrigFn::Tan,
        TrigFn::Asin,
        TrigFn::Acos,
        TrigFn::Atan,
        TrigFn::Sinh,
        TrigFn::Cosh,
        TrigFn::Asinh,
        TrigFn::Acosh,
        TrigFn::Atanh,
    ];

    /// The ONNX operator name.
    pub fn name(self) -> &'static str {
        match self {
            TrigFn::Sin => "Sin",
            TrigFn::Cos => "Cos",
            TrigFn::Tan => "Tan",
            TrigFn::Asin => "Asin",
            TrigFn::Acos => "Acos",
            TrigFn::Atan => "Atan",
            TrigFn::Sinh => "Sinh",
            TrigFn::Cosh => "Cosh",
            TrigFn::Asinh => "Asinh",
            TrigFn::Acosh => "Acosh",
            TrigFn::Atanh => "Atanh",
        }
    }

    pub fn from_name(s: &str) -> Option<TrigFn> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The reference function, in f64.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            TrigFn::Sin => x.sin(),
            TrigFn::Cos => x.cos(),
            TrigFn::Tan => x.tan(),
            TrigFn::Asin => x.asin(),
            TrigFn::Acos => x.acos(),
            TrigFn::Atan => x.atan(),
            TrigFn::Sinh => x.sinh(),
            TrigFn::Cosh => x.cosh(),
            TrigFn::Asinh => x.asinh(),
            TrigFn::Acosh => x.acosh(),
            TrigFn::Atanh => x.atanh(),
        }
    }
}

impl UnaryOp {
    pub fn name(&self) -> &'static str {
        match self {
            UnaryOp::Relu => "Relu",
            UnaryOp::LeakyRelu { .. } => "LeakyRelu",
            UnaryOp::Sigmoid => "Sigmoid",
            UnaryOp::HardSigmoid { .. } => "HardSigmoid",
            UnaryOp::HardSwish => "HardSwish",
            UnaryOp::Elu { .. } => "Elu",
            UnaryOp::Tanh => "Tanh",
            UnaryOp::Clip { .. } => "Clip",
            UnaryOp::Exp => "Exp",
            UnaryOp::Log => "Log",
            UnaryOp::Sqrt => "Sqrt",
            UnaryOp::Reciprocal => "Reciprocal",
            UnaryOp::Abs => "Abs",
            UnaryOp::Neg => "Neg",
            UnaryOp::Erf => "Erf",
            UnaryOp::Floor => "Floor",
            UnaryOp::Ceil => "Ceil",
            UnaryOp::Round => "Round",
            UnaryOp::Trig(t) => t.name(),
            UnaryOp::Softplus => "Softplus",
            UnaryOp::Gelu { .. } => "Gelu",
            UnaryOp::BitNot => "BitwiseNot",
        }
    }

    /// The attributes as the text IR prints them (`alpha=0.01`; floats with `{:?}` so
    /// they parse back exactly); empty when the op has none.
    pub(crate) fn attrs(&self) -> String {
        match self {
            UnaryOp::LeakyRelu { alpha } | UnaryOp::Elu { alpha } => format!("alpha={alpha:?}"),
            UnaryOp::HardSigmoid { alpha, beta } => format!("alpha={alpha:?} beta={beta:?}"),
            UnaryOp::Clip { min, max } => format!("min={min:?} max={max:?}"),
            UnaryOp::Gelu { tanh } => format!("tanh={tanh}"),
            _ => String::new(),
        }
    }

    /// True when the op is defined on integer tensors as well as floats.
    fn accepts_int(&self) -> bool {
        matches!(
            self,
            UnaryOp::Relu | UnaryOp::Abs | UnaryOp::Neg | UnaryOp::Clip { .. }
        )
    }

    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        if *self == UnaryOp::BitNot && !x.dtype.is_int() {
            return shape_err(format!("BitwiseNot is not defined for {}", x.dtype));
        }
        if !(x.dtype.is_float()
            || (self.accepts_int() || *self == UnaryOp::BitNot) && x.dtype.is_int())
        {
            return shape_err(format!("{} is not defined for {}", self.name(), x.dtype));
        }
        Ok(x.clone())
    }

    /// The reference scalar function, in `f64`.
    pub fn apply(&self, x: f64) -> f64 {
        match *self {
            UnaryOp::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            UnaryOp::LeakyRelu { alpha } => {
                if x < 0.0 {
                    f64::from(alpha) * x
                } else {
                    x
                }
            }
            UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            UnaryOp::HardSigmoid { alpha, beta } => {
                (f64::from(alpha) * x + f64::from(beta)).clamp(0.0, 1.0)
            }
            UnaryOp::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            UnaryOp::Elu { alpha } => {
                if x < 0.0 {
                    f64::from(alpha) * (x.exp() - 1.0)
                } else {
                    x
                }
            }
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Clip { min, max } => x.max(f64::from(min)).min(f64::from(max)),
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Reciprocal => 1.0 / x,
            UnaryOp::Abs => x.abs(),
            UnaryOp::Neg => -x,
            UnaryOp::Erf => erf(x),
            UnaryOp::Floor => x.floor(),
            UnaryOp::Ceil => x.ceil(),
            UnaryOp::Round => x.round_ties_even(),
            UnaryOp::Trig(t) => t.apply(x),
            UnaryOp::Softplus => (1.0 + x.exp()).ln(),
            UnaryOp::Gelu { tanh: false } => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            UnaryOp::Gelu { tanh: true } => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
            // Signed reading; `eval` wraps to the element type.
            UnaryOp::BitNot => !(x as i64) as f64,
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        if *self == UnaryOp::BitNot {
            let v: Vec<i64> = x.to_i64_vec().into_iter().map(|v| !v).collect();
            return Ok(Tensor::from_i64_wrapping(out.dtype, x.shape.clone(), &v));
        }
        let v: Vec<f64> = x.to_f64_vec().into_iter().map(|v| self.apply(v)).collect();
        Ok(Tensor::from_f64_as(out.dtype, x.shape.clone(), &v))
    }
}

/// `erf` in f64 (Abramowitz–Stegun 7.1.28 is too coarse; this uses the series and
/// continued fraction split, accurate to ~1e-15), for constant folding only.
fn erf(x: f64) -> f64 {
    let ax = x.abs();
    let r = if ax < 2.5 {
        // Maclaurin series.
        let mut sum = ax;
        let mut term = ax;
        let x2 = ax * ax;
        // Converges to double precision within ~60 terms for |x| < 2.5.
        for n in 1..=100 {
            let n = f64::from(n);
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() <= 1e-17 * sum.abs() {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // Continued fraction for erfc.
        let mut f = 0.0;
        for k in (1..60).rev() {
            f = f64::from(k) / 2.0 / (ax + f);
        }
        1.0 - (-ax * ax).exp() / (std::f64::consts::PI.sqrt() * (ax + f))
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

/// An elementwise function of two tensors, broadcasting numpy-style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// Float division; integer division truncates (as onnxruntime does).
    Div,
    Pow,
    /// NaN-propagating maximum.
    Max,
    /// NaN-propagating minimum.
    Min,
    /// Comparisons produce `bool`.
    Equal,
    Less,
    Greater,
    /// Remainder with the sign of the divisor (Python `%`, ONNX Mod with `fmod=0`);
    /// integer `x mod 0 = 0`.
    Mod,
    /// Remainder with the sign of the dividend (C `fmod`/`%`, ONNX Mod with `fmod=1`);
    /// integer `x fmod 0 = 0`.
    Fmod,
    /// Bitwise and, or, exclusive or of integers.
    BitAnd,
    BitOr,
    BitXor,
    /// Shifts of integers (logical for unsigned types); by the bit width or more
    /// gives 0.
    ShiftLeft,
    ShiftRight,
}

impl BinaryOp {
    pub fn name(&self) -> &'static str {
        match self {
            BinaryOp::Add => "Add",
            BinaryOp::Sub => "Sub",
            BinaryOp::Mul => "Mul",
            BinaryOp::Div => "Div",
            BinaryOp::Pow => "Pow",
            BinaryOp::Max => "Max",
            BinaryOp::Min => "Min",
            BinaryOp::Equal => "Equal",
            BinaryOp::Less => "Less",
            BinaryOp::Greater => "Greater",
            BinaryOp::Mod => "Mod",
            BinaryOp::Fmod => "Fmod",
            BinaryOp::BitAnd => "BitwiseAnd",
            BinaryOp::BitOr => "BitwiseOr",
            BinaryOp::BitXor => "BitwiseXor",
            BinaryOp::ShiftLeft => "BitShiftLeft",
            BinaryOp::ShiftRight => "BitShiftRight",
        }
    }

    /// Every binary function, in declaration order.
    pub const ALL: [BinaryOp; 17] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Equal,
        BinaryOp::Less,
        BinaryOp::Greater,
        BinaryOp::Mod,
        BinaryOp::Fmod,
        BinaryOp::BitAnd,
        BinaryOp::BitOr,
        BinaryOp::BitXor,
        BinaryOp::ShiftLeft,
        BinaryOp::ShiftRight,
    ];

    /// True for the integer-only bitwise operations.
    pub fn is_bitwise(&self) -> bool {
        matches!(
            self,
            BinaryOp::BitAnd
                | BinaryOp::BitOr
                | BinaryOp::BitXor
                | BinaryOp::ShiftLeft
                | BinaryOp::ShiftRight
        )
    }

    pub fn is_comparison(&self) -> bool {
        matches!(self, BinaryOp::Equal | BinaryOp::Less | BinaryOp::Greater)
    }

    pub(crate) fn infer(&self, a: &TensorType, b: &TensorType) -> OpResult<TensorType> {
        if a.dtype != b.dtype && *self != BinaryOp::Pow {
            return shape_err(format!(
                "operands have different types {} and {}",
                a.dtype, b.dtype
            ));
        }
        if self.is_bitwise() && !a.dtype.is_int() {
            return shape_err(format!("{} is not defined for {}", self.name(), a.dtype));
        }
        if a.dtype == DType::Bool && !matches!(self, BinaryOp::Equal) {
            return shape_err(format!("{} is not defined for bool", self.name()));
        }
        let shape = broadcast_shapes(&[&a.dims()?, &b.dims()?])?;
        let dtype = if self.is_comparison() {
            DType::Bool
        } else {
            a.dtype
        };
        Ok(TensorType {
            dtype,
            shape: Shape::fixed(&shape),
        })
    }

    /// The reference scalar function, in `f64` (`int` says both operands are integers).
    pub fn apply(&self, a: f64, b: f64, int: bool) -> f64 {
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div if int => (a / b).trunc(),
            BinaryOp::Div => a / b,
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Max if a.is_nan() || b.is_nan() => f64::NAN,
            BinaryOp::Max => a.max(b),
            BinaryOp::Min if a.is_nan() || b.is_nan() => f64::NAN,
            BinaryOp::Min => a.min(b),
            BinaryOp::Equal => t(a == b),
            BinaryOp::Less => t(a < b),
            BinaryOp::Greater => t(a > b),
            BinaryOp::Fmod | BinaryOp::Mod if int && b == 0.0 => 0.0,
            BinaryOp::Fmod => a % b,
            BinaryOp::Mod => {
                let r = a % b;
                if r != 0.0 && (r < 0.0) != (b < 0.0) {
                    r + b
                } else {
                    r
                }
            }
            // On 64-bit patterns; `eval` wraps to the element type.
            _ => Self::bits(*self, a as i64, b as i64, 64) as f64,
        }
    }

    /// A bitwise operation on `bits`-wide integers given as `i64` bit patterns.
    fn bits(op: BinaryOp, a: i64, b: i64, bits: u32) -> i64 {
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let shift = |f: &dyn Fn(u64, u32) -> u64| {
            if b < 0 || b >= i64::from(bits) {
                0
            } else {
                f(a as u64 & mask, b as u32) as i64
            }
        };
        match op {
            BinaryOp::BitAnd => a & b,
            BinaryOp::BitOr => a | b,
            BinaryOp::BitXor => a ^ b,
            BinaryOp::ShiftLeft => shift(&|x, s| x << s),
            BinaryOp::ShiftRight => shift(&|x, s| x >> s),
            _ => 0,
        }
    }

    pub(crate) fn eval(&self, a: &Tensor, b: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let od = out.dims()?;
        if self.is_bitwise() {
            let (av, bv) = (a.to_i64_vec(), b.to_i64_vec());
            let bits = 8 * out.dtype.size_bytes() as u32;
            let ia = broadcast_index(&a.shape, &od);
            let ib = broadcast_index(&b.shape, &od);
            let v: Vec<i64> = ia
                .iter()
                .zip(&ib)
                .map(|(&i, &j)| Self::bits(*self, av[i], bv[j], bits))
                .collect();
            return Ok(Tensor::from_i64_wrapping(out.dtype, od, &v));
        }
        let (av, bv) = (a.to_f64_vec(), b.to_f64_vec());
        let ia = broadcast_index(&a.shape, &od);
        let ib = broadcast_index(&b.shape, &od);
        let int = a.dtype.is_int() && b.dtype.is_int();
        let v: Vec<f64> = ia
            .iter()
            .zip(&ib)
            .map(|(&i, &j)| self.apply(av[i], bv[j], int))
            .collect();
        Ok(Tensor::from_f64_as(out.dtype, od, &v))
    }
}

/// For every element of a tensor of shape `out`, the flat index of the element of an
/// operand of shape `src` that broadcasting maps to it.
pub fn broadcast_index(src: &[u64], out: &[u64]) -> Vec<usize> {
    let n: u64 = out.iter().product();
    let off = out.len() - src.len();
    let ss = strides(src);
    let os = strides(out);
    (0..n)
        .map(|flat| {
            let mut idx = 0u64;
            for (k, (&d, &st)) in src.iter().zip(&ss).enumerate() {
                let coord = (flat / os[off + k]) % out[off + k];
                if d != 1 {
                    idx += coord * st;
                }
            }
            idx as usize
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_reference_is_accurate() {
        // Values from tables of erf.
        assert!((erf(0.5) - 0.520_499_877_813_046_5).abs() < 1e-14);
        assert!((erf(3.0) - 0.999_977_909_503_001_4).abs() < 1e-14);
        assert!((erf(-1.0) + 0.842_700_792_949_714_9).abs() < 1e-14);
        assert_eq!(erf(0.0), 0.0);
        assert!((erf(1e-8) - 1.128_379_167e-8).abs() < 1e-16);
    }

    #[test]
    fn mod_follows_the_divisor_and_fmod_the_dividend() {
        assert_eq!(BinaryOp::Mod.apply(-7.0, 3.0, true), 2.0);
        assert_eq!(BinaryOp::Mod.apply(7.0, -3.0, true), -2.0);
        assert_eq!(BinaryOp::Mod.apply(6.0, -3.0, true), 0.0);
        assert_eq!(BinaryOp::Fmod.apply(-7.0, 3.0, true), -1.0);
        assert_eq!(BinaryOp::Fmod.apply(7.0, -3.0, false), 1.0);
        assert_eq!(BinaryOp::Mod.apply(7.0, 0.0, true), 0.0);
        assert_eq!(UnaryOp::Round.apply(2.5), 2.0);
        assert_eq!(UnaryOp::Round.apply(-1.5), -2.0);
    }

    #[test]
    fn max_propagates_nan() {
        assert!(BinaryOp::Max.apply(f64::NAN, 1.0, false).is_nan());
        assert!(BinaryOp::Min.apply(1.0, f64::NAN, false).is_nan());
    }

    #[test]
    fn bitwise_ops_wrap_to_the_element_type() {
        let u8t = |v: &[i64]| Tensor::from_i64_wrapping(DType::U8, vec![v.len() as u64], v);
        let out = TensorType::new(DType::U8, &[3]);
        let a = u8t(&[0b1100_0001, 255, 3]);
        let b = u8t(&[1, 8, 7]);
        // 0b11000001 << 1 wraps to 0b10000010; shifting by the width gives 0.
        let shl = BinaryOp::ShiftLeft.eval(&a, &b, &out).unwrap();
        assert_eq!(shl.to_i64_vec(), vec![0b1000_0010, 0, 128]);
        let shr = BinaryOp::ShiftRight.eval(&a, &b, &out).unwrap();
        assert_eq!(shr.to_i64_vec(), vec![0b0110_0000, 0, 0]);
        let not = UnaryOp::BitNot.eval(&a, &out).unwrap();
        assert_eq!(not.to_i64_vec(), vec![0b0011_1110, 0, 252]);
        let xor = BinaryOp::BitXor.eval(&a, &b, &out).unwrap();
        assert_eq!(xor.to_i64_vec(), vec![0b1100_0000, 247, 4]);
        assert!(BinaryOp::BitAnd
            .infer(
                &TensorType::new(DType::F32, &[1]),
                &TensorType::new(DType::F32, &[1])
            )
            .is_err());
    }
}
