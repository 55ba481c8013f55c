//! The deadline sweep (DOMAIN "Timed sweep"; R16/R23, R31, R42): reads only the applications
//! due — the deadline index up to now, per district and shard, a page of 100 at a time — and
//! lapses each through the one service loop (`Applications::execute`: re-read, decide, one
//! conditional transaction with its reminder), so a candidate, a staff decision, a payment or
//! another sweep racing it leaves exactly one winner. The same pass sends the 24-hours-ahead
//! reminders, once per application and deadline. Work per run is bounded by a time budget and
//! paced by a rate; what is left is the next run's (lapsed items leave the index, so the next
//! run starts where this one stopped).

use crate::applications::{Applications, Intent, Target};
use crate::principal::{Principal, SystemActor};
use shared::domain::account::Candidate;
use shared::domain::application::{Application, Command};
use shared::domain::reminder::deadline_soon;
use shared::domain::values::ProjectCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use store::layout::{SHARDS, due_range, outbox_write};
use store::{Cond, Index, Item, Query, StoreError, decode, keys};
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How the sweep paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Lapses (and warnings) started per second, at most. Each lapse is one read and one
    /// transaction of three items; at 300/s a district's eight index shards take ~40 deletes/s
    /// each, far under a partition's 1,000 writes/s, and a province's 200k due applications
    /// take ~11 minutes.
    pub per_second: u32,
    /// Lapses in flight at once.
    pub in_flight: usize,
}

impl Default for Pace {
    fn default() -> Self {
        Pace { per_second: 300, in_flight: 32 }
    }
}

/// What one run did (logged as one line, and the function's result).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Applications lapsed by this run.
    pub lapsed: u64,
    /// Due in the index but not when re-read (confirmed, decided, paid meanwhile, or another
    /// sweep was first): left alone.
    pub not_due: u64,
    /// Lapses that failed (store trouble): the next run tries again.
    pub failed: u64,
    /// 24-hours-ahead reminders written by this run.
    pub warned: u64,
    /// Index pages read.
    pub pages: u64,
    /// The budget ran out with work left.
    pub more: bool,
}

#[derive(Default)]
struct Counters {
    lapsed: AtomicU64,
    not_due: AtomicU64,
    failed: AtomicU64,
    warned: AtomicU64,
}

/// Starts work at most `per_second` times a second, on average. Not a `tokio::time::Interval`:
/// the timer's 1 ms resolution would cap it near 1,000/s; this sleeps only when it is ahead of
/// schedule by a millisecond or more, and doesn't make up for time lost to slow writes.
pub struct Pacer {
    period: Duration,
    next: tokio::time::Instant,
}

impl Pacer {
    pub fn new(per_second: u32) -> Pacer {
        Pacer { period: Duration::from_secs_f64(1.0 / f64::from(per_second.max(1))), next: tokio::time::Instant::now() }
    }

    pub async fn wait(&mut self) {
        let now = tokio::time::Instant::now();
        // Behind (the writes were slower than the pace): start again from now, no burst.
        if self.next < now {
            self.next = now;
        }
        if self.next > now + Duration::from_millis(1) {
            tokio::time::sleep_until(self.next).await;
        }
        self.next += self.period;
    }
}

/// Index page size: one query per 100 due applications.
const PAGE: u32 = 100;

pub struct Sweep {
    pub apps: Applications,
    pub pace: Pace,
}

impl Sweep {
    /// One run: every district and shard of every project, lapses first, then warnings; no new
    /// work starts after `budget` (the rest is the next run's).
    pub async fn run(&self, budget: Duration) -> Report {
        let started = Instant::now();
        let now = self.apps.clock.now();
        let counters = Arc::new(Counters::default());
        let gate = Arc::new(Semaphore::new(self.pace.in_flight.max(1)));
        let mut tick = Pacer::new(self.pace.per_second);
        let mut tasks = JoinSet::new();
        let mut report = Report::default();
        let shards: Vec<(ProjectCode, String, u8)> = self
            .apps
            .reference
            .projects()
            .keys()
            .flat_map(|p| {
                self.apps
                    .reference
                    .districts()
                    .keys()
                    .flat_map(move |d| (0..SHARDS).map(move |s| (p.clone(), d.as_str().to_string(), s)))
            })
            .collect();
        'lapse: for (project, district, shard) in &shards {
            // Due: the deadline has passed (strictly: at the deadline itself it still holds).
            let (lo, hi) = due_range(OffsetDateTime::UNIX_EPOCH, now - time::Duration::seconds(1));
            let mut q = Query {
                sk_between: Some((lo, hi)),
                ..Query::of(Some(Index::Gsi3), keys::due(project.as_str(), district, *shard), PAGE)
            };
            loop {
                let page = match self.apps.table.query(&q).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "sweep: index page failed");
                        report.more = true;
                        break;
                    }
                };
                report.pages += 1;
                for item in &page.items {
                    if started.elapsed() >= budget {
                        report.more = true;
                        break 'lapse;
                    }
                    let Some(target) = target_of(item) else { continue };
                    tick.wait().await;
                    let Ok(permit) = gate.clone().acquire_owned().await else { break 'lapse };
                    let (apps, counters) = (self.apps.clone(), counters.clone());
                    tasks.spawn(async move {
                        lapse(&apps, &target, &counters).await;
                        drop(permit);
                    });
                }
                match page.cursor {
                    Some(c) => q.cursor = Some(c),
                    None => break,
                }
            }
        }
        while tasks.join_next().await.is_some() {}
        // Warnings whenever time is left, even after a failed index page above.
        for (project, district, shard) in &shards {
            let left = budget.saturating_sub(started.elapsed());
            if left.is_zero() {
                report.more = true;
                break;
            }
            let warned =
                self.warn_shard(project, district, *shard, now, left, &counters, &gate, &mut tick, &mut report).await;
            match warned {
                Ok(true) => {}
                Ok(false) => {
                    report.more = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sweep: warnings of a shard failed");
                    report.more = true;
                }
            }
        }
        report.lapsed = counters.lapsed.load(Ordering::Relaxed);
        report.not_due = counters.not_due.load(Ordering::Relaxed);
        report.failed = counters.failed.load(Ordering::Relaxed);
        report.warned = counters.warned.load(Ordering::Relaxed);
        tracing::info!(?report, elapsed_ms = started.elapsed().as_millis() as u64, "sweep done");
        report
    }

    /// The 24-hours-ahead reminders of one shard: deadlines after its watermark (or now) and
    /// within the next 24 hours, a page at a time with the lapses' pace and concurrency. Each
    /// warning is an outbox item written only if absent, so a run cut short, or two runs at once,
    /// warn each application once; the watermark keeps the position reached after every page
    /// (a window larger than one run continues where it stopped) and moves to the window's end
    /// when it is done. `Ok(false)`: the budget ran out.
    #[allow(clippy::too_many_arguments)]
    async fn warn_shard(
        &self,
        project: &ProjectCode,
        district: &str,
        shard: u8,
        now: OffsetDateTime,
        budget: Duration,
        counters: &Arc<Counters>,
        gate: &Arc<Semaphore>,
        tick: &mut Pacer,
        report: &mut Report,
    ) -> Result<bool, StoreError> {
        let table = &self.apps.table;
        let mark_key = keys::sweep_watermark(project.as_str(), district, shard);
        let mark = table.get(&mark_key).await?;
        let upto = mark.as_ref().and_then(|m| m.get("upto")).and_then(serde_json::Value::as_i64).unwrap_or(0);
        let resume = mark.as_ref().and_then(|m| store::attr(m, "pos")).map(str::to_string);
        let from = OffsetDateTime::from_unix_timestamp(upto).unwrap_or(now).max(now) + time::Duration::seconds(1);
        let to = now + time::Duration::hours(24);
        if from > to && resume.is_none() {
            return Ok(true);
        }
        let (lo, hi) = due_range(from, to);
        // Inclusive: the entry at the position is warned again, which its put-if-absent absorbs.
        let lo = resume.unwrap_or(lo);
        let mut q = Query {
            sk_between: Some((lo, hi)),
            ..Query::of(Some(Index::Gsi3), keys::due(project.as_str(), district, shard), PAGE)
        };
        let started = Instant::now();
        let watermark = |upto: i64, pos: Option<&str>| {
            let mut item = Item::new();
            item.insert("pk".into(), mark_key.pk.clone().into());
            item.insert("sk".into(), mark_key.sk.clone().into());
            item.insert("type".into(), "sweep_watermark".into());
            item.insert("upto".into(), upto.into());
            if let Some(p) = pos {
                item.insert("pos".into(), p.into());
            }
            item
        };
        loop {
            let page = table.query(&q).await?;
            report.pages += 1;
            let mut tasks = JoinSet::new();
            let mut out_of_time = false;
            for item in &page.items {
                if started.elapsed() >= budget {
                    out_of_time = true;
                    break;
                }
                let Some(target) = target_of(item) else { continue };
                tick.wait().await;
                let Ok(permit) = gate.clone().acquire_owned().await else { break };
                let (apps, counters) = (self.apps.clone(), counters.clone());
                tasks.spawn(async move {
                    match warn(&apps, &target, now).await {
                        Ok(true) => {
                            counters.warned.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "sweep: a warning failed");
                            counters.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    drop(permit);
                });
            }
            while tasks.join_next().await.is_some() {}
            if out_of_time {
                return Ok(false);
            }
            match (page.cursor, page.items.last().and_then(|i| store::attr(i, "gsi3sk"))) {
                (Some(c), Some(pos)) => {
                    table.put(watermark(upto, Some(pos)), Cond::Always).await?;
                    q.cursor = Some(c);
                }
                _ => break,
            }
        }
        table.put(watermark(to.unix_timestamp(), None), Cond::Always).await?;
        Ok(true)
    }
}

/// One warning: re-read (the index lags), and only if the application still waits on a
/// deadline within 24 hours. Whether one was written now.
async fn warn(apps: &Applications, target: &Target, now: OffsetDateTime) -> Result<bool, StoreError> {
    let got = apps
        .table
        .get_many(&[
            keys::candidate(&target.candidate_id),
            keys::application(&target.candidate_id, target.project.as_str()),
        ])
        .await?;
    let (Some(c), Some(a)) = (&got[0], &got[1]) else { return Ok(false) };
    let candidate: Candidate = decode(c)?.value;
    let app: Application = decode(a)?.value;
    let Ok((project, district)) = apps.context(&app) else { return Ok(false) };
    let Some(r) = deadline_soon(&app, &candidate, (project, district), now) else { return Ok(false) };
    match r.deadline {
        Some(d) if d > now && d <= now + time::Duration::hours(24) => {}
        _ => return Ok(false),
    }
    match apps.table.put(outbox_item(&r)?, Cond::NotExists).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn outbox_item(r: &shared::domain::reminder::Reminder) -> Result<Item, StoreError> {
    match outbox_write(r)? {
        store::Write::Put { item, .. } => Ok(item),
        _ => Err(StoreError::Invalid("outbox write is a put".into())),
    }
}

/// The application an index entry points at (its base key: `CAND#<cid>` / `APP#<project>`).
fn target_of(item: &Item) -> Option<Target> {
    let cid = store::attr(item, "pk")?.strip_prefix("CAND#")?;
    let project = store::attr(item, "sk")?.strip_prefix("APP#")?;
    Some(Target { candidate_id: cid.to_string(), project: ProjectCode::parse(project, "project").ok()? })
}

/// Lapse one application through the service loop; count what happened.
async fn lapse(apps: &Applications, target: &Target, counters: &Counters) {
    let principal = Principal::System(SystemActor::Sweep);
    match apps.execute(&principal, target, Intent::Command(Command::Lapse)).await {
        Ok(_) => {
            counters.lapsed.fetch_add(1, Ordering::Relaxed);
        }
        // Re-read and no longer due, or a racing writer (the candidate, staff, another sweep) won,
        // or a payment order is still open: the payment reconciler closes it first (R31), and a
        // later run lapses what is then still unpaid.
        Err(r) if matches!(r.code, "NOT_DUE" | "CONCURRENT_UPDATE" | "ORDER_OPEN") => {
            counters.not_due.fetch_add(1, Ordering::Relaxed);
        }
        Err(r) => {
            tracing::warn!(code = r.code, "sweep: lapse failed");
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pacer_keeps_the_rate_on_average() {
        let mut p = Pacer::new(100);
        let start = tokio::time::Instant::now();
        for _ in 0..101 {
            p.wait().await;
        }
        let took = start.elapsed();
        // 100 intervals of 10 ms after the first start.
        assert!(took >= Duration::from_millis(990) && took <= Duration::from_millis(1010), "{took:?}");
    }
}
