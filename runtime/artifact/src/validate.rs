//! Consistency rules between the signature, the plan and the weights. After these pass,
//! every pointer the runtime derives from a step argument lies inside a buffer of exactly
//! the size the kernel expects.

use crate::{ArtifactError, BufferRef, Plan, TensorSpec, WEIGHTS_ALIGN};

/// Checks the plan against the signature and the weights length.
pub(crate) fn validate(
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
    plan: &Plan,
    weights_len: u64,
    variants: usize,
) -> Result<(), ArtifactError> {
    for (what, specs) in [("input", inputs), ("output", outputs)] {
        for s in specs {
            if s.checked_byte_len().is_none() {
                return Err(ArtifactError::TensorTooLarge {
                    what,
                    name: s.name.clone(),
                    ty: s.type_string(),
                });
            }
        }
    }
    if variants == 0 && !plan.kernels.is_empty() {
        return Err(ArtifactError::NoCode {
            kernels: plan.kernels.len() as u64,
        });
    }
    for (si, step) in plan.steps.iter().enumerate() {
        let step_no = si as u64;
        let Some(kernel) = plan.kernels.get(step.kernel as usize) else {
            return Err(ArtifactError::KernelIndex {
                step: step_no,
                label: step.label.clone(),
                kernel: step.kernel,
                kernels: plan.kernels.len() as u64,
            });
        };
        if kernel.params.len() != step.args.len() {
            return Err(ArtifactError::ArgCount {
                step: step_no,
                label: step.label.clone(),
                symbol: kernel.symbol.clone(),
                expected: kernel.params.len() as u64,
                found: step.args.len() as u64,
            });
        }
        for (ai, (&buffer, &expected)) in step.args.iter().zip(&kernel.params).enumerate() {
            let out_of_range = |reason: String| ArtifactError::ArgOutOfRange {
                step: step_no,
                label: step.label.clone(),
                arg: ai as u64,
                buffer,
                reason,
            };
            let found = match buffer {
                BufferRef::Input(i) => match inputs.get(i as usize) {
                    Some(s) => s.byte_len(),
                    None => {
                        return Err(out_of_range(format!(
                            "the model has {} inputs",
                            inputs.len()
                        )))
                    }
                },
                BufferRef::Output(i) => match outputs.get(i as usize) {
                    Some(s) => s.byte_len(),
                    None => {
                        return Err(out_of_range(format!(
                            "the model has {} outputs",
                            outputs.len()
                        )))
                    }
                },
                BufferRef::Arena { offset, len } => {
                    if offset
                        .checked_add(len)
                        .is_none_or(|end| end > plan.arena_size)
                    {
                        return Err(out_of_range(format!(
                            "the arena is {} bytes",
                            plan.arena_size
                        )));
                    }
                    len
                }
                BufferRef::Weight { offset, len } => {
                    if offset.checked_add(len).is_none_or(|end| end > weights_len) {
                        return Err(out_of_range(format!("the weights are {weights_len} bytes")));
                    }
                    if offset % WEIGHTS_ALIGN != 0 {
                        return Err(out_of_range(format!(
                            "weight offsets must be multiples of {WEIGHTS_ALIGN}"
                        )));
                    }
                    len
                }
            };
            if found != expected {
                return Err(ArtifactError::ArgSize {
                    step: step_no,
                    label: step.label.clone(),
                    arg: ai as u64,
                    buffer,
                    symbol: kernel.symbol.clone(),
                    expected,
                    found,
                });
            }
        }
    }
    Ok(())
}
