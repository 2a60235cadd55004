//! TfIdfVectorizer: n-gram counts of integer token sequences, desugared into
//! comparisons with the constant pool.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__TfIdfVectorizer.html> (unchanged since
//! opset 9). The input is `[C]` or `[B, C]` token ids known only at run time; the pool
//! of n-grams, their output columns (`ngram_indexes`), the weights, the mode and the
//! gram lengths and skips are attributes. The output is `[out]` or `[B, out]` `float`,
//! `out = max(ngram_indexes) + 1`.
//!
//! Meaning (as onnx's reference and onnxruntime implement it): pool n-gram `k` (counted
//! in pool order over all lengths, `ngram_counts` giving where each length starts) of
//! length `n` in `[min_gram_length, max_gram_length]` is counted once for every skip
//! distance `d` (`1..=max_skip_count + 1`; only `d = 1` for unigrams, which skips do not
//! affect) and start `i` with `x[i + j·d] = gram[j]` for all `j < n`; the count lands in
//! column `ngram_indexes[k]`. A pool n-gram listed twice is counted only at its last
//! entry (the reference's trie keeps the last id). TF keeps the counts, IDF gives
//! `weights[col]` (or 1) where the count is non-zero, TFIDF multiplies the counts by
//! `weights[col]`; like the reference and onnxruntime, the weights are indexed by output
//! column.
//!
//! Desugared without data-dependent control flow, per n-gram length `n` with `P` pool
//! entries: a constant `[W, n]` table lists every window's token positions (over all
//! skips and starts), `Gather` takes the windows `[B, W, n]`, `Equal` against the
//! constant pool `[P, n]` (broadcast to `[B, W, P, n]`), `ReduceMin` over `n` (all tokens
//! match), `ReduceSum` over the windows gives the counts `[B, P]`. The counts of all
//! lengths are concatenated and moved to their columns by a `Gather` with a constant
//! inverse index (a zero column for columns no n-gram maps to), or by a `MatMul` with a
//! constant 0/1 matrix when several n-grams share a column. The comparison tensor is
//! bounded ([`MAX_MATCH_ELEMENTS`]), as are the built tables. String pools have no IR
//! type and are refused.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Cast, Concat, Gather, Reduce, ReduceKind, Reshape};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};
use std::collections::HashMap;

pub(crate) const SPECS: &[OpSpec] = &[spec(
    "TfIdfVectorizer",
    9,
    22,
    tfidf,
    "int32/int64 pools: window Gather, Equal with the pool, ReduceMin/ReduceSum, column Gather; TF, IDF, TFIDF",
)];

/// The most elements one length's window/pool comparison `[B, W, P, n]` may have.
const MAX_MATCH_ELEMENTS: u64 = 1 << 30;

/// The weighting of the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tf,
    Idf,
    TfIdf,
}

/// The counted pool n-grams of one length.
#[derive(Debug, Default)]
struct Group {
    /// The n-grams, `n` tokens each, in first-seen order.
    tokens: Vec<i64>,
    /// The output column of each n-gram.
    columns: Vec<u64>,
}

/// What the attributes say, validated.
#[derive(Debug)]
struct Pool {
    /// `(n, group)` for each counted length with at least one n-gram.
    groups: Vec<(usize, Group)>,
    out: u64,
    max_skip: u64,
}

fn tfidf(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let dtype = c.ty(x).dtype;
    if !matches!(dtype, DType::I32 | DType::I64) {
        return Err(c.shape_error(format!(
            "input must be int32 or int64 token ids, got {dtype} (string inputs are not supported)"
        )));
    }
    let (b, len, batched) = match xd.as_slice() {
        [] => (1, 1, false),
        [n] => (1, *n, false),
        [b, n] => (*b, *n, true),
        _ => return Err(c.shape_error(format!("input must be [C] or [B, C], got {xd:?}"))),
    };
    let mode = match c.attrs.string("mode", "")?.as_str() {
        "TF" => Mode::Tf,
        "IDF" => Mode::Idf,
        "TFIDF" => Mode::TfIdf,
        other => {
            return Err(c.attr_error(format!("mode must be TF, IDF or TFIDF, got \"{other}\"")))
        }
    };
    let pool = read_pool(c)?;
    let weights = match mode {
        Mode::Tf => None,
        Mode::Idf | Mode::TfIdf => c.attrs.floats("weights")?,
    };
    if let Some(w) = weights {
        if (w.len() as u64) < pool.out {
            return Err(c.attr_error(format!(
                "weights has {} entries, fewer than the {} output columns",
                w.len(),
                pool.out
            )));
        }
    }
    let out_dims = if batched {
        vec![b, pool.out]
    } else {
        vec![pool.out]
    };
    c.built_elements(&[b, pool.out.saturating_add(1)], 8)?;

    let x = c.inner(
        "tokens",
        Op::Reshape(Reshape {
            shape: vec![b, len],
        }),
        vec![Some(x)],
    )?;
    let x = if dtype == DType::I64 {
        x
    } else {
        c.inner(
            "tokens_i64",
            Op::Cast(Cast { to: DType::I64 }),
            vec![Some(x)],
        )?
    };
    let mut counts = Vec::new();
    let mut columns = Vec::new();
    for (n, group) in &pool.groups {
        if let Some(v) = count_group(c, x, b, len, *n, pool.max_skip, group)? {
            counts.push(v);
            columns.extend_from_slice(&group.columns);
        }
    }
    if counts.is_empty() {
        // No n-gram fits in a row: every count is zero, and so is every weighting.
        let n = c.built_elements(&out_dims, 4)?;
        let zeros = Tensor::from_f32(out_dims, &vec![0.0; n as usize]);
        let name = c.output_name(0);
        return Ok(vec![c.graph.add_const(name, zeros)]);
    }
    let counts = if counts.len() == 1 {
        counts[0]
    } else {
        c.inner(
            "counts",
            Op::Concat(Concat { axis: 1 }),
            counts.into_iter().map(Some).collect(),
        )?
    };
    let y = to_columns(c, counts, b, &columns, pool.out)?;
    let y = weigh(c, y, mode, weights, pool.out)?;
    c.emit1(Op::Reshape(Reshape { shape: out_dims }), vec![Some(y)])
}

/// Reads and validates the pool attributes.
fn read_pool(c: &NodeCtx<'_>) -> Result<Pool, IrError> {
    let required = |name: &str| {
        c.attrs
            .opt_int(name)?
            .ok_or_else(|| c.attr_error(format!("attribute \"{name}\" is required")))
    };
    let (min, max, skip) = (
        required("min_gram_length")?,
        required("max_gram_length")?,
        required("max_skip_count")?,
    );
    if min < 1 || max < min || skip < 0 {
        return Err(c.attr_error(format!(
            "need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0, got \
             {min}, {max}, {skip}"
        )));
    }
    if c.attrs.has("pool_strings") {
        return Err(c.attr_error(
            "pool_strings is not supported (string tensors have no IR type); use pool_int64s",
        ));
    }
    let tokens = c
        .attrs
        .ints("pool_int64s")?
        .ok_or_else(|| c.attr_error("attribute \"pool_int64s\" is required"))?;
    let starts = c
        .attrs
        .ints("ngram_counts")?
        .ok_or_else(|| c.attr_error("attribute \"ngram_counts\" is required"))?;
    let indexes = c
        .attrs
        .uints("ngram_indexes")?
        .ok_or_else(|| c.attr_error("attribute \"ngram_indexes\" is required"))?;
    let out = indexes
        .iter()
        .max()
        .and_then(|m| m.checked_add(1))
        .ok_or_else(|| c.attr_error("ngram_indexes must not be empty"))?;
    let total = tokens.len();
    let mut groups = Vec::new();
    // `k` numbers the pool n-grams over all lengths, counted or not.
    let mut k = 0usize;
    for (i, &start) in starts.iter().enumerate() {
        let n = i + 1;
        let end = starts.get(i + 1).copied().unwrap_or(total as i64);
        let start_ok = usize::try_from(start).ok().filter(|&s| s <= total);
        let Some(start) = start_ok else {
            return Err(c.attr_error(format!(
                "ngram_counts {starts:?} must lie within the pool of {total} items"
            )));
        };
        let items = end - start as i64;
        if items <= 0 {
            continue;
        }
        let count = items as usize / n;
        if (min..=max).contains(&(n as i64)) {
            let mut group = Group::default();
            let mut seen: HashMap<&[i64], usize> = HashMap::new();
            for j in 0..count {
                let gram = tokens
                    .get(start + j * n..start + (j + 1) * n)
                    .ok_or_else(|| c.attr_error("ngram_counts runs past pool_int64s"))?;
                let column = *indexes.get(k + j).ok_or_else(|| {
                    c.attr_error(format!(
                        "ngram_indexes has {} entries but the pool has more n-grams",
                        indexes.len()
                    ))
                })?;
                match seen.get(gram) {
                    // A repeated n-gram counts at its last entry only.
                    Some(&at) => group.columns[at] = column,
                    None => {
                        seen.insert(gram, group.columns.len());
                        group.tokens.extend_from_slice(gram);
                        group.columns.push(column);
                    }
                }
            }
            if !group.columns.is_empty() {
                groups.push((n, group));
            }
        }
        k += count;
    }
    Ok(Pool {
        groups,
        out,
        max_skip: skip as u64,
    })
}

/// The counts `[B, P]` (`float`) of the n-grams of `group` (length `n`) in the rows of
/// `x` (`[B, len]` int64), or `None` when no window of length `n` fits.
fn count_group(
    c: &mut NodeCtx<'_>,
    x: ValueId,
    b: u64,
    len: u64,
    n: usize,
    max_skip: u64,
    group: &Group,
) -> Result<Option<ValueId>, IrError> {
    let n64 = n as u64;
    // Skip distances 1..=widest, those whose windows fit: (n - 1)·d < len; unigrams
    // are taken once.
    let widest = if n == 1 {
        1
    } else {
        (len.saturating_sub(1) / (n64 - 1)).min(max_skip.saturating_add(1))
    };
    // Σ_{d=1..widest} (len - (n - 1)·d), in closed form.
    let windows = {
        let (w, l, g) = (u128::from(widest), u128::from(len), u128::from(n64 - 1));
        (w * l).saturating_sub(g * w * (w + 1) / 2)
    };
    let windows = u64::try_from(windows).unwrap_or(u64::MAX);
    if windows == 0 {
        return Ok(None);
    }
    let p = group.columns.len() as u64;
    let compared = [b, windows, p, n64]
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .filter(|&e| e <= MAX_MATCH_ELEMENTS);
    if compared.is_none() {
        return Err(c.shape_error(format!(
            "matching {p} {n}-grams against {windows} windows of {b} rows is too large \
             (limit {MAX_MATCH_ELEMENTS} comparisons)"
        )));
    }
    c.built_elements(&[windows, n64], 8)?;
    let mut table = Vec::with_capacity((windows * n64) as usize);
    for d in 1..=widest {
        for i in 0..len - (n64 - 1) * d {
            table.extend((0..n64).map(|j| (i + j * d) as i64));
        }
    }
    let table = c.constant(
        &format!("windows{n}"),
        Tensor::from_i64(vec![windows, n64], &table),
    );
    let grams = c.constant(
        &format!("pool{n}"),
        Tensor::from_i64(vec![p, n64], &group.tokens),
    );
    let taken = c.inner(
        &format!("taken{n}"),
        Op::Gather(Gather { axis: 1 }),
        vec![Some(x), Some(table)],
    )?;
    let taken = c.inner(
        &format!("taken{n}_4d"),
        Op::Reshape(Reshape {
            shape: vec![b, windows, 1, n64],
        }),
        vec![Some(taken)],
    )?;
    let equal = c.inner(
        &format!("equal{n}"),
        Op::Binary(BinaryOp::Equal),
        vec![Some(taken), Some(grams)],
    )?;
    let reduce = |kind, axes: Vec<usize>| {
        Op::Reduce(Reduce {
            kind,
            axes,
            keepdims: false,
        })
    };
    let counts = if n == 1 {
        let ones = c.inner(
            "unigram_hits",
            Op::Cast(Cast { to: DType::F32 }),
            vec![Some(equal)],
        )?;
        c.inner(
            "counts1",
            reduce(ReduceKind::Sum, vec![1, 3]),
            vec![Some(ones)],
        )?
    } else {
        let bits = c.inner(
            &format!("equal{n}_u8"),
            Op::Cast(Cast { to: DType::U8 }),
            vec![Some(equal)],
        )?;
        let all = c.inner(
            &format!("match{n}"),
            reduce(ReduceKind::Min, vec![3]),
            vec![Some(bits)],
        )?;
        let hits = c.inner(
            &format!("hits{n}"),
            Op::Cast(Cast { to: DType::F32 }),
            vec![Some(all)],
        )?;
        c.inner(
            &format!("counts{n}"),
            reduce(ReduceKind::Sum, vec![1]),
            vec![Some(hits)],
        )?
    };
    Ok(Some(counts))
}

/// Moves the counts `[B, P]` of the n-grams with output `columns` to `[B, out]`.
fn to_columns(
    c: &mut NodeCtx<'_>,
    counts: ValueId,
    b: u64,
    columns: &[u64],
    out: u64,
) -> Result<ValueId, IrError> {
    let p = columns.len() as u64;
    let mut inverse = vec![p as i64; out as usize];
    let mut injective = true;
    for (k, &col) in columns.iter().enumerate() {
        match inverse.get_mut(col as usize) {
            Some(slot) if *slot == p as i64 => *slot = k as i64,
            _ => injective = false,
        }
    }
    if !injective {
        // Several n-grams share a column: sum them with a 0/1 matrix.
        let n = c.built_elements(&[p, out], 4)?;
        let mut m = vec![0.0f32; n as usize];
        for (k, &col) in columns.iter().enumerate() {
            if let Some(e) = m.get_mut(k * out as usize + col as usize) {
                *e += 1.0;
            }
        }
        let m = c.constant("to_columns", Tensor::from_f32(vec![p, out], &m));
        return c.inner("columns", Op::MatMul, vec![Some(counts), Some(m)]);
    }
    let zero = c.constant(
        "zero_column",
        Tensor::from_f32(vec![b, 1], &vec![0.0; b as usize]),
    );
    let padded = c.inner(
        "counts_padded",
        Op::Concat(Concat { axis: 1 }),
        vec![Some(counts), Some(zero)],
    )?;
    let inverse = c.constant("columns_index", Tensor::from_i64(vec![out], &inverse));
    c.inner(
        "columns",
        Op::Gather(Gather { axis: 1 }),
        vec![Some(padded), Some(inverse)],
    )
}

/// Applies the mode's weighting to the counts `[B, out]`.
fn weigh(
    c: &mut NodeCtx<'_>,
    y: ValueId,
    mode: Mode,
    weights: Option<&[f32]>,
    out: u64,
) -> Result<ValueId, IrError> {
    let w = weights.map(|w| {
        let w = w.get(..out as usize).unwrap_or(w);
        c.constant("weights", Tensor::from_f32(vec![out], w))
    });
    match (mode, w) {
        (Mode::Tf, _) | (Mode::TfIdf, None) => Ok(y),
        (Mode::TfIdf, Some(w)) => c.inner(
            "weighted",
            Op::Binary(BinaryOp::Mul),
            vec![Some(y), Some(w)],
        ),
        (Mode::Idf, w) => {
            let zero = c.constant("zero", Tensor::from_f32(vec![], &[0.0]));
            let w = match w {
                Some(w) => w,
                None => c.constant("one", Tensor::from_f32(vec![], &[1.0])),
            };
            let seen = c.inner(
                "seen",
                Op::Binary(BinaryOp::Greater),
                vec![Some(y), Some(zero)],
            )?;
            c.inner("idf", Op::Where, vec![Some(seen), Some(w), Some(zero)])
        }
    }
}
