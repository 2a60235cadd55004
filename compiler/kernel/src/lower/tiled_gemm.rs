//! The register-tiled matrix product under Conv, Gemm and MatMul.
//!
//! `C[M,N] = A[M,K] · B[K,N]` for `batch` independent problems, with B and C contiguous
//! along N. The output is cut into tiles of [`MR`] rows × [`NR`] columns; one tile's
//! accumulators are `MR × NR/16` vector variables of 16 lanes, which the backend keeps
//! in registers for the whole K loop. Each step of that loop loads two vectors of a B
//! row and, for every tile row, broadcasts one A element into two fused multiply-adds:
//! 12 FMAs per 2 vector loads and 6 scalar loads, which keeps the FMA units busy
//! instead of the load ports (a row-at-a-time product does one FMA per load and
//! store). LLVM folds the broadcasts into the FMAs' memory operands.
//!
//! Work order: tiles are grouped into column blocks of [`TILES_PER_BLOCK`]; the parallel
//! loop runs over (batch, column block, row panel), so consecutive iterations (one
//! task's chunk) reuse the same B block from cache while A panels stream. Edges are
//! separate tiles with compile-time sizes: leftover rows use a shorter tile, leftover
//! columns a tile whose vectors are 8, 4 or 1 lanes wide — no masks and no bounds checks.
//! After the K loop a tile is stored, then `finish` (bias, scale, fused epilogue) is
//! applied to it while it is in L1.
//!
//! The tile shape is sized for AVX-512 (12 accumulators of 32 registers). On AVX2, LLVM
//! splits each 16-lane vector in two, so the tile needs 24 of 16 registers and spills;
//! the AVX2 variant is correct but slower than it could be (see docs/performance.md).

use crate::builder::KernelBuilder;
use crate::expr::Expr;
use crate::kernel::{BufId, LoopKind, ScalarType, VarId};

/// Rows of a register tile.
pub(crate) const MR: i64 = 6;
/// Lanes of one accumulator vector.
pub(crate) const LANES: u32 = 16;
/// Columns of a register tile (two vectors).
pub(crate) const NR: i64 = 2 * LANES as i64;
/// Column tiles per block of the parallel schedule: 8 × 32 columns of B stay in cache
/// while every row panel passes over them.
const TILES_PER_BLOCK: i64 = 8;

/// `(batch, row or k) → element index` of the first column of that row.
pub(crate) type RowIndex<'a> = &'a dyn Fn(&Expr, Expr) -> Expr;
/// `(batch, row, k) → element index` of `A[row, k]`.
pub(crate) type AIndex<'a> = &'a dyn Fn(&Expr, Expr, Expr) -> Expr;
/// `(builder, batch, row, column, value) → final value` of one output element.
pub(crate) type Finish<'a> = &'a dyn Fn(&mut KernelBuilder, &Expr, Expr, Expr, Expr) -> Expr;

/// One batched product and where its operands live.
pub(crate) struct TiledGemm<'a> {
    pub batch: i64,
    pub m: i64,
    pub n: i64,
    pub k: i64,
    pub a: BufId,
    pub a_at: AIndex<'a>,
    pub b: BufId,
    /// Index of `B[k, 0]`; `B[k, j]` is at that index + `j`.
    pub b_row: RowIndex<'a>,
    pub c: BufId,
    /// Index of `C[row, 0]`; `C[row, j]` is at that index + `j`.
    pub c_row: RowIndex<'a>,
    /// Applied to every finished element, if present.
    pub finish: Option<Finish<'a>>,
}

/// Vector widths that cover `n` columns exactly: 16s, then at most one 8, one 4, and
/// single lanes.
pub(crate) fn split_widths(mut n: i64) -> Vec<u32> {
    let mut w = Vec::new();
    for lanes in [16u32, 8, 4, 1] {
        while n >= i64::from(lanes) {
            w.push(lanes);
            n -= i64::from(lanes);
            if lanes == 8 || lanes == 4 {
                break;
            }
        }
    }
    w
}

impl TiledGemm<'_> {
    /// Emits the whole product as top-level parallel loops (they write disjoint tiles).
    pub fn emit(&self, b: &mut KernelBuilder) {
        let (full_rows, row_tail) = (self.m / MR, self.m % MR);
        let (full_cols, col_tail) = (self.n / NR, self.n % NR);
        let main = [LANES, LANES];
        let tail = split_widths(col_tail);
        let blocks = (full_cols + TILES_PER_BLOCK - 1) / TILES_PER_BLOCK;
        if full_rows > 0 && full_cols > 0 {
            let per_batch = blocks * full_rows;
            b.for_loop(
                "t",
                0,
                self.batch * per_batch,
                LoopKind::Parallel,
                |b, t| {
                    let bi = t.clone() / Expr::i64(per_batch);
                    let r = t % Expr::i64(per_batch);
                    let block = r.clone() / Expr::i64(full_rows);
                    let panel = r % Expr::i64(full_rows);
                    let first = block * Expr::i64(TILES_PER_BLOCK);
                    let last =
                        (first.clone() + Expr::i64(TILES_PER_BLOCK)).min(Expr::i64(full_cols));
                    b.for_loop("ct", first, last, LoopKind::Serial, |b, ct| {
                        let row0 = panel.clone() * Expr::i64(MR);
                        self.tile(b, &bi, row0, MR, ct * Expr::i64(NR), &main);
                    });
                },
            );
        }
        if full_rows > 0 && !tail.is_empty() {
            b.for_loop(
                "t",
                0,
                self.batch * full_rows,
                LoopKind::Parallel,
                |b, t| {
                    let bi = t.clone() / Expr::i64(full_rows);
                    let row0 = (t % Expr::i64(full_rows)) * Expr::i64(MR);
                    self.tile(b, &bi, row0, MR, Expr::i64(full_cols * NR), &tail);
                },
            );
        }
        if row_tail > 0 && full_cols > 0 {
            b.for_loop(
                "t",
                0,
                self.batch * full_cols,
                LoopKind::Parallel,
                |b, t| {
                    let bi = t.clone() / Expr::i64(full_cols);
                    let col0 = (t % Expr::i64(full_cols)) * Expr::i64(NR);
                    self.tile(b, &bi, Expr::i64(full_rows * MR), row_tail, col0, &main);
                },
            );
        }
        if row_tail > 0 && !tail.is_empty() {
            b.for_loop("t", 0, self.batch, LoopKind::Parallel, |b, bi| {
                let (row0, col0) = (Expr::i64(full_rows * MR), Expr::i64(full_cols * NR));
                self.tile(b, &bi, row0, row_tail, col0, &tail);
            });
        }
    }

    /// One `rows × sum(widths)` tile at (`row0`, `col0`) of batch `bi`.
    fn tile(
        &self,
        b: &mut KernelBuilder,
        bi: &Expr,
        row0: Expr,
        rows: i64,
        col0: Expr,
        widths: &[u32],
    ) {
        let f32t = ScalarType::F32;
        let vector = |lanes: u32, scalar: Expr| {
            if lanes == 1 {
                scalar
            } else {
                Expr::splat(scalar, lanes)
            }
        };
        let offsets: Vec<i64> = widths
            .iter()
            .scan(0i64, |o, &w| {
                let at = *o;
                *o += i64::from(w);
                Some(at)
            })
            .collect();
        let acc: Vec<Vec<VarId>> = (0..rows)
            .map(|i| {
                widths
                    .iter()
                    .enumerate()
                    .map(|(j, &w)| b.vector_var(format!("acc{i}_{j}"), f32t, w))
                    .collect()
            })
            .collect();
        for row in &acc {
            for (&v, &w) in row.iter().zip(widths) {
                b.assign(v, vector(w, Expr::f32(0.0)));
            }
        }
        let bv: Vec<VarId> = widths
            .iter()
            .enumerate()
            .map(|(j, &w)| b.vector_var(format!("b{j}"), f32t, w))
            .collect();
        let av = b.var("a", f32t);
        b.for_loop("k", 0, self.k, LoopKind::Serial, |b, kk| {
            let brow = (self.b_row)(bi, kk.clone()) + col0.clone();
            for ((&v, &w), &off) in bv.iter().zip(widths).zip(&offsets) {
                let at = brow.clone() + Expr::i64(off);
                let load = if w == 1 {
                    Expr::load(self.b, at)
                } else {
                    Expr::vload(self.b, at, w)
                };
                b.assign(v, load);
            }
            for (i, row) in acc.iter().enumerate() {
                let r = row0.clone() + Expr::i64(i as i64);
                b.assign(av, Expr::load(self.a, (self.a_at)(bi, r, kk.clone())));
                for ((&acc_v, &bvar), &w) in row.iter().zip(&bv).zip(widths) {
                    let sum =
                        Expr::fma(vector(w, Expr::var(av)), Expr::var(bvar), Expr::var(acc_v));
                    b.assign(acc_v, sum);
                }
            }
        });
        let cols: i64 = offsets
            .last()
            .map_or(0, |o| o + i64::from(*widths.last().unwrap_or(&0)));
        for (i, row) in acc.iter().enumerate() {
            let crow = (self.c_row)(bi, row0.clone() + Expr::i64(i as i64)) + col0.clone();
            for (&v, &off) in row.iter().zip(&offsets) {
                b.store(self.c, crow.clone() + Expr::i64(off), Expr::var(v));
            }
        }
        if let Some(finish) = self.finish {
            for i in 0..rows {
                let r = row0.clone() + Expr::i64(i);
                let crow = (self.c_row)(bi, r.clone()) + col0.clone();
                b.for_loop("j", 0, cols, LoopKind::Vectorize, |b, j| {
                    let at = crow.clone() + j.clone();
                    let v = finish(
                        b,
                        bi,
                        r.clone(),
                        col0.clone() + j,
                        Expr::load(self.c, at.clone()),
                    );
                    b.store(self.c, at, v);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_widths;

    #[test]
    fn widths_cover_every_tail_exactly() {
        for n in 0..64 {
            let w = split_widths(n);
            assert_eq!(
                w.iter().map(|&x| i64::from(x)).sum::<i64>(),
                n,
                "{n}: {w:?}"
            );
            assert!(w.iter().filter(|&&x| x == 1).count() <= 3, "{n}: {w:?}");
        }
    }
}
