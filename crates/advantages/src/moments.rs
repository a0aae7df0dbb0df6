//! Masked moments over the valid tokens of a padded `[n, width]` array: the statistics that
//! whitening and [`crate::AdvantageStats`] need, accumulated in f64.

/// Count, sum, sum of squares, min and max of a set of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Moments {
    pub count: usize,
    pub sum: f64,
    pub sum_sq: f64,
    pub min: f64,
    pub max: f64,
}

impl Moments {
    /// Moments of the valid tokens (`t < lengths[i]`) of a row-major `[lengths.len(), width]` array.
    pub fn of_valid(flat: &[f32], width: usize, lengths: &[usize]) -> Self {
        let mut total = Moments {
            count: 0,
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        };
        for (i, &length) in lengths.iter().enumerate() {
            let row = &flat[i * width..i * width + length];
            let (sum, sum_sq, min, max) = row_moments(row);
            total.count += length;
            total.sum += sum;
            total.sum_sq += sum_sq;
            total.min = total.min.min(min);
            total.max = total.max.max(max);
        }
        total
    }

    /// Mean (0 for an empty set).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// Unbiased variance `Σ(x − mean)² / (count − 1)` (0 for fewer than two values).
    pub fn unbiased_var(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let n = self.count as f64;
        ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0)
    }

    /// True when every accumulated value was finite.
    pub fn is_finite(&self) -> bool {
        self.sum.is_finite() && self.sum_sq.is_finite()
    }
}

/// Sum, sum of squares, min and max of one row, in eight independent lanes so the compiler can
/// vectorise the loop (a single f64 accumulator would be bound by the add latency). Min and max
/// use plain comparisons (NaN never wins); a NaN still shows in the sum.
fn row_moments(row: &[f32]) -> (f64, f64, f64, f64) {
    const LANES: usize = 8;
    let mut sum = [0.0f64; LANES];
    let mut sum_sq = [0.0f64; LANES];
    let mut min = [f64::INFINITY; LANES];
    let mut max = [f64::NEG_INFINITY; LANES];
    let mut add = |k: usize, x: f32| {
        let x = f64::from(x);
        sum[k] += x;
        sum_sq[k] += x * x;
        min[k] = if x < min[k] { x } else { min[k] };
        max[k] = if x > max[k] { x } else { max[k] };
    };
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (k, &x) in chunk.iter().enumerate() {
            add(k, x);
        }
    }
    for (k, &x) in tail.iter().enumerate() {
        add(k, x);
    }
    (
        sum.iter().sum(),
        sum_sq.iter().sum(),
        min.iter().copied().fold(f64::INFINITY, f64::min),
        max.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_ignore_padding() {
        // rows [1, 2, 3 | pad 100] and [4 | pad 100 100 100]
        let flat = [1.0, 2.0, 3.0, 100.0, 4.0, 100.0, 100.0, 100.0];
        let m = Moments::of_valid(&flat, 4, &[3, 1]);
        assert_eq!(m.count, 4);
        assert_eq!(m.sum, 10.0);
        assert_eq!(m.sum_sq, 30.0);
        assert_eq!((m.min, m.max), (1.0, 4.0));
        assert_eq!(m.mean(), 2.5);
        // Σ(x − 2.5)² = 2.25 + 0.25 + 0.25 + 2.25 = 5, / 3
        assert!((m.unbiased_var() - 5.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn long_rows_use_all_lanes() {
        let row: Vec<f32> = (0..21).map(|k| k as f32).collect();
        let m = Moments::of_valid(&row, 21, &[21]);
        assert_eq!(m.sum, 210.0);
        assert_eq!(m.sum_sq, (0..21).map(|k| (k * k) as f64).sum::<f64>());
        assert_eq!((m.min, m.max), (0.0, 20.0));
    }
}
