//! Builders shared by the passes' unit tests.

use neoc_ir::{DType, Graph, Op, Tensor, TensorType, ValueId};

pub fn f32_ty(dims: &[u64]) -> TensorType {
    TensorType::new(DType::F32, dims)
}

/// Adds a one-output node reading `inputs`; panics on a shape error (tests only).
pub fn node(g: &mut Graph, op: Op, inputs: &[ValueId]) -> ValueId {
    let name = format!("{}{}", op.name(), g.node_count());
    g.add_node(name, op, inputs.iter().map(|&v| Some(v)).collect(), vec![])
        .unwrap()[0]
}

/// An f32 constant whose element `i` is `f(i)`.
pub fn konst(g: &mut Graph, name: &str, dims: &[u64], f: impl Fn(usize) -> f32) -> ValueId {
    let n: u64 = dims.iter().product();
    let v: Vec<f32> = (0..n as usize).map(f).collect();
    g.add_const(name, Tensor::from_f32(dims.to_vec(), &v))
}

/// Number of nodes whose op has this name.
pub fn count(g: &Graph, op: &str) -> usize {
    g.topo_order()
        .into_iter()
        .filter(|&n| g.node(n).op.name() == op)
        .count()
}

/// Deterministic pseudo-random inputs for every graph input (values in [-2, 2)).
pub fn inputs_for(g: &Graph, seed: u64) -> Vec<Tensor> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    g.inputs()
        .iter()
        .map(|&v| {
            let dims = g.value(v).ty.shape.as_fixed().unwrap();
            let n: u64 = dims.iter().product();
            let vals: Vec<f32> = (0..n)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
                })
                .collect();
            Tensor::from_f32(dims, &vals)
        })
        .collect()
}

/// Runs `pass` on a copy of `g`, checks with the reference interpreter that the outputs
/// did not change, and returns the rewritten graph and whether the pass reported a change.
pub fn run_checked(g: &Graph, pass: fn(&mut Graph) -> crate::Result<bool>) -> (Graph, bool) {
    let mut after = g.clone();
    let changed = pass(&mut after).unwrap();
    crate::dce::run(&mut after).unwrap();
    assert_same(g, &after);
    (after, changed)
}

/// Asserts that `a` and `b` compute the same outputs (f32 tolerance) on a few inputs.
pub fn assert_same(a: &Graph, b: &Graph) {
    use neoc_ir::interp::{compare, run, Tolerance};
    assert_eq!(a.outputs().len(), b.outputs().len());
    for seed in 0..3 {
        let ins = inputs_for(a, seed);
        let want = run(a, &ins).unwrap();
        let got = run(b, &ins).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let c = compare(g, w, Tolerance::F32);
            assert!(
                c.ok(),
                "output {i} differs: {c:?}\nbefore:\n{a}\nafter:\n{b}"
            );
        }
    }
    for (&x, &y) in a.outputs().iter().zip(b.outputs()) {
        assert_eq!(
            a.value(x).name,
            b.value(y).name,
            "graph outputs keep their names"
        );
    }
}
