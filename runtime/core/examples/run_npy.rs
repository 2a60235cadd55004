//! A deployable model runner: the runtime plus `.npy` input/output, nothing else (no
//! LLVM, no compiler crates, no npy library). It is what gets copied to a Raspberry Pi
//! or a Graviton instance next to an artifact, and what the AArch64 tests cross-build and
//! run under `qemu-aarch64` (`compiler/driver/tests/aarch64_qemu.rs`, `docs/targets.md`).
//!
//! ```sh
//! run_npy MODEL.neo INPUT_DIR OUTPUT_DIR [--repeat N]
//! ```
//!
//! Reads `INPUT_DIR/<input name>.npy` for every model input, runs the model (on one
//! thread, `N` times, default 1: repeats make per-inference instruction counts
//! measurable), writes `OUTPUT_DIR/<output name>.npy` for every output, and prints the
//! code variant it chose. Errors (a missing file, a malformed `.npy`, an artifact this CPU
//! cannot run) are printed as one line and exit with status 1, never a panic.

use neoc_runtime::{DType, Model, TensorRef};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: run_npy MODEL.neo INPUT_DIR OUTPUT_DIR [--repeat N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args).and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

struct Args {
    model: PathBuf,
    inputs: PathBuf,
    outputs: PathBuf,
    repeat: u32,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut repeat = 1;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--repeat" {
            let n = it.next().ok_or(USAGE)?;
            repeat = n
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("--repeat takes a positive count, not `{n}`"))?;
        } else {
            positional.push(PathBuf::from(a));
        }
    }
    let [model, inputs, outputs]: [PathBuf; 3] =
        positional.try_into().map_err(|_| USAGE.to_string())?;
    Ok(Args {
        model,
        inputs,
        outputs,
        repeat,
    })
}

fn run(args: &Args) -> Result<(), String> {
    let model = Model::load(&args.model).map_err(|e| e.to_string())?;
    if let Some(v) = model.variant() {
        println!(
            "variant {} (cpu {}, needs {})",
            v.name,
            v.cpu,
            v.required_features.join(",")
        );
    }
    let inputs = model
        .inputs()
        .iter()
        .map(|s| read_npy(&args.inputs.join(format!("{}.npy", s.name))))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<TensorRef<'_>> = inputs
        .iter()
        .map(|t| TensorRef::new(t.dtype, &t.shape, &t.data))
        .collect();
    let mut ctx = model
        .new_context_with_threads(1)
        .map_err(|e| e.to_string())?;
    let mut outputs = Vec::new();
    for _ in 0..args.repeat {
        outputs = ctx.run(&model, &refs).map_err(|e| e.to_string())?;
    }
    std::fs::create_dir_all(&args.outputs)
        .map_err(|e| format!("cannot create {}: {e}", args.outputs.display()))?;
    for (spec, t) in model.outputs().iter().zip(&outputs) {
        let path = args.outputs.join(format!("{}.npy", spec.name));
        write_npy(&path, t.dtype(), t.shape(), t.as_bytes())?;
        println!("{} {}{:?}", spec.name, t.dtype().name(), t.shape());
    }
    Ok(())
}

/// A little-endian, C-ordered tensor read from a `.npy` file.
struct Npy {
    dtype: DType,
    shape: Vec<u64>,
    data: Vec<u8>,
}

/// numpy's `descr` for each dtype this runner reads and writes.
const DESCRS: &[(&str, DType)] = &[
    ("<f4", DType::F32),
    ("<f2", DType::F16),
    ("<f8", DType::F64),
    ("|i1", DType::I8),
    ("|u1", DType::U8),
    ("<i2", DType::I16),
    ("<u2", DType::U16),
    ("<i4", DType::I32),
    ("<u4", DType::U32),
    ("<i8", DType::I64),
    ("<u8", DType::U64),
    ("|b1", DType::Bool),
];

fn read_npy(path: &Path) -> Result<Npy, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bad = |why: &str| format!("{} is not a usable .npy file: {why}", path.display());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no NUMPY magic"));
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(&format!("format version {v}"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| bad("header not text"))?;
    let descr = dict_value(header, "descr")
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"'))
        .ok_or_else(|| bad("no descr"))?;
    // Byte order: little-endian (`<`), native (`=`, little on every supported machine)
    // or not applicable (`|`); big-endian data is refused.
    let code = descr.strip_prefix(['<', '=', '|']).unwrap_or("");
    let dtype = DESCRS
        .iter()
        .find(|(d, _)| d.get(1..) == Some(code))
        .map(|(_, t)| *t)
        .ok_or_else(|| bad(&format!("unsupported dtype {descr}")))?;
    if dict_value(header, "fortran_order") != Some("False") {
        return Err(bad("Fortran order (save it C-contiguous)"));
    }
    let shape_text = dict_value(header, "shape").ok_or_else(|| bad("no shape"))?;
    let shape = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().map_err(|_| bad("bad shape")))
        .collect::<Result<Vec<_>, _>>()?;
    let len = shape
        .iter()
        .try_fold(dtype.size_bytes() as u64, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad("shape too large"))?;
    let data = &bytes[end..];
    if data.len() as u64 != len {
        return Err(bad(&format!(
            "{} bytes of data for {descr}{shape:?}, expected {len}",
            data.len()
        )));
    }
    Ok(Npy {
        dtype,
        shape,
        data: data.to_vec(),
    })
}

/// The text of `key`'s value in a numpy header dict (`{'descr': '<f4', 'shape': (1, 3), }`).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

fn write_npy(path: &Path, dtype: DType, shape: &[u64], data: &[u8]) -> Result<(), String> {
    let descr = DESCRS
        .iter()
        .find(|(_, t)| *t == dtype)
        .map(|(d, _)| *d)
        .ok_or_else(|| format!("cannot write {} as .npy", dtype.name()))?;
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad with spaces so that the data starts 64-byte aligned; the header ends in '\n'.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let len = u16::try_from(header.len()).map_err(|_| "npy header too long".to_string())?;
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    std::fs::write(path, out).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
