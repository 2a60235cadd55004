//! Accuracy checks of int8 graphs and the `--accuracy-budget` loop, by measurement.
//!
//! A check rewrites the graph for a set of int8 layers, runs it on every calibration
//! sample (compiled for the host, so through the int8 kernels; or in the interpreter
//! after `int8-qdq`) and compares each output with the float run.
//!
//! The budget loop: when all-int8 misses the budget, every int8 layer is measured once
//! by the worst output error of the graph with **that layer alone back in float** (all
//! others int8). That is the quantity the loop's first step needs: the layer whose
//! return to float lowers the error most. Layers then go back to float in that order
//! (lowest measured error first), one check per step, until the budget holds. One
//! measurement per layer (not a re-ranking after every step, which would cost a check
//! per remaining layer per step): `1 + L + k` checks for `L` int8 layers and `k` layers
//! moved (the first step's graph is the first measurement, so it is not run again).

use super::evaluate::Runner;
use super::report::OutputError;
use super::rewrite::{self, Anchor};
use super::{observe, Engine};
use crate::DriverError;
use neoc_ir::{Graph, Tensor, ValueId};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Runs the accuracy checks for one calibration.
pub(super) struct Checker<'a> {
    pub(super) graph: &'a Graph,
    pub(super) ranges: &'a HashMap<ValueId, (f32, f32)>,
    pub(super) samples: &'a [Vec<Tensor>],
    pub(super) float_out: &'a [Vec<Vec<f32>>],
    pub(super) engine: Engine,
    /// Why the interpreter, when `engine` is it.
    pub(super) why: String,
    /// Checks run and their time.
    pub(super) checks: usize,
    pub(super) time: Duration,
    /// Results by int8 set (anchor indices, sorted).
    cache: HashMap<Vec<usize>, Vec<OutputError>>,
}

/// The worst relative L2 error of any output.
pub(super) fn worst(outputs: &[OutputError]) -> f64 {
    outputs.iter().map(|o| o.rel_l2).fold(0.0, f64::max)
}

impl<'a> Checker<'a> {
    pub(super) fn new(
        graph: &'a Graph,
        ranges: &'a HashMap<ValueId, (f32, f32)>,
        samples: &'a [Vec<Tensor>],
        float_out: &'a [Vec<Vec<f32>>],
        (engine, why): (Engine, String),
    ) -> Checker<'a> {
        Checker {
            graph,
            ranges,
            samples,
            float_out,
            engine,
            why,
            checks: 0,
            time: Duration::ZERO,
            cache: HashMap::new(),
        }
    }

    /// The graph with `chosen` int8, in QDQ form.
    pub(super) fn rewrite(&self, chosen: &[&Anchor]) -> Result<Graph, DriverError> {
        let set = rewrite::quantized_values(self.graph, chosen);
        let params: HashMap<ValueId, (f32, f32)> = set
            .iter()
            .filter_map(|v| self.ranges.get(v).map(|&r| (*v, observe::qparams(r))))
            .collect();
        rewrite::rewrite(self.graph, chosen, &params)
            .map_err(|e| DriverError::Internal(e.to_string()))
    }

    /// The error of every output with the anchors `set` (indices into `all`) int8.
    pub(super) fn check(
        &mut self,
        all: &[Anchor],
        set: &[usize],
    ) -> Result<Vec<OutputError>, DriverError> {
        let mut key = set.to_vec();
        key.sort_unstable();
        if let Some(e) = self.cache.get(&key) {
            return Ok(e.clone());
        }
        let t = Instant::now();
        let chosen: Vec<&Anchor> = key.iter().map(|&i| &all[i]).collect();
        let q = self.rewrite(&chosen)?;
        let runner = Runner::new(&q, self.engine, &self.why, true)?;
        let names: Vec<String> = self
            .graph
            .outputs()
            .iter()
            .map(|&o| self.graph.value(o).name.clone())
            .collect();
        let fresh = || {
            names
                .iter()
                .map(|n| OutputError::new(n))
                .collect::<Vec<_>>()
        };
        let states = runner.fold(self.samples, fresh, |errs, i, got| {
            for ((e, g), w) in errs.iter_mut().zip(got).zip(&self.float_out[i]) {
                e.add(g, w);
            }
        })?;
        let mut out = fresh();
        for s in &states {
            for (a, b) in out.iter_mut().zip(s) {
                a.merge(b);
            }
        }
        self.checks += 1;
        self.time += t.elapsed();
        self.cache.insert(key, out.clone());
        Ok(out)
    }
}

/// What the budget loop chose.
pub(super) struct Outcome {
    /// Indices into `all` of the int8 anchors, in `all`'s order.
    pub(super) int8: Vec<usize>,
    /// Anchors moved to float by the budget, in the order moved, with the reason.
    pub(super) float: Vec<(usize, String)>,
    pub(super) outputs: Vec<OutputError>,
    /// Per anchor measured: worst error with it alone in float.
    pub(super) measured: Vec<(usize, f64)>,
}

/// Checks `chosen` (indices into `all`) all int8 and, with a budget that misses, moves
/// layers to float by their measured effect (module docs).
pub(super) fn search(
    checker: &mut Checker<'_>,
    all: &[Anchor],
    mut chosen: Vec<usize>,
    budget: Option<f64>,
) -> Result<Outcome, DriverError> {
    let mut outputs = checker.check(all, &chosen)?;
    let mut float = Vec::new();
    let mut measured = Vec::new();
    let Some(b) = budget else {
        return Ok(Outcome {
            int8: chosen,
            float,
            outputs,
            measured,
        });
    };
    if worst(&outputs) <= b || chosen.is_empty() {
        return Ok(Outcome {
            int8: chosen,
            float,
            outputs,
            measured,
        });
    }
    for &a in &chosen {
        let others: Vec<usize> = chosen.iter().copied().filter(|&x| x != a).collect();
        measured.push((a, worst(&checker.check(all, &others)?)));
    }
    let mut order = measured.clone();
    order.sort_by(|x, y| x.1.total_cmp(&y.1));
    for (a, _) in order {
        let before = worst(&outputs);
        if before <= b {
            break;
        }
        chosen.retain(|&x| x != a);
        float.push((a, format!("accuracy budget: error {before:.4} > {b}")));
        outputs = checker.check(all, &chosen)?;
    }
    Ok(Outcome {
        int8: chosen,
        float,
        outputs,
        measured,
    })
}
