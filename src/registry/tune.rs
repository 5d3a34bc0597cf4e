//! Choosing the reuse threshold from outcomes (`toolsmith tune threshold`, and the threshold
//! figures of `eval retrieval`).
//!
//! Each labelled request is searched again and becomes an [`Outcome`]: the score of the tool
//! that answered it (none when no right tool existed and one had to be written), and the best
//! score of any *other* tool. Reusing at threshold `t` is
//! - correct for a request whose right tool ranks first with a score ≥ `t`;
//! - wrong for a request whose right tool is absent while another clears `t`. Absence is both
//!   observed (a new tool had to be written) and simulated (every answered request, with its
//!   tool taken away: its best other tool), as in `eval retrieval`.
//!
//! The tuned threshold is the lowest on a 0.01 grid whose wrong-reuse rate is at most the stated
//! rate: correct reuse only falls as `t` rises, so the lowest such `t` reuses the most.

use serde::Serialize;

/// Wrong reuse allowed by default: a wrong tool answers wrongly without a word, so rarely.
pub const DEFAULT_MAX_WRONG_RATE: f64 = 0.05;
/// Requests answered by a tool needed before a tuned value replaces the default: with fewer,
/// one request moves the wrong-reuse rate by more than the step between grid points matters.
pub const MIN_ANSWERED: usize = 30;
/// The grid: thresholds from `GRID_LOW` to `GRID_HIGH` by 0.01.
const GRID_LOW: u32 = 30;
const GRID_HIGH: u32 = 95;

/// One labelled request, scored by the search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outcome {
    /// Score of the tool that answered it; `None` when no right tool existed (one was written).
    pub right: Option<f32>,
    /// Whether that tool ranked first.
    pub right_first: bool,
    /// The best score of any other tool (0 when there is none).
    pub best_other: f32,
}

/// One point of the curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub threshold: f32,
    /// Share of answered requests whose tool ranks first and clears the threshold.
    pub correct_reuse: f64,
    /// Share of requests without their right tool (observed or simulated) where another clears it.
    pub wrong_reuse: f64,
}

/// What tuning found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tuning {
    /// Requests answered by a tool, and requests for which one had to be written.
    pub answered: usize,
    pub synthesized: usize,
    pub max_wrong_rate: f64,
    /// The lowest threshold whose wrong reuse is at most `max_wrong_rate`; `None` when there is
    /// too little history ([`MIN_ANSWERED`]) or no grid point qualifies.
    pub threshold: Option<f32>,
    pub curve: Vec<CurvePoint>,
}

impl Tuning {
    /// The curve's point at the tuned threshold.
    pub fn chosen(&self) -> Option<&CurvePoint> {
        let t = self.threshold?;
        self.curve.iter().find(|p| (p.threshold - t).abs() < 1e-6)
    }
}

/// The grid threshold `i / 100`, as the scores are compared with it.
fn grid(i: u32) -> f32 {
    i as f32 / 100.0
}

/// Tune on `outcomes` (see the module documentation).
pub fn tune(outcomes: &[Outcome], max_wrong_rate: f64) -> Tuning {
    let answered: Vec<&Outcome> = outcomes.iter().filter(|o| o.right.is_some()).collect();
    let synthesized = outcomes.len() - answered.len();
    // Every request stands for one "right tool absent" case: observed, or simulated.
    let absent: Vec<f32> = outcomes.iter().map(|o| o.best_other).collect();
    let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    let curve: Vec<CurvePoint> = (GRID_LOW..=GRID_HIGH)
        .map(|i| {
            let t = grid(i);
            let correct = answered.iter().filter(|o| o.right_first && o.right.is_some_and(|s| s >= t)).count();
            let wrong = absent.iter().filter(|&&s| s >= t).count();
            CurvePoint {
                threshold: t,
                correct_reuse: share(correct, answered.len()),
                wrong_reuse: share(wrong, absent.len()),
            }
        })
        .collect();
    let threshold = (answered.len() >= MIN_ANSWERED)
        .then(|| curve.iter().find(|p| p.wrong_reuse <= max_wrong_rate).map(|p| p.threshold))
        .flatten();
    Tuning { answered: answered.len(), synthesized, max_wrong_rate, threshold, curve }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_little_history_keeps_the_default() {
        let few = vec![Outcome { right: Some(0.9), right_first: true, best_other: 0.2 }; MIN_ANSWERED - 1];
        let t = tune(&few, 0.05);
        assert_eq!((t.answered, t.threshold), (MIN_ANSWERED - 1, None));
        assert_eq!(t.curve.len(), 66);
    }
}
