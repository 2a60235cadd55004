//! The 8-bit float formats of ONNX (`FLOAT8E4M3FN`, `FLOAT8E4M3FNUZ`, `FLOAT8E5M2`,
//! `FLOAT8E5M2FNUZ`): their parameters and exact conversions to and from `f32`.
//!
//! Spec: <https://onnx.ai/onnx/technical/float8.html>. A format is sign, `exp_bits`
//! exponent bits with a bias, and `man_bits` mantissa bits; exponent field 0 holds the
//! subnormals. The `FN` formats have no infinities (E4M3FN keeps only `S.1111.111` for
//! NaN), the `UZ` formats have no negative zero and one NaN, `0x80`. E5M2 is IEEE-like.
//!
//! Encoding rounds to nearest, ties to even, and saturates: values beyond the largest
//! finite number, infinities included, become ±max (ONNX `Cast`'s default
//! `saturate=1`; the frontend builds the `saturate=0` form around this). The same
//! algorithm is written once more as kernel expressions in
//! `neoc_kernel::lower::number_format`; both are checked against onnx's references by
//! the conformance tests (`test_cast_*FLOAT8*`, `test_*quantizelinear_e*`).

/// The parameters of one 8-bit float format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub exp_bits: u32,
    pub man_bits: u32,
    pub bias: i32,
    /// No negative zero; `0x80` is the only NaN.
    pub uz: bool,
    /// IEEE infinities (`S.11111.00`), NaN with a non-zero mantissa (E5M2 only).
    pub has_inf: bool,
}

impl Format {
    pub const E4M3FN: Format = Format {
        exp_bits: 4,
        man_bits: 3,
        bias: 7,
        uz: false,
        has_inf: false,
    };
    pub const E4M3FNUZ: Format = Format {
        exp_bits: 4,
        man_bits: 3,
        bias: 8,
        uz: true,
        has_inf: false,
    };
    pub const E5M2: Format = Format {
        exp_bits: 5,
        man_bits: 2,
        bias: 15,
        uz: false,
        has_inf: true,
    };
    pub const E5M2FNUZ: Format = Format {
        exp_bits: 5,
        man_bits: 2,
        bias: 16,
        uz: true,
        has_inf: false,
    };

    /// The code (sign bit clear) of the largest finite value.
    pub fn max_code(self) -> u8 {
        if self.uz {
            0x7F
        } else if self.has_inf {
            // S.11110.11: the top exponent is infinities and NaNs.
            0x7B
        } else {
            // S.1111.110: S.1111.111 is NaN.
            0x7E
        }
    }

    /// The NaN code for a value of sign bit `sign` (0 or 0x80).
    pub fn nan_code(self, sign: u8) -> u8 {
        if self.uz {
            0x80
        } else {
            0x7F | sign
        }
    }

    /// The code a finite value beyond the range takes without saturation: ±inf where
    /// the format has them, NaN otherwise.
    pub fn overflow_code(self, sign: u8) -> u8 {
        if self.has_inf {
            0x7C | sign
        } else {
            self.nan_code(sign)
        }
    }

    /// The smallest normal magnitude, `2^(1 - bias)`.
    pub fn min_normal(self) -> f32 {
        pow2(1 - self.bias)
    }

    /// The magnitude from which a value rounds beyond the largest finite one, and
    /// whether reaching it exactly already does (a tie rounds to the even neighbour,
    /// which is past the range when the largest mantissa is odd).
    pub fn overflow_threshold(self) -> (f64, bool) {
        let max = f64::from(decode(self, self.max_code()));
        let exp = i32::from(self.max_code() >> self.man_bits) - self.bias;
        let half_ulp = f64::from(pow2(exp - self.man_bits as i32 - 1));
        (max + half_ulp, self.max_code() & 1 == 1)
    }
}

/// `2^e` for exponents in the normal `f32` range.
fn pow2(e: i32) -> f32 {
    f32::from_bits(((e + 127) as u32) << 23)
}

/// The value of `code`.
pub fn decode(f: Format, code: u8) -> f32 {
    if f.uz && code == 0x80 {
        return f32::NAN;
    }
    let negative = code & 0x80 != 0;
    let mag = code & 0x7F;
    let exp = i32::from(mag >> f.man_bits);
    let man = mag & ((1 << f.man_bits) - 1);
    let top = (1 << f.exp_bits) - 1;
    let v = if f.has_inf && exp == top {
        if man == 0 {
            f32::INFINITY
        } else {
            f32::NAN
        }
    } else if !f.uz && !f.has_inf && mag == 0x7F {
        f32::NAN
    } else if exp == 0 {
        f32::from(man) * pow2(1 - f.bias - f.man_bits as i32)
    } else {
        (1.0 + f32::from(man) / f32::from(1u8 << f.man_bits)) * pow2(exp - f.bias)
    };
    if negative {
        -v
    } else {
        v
    }
}

/// `x` rounded to nearest-even in format `f`, saturating (see the module docs).
pub fn encode(f: Format, x: f32) -> u8 {
    let sign = if x.is_sign_negative() { 0x80u8 } else { 0 };
    if x.is_nan() {
        return f.nan_code(sign);
    }
    let a = x.abs();
    let code: u32 = if a < f.min_normal() {
        // Subnormal: a multiple of 2^(1 - bias - man_bits); 2^man_bits is the smallest
        // normal, whose code is that same number.
        let scale = pow2(f.bias - 1 + f.man_bits as i32);
        (a * scale).round_ties_even() as u32
    } else {
        // Round the f32 mantissa to man_bits, then move the exponent to the new bias;
        // infinity lands far beyond the largest code.
        let shift = 23 - f.man_bits;
        let bits = a.to_bits();
        let rounded = (bits + ((1 << (shift - 1)) - 1) + ((bits >> shift) & 1)) >> shift;
        rounded - (((127 - f.bias) as u32) << f.man_bits)
    };
    let code = code.min(u32::from(f.max_code())) as u8;
    if f.uz && code == 0 {
        0
    } else {
        code | sign
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Format; 4] = [
        Format::E4M3FN,
        Format::E4M3FNUZ,
        Format::E5M2,
        Format::E5M2FNUZ,
    ];

    #[test]
    fn every_finite_code_round_trips() {
        for f in ALL {
            for code in 0..=255u8 {
                let v = decode(f, code);
                if v.is_nan() || v.is_infinite() || (f.uz && code == 0x80) {
                    continue;
                }
                let back = encode(f, v);
                // -0 of the UZ formats does not exist; 0x00 is the zero.
                assert_eq!(back, code, "{f:?} code {code:#x} = {v}");
            }
        }
    }

    #[test]
    fn largest_values_and_saturation() {
        assert_eq!(decode(Format::E4M3FN, 0x7E), 448.0);
        assert_eq!(decode(Format::E4M3FNUZ, 0x7F), 240.0);
        assert_eq!(decode(Format::E5M2, 0x7B), 57344.0);
        assert_eq!(decode(Format::E5M2FNUZ, 0x7F), 57344.0);
        for f in ALL {
            assert_eq!(encode(f, 1e9), f.max_code());
            assert_eq!(encode(f, f32::INFINITY), f.max_code());
            assert!(decode(f, encode(f, f32::NAN)).is_nan());
        }
        assert!(decode(Format::E5M2, 0x7C).is_infinite());
    }

    #[test]
    fn midpoints_round_to_even() {
        for f in ALL {
            for code in 1..f.max_code() {
                let (lo, hi) = (decode(f, code), decode(f, code + 1));
                let mid = (f64::from(lo) + f64::from(hi)) / 2.0;
                let want = if code & 1 == 0 { code } else { code + 1 };
                assert_eq!(encode(f, mid as f32), want, "{f:?} between {lo} and {hi}");
            }
        }
    }

    #[test]
    fn overflow_threshold_is_where_saturation_starts() {
        for f in ALL {
            let (t, inclusive) = f.overflow_threshold();
            let below = encode(f, (t * 0.999) as f32);
            assert_eq!(below, f.max_code());
            let at = decode(f, f.max_code()) as f64;
            assert!(t > at);
            assert_eq!(inclusive, f.max_code() & 1 == 1);
        }
    }
}
