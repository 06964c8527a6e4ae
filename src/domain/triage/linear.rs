//! One-vs-rest linear SVMs (squared hinge loss) trained by dual coordinate descent.
//!
//! Chosen because it reaches a good optimum in a handful of passes over sparse data, which
//! keeps start-up training fast. This module knows nothing about text or label names.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::features::SparseVec;

/// Solver settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvmOptions {
    /// Inverse regularisation strength: larger fits the training data more closely.
    pub c: f32,
    /// Upper bound on passes over the data for each class.
    pub max_epochs: usize,
    /// Stop when the projected-gradient spread falls below this.
    pub tolerance: f32,
    /// Worker threads for training classes in parallel.
    pub threads: usize,
    pub seed: u64,
}

impl Default for SvmOptions {
    fn default() -> Self {
        Self {
            c: 1.0,
            max_epochs: 30,
            tolerance: 0.1,
            threads: 2,
            seed: 7,
        }
    }
}

/// Weights stored feature-major (`weights[feature * n_classes + class]`) so scoring one
/// message touches a contiguous row per feature.
#[derive(Debug, Clone)]
pub(crate) struct LinearModel {
    n_classes: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl LinearModel {
    /// Raw decision values, one per class.
    pub(crate) fn scores(&self, x: &SparseVec) -> Vec<f32> {
        let mut out = self.bias.clone();
        for (&f, &v) in x.idx.iter().zip(&x.val) {
            let start = f as usize * self.n_classes;
            let row = &self.weights[start..start + self.n_classes];
            out.iter_mut().zip(row).for_each(|(o, w)| *o += w * v);
        }
        out
    }

    /// Weight of one feature for one class.
    pub(crate) fn weight(&self, feature: u32, class: usize) -> f32 {
        self.weights[feature as usize * self.n_classes + class]
    }

    /// Bytes held by the weight table, for memory reporting.
    pub(crate) fn heap_bytes(&self) -> usize {
        (self.weights.len() + self.bias.len()) * std::mem::size_of::<f32>()
    }
}

/// Trains one binary SVM per class and packs them into one model.
pub(crate) fn train_ovr(
    xs: &[SparseVec],
    ys: &[usize],
    n_classes: usize,
    n_features: usize,
    opts: &SvmOptions,
) -> LinearModel {
    let per_class = train_classes_in_parallel(xs, ys, n_classes, n_features, opts);
    let mut weights = vec![0.0_f32; n_features * n_classes];
    let mut bias = vec![0.0_f32; n_classes];
    for (class, (w, b)) in per_class.into_iter().enumerate() {
        bias[class] = b;
        for (f, value) in w.into_iter().enumerate() {
            weights[f * n_classes + class] = value;
        }
    }
    LinearModel {
        n_classes,
        weights,
        bias,
    }
}

type ClassWeights = (Vec<f32>, f32);

fn train_classes_in_parallel(
    xs: &[SparseVec],
    ys: &[usize],
    n_classes: usize,
    n_features: usize,
    opts: &SvmOptions,
) -> Vec<ClassWeights> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<ClassWeights>> = vec![None; n_classes];
    let chunks: Vec<Vec<(usize, ClassWeights)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..opts.threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let class = next.fetch_add(1, Ordering::Relaxed);
                        if class >= n_classes {
                            break done;
                        }
                        let signs: Vec<f32> = ys
                            .iter()
                            .map(|&y| if y == class { 1.0 } else { -1.0 })
                            .collect();
                        done.push((class, train_binary(xs, &signs, n_features, opts, class)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("training worker does not panic"))
            .collect()
    });
    for (class, cw) in chunks.into_iter().flatten() {
        results[class] = Some(cw);
    }
    results
        .into_iter()
        .map(|r| r.expect("every class is claimed by exactly one worker"))
        .collect()
}

/// Dual coordinate descent for the L2-regularised squared-hinge SVM, with a bias feature
/// of constant 1 and shrinking of examples that are safely outside the margin.
fn train_binary(
    xs: &[SparseVec],
    signs: &[f32],
    n_features: usize,
    opts: &SvmOptions,
    class: usize,
) -> ClassWeights {
    let diag = 0.5 / opts.c;
    let q_diag: Vec<f32> = xs.iter().map(|x| x.norm_sq() + 1.0 + diag).collect();
    let mut w = vec![0.0_f32; n_features];
    let mut bias = 0.0_f32;
    let mut alpha = vec![0.0_f32; xs.len()];
    let mut order: Vec<usize> = (0..xs.len()).collect();
    let mut rng = XorShift::new(opts.seed ^ (class as u64).wrapping_mul(0x9e37_79b9));
    let mut active = xs.len();
    let mut pg_max_old = f32::INFINITY;

    for _ in 0..opts.max_epochs {
        rng.shuffle(&mut order[..active]);
        let (mut pg_max, mut pg_min) = (f32::NEG_INFINITY, f32::INFINITY);
        let mut s = 0;
        while s < active {
            let i = order[s];
            let x = &xs[i];
            let margin = signs[i] * (dot(&w, x) + bias);
            let g = margin - 1.0 + alpha[i] * diag;
            // An example with zero weight whose gradient is past the last spread will not
            // become a support vector soon; drop it from this round.
            if alpha[i] == 0.0 && g > pg_max_old {
                active -= 1;
                order.swap(s, active);
                continue;
            }
            let pg = if alpha[i] == 0.0 { g.min(0.0) } else { g };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / q_diag[i]).max(0.0);
                let step = (alpha[i] - old) * signs[i];
                axpy(&mut w, step, x);
                bias += step;
            }
            s += 1;
        }
        if pg_max - pg_min <= opts.tolerance {
            if active == xs.len() {
                break;
            }
            // Converged on the shrunk set: check every example once more before stopping.
            active = xs.len();
            pg_max_old = f32::INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f32::INFINITY } else { pg_max };
    }
    (w, bias)
}

fn dot(w: &[f32], x: &SparseVec) -> f32 {
    x.idx
        .iter()
        .zip(&x.val)
        .map(|(&f, &v)| w[f as usize] * v)
        .sum()
}

fn axpy(w: &mut [f32], a: f32, x: &SparseVec) {
    for (&f, &v) in x.idx.iter().zip(&x.val) {
        w[f as usize] += a * v;
    }
}

/// Small deterministic generator so training is reproducible without a rand crate.
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(f: u32) -> SparseVec {
        SparseVec {
            idx: vec![f],
            val: vec![1.0],
        }
    }

    #[test]
    fn learns_a_separable_three_class_problem() {
        let xs: Vec<SparseVec> = (0..30).map(|i| one_hot(i % 3)).collect();
        let ys: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let model = train_ovr(&xs, &ys, 3, 3, &SvmOptions::default());
        for class in 0..3 {
            let s = model.scores(&one_hot(class as u32));
            let best = (0..3)
                .max_by(|&a, &b| s[a].total_cmp(&s[b]))
                .expect("three classes");
            assert_eq!(best, class, "scores {s:?}");
        }
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut items: Vec<u32> = (0..100).collect();
        XorShift::new(3).shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(items, sorted, "a shuffle of 100 items moves something");
    }
}
