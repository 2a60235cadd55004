//! Accuracy of the inline math expansions against f64 references, on dense sweeps plus
//! special values, for every CPU level this machine can run. Prints the worst errors.

mod common;

use common::{ptr, runnable_levels, Lib};
use neoc_kernel::{Access, Expr, Kernel, KernelBuilder, LoopKind, ScalarType, UnaryOp};

const OPS: [(UnaryOp, &str); 7] = [
    (UnaryOp::Exp, "exp"),
    (UnaryOp::Log, "log"),
    (UnaryOp::Tanh, "tanh"),
    (UnaryOp::Erf, "erf"),
    (UnaryOp::Sin, "sin"),
    (UnaryOp::Cos, "cos"),
    (UnaryOp::Atan, "atan"),
];

fn unary_kernel(name: &str, op: UnaryOp, ty: ScalarType, n: u64) -> Kernel {
    let mut b = KernelBuilder::new(name);
    let x = b.param("x", ty, n, Access::Read);
    let y = b.param("y", ty, n, Access::Write);
    b.for_loop("i", 0, n as i64, LoopKind::Vectorize, |b, i| {
        b.store(y, i.clone(), Expr::unary(op, Expr::load(x, i)));
    });
    b.finish()
}

fn reference(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Erf => libm::erf(x),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Atan => x.atan(),
        _ => unreachable!(),
    }
}

fn sweep(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
    (0..n).map(move |i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
}

/// Inputs for `op`: a dense sweep of the interesting range, log-spaced magnitudes,
/// and special values.
fn inputs(op: UnaryOp) -> Vec<f64> {
    let mut v: Vec<f64> = match op {
        UnaryOp::Exp => sweep(-110.0, 90.0, 100_000)
            .chain(sweep(-1.0, 1.0, 20_000))
            .collect(),
        UnaryOp::Log => sweep(0.0, 4.0, 50_000)
            .chain(sweep(0.9, 1.1, 20_000))
            .chain((0..60_000).map(|i| 2f64.powf(-149.0 + 277.0 * i as f64 / 60_000.0)))
            .collect(),
        UnaryOp::Tanh => sweep(-12.0, 12.0, 100_000)
            .chain(sweep(-1.0, 1.0, 20_000))
            .collect(),
        UnaryOp::Sin | UnaryOp::Cos => sweep(-1000.0, 1000.0, 100_000)
            .chain(sweep(-7.0, 7.0, 20_000))
            .collect(),
        UnaryOp::Atan => sweep(-50.0, 50.0, 100_000)
            .chain(sweep(-3.0, 3.0, 20_000))
            .chain((0..2000).map(|i| 1.5f64.powi(i - 1000)))
            .collect(),
        _ => sweep(-6.0, 6.0, 100_000)
            .chain(sweep(-0.5, 0.5, 20_000))
            .collect(),
    };
    v.extend([
        0.0,
        -0.0,
        1.0,
        -1.0,
        100.0,
        -100.0,
        1e-30,
        -1e-30,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ]);
    v
}

#[derive(Default, Debug)]
struct Stats {
    max_abs: f64,
    max_abs_at: f64,
    max_ulp: f64,
    max_ulp_at: f64,
}

impl Stats {
    fn add(&mut self, x: f64, abs: f64, ulp: f64) {
        if abs > self.max_abs {
            self.max_abs = abs;
            self.max_abs_at = x;
        }
        if ulp > self.max_ulp {
            self.max_ulp = ulp;
            self.max_ulp_at = x;
        }
    }
}

/// One unit in the last place at the magnitude of `r`, for a float of `mant` bits.
fn ulp(r: f64, mant: i32, min_exp: i32) -> f64 {
    let e = if r == 0.0 {
        min_exp
    } else {
        (r.abs().log2().floor() as i32).max(min_exp)
    };
    2f64.powi(e - mant)
}

/// Checks specials exactly and returns `Some((abs, ulp))` for ordinary results.
fn check_special(op: UnaryOp, x: f64, got: f64, want: f64, is64: bool) -> Option<(f64, f64)> {
    if want.is_nan() {
        assert!(got.is_nan(), "{op:?}({x}) = {got}, want NaN");
        return None;
    }
    if want.is_infinite() {
        assert_eq!(got, want, "{op:?}({x})");
        return None;
    }
    let (mant, min_exp, max) = if is64 {
        (52, -1022, f64::MAX)
    } else {
        (23, -126, f32::MAX as f64)
    };
    if want.abs() > max {
        assert!(
            got.is_infinite() && got.signum() == want.signum(),
            "{op:?}({x}) = {got}"
        );
        return None;
    }
    assert!(got.is_finite(), "{op:?}({x}) = {got}, want {want}");
    let abs = (got - want).abs();
    Some((abs, abs / ulp(want, mant, min_exp)))
}

fn run(ty: ScalarType) {
    let is64 = ty == ScalarType::F64;
    for (t, l) in runnable_levels() {
        let data: Vec<(UnaryOp, &str, Vec<f64>)> = OPS
            .iter()
            .map(|(op, name)| (*op, *name, inputs(*op)))
            .collect();
        let kernels = data
            .iter()
            .map(|(op, name, xs)| unary_kernel(name, *op, ty, xs.len() as u64))
            .collect();
        let lib = Lib::compile(kernels, &t, &l);
        for (op, name, xs) in &data {
            let mut stats = Stats::default();
            let mut tiny = Stats::default(); // |x| < 0.625 (tanh relative bound)
            let got: Vec<f64> = if is64 {
                let mut x = xs.clone();
                let mut y = vec![0f64; xs.len()];
                lib.call(name, &[ptr(&mut x), ptr(&mut y)], 0, 1);
                y
            } else {
                let mut x: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
                let mut y = vec![0f32; xs.len()];
                lib.call(name, &[ptr(&mut x), ptr(&mut y)], 0, 1);
                y.into_iter().map(f64::from).collect()
            };
            for (i, &x0) in xs.iter().enumerate() {
                // The input actually seen by the kernel.
                let x = if is64 { x0 } else { f64::from(x0 as f32) };
                let want = reference(*op, x);
                let Some((abs, ulps)) = check_special(*op, x, got[i], want, is64) else {
                    continue;
                };
                let normal = want.abs()
                    >= if is64 {
                        f64::MIN_POSITIVE
                    } else {
                        f32::MIN_POSITIVE as f64
                    };
                let ulps = if normal { ulps } else { 0.0 };
                stats.add(x, abs, ulps);
                if x.abs() < 0.625 {
                    tiny.add(x, abs, ulps);
                }
            }
            println!(
                "{:>6} {:<4} {name:<4}: max abs {:.3e} (x={:.6e}), max {:.2} ulp (x={:.6e}); |x|<0.625: {:.2} ulp",
                l.name, ty, stats.max_abs, stats.max_abs_at, stats.max_ulp, stats.max_ulp_at, tiny.max_ulp
            );
            match op {
                UnaryOp::Exp | UnaryOp::Log => {
                    assert!(stats.max_ulp <= 2.0, "{name} {ty} {}: {stats:?}", l.name)
                }
                UnaryOp::Tanh => {
                    assert!(stats.max_abs <= 2e-7, "{name} {ty} {}: {stats:?}", l.name);
                    assert!(tiny.max_ulp <= 4.0, "{name} {ty} {}: {tiny:?}", l.name);
                }
                // Computed in f64, so f32 results are correctly rounded or 1 ulp off.
                UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Atan if !is64 => {
                    assert!(stats.max_ulp <= 1.0, "{name} {ty} {}: {stats:?}", l.name)
                }
                UnaryOp::Sin | UnaryOp::Cos => {
                    assert!(stats.max_abs <= 1e-15, "{name} {ty} {}: {stats:?}", l.name)
                }
                UnaryOp::Atan => assert!(stats.max_ulp <= 2.0, "{name} {ty} {}: {stats:?}", l.name),
                _ => assert!(stats.max_abs <= 2e-7, "{name} {ty} {}: {stats:?}", l.name),
            }
        }
    }
}

#[test]
fn math_f32_accuracy() {
    run(ScalarType::F32);
}

#[test]
fn math_f64_accuracy() {
    run(ScalarType::F64);
}

#[test]
fn exp_limits() {
    let xs = [
        88.7f32, 88.73, 89.0, 1e30, -103.0, -103.98, -104.0, -1e30, -87.3,
    ];
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(
            vec![unary_kernel(
                "e",
                UnaryOp::Exp,
                ScalarType::F32,
                xs.len() as u64,
            )],
            &t,
            &l,
        );
        let mut x = xs.to_vec();
        let mut y = vec![0f32; xs.len()];
        lib.call("e", &[ptr(&mut x), ptr(&mut y)], 0, 1);
        for (xi, yi) in xs.iter().zip(&y) {
            let want = f64::from(*xi).exp() as f32;
            if want.is_infinite() || want == 0.0 {
                assert_eq!(*yi, want, "exp({xi})");
            } else {
                // 2 ulp in the normal range (the `UnaryOp::Exp` contract), else one
                // subnormal step (1.4e-45) below it.
                assert!(
                    ((yi - want) / want).abs() <= 2.0 * f32::EPSILON || (yi - want).abs() <= 2e-45,
                    "exp({xi}) = {yi}, want {want}"
                );
            }
        }
    }
}
