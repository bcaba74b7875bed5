//! A whole run ([`Run`]) against the page server: every result back with
//! what its job carried, the counts of a summary, fail-fast, the overall
//! deadline, the stop that loses nothing; and the engine's defaults and
//! configuration errors, which every front door shares.

use std::sync::Arc;
use std::time::Duration;

use gather_http::{
    FetchConfig, FetchError, Fetcher, Finished, Job, Kind, Politeness, Request, Run, Setting,
    Versions,
};
use gather_pageserver::Server;
use url::Url;

fn fetcher(limit: usize, timeout: Duration) -> Arc<Fetcher> {
    let config = FetchConfig {
        limit,
        timeout,
        versions: Versions::Http1Only,
        politeness: Politeness::NONE,
        ..FetchConfig::default()
    };
    Arc::new(Fetcher::new(config).unwrap())
}

fn get(server: &Server, index: usize, path: &str) -> Job<String> {
    Job {
        index,
        request: Ok(Request {
            url: Url::parse(&server.url(path)).unwrap(),
            payload: None,
        }),
        meta: path.to_owned(),
    }
}

fn refused(index: usize) -> Job<String> {
    Job {
        index,
        request: Err(FetchError::immediate(Kind::InvalidUrl, "no host".into())),
        meta: "refused".to_owned(),
    }
}

async fn all<M>(run: &mut Run<M>) -> Vec<Finished<M>> {
    let mut done = Vec::new();
    let collect = async {
        while let Some(f) = run.next().await {
            done.push(f);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .expect("the run ends");
    done.sort_by_key(|f| f.position);
    done
}

/// Each result comes back with its job's value, at its position, and the
/// run counts what a summary says: a page, an HTTP error status (a page,
/// not a failure), a request refused before it was sent (a failure).
#[tokio::test]
async fn every_result_comes_back_with_its_job_and_is_counted() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let jobs = vec![
        get(&server, 10, "/page/0"),
        get(&server, 11, "/status/404"),
        refused(12),
        get(&server, 13, "/page/3"),
    ];
    let mut run = Run::builder(fetcher(4, Duration::from_secs(10))).start(jobs.into_iter());
    let done = all(&mut run).await;
    let seen: Vec<(usize, &str, Option<u16>)> = done
        .iter()
        .map(|f| {
            let status = f.result.as_ref().ok().map(|p| p.status);
            (f.position, f.meta.as_str(), status)
        })
        .collect();
    assert_eq!(
        seen,
        [
            (0, "/page/0", Some(200)),
            (1, "/status/404", Some(404)),
            (2, "refused", None),
            (3, "/page/3", Some(200)),
        ]
    );
    let counts = run.counts();
    assert_eq!(
        (counts.ok, counts.http_errors, counts.failed, counts.done()),
        (2, 1, 1, 4)
    );
    assert_eq!(run.in_flight(), 0);
}

/// Fail-fast: the earliest failure in input order is where the run ends.
/// The results before it come back, nothing after it does, and the
/// requests after it are not sent (at most those started before the
/// failure was seen).
#[tokio::test]
async fn fail_fast_ends_the_run_at_the_earliest_failure() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let mut jobs = vec![get(&server, 0, "/page/0?delay_ms=200"), refused(1)];
    jobs.extend((2..40).map(|i| get(&server, i, &format!("/page/{i}"))));
    let mut run = Run::builder(fetcher(2, Duration::from_secs(10)))
        .fail_fast(true)
        .start(jobs.into_iter());
    let done = all(&mut run).await;
    let positions: Vec<usize> = done.iter().map(|f| f.position).collect();
    assert_eq!(positions, [0, 1], "the result before the failure, and it");
    assert!(done[0].result.is_ok());
    assert_eq!(done[1].result.as_ref().unwrap_err().kind, Kind::InvalidUrl);
    assert_eq!(run.failed_at(), Some(1));
    let sent = server.requests();
    assert!(
        (1..=3).contains(&sent),
        "{sent} requests sent: the one before the failure, and at most the two the \
         limit (2 on the wire) let go before the failure was seen"
    );
}

/// The overall deadline: what is not finished by then comes back as a
/// `total_timeout` error naming its setting, and the run says it timed
/// out.
#[tokio::test]
async fn the_overall_deadline_ends_every_request_not_finished() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let jobs = vec![
        get(&server, 0, "/page/0"),
        get(&server, 1, "/page/1?delay_ms=20000"),
        get(&server, 2, "/page/2?delay_ms=20000"),
    ];
    let mut run = Run::builder(fetcher(2, Duration::from_secs(60)))
        .total_timeout(Some(Duration::from_millis(300)))
        .start(jobs.into_iter());
    let done = all(&mut run).await;
    assert_eq!(done.len(), 3);
    assert!(done[0].result.is_ok());
    for f in &done[1..] {
        let e = f.result.as_ref().unwrap_err();
        assert_eq!(e.kind, Kind::TotalTimeout, "{e}");
        assert_eq!(e.setting, Some(Setting::TotalTimeout));
        assert!(e.message.contains("total timeout of 300ms"), "{e}");
    }
    assert!(run.timed_out());
    assert_eq!(run.counts().failed, 2);
}

/// A stop (a first Ctrl-C): the request in flight finishes and comes back;
/// nothing after it is read or sent, and nothing unsent comes back.
#[tokio::test]
async fn a_stop_finishes_what_is_in_flight_and_starts_nothing() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let jobs = (0..10).map({
        let server = server.url("");
        move |i| Job {
            index: i,
            request: Ok(Request {
                url: Url::parse(&format!("{server}/page/{i}?delay_ms=300")).unwrap(),
                payload: None,
            }),
            meta: i,
        }
    });
    let mut run = Run::builder(fetcher(1, Duration::from_secs(10))).start(jobs);
    // Polled until the first request is in flight (`next` is cancel safe).
    let early = tokio::time::timeout(Duration::from_millis(100), run.next()).await;
    assert!(early.is_err(), "nothing finished in 100 ms");
    // A window's worth started (4x the limit): one on the wire, three
    // waiting for their turn.
    assert_eq!(run.in_flight(), 4);
    assert_eq!(server.requests(), 1);
    run.stop_starting();
    let done = all(&mut run).await;
    let positions: Vec<usize> = done.iter().map(|f| f.position).collect();
    assert_eq!(positions, [0], "the one in flight, answered");
    assert!(done[0].result.is_ok());
    assert_eq!(server.requests(), 1, "nothing after it was sent");
}

/// A request's timeout is said in the engine's words with its value, and
/// names its setting for the front door's own word (no flag in it).
#[tokio::test]
async fn a_timeout_names_its_setting_not_a_flag() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let jobs = vec![get(&server, 0, "/page/0?delay_ms=5000")];
    let mut run = Run::builder(fetcher(1, Duration::from_millis(200))).start(jobs.into_iter());
    let done = all(&mut run).await;
    let e = done[0].result.as_ref().unwrap_err();
    assert_eq!(e.kind, Kind::Timeout);
    assert_eq!(e.setting, Some(Setting::Timeout));
    assert_eq!(
        e.message,
        "no complete answer within the request timeout of 200ms"
    );
}

/// The engine's defaults, which every front door starts from.
#[test]
fn the_defaults_are_the_engines() {
    let d = FetchConfig::default();
    assert_eq!(d.limit, 512);
    assert_eq!(d.timeout, Duration::from_secs(30));
    assert_eq!(d.retries, 0);
    assert_eq!(d.max_bytes, None);
    assert_eq!(d.body_limit(), 10 << 20);
    assert_eq!(d.max_redirects, 10);
    assert_eq!(d.politeness.per_host, gather_http::PerHost::Auto);
    assert!(d.politeness.server_limits);
    assert!(d.decode);
    assert_eq!(d.window(), 32_768);
}

/// A file a configuration names is checked before anything is sent; the
/// error names its setting and the value, never a front door's flag.
#[test]
fn files_a_configuration_names_are_checked_with_their_setting() {
    let dir = std::env::temp_dir().join(format!("gather-http-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let e = FetchConfig::ca_file(&not_pem).unwrap_err();
    assert_eq!(e.setting(), Setting::CaFile);
    assert_eq!(
        e.detail(),
        format!("{}: no PEM certificate in the file", not_pem.display())
    );
    assert!(!e.to_string().contains("--"), "{e}");
    // A folder cannot be made under a file.
    let e = FetchConfig::save_dir(&not_pem.join("bodies")).unwrap_err();
    assert_eq!(e.setting(), Setting::SaveDir);
    let made = FetchConfig::save_dir(&dir.join("a/b")).unwrap();
    assert!(made.is_dir());
    let agent = FetchConfig {
        user_agent: "a\nb".into(),
        ..FetchConfig::default()
    };
    let e = Fetcher::new(agent).err().expect("refused");
    assert_eq!(e.setting(), Setting::UserAgent);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The abort: dropping a run drops what is on the wire, and no request
/// waiting for its turn is sent with the permits they give back (on a
/// pool, each request a task: those tasks are aborted one by one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_run_sends_nothing_more() {
    // The race is a moment wide: tried a few times.
    for _ in 0..5 {
        let server = Server::start(Duration::ZERO).await.unwrap();
        let jobs: Vec<Job<String>> = (0..400).map(|i| get(&server, i, "/hang")).collect();
        let mut run = Run::builder(fetcher(32, Duration::from_secs(60))).start(jobs.into_iter());
        let wire = async {
            while server.requests() < 32 {
                let _ = tokio::time::timeout(Duration::from_millis(10), run.next()).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wire)
            .await
            .expect("32 on the wire");
        drop(run);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.requests(), 32, "nothing sent after the drop");
    }
}

/// Runs on [`Fetcher::share`]s of one fetcher (a long-lived client's
/// calls): one dropped mid-run stops only itself, and the next run goes
/// on over the same per-origin state.
#[tokio::test]
async fn a_run_dropped_stops_its_share_not_the_fetcher_it_shares() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let client = fetcher(8, Duration::from_secs(10));
    let hanging: Vec<_> = (0..4).map(|i| get(&server, i, "/hang")).collect();
    let pages: Vec<_> = (0..20)
        .map(|i| get(&server, i, &format!("/page/{i}")))
        .collect();
    let held = Run::builder(Arc::new(client.share())).start(hanging.into_iter());
    let mut other = Run::builder(Arc::new(client.share())).start(pages.into_iter());
    drop(held);
    let done = all(&mut other).await;
    assert_eq!(done.len(), 20);
    for f in &done {
        assert_eq!(
            f.result.as_ref().map(|p| p.status).ok(),
            Some(200),
            "{}",
            f.meta
        );
    }
    let stopped = client.share();
    stopped.stop_starting();
    let url = Url::parse(&server.url("/page/1")).unwrap();
    assert_eq!(
        stopped.fetch(0, &url).await.unwrap_err().kind,
        Kind::Cancelled
    );
    assert_eq!(client.fetch(1, &url).await.unwrap().status, 200);
}
