//! `neoc bench --profile` and `--json`: per-step timing rows and their presentation.
//!
//! A plan step is one kernel call; a fused kernel computes several graph nodes, named in
//! the step's label, so the table shows both where the time goes and which source
//! operators it belongs to.

use neoc_runtime::Model;
use std::time::Duration;

/// Time of one plan step, averaged over the profiled runs.
pub struct StepRow {
    pub index: usize,
    pub symbol: String,
    pub label: String,
    pub ms: f64,
    pub share: f64,
}

/// Rows for every step, slowest first; empty when profiling was off.
pub fn rows(model: &Model, times: Option<&[Duration]>, runs: usize) -> Vec<StepRow> {
    let Some(times) = times else {
        return Vec::new();
    };
    let plan = model.plan();
    let total: f64 = times.iter().map(Duration::as_secs_f64).sum();
    let mut rows: Vec<StepRow> = plan
        .steps
        .iter()
        .zip(times)
        .enumerate()
        .map(|(index, (step, t))| StepRow {
            index,
            symbol: plan
                .kernels
                .get(step.kernel as usize)
                .map_or_else(String::new, |k| k.symbol.clone()),
            label: step.label.clone(),
            ms: t.as_secs_f64() * 1e3 / runs.max(1) as f64,
            share: if total > 0.0 {
                t.as_secs_f64() / total
            } else {
                0.0
            },
        })
        .collect();
    rows.sort_by(|a, b| b.ms.total_cmp(&a.ms).then(a.index.cmp(&b.index)));
    rows
}

/// The text table: one line per step, with a running total of the share.
pub fn table(rows: &[StepRow]) -> String {
    let mut out = format!(
        "{:>5} {:>9} {:>6} {:>6}  {:<28} nodes\n",
        "step", "ms/run", "share", "cum", "kernel"
    );
    let mut cum = 0.0;
    for r in rows {
        cum += r.share;
        out.push_str(&format!(
            "{:>5} {:>9.3} {:>5.1}% {:>5.1}%  {:<28} {}\n",
            r.index,
            r.ms,
            r.share * 100.0,
            cum * 100.0,
            r.symbol,
            r.label
        ));
    }
    out
}

/// The `--json` object.
pub fn json(
    artifact: &str,
    threads: usize,
    variant: &str,
    samples: &[f64],
    [min, median, p90, max]: [f64; 4],
    steps: &[StepRow],
) -> String {
    let steps: Vec<serde_json::Value> = steps
        .iter()
        .map(|r| {
            serde_json::json!({
                "step": r.index, "kernel": r.symbol, "nodes": r.label,
                "ms_per_run": r.ms, "share": r.share,
            })
        })
        .collect();
    serde_json::json!({
        "schema": 1,
        "artifact": artifact,
        "threads": threads,
        "variant": variant,
        "iterations": samples.len(),
        "latency_ms": {"min": min, "median": median, "p90": p90, "max": max},
        "throughput_per_s": 1e3 / median,
        "samples_ms": samples,
        "profile": steps,
    })
    .to_string()
}
