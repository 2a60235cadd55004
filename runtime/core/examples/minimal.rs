//! The smallest embedding of the runtime: load an artifact, run it once on zero-filled
//! inputs, print each output's shape and first values. Its stripped release size is the
//! runtime's footprint figure:
//!
//! ```sh
//! cargo build --release -p neoc-runtime --example minimal && strip -o /tmp/minimal target/release/examples/minimal && ls -l /tmp/minimal
//! target/release/examples/minimal model.neo
//! ```

use neoc_runtime::{Model, Tensor};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: minimal MODEL.neo");
        return ExitCode::from(2);
    };
    match run(&path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(path: &str) -> Result<(), neoc_runtime::RuntimeError> {
    let model = Model::load(path)?;
    let inputs = model
        .inputs()
        .iter()
        .map(|s| Tensor::zeros(s.dtype, s.shape.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<_> = inputs.iter().map(|t| t.view()).collect();
    for (spec, out) in model.outputs().iter().zip(model.run(&refs)?) {
        let head: Vec<f32> = out
            .as_f32()
            .map(|v| v.iter().take(4).copied().collect())
            .unwrap_or_default();
        println!("{} {:?} {head:?}", spec.name, out.shape());
    }
    Ok(())
}
