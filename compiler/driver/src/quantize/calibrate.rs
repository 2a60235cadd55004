//! Calibration: the float graph runs on every sample with every value that may be
//! quantized as an extra graph output (values that are graph inputs are read from the
//! samples themselves), each observed value feeds an [`Observer`], and the float
//! outputs are kept as the reference of the accuracy checks.
//!
//! Extra outputs pin those values to memory: a fused group that would keep one in
//! registers writes it out. That changes which kernels run, not what they compute (up
//! to float rounding; `compiled_ranges_equal_the_interpreters` checks it).

use super::evaluate::Runner;
use super::observe::Observer;
use super::{Calibration, Engine};
use crate::DriverError;
use neoc_ir::{Graph, Tensor, ValueId};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One worker's observers and the float outputs of the samples it ran.
type Partial = (Vec<Observer>, Vec<(usize, Vec<Vec<f32>>)>);

/// What calibration found.
pub(super) struct Calibrated {
    /// `(lo, hi)` of every observed value, containing 0.
    pub(super) ranges: HashMap<ValueId, (f32, f32)>,
    /// The float graph's outputs, per sample.
    pub(super) float_out: Vec<Vec<Vec<f32>>>,
    /// What ran the graph, for the report.
    pub(super) engine: String,
    pub(super) threads: usize,
    pub(super) compile_time: Duration,
    /// Running the samples and observing, without compiling.
    pub(super) run_time: Duration,
}

/// Runs `graph` on `samples` and observes the values in `observe`.
pub(super) fn calibrate(
    graph: &Graph,
    observe: &[ValueId],
    samples: &[Vec<Tensor>],
    method: Calibration,
    (engine, why): (Engine, &str),
) -> Result<Calibrated, DriverError> {
    let inputs = graph.inputs().to_vec();
    let extra: Vec<ValueId> = observe
        .iter()
        .filter(|v| !inputs.contains(v))
        .copied()
        .collect();
    let outputs = graph.outputs().len();
    let mut g = graph.clone();
    g.set_outputs(graph.outputs().iter().chain(&extra).copied().collect());
    let total = |v: ValueId| {
        let n: u64 = graph
            .value(v)
            .ty
            .shape
            .as_fixed()
            .map_or(0, |d| d.iter().product());
        n * samples.len() as u64
    };
    let runner = Runner::new(&g, engine, why, false)?;
    let t = Instant::now();
    let fresh = || -> Partial {
        let obs = extra
            .iter()
            .map(|&v| Observer::new(method, total(v)))
            .collect();
        (obs, Vec::new())
    };
    let states = runner.fold(samples, fresh, |(obs, outs), i, vals| {
        for (o, v) in obs.iter_mut().zip(&vals[outputs..]) {
            o.add(v);
        }
        outs.push((i, vals[..outputs].iter().map(|v| v.to_vec()).collect()));
    })?;
    let mut merged: Option<Vec<Observer>> = None;
    let mut float_out: Vec<Vec<Vec<f32>>> = vec![Vec::new(); samples.len()];
    for (obs, outs) in states {
        for (i, o) in outs {
            float_out[i] = o;
        }
        match merged.as_mut() {
            None => merged = Some(obs),
            Some(m) => {
                for (a, b) in m.iter_mut().zip(obs) {
                    a.merge(b);
                }
            }
        }
    }
    let mut ranges: HashMap<ValueId, (f32, f32)> = extra
        .iter()
        .zip(merged.unwrap_or_default())
        .map(|(&v, o)| (v, o.range()))
        .collect();
    for &v in observe.iter().filter(|v| inputs.contains(v)) {
        let k = inputs.iter().position(|&i| i == v).unwrap_or(0);
        let mut o = Observer::new(method, total(v));
        for s in samples {
            if let Some(t) = s.get(k) {
                o.add(&t.to_f32_vec());
            }
        }
        ranges.insert(v, o.range());
    }
    Ok(Calibrated {
        ranges,
        float_out,
        engine: runner.description.clone(),
        threads: runner.threads(),
        compile_time: runner.compile_time,
        run_time: t.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantize::{load_samples, rewrite};
    use std::path::Path;

    /// The digits CNN calibrated through compiled code (fused kernels, extra outputs)
    /// and through the reference interpreter: same ranges within float rounding, same
    /// float outputs within rounding, for every method.
    #[test]
    fn compiled_ranges_equal_the_interpreters() {
        if super::super::evaluate::host_target().is_none() {
            println!("no native target runs here; nothing to compare");
            return;
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/quant/digits");
        let graph = crate::import(&dir.join("model.onnx"), &[], &[]).unwrap();
        let samples = load_samples(&graph, &dir.join("calibration")).unwrap();
        let all = rewrite::anchors(&graph);
        let every = rewrite::quantized_values(&graph, &all.iter().collect::<Vec<_>>());
        assert!(every.len() >= 6, "{every:?}");
        for method in [
            Calibration::MinMax,
            Calibration::Percentile,
            Calibration::Entropy,
        ] {
            let c = calibrate(&graph, &every, &samples, method, (Engine::Compiled, "")).unwrap();
            let i = calibrate(
                &graph,
                &every,
                &samples,
                method,
                (Engine::Interpreter, "asked for"),
            )
            .unwrap();
            assert!(c.engine.contains("compiled") && i.engine.contains("interpreter"));
            for v in &every {
                let ((a, b), (x, y)) = (c.ranges[v], i.ranges[v]);
                let tol = 1e-5 * (y - x).max(1e-6);
                println!(
                    "{method:?} {}: compiled ({a}, {b}), interpreter ({x}, {y})",
                    graph.value(*v).name
                );
                // Entropy thresholds sit on bin edges: a value one rounding away may
                // land in the next bin, so allow one bin (range / 2048) there.
                let tol = if method == Calibration::Entropy {
                    tol.max((y - x) / 2048.0)
                } else {
                    tol
                };
                assert!(
                    (a - x).abs() <= tol && (b - y).abs() <= tol,
                    "{method:?} {v:?}"
                );
            }
            for (p, q) in c
                .float_out
                .iter()
                .flatten()
                .zip(i.float_out.iter().flatten())
            {
                for (a, b) in p.iter().zip(q) {
                    assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
                }
            }
        }
    }
}
