//! The partition planner from the user's notes: enough partitions for the producers' rate
//! given what one consumer keeps up with, at least two per broker, rounded up to a power of
//! two; and partitions can be added later but never removed.

use serde::Serialize;

/// A partition count and how it was reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// P: what the producers write, in any unit per second.
    pub producer_rate: f64,
    /// C: what one consumer reads, in the same unit.
    pub consumer_rate: f64,
    /// B: brokers in the cluster.
    pub broker_count: u32,
    /// ceil(P / C): partitions needed so each consumer keeps up.
    pub throughput_floor: u64,
    /// 2 x B: partitions that spread the load over every broker.
    pub broker_spread: u64,
    /// The larger of the two.
    pub needed: u64,
    /// `needed` rounded up to a power of two: the recommendation.
    pub partitions: u64,
    /// How many times P the recommended partitions can absorb (partitions x C / P).
    pub headroom: f64,
}

/// Why no plan can be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// A rate that is not a positive number.
    #[error("{0} must be a positive number of records (or bytes) per second, got {1}")]
    BadRate(&'static str, f64),
    /// No brokers.
    #[error("--broker-count must be at least 1")]
    NoBrokers,
}

/// Plans partitions for producer rate `p`, consumer rate `c` and `brokers` brokers.
pub fn plan(p: f64, c: f64, brokers: u32) -> Result<Plan, PlanError> {
    if !(p.is_finite() && p > 0.0) {
        return Err(PlanError::BadRate("--producer-rate", p));
    }
    if !(c.is_finite() && c > 0.0) {
        return Err(PlanError::BadRate("--consumer-rate", c));
    }
    if brokers == 0 {
        return Err(PlanError::NoBrokers);
    }
    let throughput_floor = (p / c).ceil().max(1.0) as u64;
    let broker_spread = 2 * brokers as u64;
    let needed = throughput_floor.max(broker_spread);
    let partitions = needed.next_power_of_two();
    Ok(Plan {
        producer_rate: p,
        consumer_rate: c,
        broker_count: brokers,
        throughput_floor,
        broker_spread,
        needed,
        partitions,
        headroom: partitions as f64 * c / p,
    })
}

impl Plan {
    /// The reasoning, one line per step, for people.
    pub fn reasoning(&self) -> Vec<String> {
        vec![
            format!(
                "throughput: P / C = {} / {} = {:.2}, so at least {} partitions for consumers to keep up",
                rate(self.producer_rate),
                rate(self.consumer_rate),
                self.producer_rate / self.consumer_rate,
                self.throughput_floor
            ),
            format!(
                "spread: 2 x {} broker{} = {} partitions, so every broker has work",
                self.broker_count,
                if self.broker_count == 1 { "" } else { "s" },
                self.broker_spread
            ),
            format!("needed: the larger, {}; rounded up to a power of two: {}", self.needed, self.partitions),
            format!(
                "head-room: {} partitions absorb {:.2} x today's producer rate before consumers fall behind",
                self.partitions, self.headroom
            ),
            "partitions can be added later but never removed (and adding them moves keys to other partitions), so start with enough".to_string(),
        ]
    }
}

/// A rate as people write it: whole numbers without decimals.
fn rate(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notes_example_gives_16_with_one_broker_and_32_with_ten() {
        let one = plan(1000.0, 100.0, 1).expect("plan");
        assert_eq!((one.throughput_floor, one.broker_spread, one.needed, one.partitions), (10, 2, 10, 16));
        assert!((one.headroom - 1.6).abs() < 1e-9);
        let ten = plan(1000.0, 100.0, 10).expect("plan");
        assert_eq!((ten.throughput_floor, ten.broker_spread, ten.needed, ten.partitions), (10, 20, 20, 32));
    }

    #[test]
    fn exact_powers_stay_and_tiny_loads_still_spread() {
        assert_eq!(plan(800.0, 100.0, 1).expect("plan").partitions, 8);
        assert_eq!(plan(1.0, 1000.0, 1).expect("plan").partitions, 2);
        assert_eq!(plan(1.0, 1000.0, 3).expect("plan").partitions, 8);
    }

    #[test]
    fn bad_inputs_are_refused_with_the_flag_named() {
        assert_eq!(plan(0.0, 1.0, 1), Err(PlanError::BadRate("--producer-rate", 0.0)));
        assert!(plan(1.0, f64::NAN, 1).unwrap_err().to_string().contains("--consumer-rate"));
        assert_eq!(plan(1.0, 1.0, 0), Err(PlanError::NoBrokers));
    }
}
