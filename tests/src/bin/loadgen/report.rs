//! Results: a human table and one JSON line.

use std::time::Duration;

use serde_json::{Map, Value};

pub struct Report {
    scenario: String,
    rows: Vec<(&'static str, Value, &'static str)>,
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
                (*name, value, *unit)
            })
            .collect();
        Report {
            scenario: format!("{} (median of {} runs)", first.scenario, runs.len()),
            rows,
        }
    }

    pub fn add(&mut self, name: &'static str, value: impl Into<Value>, unit: &'static str) -> &mut Self {
        self.rows.push((name, value.into(), unit));
        self
    }

    /// p50/p90/p99/max of latencies given in microseconds, reported in ms.
    pub fn latencies(&mut self, prefix: &'static str, mut micros: Vec<u64>) -> &mut Self {
        micros.sort_unstable();
        let pick = |q: f64| {
            if micros.is_empty() {
                return 0.0;
            }
            let at = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
            (micros[at] as f64 / 1000.0 * 1000.0).round() / 1000.0
        };
        let names: [(&'static str, f64); 4] = match prefix {
            "history" => [
                ("history_p50_ms", 0.5),
                ("history_p90_ms", 0.9),
                ("history_p99_ms", 0.99),
                ("history_max_ms", 1.0),
            ],
            "ack" => [
                ("ack_p50_ms", 0.5),
                ("ack_p90_ms", 0.9),
                ("ack_p99_ms", 0.99),
                ("ack_max_ms", 1.0),
            ],
            _ => [
                ("latency_p50_ms", 0.5),
                ("latency_p90_ms", 0.9),
                ("latency_p99_ms", 0.99),
                ("latency_max_ms", 1.0),
            ],
        };
        for (name, q) in names {
            self.add(name, pick(q), "ms");
        }
        self
    }

    pub fn print(&self) {
        println!("natter-loadgen: {}", self.scenario);
        for (name, value, unit) in &self.rows {
            println!("  {name:<32} {value:>14} {unit}");
        }
        let mut json = Map::new();
        json.insert("scenario".into(), self.scenario.clone().into());
        for (name, value, _) in &self.rows {
            json.insert((*name).into(), value.clone());
        }
        println!("{}", Value::Object(json));
    }
}

pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    (count as f64 / elapsed.as_secs_f64()).round()
}

pub fn micros(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6 * 1000.0).round() / 1000.0
}
