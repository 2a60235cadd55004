//! A minimal `.npy` reader and writer for the GPU runner (`neoc-cuda-run`), so the binary
//! that goes to a GPU machine has no dependency beyond this crate's: little-endian,
//! C-ordered arrays of the dtypes neoc artifacts use. (The `neoc` CLI uses `npyz`.)

use neoc_artifact::DType;

/// A tensor as stored in a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

const MAGIC: &[u8] = b"\x93NUMPY";

fn descr_of(d: DType) -> Option<&'static str> {
    Some(match d {
        DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::F64 => "<f8",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I16 => "<i2",
        DType::U16 => "<u2",
        DType::I32 => "<i4",
        DType::U32 => "<u4",
        DType::I64 => "<i8",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
        _ => return None,
    })
}

fn dtype_of(descr: &str) -> Option<DType> {
    let d = descr.trim_start_matches(['<', '|', '=']);
    Some(match d {
        "f4" => DType::F32,
        "f2" => DType::F16,
        "f8" => DType::F64,
        "i1" => DType::I8,
        "u1" => DType::U8,
        "i2" => DType::I16,
        "u2" => DType::U16,
        "i4" => DType::I32,
        "u4" => DType::U32,
        "i8" => DType::I64,
        "u8" => DType::U64,
        "b1" => DType::Bool,
        _ => return None,
    })
}

/// The value of `'key': value` in a header dict, up to the next `,` outside brackets.
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    None
}

/// Parses `.npy` bytes; `what` names the file in errors.
pub fn parse(bytes: &[u8], what: &str) -> Result<Npy, String> {
    let bad = |m: &str| format!("{what}: {m}");
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file"));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(&format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(hstart..hstart + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated header"))?;
    let descr = field(header, "descr").ok_or_else(|| bad("no descr"))?;
    let descr = descr.trim_matches(['\'', '"']);
    let dtype = dtype_of(descr).ok_or_else(|| bad(&format!("unsupported dtype {descr}")))?;
    if descr.starts_with('>') {
        return Err(bad("big-endian data"));
    }
    if field(header, "fortran_order") != Some("False") {
        return Err(bad("not C-ordered"));
    }
    let shape_s = field(header, "shape").ok_or_else(|| bad("no shape"))?;
    let shape: Vec<u64> = shape_s
        .trim_matches(['(', ')'])
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad(&format!("bad shape {shape_s}"))))
        .collect::<Result<_, _>>()?;
    let n: u64 = shape.iter().product();
    let len = n as usize * dtype.size_bytes();
    let data = bytes
        .get(hstart + hlen..hstart + hlen + len)
        .ok_or_else(|| bad("truncated data"))?
        .to_vec();
    Ok(Npy { dtype, shape, data })
}

/// Reads a `.npy` file.
pub fn read(path: &std::path::Path) -> Result<Npy, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&bytes, &path.display().to_string())
}

/// Encodes a tensor as `.npy` (version 1).
pub fn encode(dtype: DType, shape: &[u64], data: &[u8]) -> Result<Vec<u8>, String> {
    let descr = descr_of(dtype).ok_or_else(|| format!("no .npy dtype for {}", dtype.name()))?;
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let shape_s = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    Ok(out)
}

/// The elements of a tensor as f64, for comparisons (`None` for dtypes without a
/// numeric reading here).
pub fn values(dtype: DType, data: &[u8]) -> Option<Vec<f64>> {
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            data.chunks_exact($n)
                .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; $n])) as f64)
                .collect()
        };
    }
    Some(match dtype {
        DType::F32 => conv!(f32, 4),
        DType::F64 => conv!(f64, 8),
        DType::F16 => data
            .chunks_exact(2)
            .map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        DType::I8 => data.iter().map(|&b| b as i8 as f64).collect(),
        DType::U8 | DType::Bool => data.iter().map(|&b| b as f64).collect(),
        DType::I16 => conv!(i16, 2),
        DType::U16 => conv!(u16, 2),
        DType::I32 => conv!(i32, 4),
        DType::U32 => conv!(u32, 4),
        DType::I64 => conv!(i64, 8),
        DType::U64 => conv!(u64, 8),
        _ => return None,
    })
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data: Vec<u8> = [1.5f32, -2.0, 3.25, 0.0, 7.0, 8.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let bytes = encode(DType::F32, &[2, 3], &data).unwrap();
        let t = parse(&bytes, "x").unwrap();
        assert_eq!((t.dtype, t.shape.clone()), (DType::F32, vec![2, 3]));
        assert_eq!(values(t.dtype, &t.data).unwrap()[2], 3.25);
        let one = parse(&encode(DType::I64, &[1], &7i64.to_le_bytes()).unwrap(), "y").unwrap();
        assert_eq!(one.shape, [1]);
        assert!(parse(b"garbage", "z").unwrap_err().contains("not a .npy"));
    }
}
