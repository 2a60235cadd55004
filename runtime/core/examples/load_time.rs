//! Times one load of an artifact in this (fresh) process: `Model::load` (open, mmap,
//! validate every section, check the architecture, pick the code variant, load its code
//! and resolve every kernel) and then the first `Context` (the arena), i.e. until the
//! model is ready to run. `scripts/footprint` runs it many times, with the page cache
//! dropped (cold) and not (warm), and reports min and median.
//!
//! ```sh
//! cargo build --release -p neoc-runtime --example load_time
//! target/release/examples/load_time model.neo    # load_us=… context_us=… total_us=…
//! ```

use neoc_runtime::Model;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: load_time MODEL.neo");
        return ExitCode::from(2);
    };
    let t = Instant::now();
    let model = match Model::load(&path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let load = t.elapsed();
    let ctx = match model.new_context_with_threads(1) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let total = t.elapsed();
    drop(ctx);
    println!(
        "load_us={} context_us={} total_us={}",
        load.as_micros(),
        (total - load).as_micros(),
        total.as_micros()
    );
    ExitCode::SUCCESS
}
