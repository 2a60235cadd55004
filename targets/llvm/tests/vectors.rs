//! Vector values of kernel IR (`VLoad`, `Splat`, lane-wise math, vector `Store`,
//! `LaneReduce`) compiled and run at every x86 level this machine has.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ptr, runnable_levels, Lib};
use neoc_kernel::{Access, BinaryOp, Expr, KernelBuilder, LoopKind, ScalarType, UnaryOp};

#[test]
fn lane_wise_math_and_unaligned_vector_access() {
    // 16-lane vectors at offset 1 (unaligned), then an 8- and a 4-lane one.
    let n = 1 + 16 + 8 + 4;
    let mut b = KernelBuilder::new("vec");
    let x = b.param("x", ScalarType::F32, n, Access::Read);
    let y = b.param("y", ScalarType::F32, n, Access::Read);
    let out = b.param("out", ScalarType::F32, n * 3, Access::Write);
    let mut at = 1i64;
    for lanes in [16u32, 8, 4] {
        let v = b.vector_var("v", ScalarType::F32, lanes);
        let w = b.vector_var("w", ScalarType::F32, lanes);
        b.assign(v, Expr::vload(x, Expr::i64(at), lanes));
        b.assign(w, Expr::vload(y, Expr::i64(at), lanes));
        let two = Expr::splat(Expr::f32(2.0), lanes);
        let fma = Expr::fma(two, Expr::var(v), Expr::var(w));
        b.store(
            out,
            Expr::i64(at),
            fma.max(Expr::splat(Expr::f32(0.0), lanes)),
        );
        let q = (Expr::var(v) - Expr::var(w)) / -Expr::var(w);
        b.store(out, Expr::i64(n as i64 + at), q);
        b.store(
            out,
            Expr::i64(2 * n as i64 + at),
            Expr::var(v).min(Expr::var(w)) * Expr::var(v),
        );
        at += i64::from(lanes);
    }
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut xs: Vec<f32> = (0..n).map(|i| (i as f32 - 9.5) * 0.75).collect();
        let mut ys: Vec<f32> = (0..n).map(|i| 3.0 - i as f32 * 0.5).collect();
        xs[5] = f32::NAN;
        let mut o = vec![0f32; 3 * n as usize];
        lib.call("vec", &[ptr(&mut xs), ptr(&mut ys), ptr(&mut o)], 0, 1);
        for i in 1..n as usize {
            let (a, c) = (xs[i], ys[i]);
            let want = [
                if a.is_nan() {
                    f32::NAN
                } else {
                    2f32.mul_add(a, c).max(0.0)
                },
                (a - c) / -c,
                if a.is_nan() { f32::NAN } else { a.min(c) * a },
            ];
            for (j, w) in want.iter().enumerate() {
                let got = o[j * n as usize + i];
                assert!(
                    got == *w || (got.is_nan() && w.is_nan()),
                    "{} lane {i} result {j}: {got} want {w}",
                    l.name
                );
            }
        }
        assert_eq!(o[0], 0.0, "element 0 is outside every vector");
    }
}

#[test]
fn lane_reductions_sum_and_propagate_nan() {
    let mut b = KernelBuilder::new("red");
    let x = b.param("x", ScalarType::F32, 64, Access::Read);
    let out = b.param("out", ScalarType::F32, 4, Access::Write);
    let part = b.vector_var("part", ScalarType::F32, 16);
    for (slot, (op, init)) in [(BinaryOp::Add, 0.0f32), (BinaryOp::Max, f32::NEG_INFINITY)]
        .into_iter()
        .enumerate()
    {
        b.assign(part, Expr::splat(Expr::f32(init), 16));
        b.for_loop("c", 0, 4, LoopKind::Serial, |b, c| {
            let v = Expr::vload(x, c * Expr::i64(16), 16);
            b.assign(part, Expr::binary(op, Expr::var(part), v));
        });
        b.store(
            out,
            Expr::i64(slot as i64),
            Expr::lane_reduce(op, Expr::var(part)),
        );
    }
    let v8 = Expr::unary(UnaryOp::Neg, Expr::vload(x, Expr::i64(3), 8));
    b.store(out, Expr::i64(2), Expr::lane_reduce(BinaryOp::Min, v8));
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut xs: Vec<f32> = (0..64).map(|i| ((i * 37) % 64) as f32 * 0.25).collect();
        let mut o = [0f32; 4];
        lib.call("red", &[ptr(&mut xs), ptr(&mut o)], 0, 1);
        assert_eq!(
            o[0],
            xs.iter().sum::<f32>(),
            "{}: exact on quarter-integers",
            l.name
        );
        assert_eq!(o[1], 63.0 * 0.25, "{}", l.name);
        let want_min = xs[3..11].iter().map(|v| -v).fold(f32::INFINITY, f32::min);
        assert_eq!(o[2], want_min, "{}", l.name);
        xs[40] = f32::NAN;
        lib.call("red", &[ptr(&mut xs), ptr(&mut o)], 0, 1);
        assert!(
            o[0].is_nan() && o[1].is_nan(),
            "{}: NaN must propagate",
            l.name
        );
    }
}

#[test]
fn clamping_against_constants_keeps_nan_on_either_side() {
    // min/max with a constant operand compile to one compare-select; NaN must still
    // propagate whichever side the constant is on, for scalars and vectors.
    let n = 16i64;
    let mut b = KernelBuilder::new("clamp");
    let x = b.param("x", ScalarType::F32, n as u64, Access::Read);
    let out = b.param("out", ScalarType::F32, 4 * n as u64, Access::Write);
    let v = b.vector_var("v", ScalarType::F32, 16);
    b.assign(v, Expr::vload(x, Expr::i64(0), 16));
    let (lo, hi) = (
        Expr::splat(Expr::f32(0.0), 16),
        Expr::splat(Expr::f32(6.0), 16),
    );
    b.store(
        out,
        Expr::i64(0),
        Expr::var(v).max(lo.clone()).min(hi.clone()),
    );
    b.store(out, Expr::i64(n), hi.min(lo.max(Expr::var(v))));
    b.for_loop("i", 0, n, LoopKind::Serial, |b, i| {
        let s = Expr::load(x, i.clone());
        let c = s.clone().max(Expr::f32(0.0)).min(Expr::f32(6.0));
        b.store(out, Expr::i64(2 * n) + i.clone(), c);
        let c = Expr::f32(6.0).min(Expr::f32(0.0).max(s));
        b.store(out, Expr::i64(3 * n) + i, c);
    });
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut xs: Vec<f32> = (0..n).map(|i| i as f32 - 4.5).collect();
        xs[3] = f32::NAN;
        xs[15] = f32::INFINITY;
        let mut o = vec![0f32; 4 * n as usize];
        lib.call("clamp", &[ptr(&mut xs), ptr(&mut o)], 0, 1);
        for j in 0..4 {
            for (i, &a) in xs.iter().enumerate() {
                let want = if a.is_nan() {
                    f32::NAN
                } else {
                    a.clamp(0.0, 6.0)
                };
                let got = o[j * n as usize + i];
                assert!(
                    got == want || (got.is_nan() && want.is_nan()),
                    "{} form {j} element {i}: clamp({a}) = {got}, want {want}",
                    l.name
                );
            }
        }
    }
}
