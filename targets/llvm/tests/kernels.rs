//! Functional tests: hand-built kernels compiled to a shared object and called through
//! the calling convention, on every CPU level this machine can run.

mod common;

use common::{ptr, runnable_levels, Lib};
use neoc_kernel::{Access, BinaryOp, CmpOp, Expr, KernelBuilder, LoopKind, ScalarType, UnaryOp};

#[test]
fn vectorized_add_with_odd_tail() {
    let n = 1000u64;
    let mut b = KernelBuilder::new("add");
    let x = b.param("x", ScalarType::F32, n, Access::Read);
    let y = b.param("y", ScalarType::F32, n, Access::Read);
    let z = b.param("z", ScalarType::F32, n, Access::Write);
    b.for_loop("i", 0, n as i64, LoopKind::Vectorize, |b, i| {
        b.store(z, i.clone(), Expr::load(x, i.clone()) + Expr::load(y, i));
    });
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut xs: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
        let mut ys: Vec<f32> = (0..n).map(|i| 1000.0 - i as f32).collect();
        let mut zs = vec![0f32; n as usize];
        lib.call("add", &[ptr(&mut xs), ptr(&mut ys), ptr(&mut zs)], 0, 1);
        for i in 0..n as usize {
            assert_eq!(zs[i], xs[i] + ys[i], "{} at {i}", l.name);
        }
    }
}

#[test]
fn loop_nest_transpose() {
    let (r, c) = (7u64, 13u64);
    let mut b = KernelBuilder::new("transpose");
    let x = b.param("x", ScalarType::I32, r * c, Access::Read);
    let y = b.param("y", ScalarType::I32, r * c, Access::Write);
    b.loop_nest(
        "i",
        &[r, c],
        &[LoopKind::Serial, LoopKind::Vectorize],
        |b, idx| {
            let src = idx[0].clone() * Expr::i64(c as i64) + idx[1].clone();
            let dst = idx[1].clone() * Expr::i64(r as i64) + idx[0].clone();
            b.store(y, dst, Expr::load(x, src));
        },
    );
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut xs: Vec<i32> = (0..(r * c) as i32).collect();
        let mut ys = vec![0i32; (r * c) as usize];
        lib.call("transpose", &[ptr(&mut xs), ptr(&mut ys)], 0, 1);
        for i in 0..r as usize {
            for j in 0..c as usize {
                assert_eq!(ys[j * r as usize + i], xs[i * c as usize + j]);
            }
        }
    }
}

#[test]
fn if_and_select_and_cmp() {
    let n = 257u64;
    let mut b = KernelBuilder::new("branchy");
    let x = b.param("x", ScalarType::F32, n, Access::Read);
    let y = b.param("y", ScalarType::F32, n, Access::Write);
    let z = b.param("z", ScalarType::F32, n, Access::Write);
    b.for_loop("i", 0, n as i64, LoopKind::Serial, |b, i| {
        let xi = Expr::load(x, i.clone());
        // y = x > 0 ? x : 0.1 * x   (leaky relu via Select/Cmp)
        b.store(
            y,
            i.clone(),
            Expr::select(
                Expr::cmp(CmpOp::Gt, xi.clone(), Expr::f32(0.0)),
                xi.clone(),
                Expr::f32(0.1) * xi.clone(),
            ),
        );
        // z = if x < -1 { -1 } else { x } via an If statement
        b.push(neoc_kernel::Stmt::If {
            cond: xi.clone().lt(Expr::f32(-1.0)),
            then: vec![neoc_kernel::Stmt::Store {
                buf: z,
                index: i.clone(),
                value: Expr::f32(-1.0),
            }],
            otherwise: vec![neoc_kernel::Stmt::Store {
                buf: z,
                index: i,
                value: xi,
            }],
        });
    });
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut xs: Vec<f32> = (0..n).map(|i| (i as f32 - 128.0) * 0.03).collect();
        let mut ys = vec![0f32; n as usize];
        let mut zs = vec![0f32; n as usize];
        lib.call("branchy", &[ptr(&mut xs), ptr(&mut ys), ptr(&mut zs)], 0, 1);
        for i in 0..n as usize {
            let x = xs[i];
            assert_eq!(ys[i], if x > 0.0 { x } else { 0.1 * x });
            assert_eq!(zs[i], if x < -1.0 { -1.0 } else { x });
        }
    }
}

#[test]
fn dot_product_accumulator() {
    let n = 1001u64;
    let mut b = KernelBuilder::new("dot");
    let x = b.param("x", ScalarType::F64, n, Access::Read);
    let y = b.param("y", ScalarType::F64, n, Access::Read);
    let out = b.param("out", ScalarType::F64, 1, Access::Write);
    let acc = b.let_var("acc", ScalarType::F64, Expr::FConst(0.0, ScalarType::F64));
    b.for_loop("i", 0, n as i64, LoopKind::Serial, |b, i| {
        b.assign(
            acc,
            Expr::fma(Expr::load(x, i.clone()), Expr::load(y, i), Expr::var(acc)),
        );
    });
    b.store(out, Expr::i64(0), Expr::var(acc));
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut ys: Vec<f64> = (0..n).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let mut o = [0f64];
        lib.call("dot", &[ptr(&mut xs), ptr(&mut ys), ptr(&mut o)], 0, 1);
        let mut want = 0f64;
        for i in 0..n as usize {
            want = xs[i].mul_add(ys[i], want);
        }
        assert_eq!(o[0], want, "{}", l.name);
    }
}

#[test]
fn min_max_propagate_nan() {
    let vals = [
        1.0f32,
        -2.0,
        f32::NAN,
        0.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        3.0,
        f32::NAN,
    ];
    let n = vals.len() as u64;
    let mut b = KernelBuilder::new("minmax");
    let x = b.param("x", ScalarType::F32, n, Access::Read);
    let y = b.param("y", ScalarType::F32, n, Access::Read);
    let mn = b.param("mn", ScalarType::F32, n, Access::Write);
    let mx = b.param("mx", ScalarType::F32, n, Access::Write);
    let imn = b.param("imn", ScalarType::U8, n, Access::Write);
    b.for_loop("i", 0, n as i64, LoopKind::Vectorize, |b, i| {
        let (xi, yi) = (Expr::load(x, i.clone()), Expr::load(y, i.clone()));
        b.store(mn, i.clone(), xi.clone().min(yi.clone()));
        b.store(mx, i.clone(), xi.max(yi));
        // u8 min is unsigned: min(200, 7) = 7
        b.store(
            imn,
            i,
            Expr::IConst(200, ScalarType::U8).min(Expr::IConst(7, ScalarType::U8)),
        );
    });
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut xs = vals.to_vec();
        let mut ys: Vec<f32> = vals.iter().rev().copied().collect();
        let mut mns = vec![0f32; n as usize];
        let mut mxs = vec![0f32; n as usize];
        let mut imns = vec![0u8; n as usize];
        lib.call(
            "minmax",
            &[
                ptr(&mut xs),
                ptr(&mut ys),
                ptr(&mut mns),
                ptr(&mut mxs),
                ptr(&mut imns),
            ],
            0,
            1,
        );
        for i in 0..n as usize {
            let (a, b) = (xs[i], ys[i]);
            if a.is_nan() || b.is_nan() {
                assert!(mns[i].is_nan() && mxs[i].is_nan(), "{a} {b}");
            } else {
                assert_eq!(mns[i], a.min(b));
                assert_eq!(mxs[i], a.max(b));
            }
            assert_eq!(imns[i], 7);
        }
    }
}

#[test]
fn casts_saturate_and_round() {
    let vals = [
        0.0f32,
        -0.7,
        2.9,
        -2.9,
        1e20,
        -1e20,
        f32::NAN,
        f32::INFINITY,
        123456.5,
        -3.5,
        255.7,
        256.0,
        -128.9,
        127.9,
        f32::NEG_INFINITY,
        65535.5,
    ];
    let n = vals.len() as u64;
    let mut b = KernelBuilder::new("casts");
    let x = b.param("x", ScalarType::F32, n, Access::Read);
    let to_i64 = b.param("to_i64", ScalarType::I64, n, Access::Write);
    let back = b.param("back", ScalarType::F32, n, Access::Write);
    let to_i8 = b.param("to_i8", ScalarType::I8, n, Access::Write);
    let rounded = b.param("rounded", ScalarType::F32, n, Access::Write);
    let to_u8 = b.param("to_u8", ScalarType::U8, n, Access::Write);
    let to_u16 = b.param("to_u16", ScalarType::U16, n, Access::Write);
    b.for_loop("i", 0, n as i64, LoopKind::Serial, |b, i| {
        let xi = Expr::load(x, i.clone());
        b.store(to_u8, i.clone(), Expr::cast(ScalarType::U8, xi.clone()));
        b.store(to_u16, i.clone(), Expr::cast(ScalarType::U16, xi));
    });
    b.for_loop("i", 0, n as i64, LoopKind::Serial, |b, i| {
        let xi = Expr::load(x, i.clone());
        let as_int = Expr::cast(ScalarType::I64, xi.clone());
        b.store(to_i64, i.clone(), as_int.clone());
        b.store(back, i.clone(), Expr::cast(ScalarType::F32, as_int));
        b.store(to_i8, i.clone(), Expr::cast(ScalarType::I8, xi.clone()));
        b.store(rounded, i, Expr::unary(UnaryOp::Round, xi));
    });
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut xs = vals.to_vec();
        let mut a = vec![0i64; n as usize];
        let mut bk = vec![0f32; n as usize];
        let mut c = vec![0i8; n as usize];
        let mut r = vec![0f32; n as usize];
        let mut u = vec![0u8; n as usize];
        let mut u16s = vec![0u16; n as usize];
        lib.call(
            "casts",
            &[
                ptr(&mut xs),
                ptr(&mut a),
                ptr(&mut bk),
                ptr(&mut c),
                ptr(&mut r),
                ptr(&mut u),
                ptr(&mut u16s),
            ],
            0,
            1,
        );
        for i in 0..n as usize {
            // Rust `as` is saturating with NaN → 0, exactly the kernel IR contract.
            assert_eq!(a[i], xs[i] as i64, "{}", xs[i]);
            assert_eq!(bk[i], (xs[i] as i64) as f32);
            assert_eq!(c[i], xs[i] as i8, "{}", xs[i]);
            assert_eq!(u[i], xs[i] as u8, "{}", xs[i]);
            assert_eq!(u16s[i], xs[i] as u16, "{}", xs[i]);
            let want = xs[i].round_ties_even();
            assert!(r[i] == want || (r[i].is_nan() && want.is_nan()));
        }
    }
}

#[test]
fn bool_load_store_and_int_division() {
    let n = 9u64;
    let mut b = KernelBuilder::new("bools");
    let a = b.param("a", ScalarType::Bool, n, Access::Read);
    let x = b.param("x", ScalarType::I32, n, Access::Read);
    let out = b.param("out", ScalarType::Bool, n, Access::Write);
    let q = b.param("q", ScalarType::I32, n, Access::Write);
    let r = b.param("r", ScalarType::I32, n, Access::Write);
    b.for_loop("i", 0, n as i64, LoopKind::Serial, |b, i| {
        let ai = Expr::load(a, i.clone());
        let xi = Expr::load(x, i.clone());
        let positive = Expr::cmp(CmpOp::Gt, xi.clone(), Expr::IConst(0, ScalarType::I32));
        b.store(
            out,
            i.clone(),
            Expr::binary(BinaryOp::Or, Expr::unary(UnaryOp::Not, ai), positive),
        );
        b.store(q, i.clone(), xi.clone() / Expr::IConst(-3, ScalarType::I32));
        b.store(r, i.clone(), xi.clone() % Expr::IConst(4, ScalarType::I32));
    });
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut av: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
        let mut xv: Vec<i32> = (0..n as i32).map(|i| i * 5 - 20).collect();
        let mut ov = vec![7u8; n as usize];
        let mut qv = vec![0i32; n as usize];
        let mut rv = vec![0i32; n as usize];
        lib.call(
            "bools",
            &[
                ptr(&mut av),
                ptr(&mut xv),
                ptr(&mut ov),
                ptr(&mut qv),
                ptr(&mut rv),
            ],
            0,
            1,
        );
        for i in 0..n as usize {
            let want = av[i] == 0 || xv[i] > 0;
            assert_eq!(ov[i], u8::from(want));
            assert_eq!(qv[i], xv[i] / -3);
            assert_eq!(rv[i], xv[i] % 4);
        }
    }
}

#[test]
fn integer_division_by_zero_is_defined() {
    let mut b = KernelBuilder::new("divz");
    let x = b.param("x", ScalarType::I64, 4, Access::Read);
    let y = b.param("y", ScalarType::I64, 4, Access::Read);
    let q = b.param("q", ScalarType::I64, 4, Access::Write);
    let r = b.param("r", ScalarType::I64, 4, Access::Write);
    b.for_loop("i", 0, 4, LoopKind::Serial, |b, i| {
        let (xi, yi) = (Expr::load(x, i.clone()), Expr::load(y, i.clone()));
        b.store(q, i.clone(), xi.clone() / yi.clone());
        b.store(r, i, xi % yi);
    });
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut xv = vec![7i64, i64::MIN, -7, 5];
        let mut yv = vec![0i64, -1, 2, -5];
        let mut qv = vec![1i64; 4];
        let mut rv = vec![1i64; 4];
        lib.call(
            "divz",
            &[ptr(&mut xv), ptr(&mut yv), ptr(&mut qv), ptr(&mut rv)],
            0,
            1,
        );
        assert_eq!(qv, vec![0, i64::MIN, -3, -1]);
        assert_eq!(rv, vec![0, 0, -1, 0]);
    }
}

#[test]
fn float_rem_and_pow() {
    let a = [
        5.5f32,
        -5.5,
        7.0,
        1e6,
        -0.0,
        3.0,
        2.0,
        -2.0,
        -8.0,
        0.0,
        1.0,
        f32::NAN,
        10.0,
        0.3,
    ];
    let b = [
        2.0f32,
        2.0,
        -3.0,
        0.7,
        1.0,
        0.0,
        0.5,
        3.0,
        1.0 / 3.0,
        -1.0,
        f32::NAN,
        0.0,
        -2.5,
        12.5,
    ];
    let n = a.len() as u64;
    let mut kb = KernelBuilder::new("rempow");
    let xa = kb.param("a", ScalarType::F32, n, Access::Read);
    let xb = kb.param("b", ScalarType::F32, n, Access::Read);
    let rem = kb.param("rem", ScalarType::F32, n, Access::Write);
    let pow = kb.param("pow", ScalarType::F32, n, Access::Write);
    kb.for_loop("i", 0, n as i64, LoopKind::Vectorize, |kb, i| {
        let (ai, bi) = (Expr::load(xa, i.clone()), Expr::load(xb, i.clone()));
        kb.store(rem, i.clone(), ai.clone() % bi.clone());
        kb.store(pow, i, Expr::binary(BinaryOp::Pow, ai, bi));
    });
    let k = kb.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let (mut av, mut bv) = (a.to_vec(), b.to_vec());
        let mut rv = vec![0f32; n as usize];
        let mut pv = vec![0f32; n as usize];
        lib.call(
            "rempow",
            &[ptr(&mut av), ptr(&mut bv), ptr(&mut rv), ptr(&mut pv)],
            0,
            1,
        );
        for i in 0..n as usize {
            let want_rem = a[i] % b[i];
            assert!(
                rv[i].to_bits() == want_rem.to_bits() || (rv[i].is_nan() && want_rem.is_nan()),
                "{} % {}: got {} want {}",
                a[i],
                b[i],
                rv[i],
                want_rem
            );
            let want_pow = (a[i] as f64).powf(b[i] as f64) as f32;
            let ok = if want_pow.is_nan() {
                pv[i].is_nan()
            } else {
                pv[i] == want_pow || ((pv[i] - want_pow) / want_pow).abs() < 1e-6
            };
            assert!(
                ok,
                "pow({}, {}): got {} want {}",
                a[i], b[i], pv[i], want_pow
            );
        }
    }
}

#[test]
fn parallel_split_covers_each_element_once() {
    let n = 103u64;
    let mut b = KernelBuilder::new("par");
    let out = b.param("out", ScalarType::I32, n, Access::ReadWrite);
    let tail = b.param("tail", ScalarType::I32, 1, Access::ReadWrite);
    b.for_loop("i", 0, n as i64, LoopKind::Parallel, |b, i| {
        b.store(
            out,
            i.clone(),
            Expr::load(out, i) + Expr::IConst(1, ScalarType::I32),
        );
    });
    // A top-level statement outside the parallel loop runs in every task.
    b.store(
        tail,
        Expr::i64(0),
        Expr::load(tail, Expr::i64(0)) + Expr::IConst(1, ScalarType::I32),
    );
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        for ntasks in [1i64, 2, 4, 7, 103, 200] {
            let mut o = vec![0i32; n as usize];
            let mut tl = [0i32];
            for task in 0..ntasks {
                lib.call("par", &[ptr(&mut o), ptr(&mut tl)], task, ntasks);
            }
            assert!(o.iter().all(|&v| v == 1), "ntasks={ntasks}: {o:?}");
            assert_eq!(tl[0], ntasks as i32);
        }
    }
}

#[test]
fn nested_parallel_and_unroll_run_serially() {
    let mut b = KernelBuilder::new("nested");
    let out = b.param("out", ScalarType::F32, 24, Access::Write);
    b.loop_nest(
        "i",
        &[4, 6],
        &[LoopKind::Unroll, LoopKind::Parallel],
        |b, idx| {
            let v = Expr::cast(
                ScalarType::F32,
                idx[0].clone() * Expr::i64(6) + idx[1].clone(),
            );
            b.store(out, idx[0].clone() * Expr::i64(6) + idx[1].clone(), v);
        },
    );
    let k = b.finish();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(vec![k.clone()], &t, &l);
        let mut o = vec![-1f32; 24];
        lib.call("nested", &[ptr(&mut o)], 0, 1);
        assert_eq!(o, (0..24).map(|i| i as f32).collect::<Vec<_>>());
    }
}

#[test]
fn several_kernels_and_no_undefined_symbols() {
    use object::{Object, ObjectSymbol};
    let mut kernels = Vec::new();
    for (name, op) in [
        ("k_exp", UnaryOp::Exp),
        ("k_log", UnaryOp::Log),
        ("k_tanh", UnaryOp::Tanh),
        ("k_erf", UnaryOp::Erf),
    ] {
        for (suffix, ty) in [("f32", ScalarType::F32), ("f64", ScalarType::F64)] {
            let mut b = KernelBuilder::new(format!("{name}_{suffix}"));
            let x = b.param("x", ty, 64, Access::Read);
            let y = b.param("y", ty, 64, Access::Write);
            b.for_loop("i", 0, 64, LoopKind::Vectorize, |b, i| {
                let v = Expr::unary(op, Expr::load(x, i.clone()));
                let v = Expr::binary(BinaryOp::Pow, v.clone(), v);
                let v = Expr::binary(BinaryOp::Rem, v.clone(), v);
                b.store(y, i, v);
            });
            kernels.push(b.finish());
        }
    }
    // A zeroing loop that the loop-idiom pass would like to turn into memset.
    let mut b = KernelBuilder::new("zero");
    let y = b.param("y", ScalarType::F32, 4096, Access::Write);
    b.for_loop("i", 0, 4096, LoopKind::Serial, |b, i| {
        b.store(y, i, Expr::f32(0.0))
    });
    kernels.push(b.finish());
    let names: Vec<String> = kernels.iter().map(|k| k.name.clone()).collect();
    for (t, l) in runnable_levels() {
        let lib = Lib::compile(kernels.clone(), &t, &l);
        let file = object::File::parse(&*lib.bytes).unwrap();
        let mut exported = Vec::new();
        for sym in file.dynamic_symbols() {
            let name = sym.name().unwrap().to_string();
            assert!(
                !sym.is_undefined() || name.is_empty(),
                "undefined symbol `{name}`"
            );
            if sym.is_definition() && sym.is_global() {
                exported.push(name);
            }
        }
        exported.sort();
        let mut want = names.clone();
        want.sort();
        assert_eq!(exported, want, "{}", l.name);
    }
}

#[test]
fn debug_dumps_are_written() {
    let mut b = KernelBuilder::new("dump");
    let y = b.param("y", ScalarType::F32, 8, Access::Write);
    b.for_loop("i", 0, 8, LoopKind::Vectorize, |b, i| {
        b.store(y, i.clone(), Expr::cast(ScalarType::F32, i).exp())
    });
    let k = b.finish();
    let dir = std::env::temp_dir().join(format!("neoc-llvm-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let opts = neoc_llvm::CodegenOptions {
        opt_level: 0,
        emit_llvm_ir: Some(dir.join("k.ll")),
        emit_asm: Some(dir.join("k.s")),
    };
    let (t, l) = runnable_levels().remove(0);
    let lib = Lib::compile_opts(vec![k], &t, &l, &opts);
    let mut out = vec![0f32; 8];
    lib.call("dump", &[ptr(&mut out)], 0, 1);
    assert!((out[1] - std::f32::consts::E).abs() < 1e-6);
    let ll = std::fs::read_to_string(dir.join("k.ll")).unwrap();
    assert!(ll.contains("define void @dump("), "{ll}");
    assert!(
        ll.contains("\"llvm.loop.vectorize.enable\", i1 true"),
        "{ll}"
    );
    assert!(ll.contains("distinct !{"), "{ll}");
    assert!(std::fs::read_to_string(dir.join("k.s"))
        .unwrap()
        .contains("dump"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn opt_level_zero_works() {
    let mut b = KernelBuilder::new("o0");
    let y = b.param("y", ScalarType::F32, 16, Access::Write);
    b.for_loop("i", 0, 16, LoopKind::Vectorize, |b, i| {
        b.store(
            y,
            i.clone(),
            Expr::unary(UnaryOp::Tanh, Expr::cast(ScalarType::F32, i)),
        )
    });
    let k = b.finish();
    let opts = neoc_llvm::CodegenOptions {
        opt_level: 0,
        ..Default::default()
    };
    let (t, l) = runnable_levels().remove(0);
    let lib = Lib::compile_opts(vec![k], &t, &l, &opts);
    let mut out = vec![0f32; 16];
    lib.call("o0", &[ptr(&mut out)], 0, 1);
    for (i, v) in out.iter().enumerate() {
        assert!((v - (i as f32).tanh()).abs() < 2e-7);
    }
}

#[test]
fn malformed_kernel_is_rejected() {
    let mut b = KernelBuilder::new("bad name");
    b.param("x", ScalarType::F32, 1, Access::Read);
    let k = b.finish();
    let t = neoc_target_spec::lookup("x86_64-avx2").unwrap();
    let err = neoc_llvm::compile_shared_object(
        &neoc_kernel::Module { kernels: vec![k] },
        &t,
        &t.levels[0],
        &Default::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, neoc_llvm::LlvmError::InvalidKernel(_)),
        "{err}"
    );
}

#[test]
fn llvm_version_is_19() {
    assert!(
        neoc_llvm::llvm_version().starts_with("19."),
        "{}",
        neoc_llvm::llvm_version()
    );
}

/// The schedule marks and `noalias` parameters let LLVM vectorize elementwise loops,
/// including the inline math, at the level's full vector width. Compile-only, so it
/// runs on any x86-64 host.
#[test]
fn elementwise_loops_use_full_width_vectors() {
    for (target, reg) in [("x86_64-avx2", "ymm"), ("x86_64-avx512", "zmm")] {
        let t = neoc_target_spec::lookup(target).unwrap();
        for op in [
            None,
            Some(UnaryOp::Exp),
            Some(UnaryOp::Tanh),
            Some(UnaryOp::Erf),
        ] {
            let mut b = KernelBuilder::new("k");
            let x = b.param("x", ScalarType::F32, 4096, Access::Read);
            let y = b.param("y", ScalarType::F32, 4096, Access::ReadWrite);
            b.for_loop("i", 0, 4096, LoopKind::Vectorize, |b, i| {
                let v = Expr::load(x, i.clone());
                let v = match op {
                    Some(op) => Expr::unary(op, v),
                    None => v + Expr::load(y, i.clone()),
                };
                b.store(y, i, v);
            });
            let dir = std::env::temp_dir().join(format!("neoc-llvm-vec-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let asm = dir.join(format!("{target}-{op:?}.s"));
            let opts = neoc_llvm::CodegenOptions {
                emit_asm: Some(asm.clone()),
                ..Default::default()
            };
            neoc_llvm::compile_object(
                &neoc_kernel::Module {
                    kernels: vec![b.finish()],
                },
                &t,
                &t.levels[0],
                &opts,
            )
            .unwrap();
            let text = std::fs::read_to_string(&asm).unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            assert!(
                text.contains(&format!("%{reg}")),
                "{target} {op:?}: no {reg} registers in\n{text}"
            );
            assert!(!text.contains("call"), "{target} {op:?}: calls in\n{text}");
        }
    }
}
