//! Summary statistics shared by the measurement commands, so every figure they print
//! means the same thing.

/// The `q` quantile (0 to 1) of `values`, as the value at the rounded position
/// `q · (n − 1)` of the sorted values; 0 for no values.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_pick_the_rounded_position_of_the_sorted_values() {
        assert_eq!(percentile(&[5.0, 1.0, 3.0], 0.5), 3.0);
        assert_eq!(percentile(&[5.0, 1.0, 3.0], 0.99), 5.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
