//! NATS request-reply load generator for `bench/nats.py`: keeps `--concurrency` requests in
//! flight on one subject for `--seconds`, then prints one JSON line with throughput, latency
//! percentiles and error counts.
//!
//! `cargo run --release -p pipedreamer-engine --example nats_load -- --url 127.0.0.1:4222 \
//!   --subject bench.run --concurrency 64 --seconds 10`

use std::time::{Duration, Instant};

struct Args {
    url: String,
    subject: String,
    concurrency: usize,
    seconds: f64,
    payload: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: "127.0.0.1:4222".into(),
        subject: "bench.run".into(),
        concurrency: 64,
        seconds: 10.0,
        payload: r#"{"name": "ada lovelace"}"#.into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => args.url = value,
            "--subject" => args.subject = value,
            "--concurrency" => args.concurrency = value.parse().map_err(|e| format!("{e}"))?,
            "--seconds" => args.seconds = value.parse().map_err(|e| format!("{e}"))?,
            "--payload" => args.payload = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    failed_runs: u64,
    errors: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_secs(10)))
        .connect(args.url.as_str())
        .await?;
    let payload = bytes::Bytes::from(args.payload.clone());
    // Warm up: the subscription is in place and the sandbox has compiled the program.
    for _ in 0..100 {
        client
            .request(args.subject.clone(), payload.clone())
            .await?;
    }
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.seconds);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, subject, payload) =
                (client.clone(), args.subject.clone(), payload.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < end {
                    let t0 = Instant::now();
                    match client.request(subject.clone(), payload.clone()).await {
                        Ok(reply) => {
                            tally.latencies_us.push(t0.elapsed().as_micros() as u64);
                            // A byte search, not a JSON parse: the generator shares the cores.
                            let needle = br#""status":"succeeded""#;
                            if !reply.payload.windows(needle.len()).any(|w| w == needle) {
                                tally.failed_runs += 1;
                            }
                        }
                        Err(_) => tally.errors += 1,
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for w in workers {
        let t = w.await?;
        all.latencies_us.extend(t.latencies_us);
        all.failed_runs += t.failed_runs;
        all.errors += t.errors;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((all.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        all.latencies_us[i] as f64 / 1000.0
    };
    println!(
        "{}",
        serde_json::json!({
            "concurrency": args.concurrency,
            "requests": all.latencies_us.len(),
            "msgs_per_s": (all.latencies_us.len() as f64 / elapsed).round(),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": pct(1.0),
            "failed_runs": all.failed_runs,
            "errors": all.errors,
        })
    );
    Ok(())
}
