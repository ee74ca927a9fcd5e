//! Load generator for the evidence benchmarks (scripts/bench,
//! scripts/bench-evidence): signs and pushes bundles over HTTP, one stream
//! per site (appends to one site are serialized by the portal anyway), and
//! reports the ingest rate.
//!
//! cargo run --release --example load_evidence -- URL TOTAL SITE_ID=KEY.pem...
//!
//! LOAD_BATCH=N sends N bundles a request through the batch endpoint (0,
//! the default: one a request); LOAD_FROM=K numbers the bundles from K, so
//! a second run sends new ones. The last line is `RESULT bundles=… secs=…`.

use std::time::{Duration, Instant};

use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};

mod common;
use common::CHECKS;

fn bundle(site: &str, seq: u64, at: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    let hosts = ["WS-01", "WS-02"];
    let mut checks = Vec::new();
    let mut fails = 0;
    for host in hosts {
        for (i, (check, control)) in CHECKS.iter().enumerate() {
            let fail = (seq + i as u64).is_multiple_of(53);
            fails += fail as u64;
            checks.push(serde_json::json!({
                "check": check, "status": if fail { "fail" } else { "pass" }, "host": host,
                "hipaa_control": control, "details": {}
            }));
        }
    }
    let total = checks.len() as u64;
    serde_json::to_vec(&serde_json::json!({
        "bundle_id": format!("LB-{}-{seq:08}", &site[..8]),
        "site_id": site,
        "checked_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "checks": checks,
        "summary": { "total_checks": total, "compliant": total - fails, "non_compliant": fails, "errors": 0 }
    }))
    .expect("serializable")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: load_evidence URL TOTAL SITE_ID=KEY.pem...");
        std::process::exit(2);
    }
    let env =
        |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let batch = env("LOAD_BATCH") as usize;
    let from = env("LOAD_FROM");
    let url = match batch {
        0 => format!("{}/api/appliance/evidence", args[1].trim_end_matches('/')),
        _ => format!("{}/api/appliance/evidence/batch", args[1].trim_end_matches('/')),
    };
    let total: u64 = args[2].parse().expect("TOTAL is a number");
    let sites: Vec<(String, SigningKey)> = args[3..]
        .iter()
        .map(|a| {
            let (site, key) = a.split_once('=').expect("SITE_ID=KEY.pem");
            let pem = std::fs::read_to_string(key).expect("readable key");
            (site.to_owned(), SigningKey::from_pkcs8_pem(&pem).expect("PKCS#8 key"))
        })
        .collect();
    let per_site = total / sites.len() as u64;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
    let started = Instant::now();
    let bytes_sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reporter = {
        let done = done.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let n = done.load(std::sync::atomic::Ordering::Relaxed);
                eprintln!(
                    "  {n} / {total} bundles, {:.0}/s",
                    n as f64 / started.elapsed().as_secs_f64()
                );
            }
        })
    };
    let start_at = chrono::Utc::now() - chrono::TimeDelta::minutes((from + per_site) as i64);
    let streams = sites.into_iter().map(|(site, key)| {
        let client = client.clone();
        let url = url.clone();
        let done = done.clone();
        let bytes_sent = bytes_sent.clone();
        tokio::spawn(async move {
            let at = |seq: u64| start_at + chrono::TimeDelta::minutes(seq as i64);
            if batch > 0 {
                use base64::Engine as _;
                let mut seq = from;
                while seq < from + per_site {
                    let n = (batch as u64).min(from + per_site - seq);
                    let entries: Vec<serde_json::Value> = (seq..seq + n)
                        .map(|s| {
                            let body = bundle(&site, s, at(s));
                            bytes_sent
                                .fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
                            serde_json::json!({
                                "bundle": base64::engine::general_purpose::STANDARD.encode(&body),
                                "signature": hex::encode(key.sign(&body).to_bytes()),
                            })
                        })
                        .collect();
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(
                            serde_json::to_vec(&serde_json::json!({ "bundles": entries })).unwrap(),
                        )
                        .send()
                        .await
                        .expect("portal reachable");
                    let status = resp.status();
                    let answer: serde_json::Value = resp.json().await.expect("a JSON answer");
                    assert!(status.is_success(), "refused: {answer}");
                    assert_eq!(answer["refused"], 0, "bundles refused: {answer}");
                    done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    seq += n;
                }
                return;
            }
            for seq in from..from + per_site {
                let body = bundle(&site, seq, at(seq));
                let sig = hex::encode(key.sign(&body).to_bytes());
                bytes_sent.fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
                let resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-agent-signature", sig)
                    .body(body)
                    .send()
                    .await
                    .expect("portal reachable");
                assert!(
                    resp.status().is_success(),
                    "refused: {}",
                    resp.text().await.unwrap_or_default()
                );
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    });
    for s in futures_util::future::join_all(streams).await {
        s.expect("stream");
    }
    reporter.abort();
    let secs = started.elapsed().as_secs_f64();
    let n = done.load(std::sync::atomic::Ordering::Relaxed);
    let mb = bytes_sent.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6;
    println!(
        "ingested {n} bundles ({mb:.0} MB) through HTTP in {secs:.1} s: {:.0} bundles/s",
        n as f64 / secs
    );
    println!("RESULT bundles={n} secs={secs:.3}");
}
