//! How `neoc` ends: exit codes, and error messages with an optional hint, coloured only
//! where a person reads them.
//!
//! Every failure of every command is a [`Failure`]: an exit code (see [`Exit`] and the
//! table in docs/cli.md), the message (`error: ...`, naming the file and the culprit) and,
//! where the fix is known, a `hint: ...` line. The hints themselves are chosen in
//! `hints.rs`; this module only carries and prints them.
//!
//! Colour follows `--color`: `auto` (the default) colours stderr only when it is a
//! terminal and `NO_COLOR` is unset or empty (<https://no-color.org>), and not when
//! `TERM=dumb`; `always` and `never` force it.

use anstyle::{AnsiColor, Style};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit codes of `neoc` (docs/cli.md has the table; tests/cli_ux.rs checks some).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The model cannot be imported or compiled (unreadable, corrupt, unsupported
    /// operator, unknown input shape); `neoc check`: something does not compile.
    Model = 1,
    /// Bad command-line usage: an unknown flag (the parser's own code), or a flag value
    /// that names nothing or does not parse (target, pass, framework, NAME=DIMS).
    Usage = 2,
    /// An artifact cannot be loaded or run here: corrupt or truncated, built for another
    /// architecture or for CPU features this machine lacks, or inputs that do not match
    /// its signature (missing, unknown name, wrong dtype or shape, unreadable .npy).
    Runtime = 3,
}

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(code: Exit, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Exit::Usage, message)
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Failure::new(Exit::Runtime, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A plain message is a model error unless the caller says otherwise.
impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::new(Exit::Model, message)
    }
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// Colour when stderr is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour stderr.
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                let dumb = std::env::var_os("TERM").is_some_and(|v| v == "dumb");
                !no_color && !dumb && std::io::stderr().is_terminal()
            }
        }
    }

    /// The same choice for the argument parser's own messages.
    pub fn for_clap(self) -> clap::ColorChoice {
        match self {
            ColorChoice::Auto => clap::ColorChoice::Auto,
            ColorChoice::Always => clap::ColorChoice::Always,
            ColorChoice::Never => clap::ColorChoice::Never,
        }
    }
}

const ERROR: Style = AnsiColor::Red.on_default().bold();
const HINT: Style = AnsiColor::Cyan.on_default().bold();

/// `label` in `style` when `color`, plain otherwise.
fn paint(label: &str, style: Style, color: bool) -> String {
    if color {
        format!("{}{label}{}", style.render(), style.render_reset())
    } else {
        label.to_string()
    }
}

/// The text printed for a failure: `error: ...` and, with a hint, `hint: ...`.
pub(crate) fn render(f: &Failure, color: bool) -> String {
    let mut s = format!("{} {}\n", paint("error:", ERROR, color), f.message);
    if let Some(h) = &f.hint {
        s.push_str(&format!("{} {h}\n", paint("hint:", HINT, color)));
    }
    s
}

/// Prints the outcome to stderr and turns it into the process's exit code.
pub(crate) fn finish(result: Result<(), Failure>, color: bool) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprint!("{}", render(&f, color));
            ExitCode::from(f.code as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_coloured_messages() {
        let f = Failure::usage("unknown target `mips`").with_hint("`neoc targets` lists them");
        assert_eq!(
            render(&f, false),
            "error: unknown target `mips`\nhint: `neoc targets` lists them\n"
        );
        let c = render(&f, true);
        assert!(
            c.contains("\x1b[") && c.contains("unknown target `mips`"),
            "{c:?}"
        );
        assert_eq!(render(&Failure::from("x".to_string()), false), "error: x\n");
    }

    #[test]
    fn forced_choices() {
        assert!(ColorChoice::Always.enabled());
        assert!(!ColorChoice::Never.enabled());
    }
}
