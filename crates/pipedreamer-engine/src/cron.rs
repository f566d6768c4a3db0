//! Local cron: the engine schedules its own cron triggers when it runs alone (`dev`, or a single
//! container with `--cron local`). In Kubernetes the CronJobs do it and this stays off.
//!
//! Like `concurrencyPolicy: Forbid`, a trigger whose previous run is still going skips its turn.
//! Triggers are re-read every tick, so a `dev` reload takes effect within a second.

use crate::state::EngineState;
use chrono::{DateTime, Utc};
use pipedreamer_spec::{CronTrigger, Schedule, Trigger};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TICK: Duration = Duration::from_secs(1);

fn key(t: &CronTrigger) -> String {
    format!(
        "{}|{}|{}",
        t.name.as_deref().unwrap_or(""),
        t.schedule,
        t.timezone.as_deref().unwrap_or("UTC")
    )
}

/// The next time `schedule` fires strictly after `after` (schedules come parsed from the
/// spec's one check of the workflow: `Program::schedules`).
pub fn next_fire(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule
        .cron
        .find_next_occurrence(&after.with_timezone(&schedule.timezone), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The scheduler's sense of time: the wall clock, or (in tests) a clock running `speed` times
/// faster from `origin`, so a once-a-minute trigger can be watched firing in a second.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerClock {
    origin: DateTime<Utc>,
    started: std::time::Instant,
    speed: u32,
}

impl SchedulerClock {
    /// The wall clock.
    pub fn real() -> Self {
        Self::accelerated(1)
    }

    /// Starts now and runs `speed` times faster than the wall clock.
    pub fn accelerated(speed: u32) -> Self {
        Self {
            origin: Utc::now(),
            started: std::time::Instant::now(),
            speed: speed.max(1),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.started.elapsed() * self.speed;
        self.origin + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    fn real_duration(&self, scheduled: Duration) -> Duration {
        scheduled / self.speed
    }
}

/// Runs the scheduler on the wall clock until `stop` is cancelled.
pub async fn run_scheduler(state: Arc<EngineState>, stop: CancellationToken) {
    run_scheduler_with(state, stop, SchedulerClock::real()).await;
}

/// Runs the scheduler on `clock` until `stop` is cancelled.
pub async fn run_scheduler_with(
    state: Arc<EngineState>,
    stop: CancellationToken,
    clock: SchedulerClock,
) {
    let running: Arc<Mutex<HashSet<String>>> = Default::default();
    let mut next: HashMap<String, DateTime<Utc>> = HashMap::new();
    loop {
        let Some(workload) = state.workload() else {
            if crate::sleep_or_stop(&stop, TICK).await {
                return;
            }
            continue;
        };
        let now = clock.now();
        let program = &workload.program;
        let schedules: Vec<(&Schedule, &CronTrigger)> = program
            .schedules
            .iter()
            .filter_map(|s| match program.workflow.triggers.get(s.trigger) {
                Some(Trigger::Cron(t)) => Some((s, t)),
                _ => None,
            })
            .collect();
        next.retain(|k, _| schedules.iter().any(|(_, t)| &key(t) == k));
        let mut wake = now + chrono::Duration::from_std(TICK).unwrap_or_default();
        for &(s, t) in &schedules {
            let k = key(t);
            let Some(due) = next.get(&k).copied().or_else(|| next_fire(s, now)) else {
                continue;
            };
            if due <= now {
                fire(&state, &workload, t, &k, &running);
                if let Some(n) = next_fire(s, due.max(now)) {
                    next.insert(k, n);
                    wake = wake.min(n);
                }
            } else {
                next.insert(k, due);
                wake = wake.min(due);
            }
        }
        let sleep = (wake - clock.now())
            .to_std()
            .unwrap_or(Duration::from_millis(10));
        if crate::sleep_or_stop(&stop, clock.real_duration(sleep).min(TICK)).await {
            return;
        }
    }
}

fn fire(
    state: &Arc<EngineState>,
    workload: &Arc<pipedreamer_sandbox::Workload>,
    t: &CronTrigger,
    k: &str,
    running: &Arc<Mutex<HashSet<String>>>,
) {
    let label = t.name.clone().unwrap_or_else(|| t.schedule.clone());
    if !running
        .lock()
        .map(|mut r| r.insert(k.to_owned()))
        .unwrap_or(false)
    {
        tracing::warn!(target: "cron", trigger = %label, "previous run still going; skipping this one");
        return;
    }
    let state2 = state.clone();
    let workload = workload.clone();
    let payload = t.payload().to_string();
    let trigger = pipedreamer_sandbox::outcome::Trigger::Cron(label);
    let running = running.clone();
    let k = k.to_owned();
    state.background.spawn(async move {
        state2.run(workload, payload, trigger).await;
        if let Ok(mut r) = running.lock() {
            r.remove(&k);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The schedule of a one-trigger workflow, as the spec parses it.
    fn schedule(cron: &str, tz: Option<&str>) -> Schedule {
        let tz = tz.map_or(String::new(), |tz| format!(", timezone: {tz}"));
        let yaml = format!(
            "name: c\nversion: \"1\"\nnodes:\n  - {{id: a, file: a.js}}\ntriggers:\n  - {{type: cron, name: t, schedule: \"{cron}\"{tz}}}\n"
        );
        let files = pipedreamer_spec::source::MemorySource::from_pairs([
            ("workflow.yaml", yaml.as_str()),
            ("a.js", "export default async () => 1;"),
        ]);
        let mut resolved = pipedreamer_spec::resolve(&files).unwrap();
        resolved.schedules.remove(0)
    }

    #[test]
    fn next_fire_respects_time_zones() {
        let after = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let utc = next_fire(&schedule("0 9 * * *", None), after).unwrap();
        assert_eq!(utc, Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap());
        let berlin = next_fire(&schedule("0 9 * * *", Some("Europe/Berlin")), after).unwrap();
        assert_eq!(berlin, Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap());
    }
}
