//! The one place where errors from the compiler and the runtime become [`Failure`]s:
//! their exit code, and a hint where the next step is known (the flag to pass, the
//! command that says more). The libraries' messages name the file and the culprit; the
//! hint is the CLI's addition, because only the CLI knows its own flags and commands.

use crate::diag::{Exit, Failure};
use neoc_driver::DriverError;
use neoc_runtime::RuntimeError;
use std::path::Path;

/// A frontend message that ends in its own fix (`...; pass --input-shape x=1,3,224,224`)
/// split into the message and that fix.
fn split_fix(message: &str) -> Option<(String, String)> {
    let (head, fix) = message.rsplit_once("; pass ")?;
    Some((head.to_string(), format!("pass {fix}")))
}

fn not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

fn missing_file_hint(path: &str) -> String {
    match std::env::current_dir() {
        Ok(cwd) if Path::new(path).is_relative() => format!(
            "there is no file at {path} (relative to {}); check the path",
            cwd.display()
        ),
        _ => format!("there is no file at {path}; check the path"),
    }
}

/// A compile-side error (`neoc compile`, `neoc inspect MODEL`) of `model`.
pub(crate) fn driver(e: DriverError, model: &Path) -> Failure {
    let message = e.to_string();
    let model_s = model.display();
    let check = format!(
        "`neoc check {model_s}` lists everything in the model that cannot be compiled, at once"
    );
    // The input whose shape is unknown, from any frontend.
    let shape_input = match &e {
        DriverError::Onnx(neoc_onnx::OnnxError::InputShape { input, .. })
        | DriverError::Pytorch(neoc_pytorch::PytorchError::InputShape { input, .. })
        | DriverError::Tensorflow(neoc_tensorflow::TfError::InputShape { input, .. })
        | DriverError::Mxnet(neoc_mxnet::MxnetError::InputShape { input, .. }) => {
            Some(input.clone())
        }
        _ => None,
    };
    if let Some(input) = shape_input {
        return match split_fix(&message) {
            Some((head, fix)) => Failure::from(head).with_hint(fix),
            None => Failure::from(message).with_hint(format!(
                "pass --input-shape {input}=D0,D1,... with the shape the model will run at"
            )),
        };
    }
    match &e {
        DriverError::Target(_) => Failure::usage(message)
            .with_hint("`neoc targets` lists every target with its code variants"),
        DriverError::Usage(_) => Failure::usage(message),
        DriverError::UnknownFormat { .. } => Failure::from(message).with_hint(
            "name the format with --framework onnx|pytorch|tensorflow|mxnet if the file is one",
        ),
        DriverError::Onnx(neoc_onnx::OnnxError::UnsupportedOps { .. })
        | DriverError::Pytorch(neoc_pytorch::PytorchError::UnsupportedOps { .. })
        | DriverError::Tensorflow(neoc_tensorflow::TfError::UnsupportedOps { .. })
        | DriverError::Mxnet(neoc_mxnet::MxnetError::UnsupportedOps { .. })
        | DriverError::Lower { .. } => Failure::from(message).with_hint(check),
        DriverError::Onnx(neoc_onnx::OnnxError::Io { file, source })
        | DriverError::Pytorch(neoc_pytorch::PytorchError::Io { file, source })
        | DriverError::Tensorflow(neoc_tensorflow::TfError::Io { file, source })
        | DriverError::Mxnet(neoc_mxnet::MxnetError::Io { file, source })
            if not_found(source) =>
        {
            Failure::from(message).with_hint(missing_file_hint(file))
        }
        _ => Failure::from(message),
    }
}

/// A load or run error of the artifact `file` (`neoc run`, `neoc bench`).
pub(crate) fn runtime(e: RuntimeError, file: &Path) -> Failure {
    let message = e.to_string();
    let file_s = file.display();
    let inspect = format!("`neoc inspect {file_s}` lists its code variants and signature");
    let hint = match &e {
        RuntimeError::WrongArch { host, .. } => Some(format!(
            "compile the model for this machine: neoc compile MODEL --target {host} (or --target host)"
        )),
        RuntimeError::MissingCpuFeatures { suggestion, .. } => Some(format!(
            "compile the model for this CPU: neoc compile MODEL --target {}; {inspect}",
            suggestion.as_deref().unwrap_or("host")
        )),
        RuntimeError::InputMismatch {
            input, expected, ..
        } => Some(format!(
            "input \"{input}\" must be a .npy of {expected} (dtype[shape]); {inspect}"
        )),
        RuntimeError::InputCount { .. } => Some(inspect),
        RuntimeError::Io { file, source } if not_found(source) => Some(missing_file_hint(file)),
        RuntimeError::Artifact { .. } => Some(format!(
            "{file_s} is not a complete artifact of this neoc; compile the model again with `neoc compile`"
        )),
        _ => None,
    };
    let f = Failure::new(Exit::Runtime, message);
    match hint {
        Some(h) => f.with_hint(h),
        None => f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_fix_becomes_the_hint() {
        let (head, fix) = split_fix(
            "m.onnx: input \"x\" has unknown dimension \"batch\" (dim 0); pass --input-shape x=1,3,4",
        )
        .unwrap_or_default();
        assert_eq!(
            head,
            "m.onnx: input \"x\" has unknown dimension \"batch\" (dim 0)"
        );
        assert_eq!(fix, "pass --input-shape x=1,3,4");
        assert!(split_fix("no fix here").is_none());
    }
}
