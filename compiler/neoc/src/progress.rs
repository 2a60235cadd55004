//! The status line `neoc compile` draws on stderr while it works:
//! `[4/5] codegen 1/2 variants  12.3s`, redrawn in place.
//!
//! Only on a terminal: when stderr is a file or a pipe (CI logs, scripts, tests) nothing
//! is drawn, since the summary `neoc compile` prints at the end already gives the time
//! of every stage, and a log full of carriage returns helps nobody. `--quiet` turns it
//! off too. Hand-rolled (a dozen lines) rather than a progress-bar crate: there is one
//! line and no bar.

use neoc_driver::Stage;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The stages as the status line numbers them; `write` is the CLI's own last stage.
const STAGES: usize = 5;

fn position(stage: Stage) -> usize {
    match stage {
        Stage::Import => 1,
        Stage::Passes => 2,
        Stage::Lowering => 3,
        Stage::Codegen => 4,
    }
}

/// One status line, e.g. `[4/5] codegen 1/2 variants  12.3s`.
pub(crate) fn line(
    stage: &str,
    pos: usize,
    done: usize,
    total: usize,
    unit: &str,
    secs: f64,
) -> String {
    let count = if unit.is_empty() {
        String::new()
    } else {
        format!(" {done}/{total} {unit}")
    };
    format!("[{pos}/{STAGES}] {stage}{count}  {secs:.1}s")
}

/// Draws status lines on a terminal; does nothing otherwise.
#[derive(Debug, Clone)]
pub(crate) struct StatusLine {
    start: Instant,
    active: bool,
    /// When the line was last drawn (`None`: not yet).
    drawn: Arc<Mutex<Option<Instant>>>,
}

/// Counts between a stage's start and end are drawn at most this often (lowering
/// reports every graph node).
const REDRAW: Duration = Duration::from_millis(50);

impl StatusLine {
    /// A status line on stderr when it is a terminal and not `quiet`.
    pub fn stderr(quiet: bool) -> Self {
        StatusLine {
            start: Instant::now(),
            active: !quiet && std::io::stderr().is_terminal(),
            drawn: Arc::new(Mutex::new(None)),
        }
    }

    /// Draws `text()`; unless `always`, only when the last draw is `REDRAW` ago.
    fn draw(&self, text: impl FnOnce() -> String, always: bool) {
        if !self.active {
            return;
        }
        let Ok(mut last) = self.drawn.lock() else {
            return;
        };
        if !always && last.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        *last = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        // `\r` back to the start of the line, `ESC[2K` clears it.
        let _ = write!(err, "\r\x1b[2K{}", text());
        let _ = err.flush();
    }

    /// Shows a driver stage: its start and end always, counts in between throttled.
    pub fn stage(&self, stage: Stage, done: usize, total: usize) {
        let secs = self.start.elapsed().as_secs_f64();
        let text = || {
            line(
                stage.name(),
                position(stage),
                done,
                total,
                stage.unit(),
                secs,
            )
        };
        self.draw(text, done == 0 || done >= total);
    }

    /// Shows the CLI's last stage, writing the artifact.
    pub fn writing(&self) {
        let secs = self.start.elapsed().as_secs_f64();
        self.draw(|| line("write", STAGES, 0, 1, "", secs), true);
    }

    /// The callback the driver calls.
    pub fn callback(&self) -> neoc_driver::Progress {
        let me = self.clone();
        neoc_driver::Progress::new(move |stage, done, total| me.stage(stage, done, total))
    }

    /// Erases the line, so that what follows (the summary, an error) starts clean.
    pub fn clear(&self) {
        let drawn = self.drawn.lock().map(|d| d.is_some()).unwrap_or(false);
        if self.active && drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            line("codegen", 4, 1, 2, "variants", 12.34),
            "[4/5] codegen 1/2 variants  12.3s"
        );
        assert_eq!(line("passes", 2, 0, 1, "", 0.0), "[2/5] passes  0.0s");
        assert_eq!(position(Stage::Codegen), 4);
    }

    #[test]
    fn nothing_is_drawn_when_quiet() {
        let s = StatusLine::stderr(true);
        s.stage(Stage::Import, 0, 1);
        s.clear();
        assert!(s.drawn.lock().unwrap_or_else(|e| e.into_inner()).is_none());
    }
}
