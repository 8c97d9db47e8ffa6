//! Results: a human table and one JSON line.

use std::{borrow::Cow, time::Duration};

use serde_json::{Map, Value};

use crate::harness::OwnCpu;

/// Busy this much of its CPUs, the generator is what limits a result.
const GENERATOR_LIMITS_AT: f64 = 0.9;
/// Late this much on its own timers, the generator's stalls are part of
/// the latencies it reports.
const GENERATOR_STALL_MS: f64 = 50.0;

pub struct Report {
    scenario: String,
    rows: Vec<(Cow<'static, str>, Value, &'static str)>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            rows: Vec::new(),
        }
    }

    /// Row by row, the median of several runs of one scenario (numbers;
    /// anything else is taken from the first run).
    pub fn median(runs: &[Report]) -> Report {
        let Some(first) = runs.first() else {
            return Report::new("nothing");
        };
        let rows = first
            .rows
            .iter()
            .enumerate()
            .map(|(i, (name, value, unit))| {
                let mut numbers: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.rows.get(i).and_then(|(_, v, _)| v.as_f64()))
                    .collect();
                numbers.sort_by(f64::total_cmp);
                let value = match numbers.get(numbers.len() / 2) {
                    Some(&median) if numbers.len() == runs.len() => Value::from(median),
                    _ => value.clone(),
                };
                (name.clone(), value, *unit)
            })
            .collect();
        Report {
            scenario: format!("{} (median of {} runs)", first.scenario, runs.len()),
            rows,
        }
    }

    pub fn add(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
        unit: &'static str,
    ) -> &mut Self {
        self.rows.push((name.into(), value.into(), unit));
        self
    }

    /// The generator's CPU seconds and its share of the CPUs it may use.
    pub fn generator(&mut self, own: &OwnCpu) -> &mut Self {
        let (cpu, share) = own.used();
        self.add("loadgen_cpu_seconds", (cpu * 100.0).round() / 100.0, "s").add(
            "loadgen_cpu_share",
            (share * 100.0).round() / 100.0,
            "",
        )
    }

    fn number(&self, name: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|(n, ..)| *n == name)
            .and_then(|(_, v, _)| v.as_f64())
    }

    /// Said when the generator, not the server, shaped the numbers.
    fn generator_notes(&self) -> (bool, Vec<String>) {
        let mut notes = Vec::new();
        let share = self.number("loadgen_cpu_share").unwrap_or(0.0);
        let limited = share >= GENERATOR_LIMITS_AT;
        if limited {
            notes.push(format!(
                "the generator used {:.0} % of its CPUs: it, not the server, limits this result",
                share * 100.0
            ));
        }
        if let Some(lag) = self
            .number("loadgen_max_lag_ms")
            .filter(|&lag| lag >= GENERATOR_STALL_MS)
        {
            notes.push(format!(
                "the generator itself stalled for up to {lag:.0} ms: its latencies include that"
            ));
        }
        (limited, notes)
    }

    /// p50/p90/p99/max of latencies given in microseconds, reported in ms.
    pub fn latencies(&mut self, prefix: &str, mut micros: Vec<u64>) -> &mut Self {
        micros.sort_unstable();
        let pick = |q: f64| {
            if micros.is_empty() {
                return 0.0;
            }
            let at = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
            (micros[at] as f64 / 1000.0 * 1000.0).round() / 1000.0
        };
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
            self.add(format!("{prefix}_{name}_ms"), pick(q), "ms");
        }
        self
    }

    pub fn print(&self) {
        println!("natter-loadgen: {}", self.scenario);
        for (name, value, unit) in &self.rows {
            println!("  {name:<32} {value:>14} {unit}");
        }
        let (limited, notes) = self.generator_notes();
        for note in &notes {
            println!("  note: {note}");
        }
        let mut json = Map::new();
        json.insert("scenario".into(), self.scenario.clone().into());
        for (name, value, _) in &self.rows {
            json.insert(name.to_string(), value.clone());
        }
        json.insert("loadgen_limited".into(), limited.into());
        println!("{}", Value::Object(json));
    }
}

pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    (count as f64 / elapsed.as_secs_f64()).round()
}

pub fn micros(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6 * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(share: f64, lag_ms: f64) -> Report {
        let mut report = Report::new("dm");
        report
            .add("loadgen_cpu_share", share, "")
            .add("loadgen_max_lag_ms", lag_ms, "ms");
        report
    }

    #[test]
    fn a_busy_generator_is_said_to_limit_the_result() {
        let (limited, notes) = report(0.97, 3.0).generator_notes();
        assert!(limited);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("97 %"), "{notes:?}");
    }

    #[test]
    fn an_idle_generator_says_nothing_unless_it_stalled() {
        assert_eq!(report(0.3, 3.0).generator_notes(), (false, Vec::new()));
        let (limited, notes) = report(0.3, 120.0).generator_notes();
        assert!(!limited);
        assert!(notes[0].contains("120 ms"), "{notes:?}");
    }

    #[test]
    fn the_median_of_runs_gets_its_own_verdict() {
        let runs = [report(0.95, 1.0), report(0.5, 1.0), report(0.4, 1.0)];
        assert!(!Report::median(&runs).generator_notes().0);
    }
}
