//! The GPU primitives of kernel IR (block kernels, block-local arrays, barriers, warp
//! shuffles): small hand-built block kernels run on the CPU through
//! `neoc_kernel::gpu::emulate` (what `compile_shared_object` does with a block kernel)
//! against plain computations here, the verifier's rules for them, and their PTX.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{ptr, Lib};
use neoc_kernel::{
    Access, BinaryOp, CmpOp, Expr, GpuLaunch, Kernel, KernelBuilder, LoopKind, ScalarType,
};

/// Row sums of a `rows × len` matrix, one block of `block` threads per row: each thread
/// sums a strided slice, a butterfly of warp shuffles combines a warp, the warps' sums
/// meet in a block-local array after a barrier and thread 0 adds them.
fn row_sum(rows: u64, len: u64, block: u32) -> Kernel {
    let mut b = KernelBuilder::new(format!("row_sum_{len}_{block}"));
    let x = b.param("x", ScalarType::F32, rows * len, Access::Read);
    let y = b.param("y", ScalarType::F32, rows, Access::Write);
    b.set_gpu(GpuLaunch { block, grid: rows });
    let warps = u64::from(block).div_ceil(32);
    let partial = b.local("partial", ScalarType::F32, warps);
    let acc = b.let_var("acc", ScalarType::F32, Expr::f32(0.0));
    let row = Expr::BlockIdx * Expr::i64(len as i64);
    let steps = len.div_ceil(u64::from(block)) as i64;
    b.for_loop("j", 0, steps, LoopKind::Serial, |b, j| {
        let i = Expr::ThreadIdx + j * Expr::i64(i64::from(block));
        b.if_then(i.clone().lt(Expr::i64(len as i64)), |b| {
            b.assign(acc, Expr::var(acc) + Expr::load(x, row.clone() + i));
        });
    });
    let mut mask = 16;
    while mask >= 1 {
        if block.is_multiple_of(2 * mask) {
            b.assign(
                acc,
                Expr::var(acc) + Expr::shuffle_xor(Expr::var(acc), mask),
            );
        }
        mask /= 2;
    }
    let lane = Expr::binary(BinaryOp::Rem, Expr::ThreadIdx, Expr::i64(32));
    b.if_then(Expr::cmp(CmpOp::Eq, lane, Expr::i64(0)), |b| {
        b.store(partial, Expr::ThreadIdx / Expr::i64(32), Expr::var(acc));
    });
    b.barrier();
    b.if_then(Expr::cmp(CmpOp::Eq, Expr::ThreadIdx, Expr::i64(0)), |b| {
        let s = b.let_var("s", ScalarType::F32, Expr::f32(0.0));
        b.for_loop("w", 0, warps as i64, LoopKind::Serial, |b, w| {
            b.assign(s, Expr::var(s) + Expr::load(partial, w));
        });
        b.store(y, Expr::BlockIdx, Expr::var(s));
    });
    b.finish()
}

/// Inclusive prefix sums of blocks of `block` elements (Hillis–Steele): barriers inside
/// a uniform loop, a per-thread value live across them.
fn prefix_sum(blocks: u64, block: u32) -> Kernel {
    let n = u64::from(block);
    let mut b = KernelBuilder::new(format!("prefix_{block}"));
    let x = b.param("x", ScalarType::F32, blocks * n, Access::Read);
    let y = b.param("y", ScalarType::F32, blocks * n, Access::Write);
    b.set_gpu(GpuLaunch {
        block,
        grid: blocks,
    });
    let a = b.local("a", ScalarType::F32, n);
    let at = Expr::BlockIdx * Expr::i64(n as i64) + Expr::ThreadIdx;
    b.store(a, Expr::ThreadIdx, Expr::load(x, at.clone()));
    b.barrier();
    let v = b.var("v", ScalarType::F32);
    let levels = i64::from(block.trailing_zeros());
    b.for_loop("step", 0, levels, LoopKind::Serial, |b, step| {
        let off = Expr::binary(BinaryOp::Shl, Expr::i64(1), step);
        b.assign(v, Expr::load(a, Expr::ThreadIdx));
        b.if_then(Expr::ThreadIdx.ge(off.clone()), |b| {
            b.assign(v, Expr::var(v) + Expr::load(a, Expr::ThreadIdx - off));
        });
        b.barrier();
        b.store(a, Expr::ThreadIdx, Expr::var(v));
        b.barrier();
    });
    b.store(y, at, Expr::load(a, Expr::ThreadIdx));
    b.finish()
}

fn data(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 256.0)
        .collect()
}

#[test]
fn emulated_block_kernels_match_plain_computations() {
    let target = neoc_target_spec::lookup("x86_64-avx2").unwrap();
    let level = target.levels[0].clone();
    let sums = [
        (5u64, 1000u64, 128u32),
        (3, 37, 32),
        (2, 768, 256),
        (4, 10, 64),
    ];
    let mut kernels: Vec<Kernel> = sums.iter().map(|&(r, l, b)| row_sum(r, l, b)).collect();
    kernels.push(prefix_sum(3, 64));
    kernels.push(prefix_sum(2, 256));
    for k in &kernels {
        neoc_kernel::verify_kernel(k).unwrap();
        let e = neoc_kernel::gpu::emulate(k);
        neoc_kernel::verify_kernel(&e).unwrap_or_else(|err| panic!("{err}\n{e}"));
        assert!(e.gpu.is_none());
    }
    // Block kernels as they are: the CPU backend emulates them itself.
    let lib = Lib::compile(kernels.clone(), &target, &level);
    for (k, &(rows, len, _)) in kernels.iter().zip(&sums) {
        let mut x = data((rows * len) as usize);
        let mut y = vec![f32::NAN; rows as usize];
        // Two tasks share the blocks, as two CPU threads would.
        for task in 0..2 {
            lib.call(&k.name, &[ptr(&mut x), ptr(&mut y)], task, 2);
        }
        for r in 0..rows as usize {
            let want: f64 = x[r * len as usize..(r + 1) * len as usize]
                .iter()
                .map(|&v| f64::from(v))
                .sum();
            let got = f64::from(y[r]);
            assert!(
                (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                "{}: row {r}: {got} vs {want}",
                k.name
            );
        }
    }
    for (k, (blocks, n)) in kernels[sums.len()..]
        .iter()
        .zip([(3usize, 64usize), (2, 256)])
    {
        let mut x = data(blocks * n);
        let mut y = vec![f32::NAN; blocks * n];
        lib.call(&k.name, &[ptr(&mut x), ptr(&mut y)], 0, 1);
        for bl in 0..blocks {
            let mut s = 0f64;
            for i in 0..n {
                s += f64::from(x[bl * n + i]);
                let got = f64::from(y[bl * n + i]);
                assert!(
                    (got - s).abs() <= 1e-4,
                    "{}: [{bl}, {i}]: {got} vs {s}",
                    k.name
                );
            }
        }
    }
}

#[test]
fn the_verifier_enforces_the_block_kernel_rules() {
    let check = |build: &dyn Fn(&mut KernelBuilder)| {
        let mut b = KernelBuilder::new("k");
        b.param("x", ScalarType::F32, 64, Access::ReadWrite);
        build(&mut b);
        neoc_kernel::verify_kernel(&b.finish()).map_err(|e| e.message)
    };
    let launch = GpuLaunch { block: 64, grid: 1 };
    let x = neoc_kernel::BufId(0);
    // A barrier under a condition that differs between threads.
    let e = check(&|b| {
        b.set_gpu(launch);
        b.if_then(Expr::ThreadIdx.lt(Expr::i64(3)), |b| b.barrier());
    });
    assert!(e.unwrap_err().contains("not uniform"));
    // ... but under a uniform one it is fine.
    check(&|b| {
        b.set_gpu(launch);
        b.if_then(Expr::BlockIdx.lt(Expr::i64(3)), |b| b.barrier());
    })
    .unwrap();
    // Thread indices and barriers only in block kernels.
    let e = check(&|b| b.store(x, Expr::ThreadIdx, Expr::f32(0.0)));
    assert!(e.unwrap_err().contains("outside a block kernel"));
    assert!(check(&|b| b.barrier())
        .unwrap_err()
        .contains("outside a block kernel"));
    // A shuffle partner outside a block of 8 threads.
    let e = check(&|b| {
        b.set_gpu(GpuLaunch { block: 8, grid: 1 });
        b.store(x, Expr::ThreadIdx, Expr::shuffle_xor(Expr::f32(1.0), 16));
    });
    assert!(e.unwrap_err().contains("outside a block"));
    // A shuffle in a loop bound; a shuffle of an i64.
    let e = check(&|b| {
        b.set_gpu(launch);
        let n = Expr::shuffle_xor(Expr::IConst(4, ScalarType::I32), 1);
        b.for_loop(
            "i",
            0,
            Expr::cast(ScalarType::I64, n),
            LoopKind::Serial,
            |_, _| {},
        );
    });
    assert!(e.unwrap_err().contains("shuffle outside"));
    let e = check(&|b| {
        b.set_gpu(launch);
        let v = b.var("v", ScalarType::I64);
        b.assign(v, Expr::shuffle_xor(Expr::i64(1), 1));
    });
    assert!(e.unwrap_err().contains("f32 or i32"));
    // A block-local array read past its end; too much shared memory; too many threads.
    let e = check(&|b| {
        b.set_gpu(launch);
        let l = b.local("l", ScalarType::F32, 4);
        b.store(x, Expr::i64(0), Expr::load(l, Expr::i64(4)));
    });
    assert!(e.unwrap_err().contains("outside its 4 elements"));
    let e = check(&|b| {
        b.set_gpu(launch);
        b.local("l", ScalarType::F32, 20_000);
    });
    assert!(e.unwrap_err().contains("bytes of block-local arrays"));
    let e = check(&|b| {
        b.set_gpu(GpuLaunch {
            block: 2048,
            grid: 1,
        })
    });
    assert!(e.unwrap_err().contains("2048 threads"));
}

/// For every CUDA architecture: LLVM verifies the module, `ptxas` (when present)
/// assembles it.
#[test]
fn block_kernels_become_shared_memory_barriers_and_shuffles_in_ptx() {
    let ptxas = common::ptxas_or_skip("gpu_primitives PTX");
    let kernels = vec![row_sum(5, 1000, 128), prefix_sum(3, 64), row_sum(2, 37, 32)];
    let module = neoc_kernel::Module { kernels };
    let threads: Vec<u64> = module
        .kernels
        .iter()
        .map(neoc_kernel::gpu::launch_threads)
        .collect();
    assert_eq!(threads, [5 * 128, 3 * 64, 2 * 32]);
    for name in [
        "cuda-sm70",
        "cuda-sm75",
        "cuda-sm80",
        "cuda-sm86",
        "cuda-sm89",
        "cuda-sm90",
    ] {
        let target = neoc_target_spec::lookup(name).unwrap();
        let level = &target.levels[0];
        let ptx = neoc_llvm::compile_ptx(
            &module,
            &threads,
            &target,
            level,
            &neoc_llvm::CodegenOptions::default(),
        )
        .unwrap();
        for needle in [
            "bar.sync",
            "shfl.sync.bfly.b32",
            ".shared",
            "%tid.x",
            "%ctaid.x",
        ] {
            assert!(
                ptx.contains(needle),
                "{name}: no {needle} in the PTX:\n{ptx}"
            );
        }
        assert_eq!(
            neoc_llvm::ptx_blocks(&ptx),
            [
                ("row_sum_1000_128".to_string(), 128),
                ("prefix_64".to_string(), 64),
                ("row_sum_37_32".to_string(), 32)
            ]
        );
        assert_eq!(neoc_llvm::ptx_threads(&ptx).len(), 3);
        if let Some(ptxas) = &ptxas {
            common::assemble(ptxas, &ptx, level.name, name);
        }
    }
}

/// `y = exp(x) * z` over `n` elements, one parallel loop (what `gpu::collapse` leaves).
fn elementwise(n: u64) -> Kernel {
    let mut b = KernelBuilder::new(format!("elementwise_{n}"));
    let x = b.param("x", ScalarType::F32, n, Access::Read);
    let z = b.param("z", ScalarType::F32, n, Access::Read);
    let y = b.param("y", ScalarType::F32, n, Access::Write);
    b.for_loop("i", 0, n as i64, LoopKind::Parallel, |b, i| {
        let v = Expr::load(x, i.clone()).exp() * Expr::load(z, i.clone());
        b.store(y, i, v);
    });
    b.finish()
}

#[test]
fn elementwise_kernels_move_128_bits_per_access_on_gpus() {
    let k = neoc_kernel::gpu::schedule(&elementwise(4096));
    assert_eq!(
        neoc_kernel::gpu::launch_threads(&k),
        1024,
        "4 elements per thread"
    );
    // The same results on the CPU, with the thread split of a GPU launch.
    let target = neoc_target_spec::lookup("x86_64-avx2").unwrap();
    let lib = Lib::compile(vec![k.clone()], &target, &target.levels[0]);
    let mut x = data(4096);
    let mut z: Vec<f32> = data(4096).iter().rev().copied().collect();
    let mut y = vec![f32::NAN; 4096];
    for t in 0..1024 {
        lib.call(&k.name, &[ptr(&mut x), ptr(&mut z), ptr(&mut y)], t, 1024);
    }
    for i in 0..4096 {
        let want = f64::from(x[i]).exp() * f64::from(z[i]);
        assert!(
            (f64::from(y[i]) - want).abs() <= 1e-6 * (1.0 + want.abs()),
            "element {i}"
        );
    }
    // One 16-byte load per input and one store per thread in the PTX.
    let cuda = neoc_target_spec::lookup("cuda-sm90").unwrap();
    let module = neoc_kernel::Module { kernels: vec![k] };
    let ptx = neoc_llvm::compile_ptx(
        &module,
        &[1024],
        &cuda,
        &cuda.levels[0],
        &neoc_llvm::CodegenOptions::default(),
    )
    .unwrap();
    let v4 = |op: &str| {
        ptx.lines()
            .filter(|l| l.contains(op) && l.contains(".v4.f32"))
            .count()
    };
    assert_eq!((v4("ld.global"), v4("st.global")), (2, 1), "PTX:\n{ptx}");
}

/// Row sums and row maxima through `gpu::rows` (the lowering's row reductions), for row
/// lengths that share warps (5, 10, 31), fill one (32, 100) or several (300, 768), and
/// row counts that leave part of the last block idle; checked against plain loops.
#[test]
fn row_reductions_of_every_shape_match_plain_loops() {
    use neoc_kernel::gpu::rows::Rows;
    let target = neoc_target_spec::lookup("x86_64-avx2").unwrap();
    let shapes: [(u64, u64); 7] = [
        (7, 5),
        (9, 10),
        (5, 31),
        (3, 32),
        (4, 100),
        (2, 300),
        (3, 768),
    ];
    let mut kernels = Vec::new();
    for &(rows, len) in &shapes {
        let mut b = KernelBuilder::new(format!("rows_{rows}_{len}"));
        let x = b.param("x", ScalarType::F32, rows * len, Access::Read);
        let y = b.param("y", ScalarType::F32, 2 * rows, Access::Write);
        let r = Rows::start(&mut b, rows, len);
        let s = b.let_var("s", ScalarType::F32, Expr::f32(0.0));
        let m = b.let_var("m", ScalarType::F32, Expr::f32(f32::NEG_INFINITY));
        r.each(&mut b, |b, i| {
            let v = Expr::load(x, r.row() * Expr::i64(len as i64) + i);
            b.assign(s, Expr::var(s) + v.clone());
            b.assign(m, Expr::var(m).max(v));
        });
        r.all_reduce(&mut b, BinaryOp::Add, s);
        r.all_reduce(&mut b, BinaryOp::Max, m);
        r.first_thread(&mut b, |b| {
            b.store(y, r.row() * Expr::i64(2), Expr::var(s));
            b.store(y, r.row() * Expr::i64(2) + Expr::i64(1), Expr::var(m));
        });
        let k = b.finish();
        neoc_kernel::verify_kernel(&k).unwrap_or_else(|e| panic!("{e}\n{k}"));
        kernels.push(k);
    }
    let lib = Lib::compile(kernels.clone(), &target, &target.levels[0]);
    for (k, &(rows, len)) in kernels.iter().zip(&shapes) {
        let (rows, len) = (rows as usize, len as usize);
        let mut x = data(rows * len);
        let mut y = vec![f32::NAN; 2 * rows];
        lib.call(&k.name, &[ptr(&mut x), ptr(&mut y)], 0, 1);
        for r in 0..rows {
            let row = &x[r * len..(r + 1) * len];
            let sum: f64 = row.iter().map(|&v| f64::from(v)).sum();
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert!(
                (f64::from(y[2 * r]) - sum).abs() <= 1e-4 * (1.0 + sum.abs()),
                "{}: row {r} sum",
                k.name
            );
            assert_eq!(y[2 * r + 1], max, "{}: row {r} max", k.name);
        }
    }
}
