//! Per-origin windows that adapt (`PerHost::Auto`, the default), against
//! the page server: a site with room gets a wide window, a small site
//! about its capacity with a short queue, and a site that sheds load few
//! refusals. Kindness is judged from the server's side (its queue over
//! time, the requests it refused); no assertion is on time.

use std::sync::Arc;
use std::time::Duration;

use gather_http::{FetchConfig, Fetcher, Job, Request, Run, Versions};
use gather_pageserver::capacity::CapacityConfig;
use gather_pageserver::Server;
use url::Url;

/// Fetches `n` pages of `server` at the engine's defaults (plus
/// `retries`); every page's status, and the fetcher for its windows.
async fn fetch(server: &Server, n: usize, retries: u32) -> (Vec<u16>, Arc<Fetcher>) {
    let config = FetchConfig {
        retries,
        retry_base: Duration::from_millis(50),
        versions: Versions::Http1Only,
        ..FetchConfig::default()
    };
    let fetcher = Arc::new(Fetcher::new(config).unwrap());
    let jobs: Vec<Job<()>> = (0..n)
        .map(|i| Job {
            index: i,
            request: Ok(Request {
                url: Url::parse(&server.url(&format!("/page/{i}"))).unwrap(),
                payload: None,
            }),
            meta: (),
        })
        .collect();
    let mut run = Run::builder(fetcher.clone()).start(jobs.into_iter());
    let mut statuses = vec![0; n];
    let all = async {
        while let Some(done) = run.next().await {
            statuses[done.position] = done.result.map_or(0, |p| p.status);
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("the run ends");
    (statuses, fetcher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_with_room_gets_a_wide_window() {
    // Unlimited capacity, every page 50 ms away.
    let server = Server::start(Duration::from_millis(50)).await.unwrap();
    let (statuses, fetcher) = fetch(&server, 1000, 0).await;
    assert!(statuses.iter().all(|&s| s == 200));
    let windows = fetcher.windows();
    let (_, w) = &windows[0];
    assert!(w.window >= 64, "window {} for a site with room", w.window);
    let peak = server.peak_connections();
    assert!(
        peak > 32,
        "{peak} connections at once: more than a fixed 8 gives"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_site_gets_about_its_capacity_with_a_short_queue() {
    let server = Server::start_capacity(CapacityConfig {
        workers: 8,
        service: Duration::from_millis(20),
        shed_after: None,
    })
    .await
    .unwrap();
    let (statuses, fetcher) = fetch(&server, 600, 0).await;
    assert!(statuses.iter().all(|&s| s == 200));
    let stats = server.capacity().unwrap().stats();
    // A window of 256 (the limit) would keep ~248 waiting.
    assert!(
        stats.mean_waiting <= 4.0,
        "{} requests waiting on average at a site of 8 workers",
        stats.mean_waiting
    );
    let (_, w) = &fetcher.windows()[0];
    assert!((6..=20).contains(&w.window), "window {}", w.window);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_that_sheds_load_refuses_few_and_every_page_comes() {
    let server = Server::start_capacity(CapacityConfig {
        workers: 8,
        service: Duration::from_millis(20),
        shed_after: Some(8),
    })
    .await
    .unwrap();
    let (statuses, _) = fetch(&server, 600, 5).await;
    assert!(statuses.iter().all(|&s| s == 200), "every page in the end");
    let stats = server.capacity().unwrap().stats();
    assert!(
        stats.shed * 50 <= 600,
        "{} of 600 requests refused with 503 (2% is 12)",
        stats.shed
    );
}
