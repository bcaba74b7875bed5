//! `gather fetch` against a misbehaving server: every fault ends, and every
//! input line is accounted for exactly once.

use std::time::Duration;

use crate::support::*;

#[test]
fn every_fault_gets_its_own_line_and_the_run_ends() {
    let env = Env::new("faults");
    let urls = vec![
        env.url("/reset"),                         // 0 connection reset
        env.url("/hang"),                          // 1 never answers
        env.url("/trickle?bytes=50&every_ms=100"), // 2 slow trickling body
        env.url("/flaky/a?fail=2"),                // 3 500, 500, then 200
        env.url("/limited/a?retry_after=1"),       // 4 429 with Retry-After: 1
        env.url("/truncated"),                     // 5 body cut short
        env.url("/big?bytes=300000"),              // 6 over --max-bytes
        env.url("/redirect-loop"),                 // 7 redirect loop
        env.url("/binary"),                        // 8 non-UTF-8 body
        env.url("/redirect/2"),                    // 9 two redirects, then a page
        "ftp://files.test/x".to_owned(),           // 10 unsupported scheme
        "http//missing-colon".to_owned(),          // 11 malformed
        env.url("/status/503"),                    // 12 503 every time
    ];
    let input = env.input("urls.txt", &urls);
    // Bounded by the timeouts: a few seconds. Killed (and failed) at 30 s,
    // long before the 120 s the hanging answer would hold a run that ignored
    // --timeout.
    let mut cmd = gather_cmd();
    cmd.args([
        "fetch",
        "-q",
        "--timeout",
        "1s",
        "--retries",
        "3",
        "--retry-delay",
        "20ms",
        "--max-bytes",
        "100k",
        "--max-redirects",
        "5",
        "--body",
        input.to_str().unwrap(),
    ]);
    let out = run_with(cmd, "", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let recs = records(&out.stdout);
    assert_eq!(
        indexes(&recs),
        (0..urls.len() as u64).collect::<Vec<_>>(),
        "each line exactly once, in order"
    );
    let kind = |i: usize| {
        recs[i]["error"]["kind"]
            .as_str()
            .unwrap_or("none")
            .to_owned()
    };

    assert_eq!(kind(0), "connect", "{}", recs[0]);
    assert_eq!(recs[0]["retries"], 3, "a reset is retried");
    assert_eq!(kind(1), "timeout", "{}", recs[1]);
    assert_eq!(kind(2), "timeout", "{}", recs[2]);
    assert_eq!(recs[3]["status"], 200);
    assert_eq!(recs[3]["retries"], 2);
    assert_eq!(recs[4]["status"], 200);
    assert_eq!(recs[4]["retries"], 1);
    assert!(
        recs[4]["elapsed_ms"].as_f64().unwrap() >= 1000.0,
        "Retry-After: 1 was honoured: {}",
        recs[4]
    );
    assert_eq!(kind(5), "body", "{}", recs[5]);
    assert_eq!(kind(6), "body_too_large", "{}", recs[6]);
    assert_eq!(kind(7), "redirect", "{}", recs[7]);
    assert_eq!(recs[8]["status"], 200);
    assert!(recs[8]["body_base64"].is_string());
    assert_eq!(recs[9]["status"], 200);
    assert!(recs[9]["final_url"].as_str().unwrap().ends_with("/page/0"));
    assert_eq!(kind(10), "unsupported_scheme");
    assert_eq!(kind(11), "invalid_url");
    assert_eq!(
        recs[12]["status"], 503,
        "after the retries, the last answer is the result"
    );
    assert_eq!(recs[12]["retries"], 3);
}

#[test]
fn a_body_over_max_bytes_without_content_length_is_an_error_not_a_crash() {
    let env = Env::new("bigstream");
    // No Content-Length to check up front: the cap is enforced while streaming.
    let input = env.input(
        "urls.txt",
        &[env.url("/endless"), env.url("/big?bytes=2000000")],
    );
    let out = run(&[
        "fetch",
        "-q",
        "--max-bytes",
        "1MiB",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out.stdout);
    assert_eq!(recs[0]["error"]["kind"], "body_too_large", "{}", recs[0]);
    assert_eq!(recs[1]["error"]["kind"], "body_too_large", "{}", recs[1]);
}

#[test]
fn total_timeout_keeps_what_finished_and_accounts_for_the_rest() {
    let env = Env::new("total");
    let urls = vec![env.url("/page/0"), env.url("/hang"), env.url("/page/2")];
    let input = env.input("urls.txt", &urls);
    let out = run(&[
        "fetch",
        "-q",
        "--total-timeout",
        "1s",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    let recs = records(&out.stdout);
    assert_eq!(indexes(&recs), [0, 1, 2]);
    assert_eq!(recs[1]["error"]["kind"], "total_timeout");
    assert_eq!(recs[2]["status"], 200);

    // Fail-fast: the ordered prefix is kept.
    let out = run(&[
        "fetch",
        "-q",
        "--fail-fast",
        "--total-timeout",
        "1s",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(indexes(&records(&out.stdout)), [0]);
    assert!(
        stderr(&out).contains("--total-timeout expired"),
        "{}",
        stderr(&out)
    );
}
