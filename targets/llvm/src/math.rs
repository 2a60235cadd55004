//! Call-free expansions of the transcendental functions of kernel IR.
//!
//! The shared objects neoc produces link against nothing, so `exp`, `log`, `tanh`,
//! `erf`, `pow` and float remainder are generated here as private `alwaysinline`
//! helper functions (`neoc.exp.f32`, …). They are scalar, branch-free code built
//! from selects and `llvm.fma`/`llvm.roundeven`/bit casts, so after inlining the loop
//! vectorizer widens them like any other arithmetic.
//!
//! | function | f32 method | f64 method |
//! |---|---|---|
//! | exp  | Cephes `expf`: `x = n·ln2 + r`, degree-6 polynomial, `2^n` as two exponent-bit factors | same reduction, degree-13 Taylor |
//! | log  | Cephes `logf`: mantissa in `[√½, √2)`, degree-8 polynomial | fdlibm `log`: `s = f/(2+f)`, degree-7 polynomial in `s²` |
//! | tanh | Cephes `tanhf` below 0.625, else `1 − 2/(e^{2|x|}+1)` | `−u/(2+u)`, `u = expm1(−2|x|)` (Taylor) below 0.6, else as f32 |
//! | erf  | Eigen/XNNPACK rational (odd deg 13 / even deg 8) evaluated in f64, saturated at |x| ≥ 3.9 | `2/√π·x·e^{−x²}·Σ(2x²)^n/(2n+1)!!` below 2.5, else continued fraction for erfc |
//! | pow  | `exp(b·log|a|)` computed in f64, C99 special cases | the same in f64 |
//! | rem  | `a − trunc(a/b)·b` with an fma in f64, sign fix-ups | the same in f64 |
//! | sin, cos | in f64: `x = n·π/2 + r` (3-part Cody–Waite), fdlibm kernel polynomials on `|r| ≤ π/4`, quadrant select | the same |
//! | atan | in f64: Cephes `atan` (reduction at tan(3π/8) and 0.66, rational P(4)/Q(5)) | the same |
//!
//! Error bounds are stated in `docs/llvm-backend.md` and measured by
//! `tests/math_accuracy.rs`.

// Constants are spelled as published (Cephes, fdlibm, Eigen) so they can be checked
// against the sources; they round to the intended values.
#![allow(clippy::excessive_precision)]

use std::collections::HashMap;

use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::context::Context;
use inkwell::module::{Linkage, Module};
use inkwell::types::{FloatType, IntType};
use inkwell::values::{FloatValue, FunctionValue, IntValue};
use inkwell::{FloatPredicate as F, IntPredicate as I};

use crate::codegen::FnAttrs;
use crate::ir::Ir;
use crate::Result;

/// A helper function of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MathFn {
    Exp,
    Log,
    Tanh,
    Erf,
    /// `pow(a, b)`, two arguments.
    Pow,
    /// Float remainder with the sign of the dividend (`fmod`), two arguments.
    Fmod,
    Sin,
    Cos,
    Atan,
}

impl MathFn {
    fn name(self) -> &'static str {
        match self {
            MathFn::Exp => "exp",
            MathFn::Log => "log",
            MathFn::Tanh => "tanh",
            MathFn::Erf => "erf",
            MathFn::Pow => "pow",
            MathFn::Fmod => "fmod",
            MathFn::Sin => "sin",
            MathFn::Cos => "cos",
            MathFn::Atan => "atan",
        }
    }
    fn arity(self) -> usize {
        match self {
            MathFn::Pow | MathFn::Fmod => 2,
            _ => 1,
        }
    }
}

/// The helper functions of one LLVM module, created on first use.
pub(crate) struct MathLib<'ctx> {
    fns: HashMap<(MathFn, bool), FunctionValue<'ctx>>,
    attrs: FnAttrs,
}

/// Precision-specific constants.
struct Fp<'ctx> {
    ty: FloatType<'ctx>,
    ity: IntType<'ctx>,
    is64: bool,
    mant_bits: u64,
    bias: i64,
}

impl<'ctx> MathLib<'ctx> {
    pub fn new(attrs: FnAttrs) -> Self {
        MathLib {
            fns: HashMap::new(),
            attrs,
        }
    }

    /// Calls helper `f` on `args` at the builder position of `ir`.
    pub fn call(
        &mut self,
        ir: &Ir<'_, 'ctx>,
        f: MathFn,
        args: &[FloatValue<'ctx>],
    ) -> Result<FloatValue<'ctx>> {
        let ty = args
            .first()
            .ok_or_else(|| ir.internal("math helper called without arguments"))?
            .get_type();
        if ty == ir.ctx.f16_type() {
            // Half: computed in f32 (exact for every half input) and rounded once.
            let f32t = ir.ctx.f32_type();
            let wide = args
                .iter()
                .map(|a| ir.b.build_float_ext(*a, f32t, "").map_err(|e| ir.err(e)))
                .collect::<Result<Vec<_>>>()?;
            let r = self.call(ir, f, &wide)?;
            return ir.b.build_float_trunc(r, ty, "").map_err(|e| ir.err(e));
        }
        let func = self.get(ir.ctx, ir.module, f, ty)?;
        let args: Vec<_> = args.iter().map(|a| (*a).into()).collect();
        Ok(ir.call(func, &args)?.into_float_value())
    }

    fn get(
        &mut self,
        ctx: &'ctx Context,
        module: &Module<'ctx>,
        f: MathFn,
        ty: FloatType<'ctx>,
    ) -> Result<FunctionValue<'ctx>> {
        let is64 = ty == ctx.f64_type();
        if let Some(func) = self.fns.get(&(f, is64)) {
            return Ok(*func);
        }
        let params = vec![ty.into(); f.arity()];
        let name = format!("neoc.{}.{}", f.name(), if is64 { "f64" } else { "f32" });
        let func = module.add_function(&name, ty.fn_type(&params, false), Some(Linkage::Private));
        self.attrs.apply(ctx, func);
        for attr in ["alwaysinline", "willreturn", "nosync", "nofree"] {
            func.add_attribute(AttributeLoc::Function, enum_attr(ctx, attr, 0));
        }
        // memory(none): the helpers only compute.
        func.add_attribute(AttributeLoc::Function, enum_attr(ctx, "memory", 0));
        self.fns.insert((f, is64), func);

        let builder = ctx.create_builder();
        builder.position_at_end(ctx.append_basic_block(func, "entry"));
        let ir = Ir {
            ctx,
            module,
            b: &builder,
            what: &name,
        };
        let fp = Fp {
            ty,
            ity: if is64 { ctx.i64_type() } else { ctx.i32_type() },
            is64,
            mant_bits: if is64 { 52 } else { 23 },
            bias: if is64 { 1023 } else { 127 },
        };
        let mut args = Vec::new();
        for i in 0..f.arity() {
            let p = func
                .get_nth_param(i as u32)
                .ok_or_else(|| ir.internal("helper parameter missing"))?;
            args.push(p.into_float_value());
        }
        let x = args[0];
        let result = match f {
            MathFn::Exp => self.exp(&ir, &fp, x)?,
            MathFn::Log => log(&ir, &fp, x)?,
            MathFn::Tanh => self.tanh(&ir, &fp, x)?,
            MathFn::Erf => self.erf(&ir, &fp, x)?,
            MathFn::Pow => self.pow(&ir, &fp, x, args[1])?,
            MathFn::Fmod => fmod(&ir, &fp, x, args[1])?,
            MathFn::Sin => sin_cos(&ir, &fp, x, false)?,
            MathFn::Cos => sin_cos(&ir, &fp, x, true)?,
            MathFn::Atan => atan(&ir, &fp, x)?,
        };
        builder.build_return(Some(&result)).map_err(|e| ir.err(e))?;
        Ok(func)
    }

    /// `e^x`; see the module table.
    fn exp(
        &mut self,
        ir: &Ir<'_, 'ctx>,
        fp: &Fp<'ctx>,
        x: FloatValue<'ctx>,
    ) -> Result<FloatValue<'ctx>> {
        let c = |v| ir.fc(fp.ty, v);
        // Past these bounds the result is inf/0 anyway; clamping keeps n in range.
        let (hi, lo) = if fp.is64 {
            (710.0, -760.0)
        } else {
            (89.0, -120.0)
        };
        let nan = ir.is_nan(x)?;
        let mut xc = ir.fsel(ir.fcmp(F::OGT, x, c(hi))?, c(hi), x)?;
        xc = ir.fsel(ir.fcmp(F::OLT, xc, c(lo))?, c(lo), xc)?;
        xc = ir.fsel(nan, c(0.0), xc)?;
        let nf = ir.fintr(
            "llvm.roundeven",
            &[ir.fmul(xc, c(std::f64::consts::LOG2_E))?],
        )?;
        // Cody–Waite: ln2 = C1 + C2 with C1 exact in few bits, so n·C1 is exact.
        let (c1, c2) = if fp.is64 {
            (
                6.931_471_803_691_238_164_90e-1,
                1.908_214_929_270_587_700_02e-10,
            )
        } else {
            (0.693_359_375, -2.121_944_4e-4)
        };
        let mut r = ir.fma(nf, c(-c1), xc)?;
        r = ir.fma(nf, c(-c2), r)?;
        let p = if fp.is64 {
            // Taylor series to r^13/13!: |r| ≤ ln2/2 makes the tail < 2^-56.
            let mut coeffs = Vec::new();
            let mut fact = 1.0f64;
            let mut inv = vec![1.0];
            for k in 1..=13 {
                fact *= f64::from(k);
                inv.push(1.0 / fact);
            }
            for k in (0..=13).rev() {
                coeffs.push(inv[k]);
            }
            ir.poly(r, &coeffs)?
        } else {
            let q = ir.poly(
                r,
                &[
                    1.987_569_15e-4,
                    1.398_199_950_7e-3,
                    8.333_451_907_3e-3,
                    4.166_579_589_4e-2,
                    1.666_666_545_9e-1,
                    5.000_000_120_1e-1,
                ],
            )?;
            let z = ir.fmul(r, r)?;
            ir.fadd(ir.fma(q, z, r)?, c(1.0))?
        };
        let n =
            ir.b.build_float_to_signed_int(nf, fp.ity, "")
                .map_err(|e| ir.err(e))?;
        let n1 =
            ir.b.build_right_shift(n, fp.ity.const_int(1, false), true, "")
                .map_err(|e| ir.err(e))?;
        let n2 = ir.isub(n, n1)?;
        let y = ir.fmul(ir.fmul(p, pow2(ir, fp, n1)?)?, pow2(ir, fp, n2)?)?;
        ir.fsel(nan, x, y)
    }

    /// `tanh(x)`; see the module table.
    fn tanh(
        &mut self,
        ir: &Ir<'_, 'ctx>,
        fp: &Fp<'ctx>,
        x: FloatValue<'ctx>,
    ) -> Result<FloatValue<'ctx>> {
        let c = |v| ir.fc(fp.ty, v);
        let a = ir.fabs(x)?;
        let (small_bound, sat) = if fp.is64 { (0.6, 22.0) } else { (0.625, 9.0) };
        let small = if fp.is64 {
            // u = expm1(-2a) by its Taylor series (|2a| < 1.2, tail < 2^-60),
            // tanh(a) = -u / (2 + u), no cancellation near zero.
            let y = ir.fmul(a, c(-2.0))?;
            let mut coeffs = Vec::new();
            let mut fact = 1.0f64;
            let mut inv = Vec::new();
            for k in 1..=21 {
                fact *= f64::from(k);
                inv.push(1.0 / fact);
            }
            for k in (0..21).rev() {
                coeffs.push(inv[k]);
            }
            let u = ir.fmul(ir.poly(y, &coeffs)?, y)?;
            let t = ir.fdiv(ir.fneg(u)?, ir.fadd(c(2.0), u)?)?;
            ir.copysign(t, x)?
        } else {
            // Cephes tanhf: x + x·z·P(z), z = x².
            let z = ir.fmul(x, x)?;
            let p = ir.poly(
                z,
                &[
                    -5.704_988_727_45e-3,
                    2.063_908_879_54e-2,
                    -5.373_971_555_31e-2,
                    1.333_144_220_36e-1,
                    -3.333_328_194_22e-1,
                ],
            )?;
            ir.fma(ir.fmul(p, z)?, x, x)?
        };
        let e = self.call(ir, MathFn::Exp, &[ir.fadd(a, a)?])?;
        let mut t = ir.fsub(c(1.0), ir.fdiv(c(2.0), ir.fadd(e, c(1.0))?)?)?;
        t = ir.fsel(ir.fcmp(F::OGT, a, c(sat))?, c(1.0), t)?;
        let big = ir.copysign(t, x)?;
        ir.fsel(ir.fcmp(F::OLT, a, c(small_bound))?, small, big)
    }

    /// `erf(x)`; see the module table.
    fn erf(
        &mut self,
        ir: &Ir<'_, 'ctx>,
        fp: &Fp<'ctx>,
        x: FloatValue<'ctx>,
    ) -> Result<FloatValue<'ctx>> {
        let c = |v| ir.fc(fp.ty, v);
        if !fp.is64 {
            // Rational approximation used by Eigen (generic_fast_erf_float) and XNNPACK,
            // evaluated in f64: in f32 its rounding errors reach 5 ulp (3e-7) near 1.
            let f64t = ir.ctx.f64_type();
            let c = |v| ir.fc(f64t, v);
            let xd = widen(ir, fp, x)?;
            let xc = ir.fsel(ir.fcmp(F::OGT, xd, c(4.0))?, c(4.0), xd)?;
            let xc = ir.fsel(ir.fcmp(F::OLT, xc, c(-4.0))?, c(-4.0), xc)?;
            let x2 = ir.fmul(xc, xc)?;
            let p = ir.poly(
                x2,
                &[
                    -2.726_142_258_013_06e-10,
                    2.770_681_424_959_02e-8,
                    -2.101_024_020_825_08e-6,
                    -5.692_506_394_623_46e-5,
                    -7.349_906_303_268_55e-4,
                    -2.954_599_808_540_25e-3,
                    -1.609_603_332_624_15e-2,
                ],
            )?;
            let p = ir.fmul(xc, p)?;
            let q = ir.poly(
                x2,
                &[
                    -1.456_607_184_649_96e-5,
                    -2.133_740_552_789_05e-4,
                    -1.682_826_974_382_03e-3,
                    -7.373_329_167_204_68e-3,
                    -1.426_473_905_141_89e-2,
                ],
            )?;
            let r = ir.fdiv(p, q)?;
            // Past 3.9 the rounded f32 result is ±1 (erfc(3.9) < 3.5e-8).
            let sat = ir.fcmp(F::OGE, ir.fabs(xd)?, c(3.9))?;
            let r = ir.fsel(sat, ir.copysign(c(1.0), xd)?, r)?;
            return narrow(ir, fp, r);
        }
        let a = ir.fabs(x)?;
        let a2 = ir.fmul(a, a)?;
        let e = self.call(ir, MathFn::Exp, &[ir.fneg(a2)?])?;
        let inv_sqrt_pi = 0.564_189_583_547_756_3;
        // Small |x|: erf = 2/√π · a · e^{-a²} · Σ_n (2a²)^n / (2n+1)!!, all terms positive.
        let mut coeffs = vec![1.0f64];
        for n in 1..=50 {
            let prev = coeffs[n - 1];
            coeffs.push(prev / (2.0 * n as f64 + 1.0));
        }
        coeffs.reverse();
        let s = ir.poly(ir.fadd(a2, a2)?, &coeffs)?;
        let small = ir.fmul(ir.fmul(ir.fmul(a, e)?, s)?, c(2.0 * inv_sqrt_pi))?;
        // Large |x|: erfc(a) = e^{-a²}/√π / (a + (1/2)/(a + 1/(a + (3/2)/(a + …)))).
        let mut t = a;
        for k in (1..=40).rev() {
            t = ir.fadd(a, ir.fdiv(c(f64::from(k) / 2.0), t)?)?;
        }
        let erfc = ir.fdiv(ir.fmul(e, c(inv_sqrt_pi))?, t)?;
        let mut big = ir.fsub(c(1.0), erfc)?;
        big = ir.fsel(ir.fcmp(F::OGT, a, c(6.0))?, c(1.0), big)?;
        let r = ir.fsel(ir.fcmp(F::OLT, a, c(2.5))?, small, big)?;
        ir.copysign(r, x)
    }

    /// `pow(a, b)` with the C99 special cases; computed in f64.
    fn pow(
        &mut self,
        ir: &Ir<'_, 'ctx>,
        fp: &Fp<'ctx>,
        a: FloatValue<'ctx>,
        b: FloatValue<'ctx>,
    ) -> Result<FloatValue<'ctx>> {
        let (a, b) = (widen(ir, fp, a)?, widen(ir, fp, b)?);
        let c = |v| ir.fc(ir.ctx.f64_type(), v);
        let abs_a = ir.fabs(a)?;
        let l = self.call(ir, MathFn::Log, &[abs_a])?;
        let mut r = self.call(ir, MathFn::Exp, &[ir.fmul(b, l)?])?;
        let fb = ir.fintr("llvm.floor", &[b])?;
        let b_int = ir.fcmp(F::OEQ, fb, b)?;
        let half_floor = ir.fintr("llvm.floor", &[ir.fmul(b, c(0.5))?])?;
        let b_odd = ir.fcmp(
            F::OEQ,
            ir.fsub(b, ir.fadd(half_floor, half_floor)?)?,
            c(1.0),
        )?;
        let a_neg_bit = ir.icmp(
            I::SLT,
            ir.bits_of(a, ir.ctx.i64_type())?,
            ir.ctx.i64_type().const_zero(),
        )?;
        r = ir.fsel(ir.and(a_neg_bit, b_odd)?, ir.fneg(r)?, r)?;
        let a_neg_finite = ir.and(
            ir.fcmp(F::OLT, a, c(0.0))?,
            ir.fcmp(F::OGT, a, c(f64::NEG_INFINITY))?,
        )?;
        r = ir.fsel(ir.and(a_neg_finite, ir.not(b_int)?)?, c(f64::NAN), r)?;
        let b_inf = ir.fcmp(F::OEQ, ir.fabs(b)?, c(f64::INFINITY))?;
        r = ir.fsel(ir.and(ir.fcmp(F::OEQ, abs_a, c(1.0))?, b_inf)?, c(1.0), r)?;
        r = ir.fsel(ir.fcmp(F::OEQ, b, c(0.0))?, c(1.0), r)?;
        r = ir.fsel(ir.fcmp(F::OEQ, a, c(1.0))?, c(1.0), r)?;
        narrow(ir, fp, r)
    }
}

fn enum_attr(ctx: &Context, name: &str, val: u64) -> Attribute {
    ctx.create_enum_attribute(Attribute::get_named_enum_kind_id(name), val)
}

/// `x` extended to f64, for the helpers computed in f64 (unchanged when already f64).
/// `sin(x)` (or `cos(x)` when `cos`), computed in f64; see the module table. Accurate
/// to about 1 ulp of f64 while `|x| < 2^26`; beyond, the Cody–Waite reduction loses
/// bits (f32 results stay within 1e-6 absolute up to about 1e5).
fn sin_cos<'ctx>(
    ir: &Ir<'_, 'ctx>,
    fp: &Fp<'ctx>,
    x: FloatValue<'ctx>,
    cos: bool,
) -> Result<FloatValue<'ctx>> {
    let f64t = ir.ctx.f64_type();
    let c = |v| ir.fc(f64t, v);
    let xd = widen(ir, fp, x)?;
    let n = ir.fintr(
        "llvm.roundeven",
        &[ir.fmul(xd, c(std::f64::consts::FRAC_2_PI))?],
    )?;
    let neg_n = ir.fneg(n)?;
    // π/2 = P1 + P2 + P3 (fdlibm's pio2_1, pio2_1t split).
    let r = ir.fma(neg_n, c(1.570_796_326_734_125_614_17), xd)?;
    let r = ir.fma(neg_n, c(6.077_100_506_506_192_249_3e-11), r)?;
    let r = ir.fma(neg_n, c(2.022_266_248_795_950_732_4e-21), r)?;
    let z = ir.fmul(r, r)?;
    // fdlibm __kernel_sin / __kernel_cos.
    let sp = ir.poly(
        z,
        &[
            1.589_690_995_211_550_102_21e-10,
            -2.505_076_025_340_686_341_95e-8,
            2.755_731_370_707_006_767_89e-6,
            -1.984_126_982_985_794_931_34e-4,
            8.333_333_333_322_489_461_24e-3,
            -1.666_666_666_666_663_243_48e-1,
        ],
    )?;
    let s = ir.fma(ir.fmul(r, z)?, sp, r)?;
    let cp = ir.poly(
        z,
        &[
            -1.135_964_755_778_819_482_65e-11,
            2.087_572_321_298_174_827_90e-9,
            -2.755_731_435_139_066_330_35e-7,
            2.480_158_728_947_672_941_78e-5,
            -1.388_888_888_887_410_957_49e-3,
            4.166_666_666_666_660_190_37e-2,
        ],
    )?;
    let cc = ir.fma(ir.fmul(z, z)?, cp, ir.fma(c(-0.5), z, c(1.0))?)?;
    // Quadrant q = (n [+ 1 for cos]) mod 4, as an exact float in 0..4.
    let m = if cos { ir.fadd(n, c(1.0))? } else { n };
    let q = ir.fsub(
        m,
        ir.fmul(c(4.0), ir.fintr("llvm.floor", &[ir.fmul(m, c(0.25))?])?)?,
    )?;
    let is = |v: f64| ir.fcmp(F::OEQ, q, c(v));
    let r3 = ir.fneg(cc)?;
    let r2 = ir.fsel(is(2.0)?, ir.fneg(s)?, r3)?;
    let r1 = ir.fsel(is(1.0)?, cc, r2)?;
    let res = ir.fsel(is(0.0)?, s, r1)?;
    narrow(ir, fp, res)
}

/// `atan(x)`, computed in f64 with Cephes `atan`; about 1 ulp of f64. `±inf` → `±π/2`.
fn atan<'ctx>(ir: &Ir<'_, 'ctx>, fp: &Fp<'ctx>, x: FloatValue<'ctx>) -> Result<FloatValue<'ctx>> {
    let f64t = ir.ctx.f64_type();
    let c = |v| ir.fc(f64t, v);
    let xd = widen(ir, fp, x)?;
    let a = ir.fabs(xd)?;
    let big = ir.fcmp(F::OGT, a, c(2.414_213_562_373_095_048_80))?;
    let mid = ir.fcmp(F::OGT, a, c(0.66))?;
    let recip = ir.fneg(ir.fdiv(c(1.0), a)?)?;
    let shifted = ir.fdiv(ir.fsub(a, c(1.0))?, ir.fadd(a, c(1.0))?)?;
    let xr = ir.fsel(big, recip, ir.fsel(mid, shifted, a)?)?;
    let y0 = ir.fsel(
        big,
        c(std::f64::consts::FRAC_PI_2),
        ir.fsel(mid, c(std::f64::consts::FRAC_PI_4), c(0.0))?,
    )?;
    const MOREBITS: f64 = 6.123_233_995_736_765_886_130e-17;
    let more = ir.fsel(big, c(MOREBITS), ir.fsel(mid, c(0.5 * MOREBITS), c(0.0))?)?;
    let z = ir.fmul(xr, xr)?;
    let p = ir.poly(
        z,
        &[
            -8.750_608_600_031_904_122_785e-1,
            -1.615_753_718_733_365_076_637e1,
            -7.500_855_792_314_704_667_340e1,
            -1.228_866_684_490_136_173_410e2,
            -6.485_021_904_942_025_371_773e1,
        ],
    )?;
    let q = ir.poly(
        z,
        &[
            1.0,
            2.485_846_490_142_306_297_962e1,
            1.650_270_098_316_988_542_046e2,
            4.328_810_604_912_902_668_951e2,
            4.853_903_996_359_136_964_868e2,
            1.945_506_571_482_613_964_425e2,
        ],
    )?;
    let t = ir.fdiv(ir.fmul(z, p)?, q)?;
    let y = ir.fadd(ir.fadd(y0, ir.fma(xr, t, xr)?)?, more)?;
    narrow(ir, fp, ir.copysign(y, xd)?)
}

fn widen<'ctx>(ir: &Ir<'_, 'ctx>, fp: &Fp<'ctx>, x: FloatValue<'ctx>) -> Result<FloatValue<'ctx>> {
    if fp.is64 {
        Ok(x)
    } else {
        ir.b.build_float_ext(x, ir.ctx.f64_type(), "")
            .map_err(|e| ir.err(e))
    }
}

/// The f64 result `r` of such a helper, truncated back to the precision of `fp`.
fn narrow<'ctx>(ir: &Ir<'_, 'ctx>, fp: &Fp<'ctx>, r: FloatValue<'ctx>) -> Result<FloatValue<'ctx>> {
    if fp.is64 {
        Ok(r)
    } else {
        ir.b.build_float_trunc(r, fp.ty, "").map_err(|e| ir.err(e))
    }
}

/// `2^n` for `n` in the normal exponent range, from exponent bits.
fn pow2<'ctx>(ir: &Ir<'_, 'ctx>, fp: &Fp<'ctx>, n: IntValue<'ctx>) -> Result<FloatValue<'ctx>> {
    let biased = ir.iadd(n, fp.ity.const_int(fp.bias as u64, false))?;
    let bits =
        ir.b.build_left_shift(biased, fp.ity.const_int(fp.mant_bits, false), "")
            .map_err(|e| ir.err(e))?;
    ir.float_of(bits, fp.ty)
}

/// Splits positive finite `x` into `(e, m)` with `x = m·2^e`, `m` in `[√½, √2)`, and
/// returns `f = m - 1` with `e` as a float.
fn reduce_log<'ctx>(
    ir: &Ir<'_, 'ctx>,
    fp: &Fp<'ctx>,
    x: FloatValue<'ctx>,
) -> Result<(FloatValue<'ctx>, FloatValue<'ctx>)> {
    let c = |v| ir.fc(fp.ty, v);
    let ic = |v: i64| fp.ity.const_int(v as u64, true);
    // Scale subnormals into the normal range first.
    let (min_normal, scale_exp) = if fp.is64 {
        (f64::from_bits(1u64 << 52), 54)
    } else {
        (f64::from(f32::MIN_POSITIVE), 25)
    };
    let tiny = ir.fcmp(F::OLT, x, c(min_normal))?;
    let xs = ir.fsel(tiny, ir.fmul(x, c((scale_exp as f64).exp2()))?, x)?;
    let eadj = ir.isel(tiny, ic(-scale_exp), ic(0))?;
    let bits = ir.bits_of(xs, fp.ity)?;
    let raw_e =
        ir.b.build_right_shift(bits, fp.ity.const_int(fp.mant_bits, false), false, "")
            .map_err(|e| ir.err(e))?;
    let mut e = ir.iadd(ir.isub(raw_e, ic(fp.bias - 1))?, eadj)?;
    let mant_mask = (1u64 << fp.mant_bits) - 1;
    let half_bits = ((fp.bias - 1) as u64) << fp.mant_bits;
    let mbits = ir.or(
        ir.and(bits, fp.ity.const_int(mant_mask, false))?,
        fp.ity.const_int(half_bits, false),
    )?;
    let m = ir.float_of(mbits, fp.ty)?; // in [0.5, 1)
    let low = ir.fcmp(F::OLT, m, c(std::f64::consts::FRAC_1_SQRT_2))?;
    e = ir.isub(e, ir.isel(low, ic(1), ic(0))?)?;
    let f = ir.fsel(low, ir.fsub(ir.fadd(m, m)?, c(1.0))?, ir.fsub(m, c(1.0))?)?;
    let fe =
        ir.b.build_signed_int_to_float(e, fp.ty, "")
            .map_err(|e| ir.err(e))?;
    Ok((f, fe))
}

/// Natural logarithm; see the module table.
fn log<'ctx>(ir: &Ir<'_, 'ctx>, fp: &Fp<'ctx>, x: FloatValue<'ctx>) -> Result<FloatValue<'ctx>> {
    let c = |v| ir.fc(fp.ty, v);
    let (f, fe) = reduce_log(ir, fp, x)?;
    let r = if fp.is64 {
        // fdlibm e_log.c.
        let (ln2_hi, ln2_lo) = (
            6.931_471_803_691_238_164_90e-1,
            1.908_214_929_270_587_700_02e-10,
        );
        let s = ir.fdiv(f, ir.fadd(c(2.0), f)?)?;
        let z = ir.fmul(s, s)?;
        let pz = ir.poly(
            z,
            &[
                1.479_819_860_511_658_591e-1,
                1.531_383_769_920_937_332e-1,
                1.818_357_216_161_805_012e-1,
                2.222_219_843_214_978_396e-1,
                2.857_142_874_366_239_149e-1,
                3.999_999_999_940_941_908e-1,
                6.666_666_666_666_735_130e-1,
            ],
        )?;
        let rr = ir.fmul(z, pz)?;
        let hfsq = ir.fmul(ir.fmul(f, f)?, c(0.5))?;
        // dk·ln2_hi − ((hfsq − (s·(hfsq+R) + dk·ln2_lo)) − f)
        let inner = ir.fma(s, ir.fadd(hfsq, rr)?, ir.fmul(fe, c(ln2_lo))?)?;
        let t = ir.fsub(ir.fsub(hfsq, inner)?, f)?;
        ir.fsub(ir.fmul(fe, c(ln2_hi))?, t)?
    } else {
        // Cephes logf.
        let z = ir.fmul(f, f)?;
        let p = ir.poly(
            f,
            &[
                7.037_683_629_2e-2,
                -1.151_461_031_0e-1,
                1.167_699_874_0e-1,
                -1.242_014_084_6e-1,
                1.424_932_278_7e-1,
                -1.666_805_766_5e-1,
                2.000_071_476_5e-1,
                -2.499_999_399_3e-1,
                3.333_333_117_4e-1,
            ],
        )?;
        let mut y = ir.fmul(ir.fmul(p, f)?, z)?;
        y = ir.fma(fe, c(-2.121_944_4e-4), y)?;
        y = ir.fma(z, c(-0.5), y)?;
        let r = ir.fadd(f, y)?;
        ir.fma(fe, c(0.693_359_375), r)?
    };
    let mut r = ir.fsel(ir.fcmp(F::OEQ, x, c(f64::INFINITY))?, c(f64::INFINITY), r)?;
    r = ir.fsel(ir.fcmp(F::OEQ, x, c(0.0))?, c(f64::NEG_INFINITY), r)?;
    r = ir.fsel(ir.fcmp(F::OLT, x, c(0.0))?, c(f64::NAN), r)?;
    ir.fsel(ir.is_nan(x)?, x, r)
}

/// `fmod(a, b)`: exact while `|a/b| < 2^53`; computed in f64.
fn fmod<'ctx>(
    ir: &Ir<'_, 'ctx>,
    fp: &Fp<'ctx>,
    a: FloatValue<'ctx>,
    b: FloatValue<'ctx>,
) -> Result<FloatValue<'ctx>> {
    let (a, b) = (widen(ir, fp, a)?, widen(ir, fp, b)?);
    let c = |v| ir.fc(ir.ctx.f64_type(), v);
    let q = ir.fintr("llvm.trunc", &[ir.fdiv(a, b)?])?;
    let mut r = ir.fma(ir.fneg(q)?, b, a)?;
    let abs_b = ir.fabs(b)?;
    let step = ir.copysign(abs_b, a)?;
    // The rounded quotient may be one off: bring r back to sign(a)·[0, |b|).
    let wrong_sign = ir.or(
        ir.and(ir.fcmp(F::OGT, a, c(0.0))?, ir.fcmp(F::OLT, r, c(0.0))?)?,
        ir.and(ir.fcmp(F::OLT, a, c(0.0))?, ir.fcmp(F::OGT, r, c(0.0))?)?,
    )?;
    r = ir.fsel(wrong_sign, ir.fadd(r, step)?, r)?;
    r = ir.fsel(ir.fcmp(F::OGE, ir.fabs(r)?, abs_b)?, ir.fsub(r, step)?, r)?;
    r = ir.copysign(r, a)?;
    let inf = c(f64::INFINITY);
    let invalid = ir.or(
        ir.or(ir.is_nan(a)?, ir.is_nan(b)?)?,
        ir.or(
            ir.fcmp(F::OEQ, b, c(0.0))?,
            ir.fcmp(F::OEQ, ir.fabs(a)?, inf)?,
        )?,
    )?;
    r = ir.fsel(ir.fcmp(F::OEQ, abs_b, inf)?, a, r)?;
    r = ir.fsel(invalid, c(f64::NAN), r)?;
    narrow(ir, fp, r)
}
