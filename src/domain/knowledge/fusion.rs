//! Reciprocal rank fusion: one ranking out of several, such as the sparse and the
//! dense search over the same chunks.
//!
//! Each list gives a result `1 / (k + rank)`, rank counting from 1, and a result's
//! fused score is the sum over the lists it appears in. Only ranks matter, so lists
//! whose scores are on different scales (BM25 and cosine) combine without tuning.
//! Every result keeps each list's rank and score, so an answer can say why a passage
//! was chosen. The order is total and deterministic: equal scores never depend on the
//! order of a hash map or of the input lists.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The usual smoothing constant: large enough that the first few ranks of one list
/// do not drown out agreement between lists.
pub const DEFAULT_RRF_K: f64 = 60.0;

/// One search's results, best first.
#[derive(Debug, Clone, Copy)]
pub struct RankedList<'a, Id> {
    /// Names the list in explanations, such as "sparse" or "dense".
    pub name: &'a str,
    /// `(point id, score)` pairs in rank order; the scores are only reported.
    pub hits: &'a [(Id, f32)],
    /// How much a place in this list counts: each result gets `weight / (k + rank)`.
    pub weight: f64,
}

/// Where one list placed a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub list: String,
    /// Position in that list, counting from 1.
    pub rank: usize,
    /// The score that list gave.
    pub score: f32,
    /// The list's weight in the fusion.
    pub weight: f64,
}

/// A result of the fused ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fused<Id> {
    pub id: Id,
    /// Sum of `1 / (k + rank)` over the lists the result appears in.
    pub score: f64,
    /// One entry per list that has the result, in the order the lists were given.
    pub contributions: Vec<Contribution>,
}

impl<Id> Fused<Id> {
    fn best_rank(&self) -> usize {
        self.contributions
            .iter()
            .map(|c| c.rank)
            .min()
            .unwrap_or(usize::MAX)
    }
}

/// Fuses ranked lists, best first. Ties in score go to the result with the better
/// single rank, then to the smaller id. A result listed twice in one list counts at
/// its first place only. A `k` that is negative or not finite is replaced by
/// [`DEFAULT_RRF_K`], since it could divide by zero.
pub fn reciprocal_rank_fusion<Id: Clone + Ord>(
    lists: &[RankedList<'_, Id>],
    k: f64,
) -> Vec<Fused<Id>> {
    let k = if k.is_finite() && k >= 0.0 {
        k
    } else {
        DEFAULT_RRF_K
    };
    let mut fused: BTreeMap<Id, Fused<Id>> = BTreeMap::new();
    for list in lists {
        add_list(&mut fused, list);
    }

    let mut ranked: Vec<Fused<Id>> = fused.into_values().collect();
    for result in &mut ranked {
        result.score = fused_score(&result.contributions, k);
    }
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.best_rank().cmp(&b.best_rank()))
            .then_with(|| a.id.cmp(&b.id))
    });
    ranked
}

/// Sums the weighted reciprocal ranks smallest first, so the sum, and with it every tie, is
/// the same whatever order the lists came in.
fn fused_score(contributions: &[Contribution], k: f64) -> f64 {
    let mut parts: Vec<f64> = (contributions.iter())
        .map(|c| c.weight / (k + c.rank as f64))
        .collect();
    parts.sort_unstable_by(f64::total_cmp);
    parts.iter().sum()
}

fn add_list<Id: Clone + Ord>(fused: &mut BTreeMap<Id, Fused<Id>>, list: &RankedList<'_, Id>) {
    let mut seen = BTreeSet::new();
    for (position, (id, score)) in list.hits.iter().enumerate() {
        if !seen.insert(id) {
            continue;
        }
        let rank = position + 1;
        let entry = fused.entry(id.clone()).or_insert_with(|| Fused {
            id: id.clone(),
            score: 0.0,
            contributions: Vec::new(),
        });
        entry.contributions.push(Contribution {
            list: list.name.to_owned(),
            rank,
            score: *score,
            weight: list.weight,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(fused: &[Fused<&'static str>]) -> Vec<&'static str> {
        fused.iter().map(|f| f.id).collect()
    }

    #[test]
    fn agreement_between_lists_ranks_first() {
        let dense = [("a", 0.91), ("b", 0.88), ("c", 0.80)];
        let sparse = [("c", 12.0), ("a", 9.5), ("d", 7.0)];
        let lists = [
            RankedList {
                name: "dense",
                hits: &dense,
                weight: 1.0,
            },
            RankedList {
                name: "sparse",
                hits: &sparse,
                weight: 1.0,
            },
        ];
        let fused = reciprocal_rank_fusion(&lists, DEFAULT_RRF_K);
        assert_eq!(order(&fused), ["a", "c", "b", "d"]);
        assert!((fused[0].score - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12);
        assert_eq!(
            fused[0].contributions,
            [
                Contribution {
                    list: "dense".into(),
                    rank: 1,
                    score: 0.91,
                    weight: 1.0,
                },
                Contribution {
                    list: "sparse".into(),
                    rank: 2,
                    score: 9.5,
                    weight: 1.0,
                },
            ]
        );
        assert_eq!(fused[3].contributions.len(), 1);
    }

    #[test]
    fn ties_break_by_best_rank_then_id() {
        type Hits = &'static [(&'static str, f32)];
        let cases: [(Hits, Hits, &[&str]); 3] = [
            (
                &[("y", 1.0), ("x", 0.5)],
                &[("x", 1.0), ("y", 0.5)],
                &["x", "y"],
            ),
            (&[("q", 1.0)], &[("p", 1.0)], &["p", "q"]),
            (&[], &[("m", 1.0), ("n", 0.9)], &["m", "n"]),
        ];
        for (first, second, expected) in cases {
            let lists = [
                RankedList {
                    name: "one",
                    hits: first,
                    weight: 1.0,
                },
                RankedList {
                    name: "two",
                    hits: second,
                    weight: 1.0,
                },
            ];
            let fused = reciprocal_rank_fusion(&lists, DEFAULT_RRF_K);
            assert_eq!(order(&fused), expected, "case {first:?} {second:?}");
            let swapped = [lists[1], lists[0]];
            let fused = reciprocal_rank_fusion(&swapped, DEFAULT_RRF_K);
            assert_eq!(order(&fused), expected, "swapped {first:?} {second:?}");
        }
    }

    #[test]
    fn a_result_repeated_in_one_list_counts_once() {
        let hits = [(1u64, 0.9), (2, 0.8), (1, 0.7)];
        let fused = reciprocal_rank_fusion(
            &[RankedList {
                name: "dense",
                hits: &hits,
                weight: 1.0,
            }],
            60.0,
        );
        assert_eq!(fused.len(), 2);
        assert_eq!(fused[0].contributions.len(), 1);
        assert!((fused[0].score - 1.0 / 61.0).abs() < 1e-12);
    }

    #[test]
    fn a_smaller_k_favours_the_top_ranks() {
        let one = [("a", 1.0), ("b", 0.9), ("c", 0.8), ("d", 0.7)];
        let two = [("d", 1.0), ("b", 0.9)];
        let lists = [
            RankedList {
                name: "one",
                hits: &one[..],
                weight: 1.0,
            },
            RankedList {
                name: "two",
                hits: &two[..],
                weight: 1.0,
            },
        ];
        // With k = 0 a first place outweighs everything (a and b tie at 1, and a's
        // better rank breaks it); with k = 60 b's two second places come first.
        let at = |k| order(&reciprocal_rank_fusion(&lists, k));
        assert_eq!(at(0.0), ["d", "a", "b", "c"]);
        assert_eq!(at(60.0), ["b", "d", "a", "c"]);
    }

    #[test]
    fn an_unusable_k_falls_back_to_the_default() {
        let hits = [("a", 1.0)];
        let lists = [RankedList {
            name: "dense",
            hits: &hits[..],
            weight: 1.0,
        }];
        for k in [-1.0, f64::NAN, f64::INFINITY] {
            let fused = reciprocal_rank_fusion(&lists, k);
            assert!((fused[0].score - 1.0 / 61.0).abs() < 1e-12, "case {k}");
        }
        assert!(reciprocal_rank_fusion::<&str>(&[], 60.0).is_empty());
    }
}
