//! `gather fetch`: the whole run.
//!
//! [`fetch`] is a short pipeline of named steps: open the input, open the
//! output, plan (count, and check what `--resume` finds), start the
//! requests, collect their lines in order, conclude (summary and exit
//! status). Each step that cannot go on says why and gives the status.
//!
//! The requests are the engine's [`Run`]: started lazily in input order
//! under `--limit`, within the reorder window of the lines written, each
//! result handed back with its input line; the [`OrderedWriter`] puts the
//! lines back in input order. By default every URL gets its line, as
//! `gather(return_exceptions=True)` and as curl `--parallel`, wget and xargs
//! users expect. `--fail-fast` follows `gather()`'s default: the first
//! failure ends the run, but only once the lines before it are written, so
//! that no finished (or nearly finished) work ahead of the failure is lost;
//! the requests after it are dropped. `--total-timeout` ends the run at
//! once, keeping the ordered prefix.
//!
//! Ctrl-C stops the run without losing what was done: nothing new starts
//! (the input is not read further), and the requests in flight are waited
//! for (within `--timeout`), so that every answer is written and `--resume`
//! does not send a POST a second time. The lines finished past a gap (a
//! request that was waiting for its turn, never sent) are written too, out
//! of order, each with its `index`. A second Ctrl-C ends the run at once,
//! writing what finished and saying how many requests it dropped.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use crate::config::{refused, Config};
use crate::exit::{self, Exit};
use crate::input::{self, Job};
use crate::output::{self, OrderedWriter};
use crate::report::{self, Report};
use crate::shard::Manifest;
use gather_http::{FetchError, Fetcher, Finished, Kind, Run, UrlParser};

/// How the loop over results ended.
enum End {
    Complete,
    Failed(Job, FetchError),
    TimedOut,
    /// A second Ctrl-C: the requests still in flight (this many) were
    /// dropped.
    Interrupted {
        in_flight: usize,
    },
    /// Stopped by Ctrl-C, every request that may not be sent twice
    /// answered: the lines past a gap are written.
    Stopped,
    /// Standard output's reader went away (`| head -2`).
    ReaderGone,
}

/// `true` when `e` says the reader of standard output went away: the run
/// then ends quietly with status 0, as ripgrep and coreutils' tools do,
/// having had all the lines anyone wanted. (A file that cannot be written
/// is an error.)
fn reader_gone(e: &std::io::Error, config: &Config) -> bool {
    config.output.is_none() && e.kind() == std::io::ErrorKind::BrokenPipe
}

/// `gather fetch`: how it ended, for `main` to say and exit with.
pub(crate) async fn fetch(config: Config) -> Exit {
    match run(&config).await {
        Ok(exit) | Err(exit) => exit,
    }
}

/// The run, step by step. A step that cannot go on returns why, with its
/// exit status, as the error.
async fn run(config: &Config) -> Result<Exit, Exit> {
    let input = open_input(config)?;
    let (sink, mut records) = open_output(config)?;
    if config.retry_failed {
        let again = records.forget_failed();
        if again > 0 && !config.quiet {
            report::note(&format!("{again} lines with an error are fetched again"));
        }
    }
    let planned = Planned {
        // Failures kept from the earlier run: part of this output's outcome.
        kept_failures: records.failed(),
        rewrite: !records.in_order || records.has_gap(config.shard),
        todo: plan(config, &input, &records)?,
    };
    let fetcher = Fetcher::new(config.fetch.clone()).map_err(|e| Exit::usage(refused(e)))?;
    if let Some(lowered) = fetcher.limit_lowered() {
        if config.say_limit_lowered {
            report::warning(&format!("--limit {lowered}"));
        }
    }
    let fetcher = Arc::new(fetcher);
    let mut report = Report::new(planned.todo, config.quiet);
    report.show_windows(Box::new({
        let fetcher = fetcher.clone();
        move || fetcher.windows()
    }));
    let sink = sink.unwrap_or_else(|| report.stdout_beside_bar(std::io::stdout()));
    let mut writer = OrderedWriter::new(sink);
    let lines = input
        .source
        .lines()
        .map_err(|e| Exit::usage(format!("cannot read input {}: {e}", input.name)))?;
    // A read error ends the requests' lazy iterator; it is said once the
    // lines before it are written.
    let read_error: Arc<Mutex<Option<std::io::Error>>> = Arc::default();
    let jobs = lines.map_while({
        let read_error = read_error.clone();
        move |line| match line {
            Ok(job) => Some(job),
            Err(e) => {
                *lock(&read_error) = Some(e);
                None
            }
        }
    });
    let mut run = start(jobs, records, fetcher, &writer, config);
    let end = collect(&mut run, &mut writer, &mut report, config).await?;
    let discarded = run.counts().discarded;
    // Dropping the run cancels every request still in flight.
    drop(run);
    let read_failed = lock(&read_error).take();
    if let (Some(e), false) = (read_failed, matches!(end, End::ReaderGone)) {
        return Err(Exit::usage(format!(
            "reading input {} failed after {} lines written: {e}",
            input.name,
            writer.count()
        )));
    }
    conclude(end, discarded, writer, report, &planned, config)
}

/// What the plan found, for the conclusion.
struct Planned {
    /// Requests this run fetches.
    todo: usize,
    /// Failures an earlier run left in the output (`--resume`).
    kept_failures: usize,
    /// A resumed output out of index order, or with a gap: written again in
    /// order once every line is in.
    rewrite: bool,
}

/// The mutex's data, even if a thread panicked holding it: a panic in a
/// request is reported as its line, and the run goes on.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The input, opened, and its name for messages.
struct Input {
    source: input::Source,
    name: String,
}

/// Step 1: the input file (or stdin, with a word when it is a terminal).
fn open_input(config: &Config) -> Result<Input, Exit> {
    let name = config
        .input
        .as_ref()
        .map_or("stdin".to_owned(), |p| p.display().to_string());
    let from_stdin = config
        .input
        .as_deref()
        .is_none_or(|p| p == std::path::Path::new("-"));
    if from_stdin && std::io::stdin().is_terminal() && !config.quiet {
        // Otherwise it would wait without a word for what the user types.
        report::note("reading URLs from the terminal, one per line; end with Ctrl-D (or name a file: gather fetch urls.txt)");
    }
    match input::Source::open(config.input.as_deref()) {
        Ok(source) => Ok(Input { source, name }),
        Err(e) => Err(Exit::usage(format!("cannot read input {name}: {e}"))),
    }
}

/// Where lines go: `None` for standard output (made once the progress bar
/// is known), and the records an earlier run left (`--resume`).
type Output = (Option<Box<dyn Write + Send>>, output::Records);

/// Step 2: the output file, created, or opened for `--resume` with what it
/// already holds.
fn open_output(config: &Config) -> Result<Output, Exit> {
    match (&config.output, config.resume) {
        (Some(path), true) => match output::resume(path) {
            Ok(r) => Ok((Some(Box::new(r.file)), r.records)),
            Err(e) => Err(Exit::usage(e)),
        },
        (Some(path), false) => match std::fs::File::create(path) {
            Ok(f) => {
                // A manifest left by an earlier shard run describes a file
                // that is gone: a new shard run writes its own (in `plan`).
                let _ = std::fs::remove_file(Manifest::path(path));
                Ok((Some(Box::new(f)), Default::default()))
            }
            Err(e) => Err(Exit::usage(format!(
                "cannot create {}: {e}",
                path.display()
            ))),
        },
        (None, _) => Ok((None, Default::default())),
    }
}

/// Step 3, the first pass: count the URLs (the progress bar's total) and
/// check each line already in the output file against its input line,
/// before any request is made. Nothing is kept: memory does not grow with
/// the input. Returns how many URLs are left to fetch.
///
/// A shard's output gets its manifest here (`OUT.shard`, see
/// [`Manifest`]), before anything is fetched; with `--resume`, an earlier
/// manifest must name this shard of this list.
fn plan(config: &Config, input: &Input, records: &output::Records) -> Result<usize, Exit> {
    let found = match &config.output {
        Some(out) => Manifest::read(out).map_err(Exit::usage)?,
        None => None,
    };
    if let (Some(found), Some(out), true) = (&found, &config.output, config.resume) {
        // Another shard's output is refused before the input is read.
        let same_list = Manifest {
            shard: config.shard,
            ..*found
        };
        same_list.check_resume(found, out).map_err(Exit::usage)?;
    }
    let counted = count_and_check(input, records, config).map_err(Exit::usage)?;
    if let Some(out) = &config.output {
        let this = Manifest {
            shard: config.shard,
            lines: counted.lines,
            fingerprint: counted.fingerprint,
        };
        match found {
            Some(found) if config.resume => this.check_resume(&found, out).map_err(Exit::usage)?,
            None if config.resume && config.shard_given && !records.is_empty() => {
                return Err(Exit::usage(format!(
                    "cannot resume: {} has no manifest ({}) to say which shard of which list it holds \
                     (written without --shard, or by an older gather): fetch it again without --resume",
                    out.display(),
                    Manifest::path(out).display()
                )))
            }
            _ => {}
        }
        if config.shard_given {
            this.write(out).map_err(Exit::usage)?;
        }
    }
    let (total, checked) = (counted.mine, counted.checked);
    if total == 0 && !config.quiet {
        match config.shard.count {
            1 => report::note(&format!("no requests in {}: nothing to fetch", input.name)),
            n => report::note(&format!(
                "no requests for shard {} of {n} in {}: nothing to fetch",
                config.shard.index, input.name
            )),
        }
    }
    let todo = total - checked;
    if config.resume && !config.quiet {
        report::note(&format!(
            "{checked} of {total} requests already done; fetching {todo}"
        ));
    }
    Ok(todo)
}

/// Step 4: the second pass, read as requests start (lazily, under the
/// limit): jobs started and not yet written are the only ones in memory.
/// The engine's [`Run`] starts each (within the reorder window of the
/// lines written, not past a `--fail-fast` failure).
fn start(
    lines: impl Iterator<Item = Job> + Send + 'static,
    records: output::Records,
    fetcher: Arc<Fetcher>,
    writer: &OrderedWriter,
    config: &Config,
) -> Run<Job> {
    let mut urls = UrlParser::default();
    let rules = config.requests.clone();
    let shard = config.shard;
    let jobs = lines
        .filter(move |job| shard.keeps(job.index) && !records.contains(job.index))
        .map(move |mut job| gather_http::Job {
            index: job.index,
            request: rules.read(&mut job, &mut urls),
            meta: job,
        });
    Run::builder(fetcher)
        .reorder(writer.written())
        .reorder_window(config.reorder_window)
        .fail_fast(config.fail_fast)
        .total_timeout(config.total_timeout)
        .in_place(config.threads == Some(1))
        .start(jobs)
}

/// Step 5: results as they finish, each line handed to the writer in
/// its place, until every URL has its line or the run ends early.
async fn collect(
    run: &mut Run<Job>,
    writer: &mut OrderedWriter,
    report: &mut Report,
    config: &Config,
) -> Result<End, Exit> {
    // Boxed to be made again after a first Ctrl-C, which starts the stop:
    // what is in flight and may not be sent twice is finished, and a
    // second one ends the run at once.
    let ctrl_c = || -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> {
        Box::pin(tokio::signal::ctrl_c())
    };
    let mut interrupt = ctrl_c();
    // `--fail-fast`: the earliest failure so far (its job and error), the
    // run's `failed_at`.
    let mut failure: Option<(Job, FetchError)> = None;
    let cannot_write = |report: &mut Report, e: std::io::Error| {
        report.clear();
        Exit::usage(format!("cannot write output: {e}"))
    };
    let end = loop {
        // Checked on every result too: a long burst of ready results must
        // not hold back Ctrl-C.
        if poll_once(&mut interrupt).await.is_some() {
            if let Some(end) = interrupted(run, report) {
                break end;
            }
            interrupt = ctrl_c();
        }
        // A result that is ready now is taken without flushing; otherwise
        // what was written goes out before waiting.
        let next = match poll_once(run.next()).await {
            Some(next) => next,
            None => {
                if let Err(e) = writer.flush() {
                    if reader_gone(&e, config) {
                        break End::ReaderGone;
                    }
                    return Err(cannot_write(report, e));
                }
                tokio::select! {
                    biased;
                    _ = &mut interrupt => {
                        if let Some(end) = interrupted(run, report) {
                            break end;
                        }
                        interrupt = ctrl_c();
                        continue;
                    }
                    next = run.next() => next,
                }
            }
        };
        let Some(Finished {
            position: pos,
            meta: job,
            result,
        }) = next
        else {
            break if run.is_stopping() {
                End::Stopped
            } else if run.timed_out() {
                End::TimedOut
            } else {
                End::Complete
            };
        };
        let line = match result {
            Ok(page) => {
                report.record(run.counts(), page.elapsed);
                report.usage.add_answer(&page);
                output::page_line(&job, &page, &config.record)
            }
            Err(error) => {
                if config.fail_fast && error.kind == Kind::TotalTimeout {
                    break End::TimedOut;
                }
                report.record(run.counts(), error.elapsed);
                let line = output::error_line(&job, &error);
                if run.failed_at() == Some(pos) {
                    // The run ends here once every line before this one is
                    // written; nothing after it starts.
                    failure = Some((job, error));
                }
                line
            }
        };
        if let Err(e) = writer.insert(pos, line) {
            if reader_gone(&e, config) {
                break End::ReaderGone;
            }
            return Err(cannot_write(report, e));
        }
        if let (Some(cut), Some(_)) = (run.failed_at(), &failure) {
            if writer.count() > cut {
                let (job, error) = failure.take().expect("checked above");
                break End::Failed(job, error);
            }
        }
    };
    Ok(end)
}

/// A Ctrl-C. The first starts the stop: nothing new starts (the input is
/// not read further, and the fetcher takes no new turn), and the user is
/// told what the run is waiting for. A second ends the run now (its end).
fn interrupted(run: &Run<Job>, report: &Report) -> Option<End> {
    if run.is_stopping() {
        return Some(End::Interrupted {
            in_flight: run.in_flight(),
        });
    }
    run.stop_starting();
    report.clear();
    report::note("interrupted: finishing the requests in flight (Ctrl-C again to stop at once)");
    None
}

/// Step 6: the last lines out, the summary, and the exit status with the
/// line that explains it.
fn conclude(
    end: End,
    discarded: usize,
    mut writer: OrderedWriter,
    mut report: Report,
    planned: &Planned,
    config: &Config,
) -> Result<Exit, Exit> {
    let Some(lines) = write_the_rest(&end, &mut writer, config)? else {
        // The reader went away: it had every line it wanted.
        report.clear();
        return Ok(Exit::OK);
    };
    report.finish();
    // A resumed run that fetched lines again appended them after later
    // ones: once every line is written, the file goes back in index order.
    if let (End::Complete, Some(path), true) = (
        &end,
        &config.output,
        config.resume && (planned.rewrite || config.retry_failed),
    ) {
        output::put_in_order(path).map_err(Exit::usage)?;
    }
    let failed = report.counts.failed;
    Ok(exit_for(end, &lines, failed, discarded, planned, config))
}

/// The lines the end of a run wrote.
struct Lines {
    /// In input order.
    in_order: usize,
    /// After a gap (a request left for `--resume`), each with its index.
    past_gaps: usize,
    /// Held for a gap never filled, not written.
    dropped: usize,
}

/// Writes what is held: after Ctrl-C every answer, those past a gap too (a
/// POST's line left out would be sent again by `--resume`); otherwise what
/// is in order. `None` when standard output's reader went away.
fn write_the_rest(
    end: &End,
    writer: &mut OrderedWriter,
    config: &Config,
) -> Result<Option<Lines>, Exit> {
    if let End::ReaderGone = end {
        return Ok(None);
    }
    let written = (|| {
        let past_gaps = match end {
            End::Stopped | End::Interrupted { .. } => writer.finish_past_gaps()?,
            _ => 0,
        };
        let dropped = writer.finish()?;
        Ok(Lines {
            in_order: writer.count(),
            past_gaps,
            dropped,
        })
    })();
    match written {
        Ok(lines) => Ok(Some(lines)),
        Err(e) if reader_gone(&e, config) => Ok(None),
        Err(e) => Err(Exit::usage(format!("cannot write output: {e}"))),
    }
}

/// How the run ended, as its exit status and the line that explains it.
fn exit_for(
    end: End,
    lines: &Lines,
    failed: usize,
    discarded: usize,
    planned: &Planned,
    config: &Config,
) -> Exit {
    let written = lines.in_order;
    let resume_hint = match &config.output {
        Some(p) => format!(
            "; finish with: gather fetch ... -o {} --resume",
            p.display()
        ),
        None => String::new(),
    };
    match end {
        End::Complete if failed + planned.kept_failures == 0 => Exit::OK,
        End::Complete => {
            // Said even with -q: the exit status alone would not say which.
            let kept = match planned.kept_failures {
                0 => String::new(),
                n => format!(
                    " (and {n} kept from the earlier run: --retry-failed fetches them again)"
                ),
            };
            let (status_code, status) = if config.ok_if_complete {
                (
                    exit::OK,
                    "; every line is written, so the exit status is 0 (--ok-if-complete)",
                )
            } else {
                (exit::FAILED, " (--fail-fast stops at the first)")
            };
            Exit::new(
                status_code,
                format!(
                    "{failed} of {} requests failed{kept}; their lines carry \"error\"{status}",
                    planned.todo
                ),
            )
        }
        End::Failed(job, error) => {
            let index = job.index;
            let dropped = lines.dropped + discarded;
            Exit::new(exit::FAILED, format!(
                "URL {index} (line {}) {}: {}; --fail-fast stopped the run there: {written} lines written in order, the last one its error{}",
                job.line,
                job.raw,
                crate::config::said(&error),
                if dropped > 0 {
                    format!(" ({dropped} finished later lines not written)")
                } else {
                    String::new()
                }
            ))
        }
        End::TimedOut => Exit::new(
            exit::TIMED_OUT,
            format!("--total-timeout expired; {written} lines written in order{resume_hint}"),
        ),
        End::Interrupted { in_flight } => {
            // Those left were the ones the first Ctrl-C waited for: they
            // may have been processed.
            let dropped = match in_flight {
                0 => String::new(),
                1 => "; 1 request in flight was dropped, which the server may have \
                      processed: --resume sends it again"
                    .to_owned(),
                n => format!(
                    "; {n} requests in flight were dropped, which the server may have \
                     processed: --resume sends them again"
                ),
            };
            Exit::new(
                exit::INTERRUPTED,
                format!(
                    "interrupted; {written} lines written in order{}{dropped}{resume_hint}",
                    past_gaps_said(lines.past_gaps)
                ),
            )
        }
        End::Stopped => Exit::new(
            exit::INTERRUPTED,
            format!(
                "interrupted; {written} lines written in order{}{resume_hint}",
                past_gaps_said(lines.past_gaps)
            ),
        ),
        End::ReaderGone => Exit::OK,
    }
}

/// The lines written after a gap, said after those written in order.
fn past_gaps_said(n: usize) -> String {
    match n {
        0 => String::new(),
        n => format!(", and {n} finished after a request left for --resume (each with its index)"),
    }
}

/// What the first pass found.
struct Counted {
    /// URL lines in the whole input.
    lines: usize,
    /// Of them, this shard's.
    mine: usize,
    /// Of this shard's, those the output already records.
    checked: usize,
    /// FNV-1a of the input's bytes.
    fingerprint: u64,
}

/// The first pass over the input: how many URLs it has, how many for
/// `shard`, and how many of them the output file already records (each
/// record checked against its line, and against `shard`).
fn count_and_check(
    input: &Input,
    records: &output::Records,
    config: &Config,
) -> Result<Counted, String> {
    let shard = config.shard;
    let mut urls = UrlParser::default();
    let unreadable = |e: std::io::Error| format!("cannot read input {}: {e}", input.name);
    let mut lines = input.source.lines().map_err(unreadable)?.fingerprinted();
    let (mut total, mut checked) = (0, 0);
    if records.is_empty() {
        // Nothing to check a line against: count without making jobs.
        while lines.skip_job().map_err(unreadable)? {
            total += 1;
        }
    }
    for job in &mut lines {
        let mut job = job.map_err(unreadable)?;
        total += 1;
        if records.contains(job.index) {
            if !shard.keeps(job.index) {
                return Err(format!(
                    "cannot resume: the output holds index {}, which is not shard {} of {}'s (resume each shard into its own file)",
                    job.index, shard.index, shard.count
                ));
            }
            // A request line's url and id, as its record has them (a line
            // that cannot be sent has them too, as far as it got).
            let _ = config.requests.read(&mut job, &mut urls);
            records
                .check(&job)
                .map_err(|e| format!("cannot resume: {e}"))?;
            checked += 1;
        }
    }
    // Checked against the whole input: indices are global.
    records
        .check_count(total)
        .map_err(|e| format!("cannot resume: {e}"))?;
    // This shard's share of indices 0..total.
    let mine = (total + shard.count - 1 - shard.index) / shard.count;
    Ok(Counted {
        lines: total,
        mine,
        checked,
        fingerprint: lines.fingerprint().expect("fingerprinted above"),
    })
}

/// Polls `future` once: its output if it is ready now, else `None` (the
/// future is dropped, so it must be cancel safe, as `AsCompleted::next` is).
async fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match future.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
