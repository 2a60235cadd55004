//! The status line `neoc compile` draws on stderr while it works:
//! `[4/5] codegen 1/2 variants  12.3s`, redrawn in place.
//!
//! Only on a terminal: when stderr is a file or a pipe (CI logs, scripts, tests) nothing
//! is drawn, since the summary `neoc compile` prints at the end already gives the time
//! of every stage, and a log full of carriage returns helps nobody. `--quiet` turns it
//! off too. A ticker thread redraws the line every quarter second, so that a long stage
//! (LLVM on a large model) visibly keeps going. Hand-rolled rather than a progress-bar
//! crate: there is one line and no bar.

use neoc_driver::Stage;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The stages as the status line numbers them; `write` is the CLI's own last stage.
const STAGES: usize = 5;

/// Counts between a stage's start and end are drawn at most this often (lowering
/// reports every graph node).
const REDRAW: Duration = Duration::from_millis(50);

/// How often the ticker redraws the elapsed time.
const TICK: Duration = Duration::from_millis(250);

fn position(stage: Stage) -> usize {
    match stage {
        Stage::Import => 1,
        Stage::Passes => 2,
        Stage::Lowering => 3,
        Stage::Codegen => 4,
    }
}

/// What the line shows, minus the time.
#[derive(Debug, Clone, Copy)]
struct Shown {
    stage: &'static str,
    pos: usize,
    done: usize,
    total: usize,
    unit: &'static str,
}

impl Shown {
    /// One status line, e.g. `[4/5] codegen 1/2 variants  12.3s`.
    fn line(&self, secs: f64) -> String {
        let count = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" {}/{} {}", self.done, self.total, self.unit)
        };
        format!("[{}/{STAGES}] {}{count}  {secs:.1}s", self.pos, self.stage)
    }
}

#[derive(Debug, Default)]
struct State {
    /// When the line was last drawn (`None`: never).
    last_draw: Option<Instant>,
    shown: Option<Shown>,
    /// Cleared for good: the ticker stops and nothing more is drawn.
    done: bool,
}

/// Draws status lines on a terminal; does nothing otherwise.
#[derive(Debug, Clone)]
pub(crate) struct StatusLine {
    start: Instant,
    active: bool,
    state: Arc<Mutex<State>>,
}

impl StatusLine {
    /// A status line on stderr when it is a terminal and not `quiet`.
    pub fn stderr(quiet: bool) -> Self {
        let s = StatusLine {
            start: Instant::now(),
            active: !quiet && std::io::stderr().is_terminal(),
            state: Arc::new(Mutex::new(State::default())),
        };
        if s.active {
            let ticker = s.clone();
            std::thread::spawn(move || ticker.tick());
        }
        s
    }

    /// The ticker thread: redraws the current line with the time until `clear`.
    fn tick(&self) {
        loop {
            std::thread::sleep(TICK);
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            if st.done {
                return;
            }
            if let Some(shown) = st.shown {
                self.paint(&mut st, &shown.line(self.start.elapsed().as_secs_f64()));
            }
        }
    }

    fn paint(&self, st: &mut State, text: &str) {
        st.last_draw = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        // `\r` back to the start of the line, `ESC[2K` clears it.
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
    }

    /// Shows `shown`; unless `always`, only when the last draw is `REDRAW` ago.
    fn show(&self, shown: Shown, always: bool) {
        if !self.active {
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.done {
            return;
        }
        st.shown = Some(shown);
        if always || st.last_draw.is_none_or(|t| t.elapsed() >= REDRAW) {
            self.paint(&mut st, &shown.line(self.start.elapsed().as_secs_f64()));
        }
    }

    /// Shows a driver stage: its start and end always, counts in between throttled.
    pub fn stage(&self, stage: Stage, done: usize, total: usize) {
        let shown = Shown {
            stage: stage.name(),
            pos: position(stage),
            done,
            total,
            unit: stage.unit(),
        };
        self.show(shown, done == 0 || done >= total);
    }

    /// Shows the CLI's last stage, writing the artifact.
    pub fn writing(&self) {
        let shown = Shown {
            stage: "write",
            pos: STAGES,
            done: 0,
            total: 1,
            unit: "",
        };
        self.show(shown, true);
    }

    /// The callback the driver calls.
    pub fn callback(&self) -> neoc_driver::Progress {
        let me = self.clone();
        neoc_driver::Progress::new(move |stage, done, total| me.stage(stage, done, total))
    }

    /// Erases the line and stops drawing, so that what follows (the summary, an error)
    /// starts clean.
    pub fn clear(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if self.active && st.last_draw.is_some() && !st.done {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
        st.done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let codegen = Shown {
            stage: "codegen",
            pos: 4,
            done: 1,
            total: 2,
            unit: "variants",
        };
        assert_eq!(codegen.line(12.34), "[4/5] codegen 1/2 variants  12.3s");
        let passes = Shown {
            stage: "passes",
            pos: 2,
            done: 0,
            total: 1,
            unit: "",
        };
        assert_eq!(passes.line(0.0), "[2/5] passes  0.0s");
        assert_eq!(position(Stage::Codegen), 4);
    }

    #[test]
    fn nothing_is_drawn_when_quiet() {
        let s = StatusLine::stderr(true);
        s.stage(Stage::Import, 0, 1);
        s.clear();
        let st = s.state.lock().unwrap_or_else(|e| e.into_inner());
        assert!(st.last_draw.is_none() && st.shown.is_none() && st.done);
    }
}
