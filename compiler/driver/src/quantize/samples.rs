//! Calibration samples: `--calibration DIR` read into one tensor list per sample
//! (`docs/quantization.md`). Also the samples of `--precision`'s accuracy report.

use super::bad;
use crate::DriverError;
use neoc_ir::{Graph, Tensor};
use std::path::{Path, PathBuf};

/// Reads the calibration samples for `graph`'s inputs (see `docs/quantization.md`; also
/// the samples of `--precision`'s accuracy report).
pub fn load_samples(graph: &Graph, dir: &Path) -> Result<Vec<Vec<Tensor>>, DriverError> {
    let inputs: Vec<(String, Vec<u64>)> = graph
        .inputs()
        .iter()
        .map(|&v| {
            let val = graph.value(v);
            (
                val.name.clone(),
                val.ty.shape.as_fixed().unwrap_or_default(),
            )
        })
        .collect();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(format!("--calibration {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut samples = Vec::new();
    if inputs.len() == 1 {
        let dims = &inputs[0].1;
        for p in entries
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        {
            let t = read_npy(p)?;
            samples.extend(split(t, dims, p)?.into_iter().map(|t| vec![t]));
        }
    } else {
        for d in entries.iter().filter(|p| p.is_dir()) {
            let mut one = Vec::new();
            for (name, dims) in &inputs {
                let p = d.join(format!("{name}.npy"));
                let t = read_npy(&p)?;
                if t.shape != *dims {
                    return Err(bad(format!(
                        "{}: shape {:?}, input `{name}` is {dims:?}",
                        p.display(),
                        t.shape
                    )));
                }
                one.push(t);
            }
            samples.push(one);
        }
    }
    if samples.is_empty() {
        return Err(bad(format!(
            "--calibration {}: no samples (one .npy per sample for a one-input model, one \
             folder of <input>.npy files per sample otherwise)",
            dir.display()
        )));
    }
    Ok(samples)
}

/// `t` as samples of `dims`: itself, or split along axis 0 when that axis is a
/// multiple of the model's batch.
fn split(t: Tensor, dims: &[u64], p: &Path) -> Result<Vec<Tensor>, DriverError> {
    if t.shape == dims {
        return Ok(vec![t]);
    }
    let fits = !dims.is_empty()
        && t.shape.len() == dims.len()
        && t.shape[1..] == dims[1..]
        && dims[0] > 0
        && t.shape[0].is_multiple_of(dims[0]);
    if !fits {
        return Err(bad(format!(
            "{}: shape {:?} is neither the input's {dims:?} nor a stack of them along axis 0",
            p.display(),
            t.shape
        )));
    }
    let per = t.bytes().len() / (t.shape[0] / dims[0]) as usize;
    Ok(t.bytes()
        .chunks(per)
        .filter_map(|c| {
            Tensor::from_bytes(t.dtype, dims.to_vec(), bytes::Bytes::copy_from_slice(c)).ok()
        })
        .collect())
}

fn read_npy(p: &Path) -> Result<Tensor, DriverError> {
    let data = std::fs::read(p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
    let npy = npyz::NpyFile::new(&data[..])
        .map_err(|e| bad(format!("{} is not a .npy file: {e}", p.display())))?;
    let shape = npy.shape().to_vec();
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        _ => String::new(),
    };
    let t = match descr.as_str() {
        "<f4" => {
            let v: Vec<f32> = npy
                .into_vec()
                .map_err(|e| bad(format!("{}: {e}", p.display())))?;
            Tensor::from_f32(shape, &v)
        }
        "<i8" => {
            let v: Vec<i64> = npy
                .into_vec()
                .map_err(|e| bad(format!("{}: {e}", p.display())))?;
            Tensor::from_i64(shape, &v)
        }
        other => {
            return Err(bad(format!(
                "{}: calibration samples must be float32 or int64 .npy, got `{other}`",
                p.display()
            )))
        }
    };
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use neoc_ir::{DType, TensorType};

    /// A little-endian float32 `.npy` (format 1.0) of `shape`.
    fn npy(shape: &[u64], values: &[f32]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let tuple = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        for v in values {
            out.extend(v.to_le_bytes());
        }
        out
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("neoc-quant-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn one_input_samples_are_files_and_stacks_split_along_axis_0() {
        let mut g = Graph::new("g");
        g.add_input("x", TensorType::new(DType::F32, &[1, 2]));
        let d = tmp("one");
        std::fs::write(d.join("a.npy"), npy(&[1, 2], &[1.0, 2.0])).unwrap();
        std::fs::write(
            d.join("b.npy"),
            npy(&[3, 2], &[3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
        )
        .unwrap();
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
        let s = load_samples(&g, &d).unwrap();
        let firsts: Vec<f32> = s.iter().map(|v| v[0].to_f32_vec()[0]).collect();
        assert_eq!(firsts, [1.0, 3.0, 5.0, 7.0]);
        std::fs::write(d.join("c.npy"), npy(&[1, 3], &[0.0; 3])).unwrap();
        let e = load_samples(&g, &d).unwrap_err().to_string();
        assert!(e.contains("c.npy") && e.contains("[1, 3]"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn several_inputs_take_one_folder_per_sample() {
        let mut g = Graph::new("g");
        g.add_input("x", TensorType::new(DType::F32, &[2]));
        g.add_input("y", TensorType::new(DType::F32, &[1]));
        let d = tmp("many");
        for (i, dir) in ["s0", "s1"].iter().enumerate() {
            let p = d.join(dir);
            std::fs::create_dir_all(&p).unwrap();
            let v = i as f32;
            std::fs::write(p.join("x.npy"), npy(&[2], &[v, v])).unwrap();
            std::fs::write(p.join("y.npy"), npy(&[1], &[v + 10.0])).unwrap();
        }
        let s = load_samples(&g, &d).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1][1].to_f32_vec(), [11.0]);
        std::fs::remove_file(d.join("s1").join("y.npy")).unwrap();
        let e = load_samples(&g, &d).unwrap_err().to_string();
        assert!(e.contains("y.npy"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
