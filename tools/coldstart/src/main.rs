//! `coldstart <runs> <name>=<bootstrap>:<event.json> …` — start each bootstrap `runs` times
//! against a Lambda Runtime API served here on loopback, and print per function the median and
//! spread of process start → first response, the peak RSS, and the ratio to the first entry
//! (the baseline). A benchmark that prints numbers; it asserts nothing about time.
//!
//! The child inherits this process's environment (backend settings, `RUST_LOG`) plus the variables the
//! Lambda runtime sets; on AWS the same clock also covers the sandbox's own start, which no
//! local measurement sees.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};

/// What the runtime API learnt about one invocation.
enum Outcome {
    Response,
    Error(String),
}

struct Api {
    event: Mutex<Option<String>>,
    done: mpsc::UnboundedSender<Outcome>,
}

async fn runtime_api(api: Arc<Api>, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if path.ends_with("/runtime/invocation/next") {
        // One invocation per process: later polls wait (the process is killed meanwhile).
        let Some(event) = api.event.lock().await.take() else {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return hyper::Response::new(Full::new(Bytes::new()));
        };
        let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
            + Duration::from_secs(30);
        return hyper::Response::builder()
            .header("Lambda-Runtime-Aws-Request-Id", "coldstart-1")
            .header("Lambda-Runtime-Deadline-Ms", deadline.as_millis().to_string())
            .header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:coldstart")
            .header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            .body(Full::new(Bytes::from(event)))
            .unwrap_or_default();
    }
    let outcome = if path.ends_with("/response") {
        Outcome::Response
    } else {
        Outcome::Error(String::from_utf8_lossy(&body).into_owned())
    };
    let _ = api.done.send(outcome);
    hyper::Response::builder().status(202).body(Full::new(Bytes::new())).unwrap_or_default()
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn one_run(bootstrap: &str, event: &str) -> Result<(Duration, u64), String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let api = Arc::new(Api { event: Mutex::new(Some(event.to_string())), done: tx });
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let api = api.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, std::convert::Infallible>(runtime_api(api, req).await) }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    let start = Instant::now();
    if std::env::var_os("COLDSTART_STDERR").is_some() {
        // Lines up with the functions' log timestamps, to see where init time goes.
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        eprintln!("coldstart: spawning at {}.{:06} (unix seconds)", since_epoch.as_secs(), since_epoch.subsec_micros());
    }
    let mut child = tokio::process::Command::new(bootstrap)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "coldstart")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/coldstart")
        // Lambda says how the environment was started; the functions warm up accordingly.
        .env(
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE").unwrap_or_else(|_| "on-demand".into()),
        )
        .stdout(Stdio::null())
        // COLDSTART_STDERR=1 shows the functions' logs (with RUST_LOG=debug, their init phases).
        .stderr(if std::env::var_os("COLDSTART_STDERR").is_some() { Stdio::inherit() } else { Stdio::null() })
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{bootstrap}: {e}"))?;
    let outcome = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
    let took = start.elapsed();
    let rss = child.id().and_then(peak_rss_kib).unwrap_or(0);
    let _ = child.kill().await;
    server.abort();
    match outcome {
        Ok(Some(Outcome::Response)) => Ok((took, rss)),
        Ok(Some(Outcome::Error(e))) => Err(format!("{bootstrap} reported an error: {e}")),
        _ => Err(format!("{bootstrap} gave no response within 20 s")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(15).max(1);
    let specs: Vec<(String, String, String)> = args
        .filter_map(|a| {
            let (name, rest) = a.split_once('=')?;
            let (bin, event) = rest.split_once(':')?;
            Some((name.to_string(), bin.to_string(), event.to_string()))
        })
        .collect();
    if specs.is_empty() {
        eprintln!("usage: coldstart <runs> <name>=<bootstrap>:<event.json> …  (the first is the baseline)");
        std::process::exit(2);
    }
    let mut events = vec![];
    for (_, _, event_path) in &specs {
        match std::fs::read_to_string(event_path) {
            Ok(e) => events.push(e),
            Err(e) => {
                eprintln!("{event_path}: {e}");
                std::process::exit(1);
            }
        }
    }
    // One unmeasured start each: the first start after a build pays the page cache, not init.
    for ((_, bin, _), event) in specs.iter().zip(&events) {
        let _ = one_run(bin, event).await;
    }
    // Rounds, each starting every function once, so that drift in the machine's load (it is
    // shared and noisy) falls on all of them alike instead of on whichever ran last.
    let mut times = vec![vec![]; specs.len()];
    let mut rss = vec![0; specs.len()];
    for _ in 0..runs {
        for (i, ((name, bin, _), event)) in specs.iter().zip(&events).enumerate() {
            match one_run(bin, event).await {
                Ok((t, r)) => {
                    times[i].push(t);
                    rss[i] = rss[i].max(r);
                }
                Err(e) => {
                    eprintln!("{name}: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    println!(
        "{:<14} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "function", "runs", "median", "min", "max", "peak RSS", "ratio"
    );
    let mut baseline = None;
    for (i, (name, _, _)) in specs.iter().enumerate() {
        let times = &mut times[i];
        times.sort();
        let median = times[times.len() / 2];
        let base = *baseline.get_or_insert(median);
        println!(
            "{name:<14} {runs:>6} {:>10.2?} {:>10.2?} {:>10.2?} {:>7} KiB {:>7.2}x",
            median,
            times[0],
            times[times.len() - 1],
            rss[i],
            median.as_secs_f64() / base.as_secs_f64()
        );
    }
}
