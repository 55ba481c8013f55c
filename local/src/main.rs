//! `cargo run --profile local -p local-server` — the whole system on this machine, no cloud account.
//!
//! Options: `--addr 127.0.0.1:8080`, `--data ./data`, `--now <RFC 3339>|real`, `--no-demo`,
//! `--backend embedded|aws` (aws: `TABLE_NAME`, `BUCKET_NAME` from the environment,
//! `--endpoint URL` or `AWS_ENDPOINT_URL` for an emulator), `--sweep-every SECS` (the deadline
//! sweep's period, default 60; 0 runs it only on `POST /local/sweep`). Reminders are relayed and
//! delivered every half second; `GET /local/wechat/messages` shows what WeChat would have sent.
//! The clock defaults to 2024-12-01 09:00 (+08:00) and runs on from there, so the shipped 2025
//! projects' registration window is open; `--now real` uses the wall clock.

use embedded::local::ShiftedClock;
use services::ports::{Clock, SystemClock};
use std::sync::Arc;

const DEFAULT_NOW: &str = "2024-12-01T09:00:00+08:00";

fn usage() -> ! {
    eprintln!(
        "usage: local-server [--addr HOST:PORT] [--data DIR] [--now RFC3339|real] [--no-demo] [--backend embedded|aws] [--endpoint URL] [--sweep-every SECS (0: only on POST /local/sweep)]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    services::config::init_tracing();
    let mut addr = "127.0.0.1:8080".to_string();
    let mut data = "data".to_string();
    let mut now = DEFAULT_NOW.to_string();
    let mut demo = true;
    let mut backend = "embedded".to_string();
    let mut endpoint = None;
    let mut sweep_every: u64 = 60;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or_else(|| usage()),
            "--data" => data = args.next().unwrap_or_else(|| usage()),
            "--now" => now = args.next().unwrap_or_else(|| usage()),
            "--no-demo" => demo = false,
            "--backend" => backend = args.next().unwrap_or_else(|| usage()),
            "--endpoint" => endpoint = Some(args.next().unwrap_or_else(|| usage())),
            "--sweep-every" => {
                sweep_every = args.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| usage());
            }
            _ => usage(),
        }
    }
    let Ok(addr) = addr.parse() else { usage() };
    let clock: Arc<dyn Clock> = if now == "real" {
        Arc::new(SystemClock)
    } else {
        match time::OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339) {
            Ok(t) => Arc::new(ShiftedClock::starting_at(t)),
            Err(_) => usage(),
        }
    };
    let backend = match backend.as_str() {
        "embedded" => local_server::Backend::Embedded,
        "aws" => {
            // Configured like a Lambda, from this process's environment.
            let mut vars: std::collections::BTreeMap<String, String> = std::env::vars().collect();
            if let Some(e) = endpoint {
                vars.insert("AWS_ENDPOINT_URL".into(), e);
            }
            if !vars.contains_key("TABLE_NAME") || !vars.contains_key("BUCKET_NAME") {
                eprintln!("local-server: --backend aws needs TABLE_NAME and BUCKET_NAME in the environment");
                std::process::exit(2)
            }
            local_server::Backend::Aws(services::config::Env::Map(vars))
        }
        _ => usage(),
    };
    let config = local_server::Config {
        addr,
        data_dir: data.clone().into(),
        clock,
        seed_demo: demo,
        backend,
        table_layer: None,
        // Staff codes come from an authenticator app on a phone: the wall clock, whatever --now says.
        totp_clock: Some(Arc::new(SystemClock)),
        relay_every: Some(std::time::Duration::from_millis(500)),
        sweep_every: (sweep_every > 0).then(|| std::time::Duration::from_secs(sweep_every)),
    };
    let running = match local_server::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("local-server: {e}");
            std::process::exit(1);
        }
    };
    let base = running.base_url();
    println!("考试报名 local server listening on {base} (data in ./{data}, clock starts at {now})");
    println!("  API contract:  curl {base}/openapi.json");
    println!("  projects:      curl {base}/v1/projects");
    if demo {
        println!("  demo login:    curl -s -X POST {base}/v1/sessions/password -H 'content-type: application/json' \\");
        println!("                   -d '{{\"account\":\"demo\",\"password\":\"Demo2025pass\"}}'");
        println!(
            "  (historical candidate: account \"history\", same password; WeChat codes local-demo-first / local-demo-history)"
        );
    }
    if demo {
        println!("  staff console API: POST {base}/v1/staff/sessions with account, password, totp:");
        println!(
            "    accounts {} (password {}),",
            local_server::demo::STAFF.iter().map(|s| s.0).collect::<Vec<_>>().join(", "),
            local_server::demo::STAFF_PASSWORD
        );
        println!(
            "    TOTP key {} (demo only; add it to an authenticator app, or print the current code with",
            local_server::demo::STAFF_TOTP_BASE32
        );
        println!(
            "    `cargo run -q -p local-server --bin staff-admin -- code {}`)",
            local_server::demo::STAFF_TOTP_BASE32
        );
    }
    println!(
        "  reminders:     GET {base}/v1/todos (candidate), GET {base}/local/wechat/messages (what WeChat was sent)"
    );
    println!("  deadline sweep: every {sweep_every} s (0: off); now: curl -X POST {base}/local/sweep");
    println!("Ctrl-C stops it.");
    let _ = tokio::signal::ctrl_c().await;
    running.stop().await;
}
