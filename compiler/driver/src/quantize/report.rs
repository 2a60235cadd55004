//! The quantization report (`--report FILE`, always printed to stderr): per output the
//! int8 error against float on the calibration samples, the layers kept in float and
//! why, the int8 layers, with `--accuracy-budget` each layer's measured effect, how long
//! calibration and the checks took, the warnings. Tests and users grep its lines: keep
//! their beginnings stable.

use std::fmt::Write as _;
use std::time::Duration;

/// One graph output's error, int8 against float, over the calibration samples.
#[derive(Debug, Clone, Default)]
pub struct OutputError {
    pub name: String,
    /// Largest `‖int8 − float‖₂ / ‖float‖₂` of any sample.
    pub rel_l2: f64,
    pub max_abs: f64,
    /// Smallest cosine similarity of any sample.
    pub cosine: f64,
    /// Samples whose arg-max agrees (outputs of more than one element).
    pub argmax_agree: usize,
}

impl OutputError {
    /// A fresh error for output `name` (cosine 1 until a sample says otherwise).
    pub fn new(name: &str) -> OutputError {
        OutputError {
            name: name.to_string(),
            cosine: 1.0,
            ..OutputError::default()
        }
    }

    /// Folds one sample's int8 output `got` against float `want` into `self`.
    pub fn add(&mut self, got: &[f32], want: &[f32]) {
        let (mut d2, mut w2, mut g2, mut dot) = (0f64, 0f64, 0f64, 0f64);
        for (&a, &b) in got.iter().zip(want) {
            let (a, b) = (f64::from(a), f64::from(b));
            d2 += (a - b) * (a - b);
            w2 += b * b;
            g2 += a * a;
            dot += a * b;
            self.max_abs = self.max_abs.max((a - b).abs());
        }
        self.rel_l2 = self.rel_l2.max((d2 / w2.max(1e-30)).sqrt());
        let cos = if w2 == 0.0 && g2 == 0.0 {
            1.0
        } else {
            dot / (w2.sqrt() * g2.sqrt()).max(1e-30)
        };
        self.cosine = self.cosine.min(cos);
        let argmax = |v: &[f32]| {
            v.iter()
                .enumerate()
                .fold((0, f32::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m })
                .0
        };
        if got.len() > 1 && argmax(got) == argmax(want) {
            self.argmax_agree += 1;
        }
    }

    /// Folds another worker's samples into `self`.
    pub fn merge(&mut self, o: &OutputError) {
        self.rel_l2 = self.rel_l2.max(o.rel_l2);
        self.max_abs = self.max_abs.max(o.max_abs);
        self.cosine = self.cosine.min(o.cosine);
        self.argmax_agree += o.argmax_agree;
    }
}

/// Where the time of `--quantize int8` went.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// What ran the graphs: "code compiled for x86_64-avx512-vnni" or "the reference
    /// interpreter (...)".
    pub engine: String,
    /// Samples run at once.
    pub threads: usize,
    /// Compiling the float graph with its extra outputs (zero for the interpreter).
    pub calibration_compile: Duration,
    /// Running every sample through it and observing.
    pub calibration_run: Duration,
    /// Accuracy checks of int8 graphs (each: rewrite, compile, run every sample).
    pub checks: usize,
    pub checks_time: Duration,
}

/// What `--quantize int8` did.
#[derive(Debug, Clone, Default)]
pub struct QuantizeReport {
    pub method: &'static str,
    pub samples: usize,
    pub int8: Vec<String>,
    /// Anchors kept in float, with the reason.
    pub float: Vec<(String, String)>,
    pub outputs: Vec<OutputError>,
    pub budget: Option<f64>,
    /// With a budget that all-int8 misses: per layer, the worst output error measured
    /// with every other layer int8 and this one alone in float.
    pub measured: Vec<(String, f64)>,
    pub timing: Timing,
    pub warnings: Vec<String>,
}

impl QuantizeReport {
    /// The measured figure of layer `name`, if any.
    pub fn measured_error(&self, name: &str) -> Option<f64> {
        self.measured.iter().find(|m| m.0 == name).map(|m| m.1)
    }

    /// The report as text (what `--report FILE` holds).
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "int8 quantization: {} calibration samples, {} ranges; {} layers int8, {} float",
            self.samples,
            self.method,
            self.int8.len(),
            self.float.len()
        );
        let t = &self.timing;
        let per = t.calibration_run.as_secs_f64() * 1e3 / self.samples.max(1) as f64;
        let _ = writeln!(
            s,
            "calibration: {:.2} s ({:.2} s compiling, {:.2} s running {} samples {} at a time: \
             {per:.2} ms per sample) on {}",
            (t.calibration_compile + t.calibration_run).as_secs_f64(),
            t.calibration_compile.as_secs_f64(),
            t.calibration_run.as_secs_f64(),
            self.samples,
            t.threads,
            t.engine,
        );
        let _ = writeln!(
            s,
            "accuracy checks: {} int8 graph(s) run on every sample in {:.2} s",
            t.checks,
            t.checks_time.as_secs_f64()
        );
        if let Some(b) = self.budget {
            let _ = writeln!(s, "accuracy budget: relative L2 error <= {b}");
        }
        for o in &self.outputs {
            let _ = writeln!(
                s,
                "output {}: relative L2 error {:.4} (worst sample), max abs error {:.4}, \
                 cosine {:.5} (worst), arg-max agrees on {}/{} samples",
                o.name, o.rel_l2, o.max_abs, o.cosine, o.argmax_agree, self.samples
            );
        }
        let measured = |n: &str| {
            self.measured_error(n).map_or(String::new(), |e| {
                format!("measured: error {e:.4} with this layer alone in float")
            })
        };
        for (n, why) in &self.float {
            match measured(n) {
                m if m.is_empty() => {
                    let _ = writeln!(s, "float: {n} ({why})");
                }
                m => {
                    let _ = writeln!(s, "float: {n} ({why}; {m})");
                }
            }
        }
        for n in &self.int8 {
            match measured(n) {
                m if m.is_empty() => {
                    let _ = writeln!(s, "int8: {n}");
                }
                m => {
                    let _ = writeln!(s, "int8: {n} ({m})");
                }
            }
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }
}
