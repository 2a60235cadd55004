//! The `--quantize int8` flags of `neoc compile` (`docs/quantization.md`) and how the
//! compile report shows what quantization did.

use crate::diag::Failure;
use clap::Args;
use std::path::PathBuf;

/// Post-training int8 quantization.
#[derive(Args, Debug, Default)]
pub struct QuantArgs {
    /// Quantize to `int8` with calibration samples (--calibration).
    #[arg(long, value_name = "int8")]
    quantize: Option<String>,
    /// Calibration samples: one .npy per sample (a stack along axis 0 is split), or for
    /// several inputs one folder of <input>.npy per sample.
    #[arg(long, value_hint = clap::ValueHint::DirPath)]
    calibration: Option<PathBuf>,
    /// How activation ranges are chosen: minmax, percentile or entropy.
    #[arg(long = "calibration-method", default_value = "minmax")]
    calibration_method: String,
    /// Keep a node (by name) or an operator (Conv, Gemm, MatMul) in float (repeatable).
    #[arg(long = "keep-float", value_name = "OP_OR_NODE")]
    keep_float: Vec<String>,
    /// Largest allowed relative L2 error of any output against float on the calibration
    /// samples; the worst layers stay float until it holds.
    #[arg(long = "accuracy-budget", value_name = "X")]
    accuracy_budget: Option<f64>,
    /// What runs calibration and the accuracy checks: auto (code compiled for this
    /// CPU; the reference interpreter where that is impossible or the model so small
    /// that compiling costs more), compiled, interpreter.
    #[arg(long = "calibration-engine", default_value = "auto")]
    calibration_engine: String,
    /// Write the quantization report (or, with --precision fp16/bf16 alone, the accuracy
    /// report) to FILE.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    report: Option<PathBuf>,
}

impl QuantArgs {
    /// `--report FILE` when there is no `--quantize`, taken for `--precision`'s accuracy
    /// report (so that [`QuantArgs::options`] does not ask for `--quantize`).
    pub fn take_report_without_quantize(&mut self) -> Option<PathBuf> {
        if self.quantize.is_some() {
            None
        } else {
            self.report.take()
        }
    }

    /// `--calibration DIR` when there is no `--quantize`: the samples of `--precision`'s
    /// accuracy report.
    pub fn take_calibration_without_quantize(&mut self) -> Option<PathBuf> {
        if self.quantize.is_some() {
            None
        } else {
            self.calibration.take()
        }
    }

    /// The driver's options, `None` without `--quantize`; misuse is a usage error.
    pub fn options(self) -> Result<Option<neoc_driver::quantize::QuantizeOptions>, Failure> {
        let Some(kind) = self.quantize else {
            if self.calibration.is_some() || self.report.is_some() {
                return Err(Failure::usage(
                    "--calibration and --report need --quantize int8 (or --precision \
                     fp16|bf16 for its accuracy report)",
                ));
            }
            return Ok(None);
        };
        if kind != "int8" {
            return Err(Failure::usage(format!(
                "--quantize `{kind}`: only int8 is supported"
            )));
        }
        let Some(calibration) = self.calibration else {
            return Err(Failure::usage("--quantize int8 needs --calibration DIR"));
        };
        let m = &self.calibration_method;
        let method = neoc_driver::quantize::Calibration::from_name(m).ok_or_else(|| {
            Failure::usage(format!(
                "--calibration-method `{m}`: expected minmax, percentile or entropy"
            ))
        })?;
        let e = &self.calibration_engine;
        let engine = neoc_driver::quantize::Engine::from_name(e).ok_or_else(|| {
            Failure::usage(format!(
                "--calibration-engine `{e}`: expected auto, compiled or interpreter"
            ))
        })?;
        if let Some(b) = self.accuracy_budget {
            if !(b.is_finite() && b >= 0.0) {
                return Err(Failure::usage(format!(
                    "--accuracy-budget {b}: expected a relative error >= 0"
                )));
            }
        }
        Ok(Some(neoc_driver::quantize::QuantizeOptions {
            calibration,
            method,
            keep_float: self.keep_float,
            accuracy_budget: self.accuracy_budget,
            report: self.report,
            engine,
        }))
    }
}

/// Prints the quantization report (when there is one) to stderr.
pub fn print(report: &neoc_driver::CompileReport) {
    if let Some(q) = &report.quantization {
        eprint!("{}", q.text());
    }
}
