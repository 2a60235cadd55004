//! Range observers: what calibration keeps of one activation, sample by sample, and the
//! `(lo, hi)` range chosen from it.
//!
//! Observers stream: nothing grows with the number of samples beyond what the method
//! needs, and two observers fed disjoint samples merge into exactly the observer fed all
//! of them, in any order (so calibration can run the samples on all cores and still give
//! the same ranges):
//!
//! - `minmax`: the extremes;
//! - `percentile`: the 0.01 % / 99.99 % quantiles, exact: the total count of values is
//!   known up front (samples × elements), so only the `k` smallest and `k` largest values
//!   are kept, `k` just above 0.01 % of the total (ResNet-50's largest activation over
//!   256 samples: 2 × 20 K values);
//! - `entropy`: a histogram of `|x|` in 4096 bins over `[0, 2^e)`, `e` the smallest
//!   power of two above the magnitudes seen; when a larger value arrives, pairs of bins
//!   merge (the bin edges are powers of two times the bin index, so the result does not
//!   depend on the order values arrived in), then TensorRT's KL-divergence threshold
//!   search runs on the bins up to the largest magnitude.

use super::Calibration;

/// Quantiles of the `percentile` method.
const LOW_QUANTILE: f64 = 0.0001;
const HIGH_QUANTILE: f64 = 0.9999;
/// Histogram bins of the `entropy` method over `[0, 2^e)`.
const HIST_BINS: usize = 4096;
/// Quantization levels of the KL search (TensorRT's 128 for the positive half).
const LEVELS: usize = 128;

/// What calibration keeps of one activation.
#[derive(Debug, Clone)]
pub(super) struct Observer {
    method: Calibration,
    min: f32,
    max: f32,
    /// Values seen.
    count: u64,
    /// Values the whole calibration will show this observer (samples × elements).
    total: u64,
    /// `percentile`: the `keep` smallest and largest values seen.
    low: Vec<f32>,
    high: Vec<f32>,
    /// `entropy`: counts of `|x|` per bin of width `2^exp / HIST_BINS` (`None` until a
    /// non-zero value is seen), and zeros seen before then.
    hist: Vec<f64>,
    exp: Option<i32>,
    zeros: f64,
}

impl Observer {
    /// An observer for `total` values in all (`samples × elements`).
    pub(super) fn new(method: Calibration, total: u64) -> Observer {
        Observer {
            method,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            count: 0,
            total,
            low: Vec::new(),
            high: Vec::new(),
            hist: Vec::new(),
            exp: None,
            zeros: 0.0,
        }
    }

    /// Values of each tail the percentile method needs: enough for the quantile index
    /// of `total` values, plus one.
    fn keep(&self) -> usize {
        let n = self.total.max(1) as f64;
        let lo = ((n - 1.0) * LOW_QUANTILE).round();
        let hi = n - 1.0 - ((n - 1.0) * HIGH_QUANTILE).round();
        lo.max(hi) as usize + 2
    }

    /// Observes one sample's values.
    pub(super) fn add(&mut self, v: &[f32]) {
        let (lo, hi) = extremes(v);
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        self.count += v.len() as u64;
        match self.method {
            Calibration::MinMax => {}
            Calibration::Percentile => {
                // Only values that can still be among the k extremes: at or beyond the
                // k-th kept one (once k are kept); after the first samples, few are.
                let k = self.keep();
                let full = |t: &[f32]| t.len() >= k;
                let lo_bound = if full(&self.low) {
                    self.low.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                } else {
                    f32::INFINITY
                };
                let hi_bound = if full(&self.high) {
                    self.high.iter().copied().fold(f32::INFINITY, f32::min)
                } else {
                    f32::NEG_INFINITY
                };
                let low: Vec<f32> = v.iter().copied().filter(|&x| x <= lo_bound).collect();
                let high: Vec<f32> = v.iter().copied().filter(|&x| x >= hi_bound).collect();
                self.low.extend(smallest(low, k));
                self.high.extend(largest(high, k));
                self.trim();
            }
            Calibration::Entropy => {
                let amax = lo.abs().max(hi.abs());
                if amax == 0.0 {
                    self.zeros += v.len() as f64;
                    return;
                }
                self.grow(exponent_above(amax));
                let Some(e) = self.exp else { return };
                // |x| · 2^(12 − e) is exact in f32 (a power-of-two scale below 4096).
                // Four interleaved u32 histograms, so that runs of one bin do not chain
                // their increments through memory.
                let per = 2f32.powi(HIST_BINS.trailing_zeros() as i32 - e);
                let mut counts = vec![[0u32; 4]; HIST_BINS];
                let bin = |x: f32| ((x.abs() * per) as usize).min(HIST_BINS - 1);
                let chunks = v.chunks_exact(4);
                for &x in chunks.remainder() {
                    counts[bin(x)][0] += 1;
                }
                for c in chunks {
                    counts[bin(c[0])][0] += 1;
                    counts[bin(c[1])][1] += 1;
                    counts[bin(c[2])][2] += 1;
                    counts[bin(c[3])][3] += 1;
                }
                for (h, c) in self.hist.iter_mut().zip(&counts) {
                    *h += c.iter().map(|&n| f64::from(n)).sum::<f64>();
                }
            }
        }
    }

    /// Keeps the k smallest and k largest (the bounds above read the k-th).
    fn trim(&mut self) {
        let k = self.keep();
        if self.low.len() > k {
            self.low = smallest(std::mem::take(&mut self.low), k);
        }
        if self.high.len() > k {
            self.high = largest(std::mem::take(&mut self.high), k);
        }
    }

    /// Widens the histogram to `[0, 2^e)` (no-op if it is that wide already).
    fn grow(&mut self, e: i32) {
        match self.exp {
            None => {
                self.hist = vec![0.0; HIST_BINS];
                self.exp = Some(e);
            }
            Some(old) if old < e => {
                for _ in old..e {
                    for i in 0..HIST_BINS / 2 {
                        self.hist[i] = self.hist[2 * i] + self.hist[2 * i + 1];
                    }
                    self.hist[HIST_BINS / 2..].fill(0.0);
                }
                self.exp = Some(e);
            }
            Some(_) => {}
        }
    }

    /// Folds `other` (fed other samples) into `self`.
    pub(super) fn merge(&mut self, mut other: Observer) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.low.append(&mut other.low);
        self.high.append(&mut other.high);
        self.trim();
        self.zeros += other.zeros;
        if let Some(e) = other.exp {
            let e = e.max(self.exp.unwrap_or(e));
            self.grow(e);
            other.grow(e);
            for (a, b) in self.hist.iter_mut().zip(&other.hist) {
                *a += b;
            }
        }
    }

    /// The `(lo, hi)` range to quantize to, containing 0.
    pub(super) fn range(&self) -> (f32, f32) {
        if self.count == 0 {
            return (0.0, 0.0);
        }
        let (lo, hi) = match self.method {
            Calibration::MinMax => (self.min, self.max),
            Calibration::Percentile => {
                // Rank i of the sorted values, as `sorted[round((n - 1) · p)]`.
                let n = self.count as f64;
                let lo_rank = ((n - 1.0) * LOW_QUANTILE).round() as usize;
                let hi_rank =
                    self.count as usize - 1 - ((n - 1.0) * HIGH_QUANTILE).round() as usize;
                let mut low = self.low.clone();
                low.sort_by(f32::total_cmp);
                let mut high = self.high.clone();
                high.sort_by(|a, b| b.total_cmp(a));
                let at = |v: &[f32], i: usize| v.get(i.min(v.len().saturating_sub(1))).copied();
                (
                    at(&low, lo_rank).unwrap_or(self.min),
                    at(&high, hi_rank).unwrap_or(self.max),
                )
            }
            Calibration::Entropy => self.entropy_range(),
        };
        (lo.min(0.0), hi.max(0.0))
    }

    /// TensorRT-style KL calibration on the magnitude histogram: the clipping threshold
    /// whose 128-level quantization of the clipped distribution diverges least from it.
    fn entropy_range(&self) -> (f32, f32) {
        let amax = self.min.abs().max(self.max.abs());
        let Some(e) = self.exp else {
            return (self.min, self.max);
        };
        let width = 2f64.powi(e) / HIST_BINS as f64;
        let used = ((f64::from(amax) / width) as usize + 1).min(HIST_BINS);
        let mut hist = self.hist[..used].to_vec();
        hist[0] += self.zeros;
        let mut best = (f64::INFINITY, used);
        let mut candidates: Vec<usize> = (LEVELS..used).step_by(16).collect();
        candidates.push(used);
        for i in candidates {
            let kl = kl_divergence(&hist, i);
            if kl < best.0 {
                best = (kl, i);
            }
        }
        let t = (best.1 as f64 * width) as f32;
        (self.min.max(-t), self.max.min(t))
    }
}

/// KL divergence between `hist` clipped at bin `i` (the tail folded into bin `i − 1`)
/// and its quantization to 128 levels (each level's count spread over its non-empty
/// bins).
fn kl_divergence(hist: &[f64], i: usize) -> f64 {
    let mut p: Vec<f64> = hist[..i].to_vec();
    p[i - 1] += hist[i..].iter().sum::<f64>();
    let mut q = vec![0f64; i];
    let per = i as f64 / LEVELS as f64;
    for j in 0..LEVELS {
        let (a, b) = (
            (j as f64 * per) as usize,
            (((j + 1) as f64 * per) as usize).min(i),
        );
        let total: f64 = hist[a..b].iter().sum();
        let nonzero = hist[a..b].iter().filter(|&&h| h > 0.0).count();
        for k in a..b {
            if hist[k] > 0.0 {
                q[k] = total / nonzero as f64;
            }
        }
    }
    let (ps, qs) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    p.iter()
        .zip(&q)
        .filter(|(a, _)| **a > 0.0)
        .map(|(a, b)| {
            let (a, b) = (a / ps, (b / qs).max(1e-12));
            a * (a / b).ln()
        })
        .sum()
}

/// (min, max) of `v`, NaN ignored, in 16 lanes (compare-and-select vectorizes; the
/// sequential `f32::min` fold does not, and every observed value passes here).
fn extremes(v: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = ([f32::INFINITY; 16], [f32::NEG_INFINITY; 16]);
    let chunks = v.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..16 {
            lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
            hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
        }
    }
    let (mut l, mut h) = (f32::INFINITY, f32::NEG_INFINITY);
    for &x in lo.iter().chain(rest) {
        l = l.min(x);
    }
    for &x in hi.iter().chain(rest) {
        h = h.max(x);
    }
    (l, h)
}

/// The smallest `e` with `a < 2^e` (`a > 0`, finite).
fn exponent_above(a: f32) -> i32 {
    let mut e = a.log2().floor() as i32;
    while f64::from(a) >= 2f64.powi(e) {
        e += 1;
    }
    while e > -149 && f64::from(a) < 2f64.powi(e - 1) {
        e -= 1;
    }
    e
}

/// The `k` smallest of `v` (all of `v` when it has at most `k`), in no order.
fn smallest(mut v: Vec<f32>, k: usize) -> Vec<f32> {
    if v.len() > k {
        v.select_nth_unstable_by(k, f32::total_cmp);
        v.truncate(k);
    }
    v
}

/// The `k` largest of `v`, in no order.
fn largest(mut v: Vec<f32>, k: usize) -> Vec<f32> {
    if v.len() > k {
        v.select_nth_unstable_by(k, |a, b| b.total_cmp(a));
        v.truncate(k);
    }
    v
}

/// u8 asymmetric (scale, zero point) for `range`.
pub(super) fn qparams((lo, hi): (f32, f32)) -> (f32, f32) {
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zp = (-lo / scale).round().clamp(0.0, 255.0);
    (scale, zp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed pseudo-random sequence in [-4, 12).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 * 16.0 - 4.0
            })
            .collect()
    }

    /// The percentile observer's tails give exactly the quantiles of all values sorted,
    /// and observers fed halves merge into the one fed everything, for every method.
    #[test]
    fn observers_are_exact_and_merge_in_any_order() {
        let samples: Vec<Vec<f32>> = (0..40).map(|i| values(5000, i + 1)).collect();
        let total = 40 * 5000;
        let mut all: Vec<f32> = samples.concat();
        all.sort_by(f32::total_cmp);
        let q = |p: f64| all[((all.len() - 1) as f64 * p).round() as usize];
        for method in [
            Calibration::MinMax,
            Calibration::Percentile,
            Calibration::Entropy,
        ] {
            let mut one = Observer::new(method, total);
            for s in &samples {
                one.add(s);
            }
            let (mut a, mut b) = (Observer::new(method, total), Observer::new(method, total));
            for (i, s) in samples.iter().enumerate().rev() {
                if i % 3 == 0 {
                    a.add(s)
                } else {
                    b.add(s)
                }
            }
            b.merge(a);
            assert_eq!(one.range(), b.range(), "{method:?}");
            if method == Calibration::Percentile {
                assert_eq!(one.range(), (q(LOW_QUANTILE), q(HIGH_QUANTILE)));
                assert!(one.low.len() == one.keep() && one.keep() < 30);
            }
        }
        // Entropy: a histogram widened pair by pair equals one built at the final width.
        let mut narrow = Observer::new(Calibration::Entropy, 0);
        narrow.add(&[0.1, -0.3]);
        narrow.add(&[7.5, 0.0]);
        let mut wide = Observer::new(Calibration::Entropy, 0);
        wide.add(&[7.5, 0.0, 0.1, -0.3]);
        assert_eq!((narrow.hist, narrow.exp), (wide.hist, wide.exp));
    }

    #[test]
    fn ranges_contain_zero() {
        let mut o = Observer::new(Calibration::MinMax, 2);
        o.add(&[1.0, 2.5]);
        assert_eq!(o.range(), (0.0, 2.5));
        assert_eq!(qparams((0.0, 2.55)), (0.01, 0.0));
        assert_eq!(qparams((-1.0, 1.55)), (0.01, 100.0));
        assert_eq!(exponent_above(1.0), 1);
        let v: Vec<f32> = (0..37).map(|i| (i as f32 - 20.0) * 0.5).collect();
        assert_eq!(extremes(&v), (-10.0, 8.0));
        assert_eq!(extremes(&[f32::NAN, 2.0]), (2.0, 2.0));
        assert_eq!(exponent_above(0.75), 0);
    }
}
