//! `gather fetch` for APIs: JSON Lines requests against the page server's
//! rate-limited API (request and token buckets, each header family, 429s,
//! 500s, an API key, a count of requests processed twice), curl's flags on
//! URL lines, ids in the records and on `--resume`.

use std::time::Duration;

use gather_pageserver::api::{ApiLimits, Family};
use serde_json::{json, Value};

use crate::support::*;

/// `n` chat requests in the OpenAI Batch API's shape, each with a body of
/// its own (the server judges "processed twice" by the body).
fn batch(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            json!({
                "custom_id": format!("req-{i}"),
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "m", "max_tokens": 40, "messages": [{"role": "user", "content": format!("question {i} {}", "x".repeat(80))}]},
            })
            .to_string()
        })
        .collect()
}

/// Limits that bind: 3,000 requests a minute (50 a second) and 240,000
/// tokens a minute (4,000 a second: about 36 of these requests), enforced
/// per second, as OpenAI says its limits may be.
fn binding(family: Family) -> ApiLimits {
    ApiLimits {
        requests_per_minute: 3000,
        tokens_per_minute: Some(240_000),
        burst_seconds: 1.0,
        family,
        ..ApiLimits::default()
    }
}

fn fetch_batch(env: &Env, lines: &[String], extra: &[&str]) -> std::process::Output {
    let input = env.input("batch.jsonl", lines);
    let out = env.path("answers.jsonl");
    let base = env.server.url("");
    let mut args = vec![
        "fetch",
        input.to_str().unwrap(),
        "--base-url",
        &base,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut cmd = gather_cmd();
    cmd.args(&args);
    run_with(cmd, "", Duration::from_secs(120))
}

/// The target the issue sets, in counts (time is the benchmark's): every
/// request answered, in input order with its id, 429s on at most 2% of
/// requests, none processed twice; for each family of limit fields.
#[test]
fn a_batch_is_paced_by_the_limits_each_header_family_announces() {
    for family in [Family::OpenAi, Family::Anthropic, Family::Ietf] {
        let env = Env::with_api("api-family", binding(family));
        let n = 240;
        let out = fetch_batch(&env, &batch(n), &["--body", "--retries", "8"]);
        assert_eq!(out.status.code(), Some(0), "{family:?}: {}", stderr(&out));
        let records = records(&std::fs::read(env.path("answers.jsonl")).unwrap());
        assert_eq!(records.len(), n);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r["index"], i as u64);
            assert_eq!(
                r["id"],
                format!("req-{i}"),
                "{family:?}: ids in input order"
            );
            assert_eq!(r["status"], 200, "{family:?}: {r}");
            assert_eq!(r["json"]["object"], "chat.completion", "embedded as JSON");
        }
        let stats = env.server.api_stats();
        assert_eq!(stats.processed, n as u64, "{family:?}");
        assert_eq!(stats.duplicates, 0, "{family:?}: none processed twice");
        assert!(
            stats.limited * 50 <= n as u64,
            "{family:?}: {} 429s for {n} requests (at most 2%)",
            stats.limited
        );
        let err = stderr(&out);
        assert!(
            err.contains(&format!("over {n} answers")) && err.contains("tokens:"),
            "the summary adds up usage: {err}"
        );
    }
}

/// Without reading the fields (`--no-server-limits`) a run goes over the
/// limit: against one request a second, 20 requests sent as fast as the
/// client goes collect 429s (none is retried here). How many a flood
/// collects next to a paced run is the benchmark's to measure
/// (`scripts/bench_api.py`): in a test it depends on how fast a loaded
/// machine runs the client.
#[test]
fn ignoring_the_announced_limits_goes_over_them() {
    let env = Env::with_api(
        "api-flood",
        ApiLimits {
            requests_per_minute: 60,
            ..ApiLimits::default()
        },
    );
    let out = fetch_batch(&env, &batch(20), &["--no-server-limits"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stats = env.server.api_stats();
    assert!(stats.limited >= 10, "{stats:?}");
    let records = records(&std::fs::read(env.path("answers.jsonl")).unwrap());
    let limited = records.iter().filter(|r| r["status"] == 429).count();
    assert_eq!(
        limited as u64, stats.limited,
        "each 429 is its line's answer"
    );
    assert_eq!(stats.duplicates, 0);
}

/// A 500 is retried (the server said it did not process it); a POST is
/// never processed twice.
#[test]
fn server_errors_are_retried_without_processing_anything_twice() {
    let env = Env::with_api(
        "api-500",
        ApiLimits {
            fail_every: 7,
            ..binding(Family::OpenAi)
        },
    );
    let out = fetch_batch(&env, &batch(100), &["--retries", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stats = env.server.api_stats();
    assert!(stats.failed >= 10, "{stats:?}");
    assert_eq!((stats.processed, stats.duplicates), (100, 0));
    let records = records(&std::fs::read(env.path("answers.jsonl")).unwrap());
    let retries: u64 = records.iter().map(|r| r["retries"].as_u64().unwrap()).sum();
    assert_eq!(
        retries,
        stats.failed + stats.limited,
        "each 500 (and 429) is one retry of its line"
    );
}

/// The key comes from the environment (`--header-env`) or a file
/// (`-H @FILE`), never from the command line; a missing variable is a
/// usage error naming it, before anything is sent.
#[test]
fn the_api_key_comes_from_the_environment_or_a_file() {
    let env = Env::with_api(
        "api-key",
        ApiLimits {
            key: Some("sk-test-123".to_owned()),
            ..binding(Family::OpenAi)
        },
    );
    let lines = batch(5);
    let input = env.input("batch.jsonl", &lines);
    let base = env.server.url("");
    let mut cmd = gather_cmd();
    cmd.args(["fetch", "-q", input.to_str().unwrap(), "--base-url", &base])
        .args(["--header-env", "Authorization: Bearer $GATHER_TEST_KEY"])
        .env("GATHER_TEST_KEY", "sk-test-123");
    let out = run_with(cmd, "", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(records(&out.stdout).iter().all(|r| r["status"] == 200));

    let keyfile = env.path("key.txt");
    std::fs::write(&keyfile, "x-api-key: sk-test-123\n").unwrap();
    let out = run(&[
        "fetch",
        "-q",
        input.to_str().unwrap(),
        "--base-url",
        &base,
        "-H",
        &format!("@{}", keyfile.display()),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(records(&out.stdout).iter().all(|r| r["status"] == 200));

    let before = env.server.api_stats();
    let mut cmd = gather_cmd();
    cmd.args(["fetch", input.to_str().unwrap(), "--base-url", &base])
        .args(["--header-env", "Authorization: Bearer $GATHER_TEST_MISSING"])
        .env_remove("GATHER_TEST_MISSING");
    let out = run_with(cmd, "", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("GATHER_TEST_MISSING is not set"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.server.api_stats(), before, "nothing was sent");

    let out = run(&["fetch", "-q", input.to_str().unwrap(), "--base-url", &base]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "401 is an answer, not a failure"
    );
    assert!(records(&out.stdout).iter().all(|r| r["status"] == 401));
}

/// A line that cannot be sent gets its own error line at its index (with
/// its id when it has one); every other line is sent.
#[test]
fn bad_request_lines_get_error_lines_and_the_rest_are_sent() {
    let env = Env::with_api("api-bad", binding(Family::OpenAi));
    let mut lines = batch(4);
    lines.insert(
        1,
        r#"{"custom_id": "broken", "url": "/v1/x", "body": {}"#.to_owned(),
    );
    lines.insert(
        3,
        r#"{"id": 7, "url": "/v1/x", "body": {}, "body_text": "x"}"#.to_owned(),
    );
    lines.insert(4, r#"{"id": 8, "method": "POST"}"#.to_owned());
    let out = fetch_batch(&env, &lines, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let records = records(&std::fs::read(env.path("answers.jsonl")).unwrap());
    assert_eq!(records.len(), 7);
    let kinds: Vec<Value> = records.iter().map(|r| r["error"]["kind"].clone()).collect();
    assert_eq!(
        kinds,
        [
            Value::Null,
            json!("invalid_request"),
            Value::Null,
            json!("invalid_request"),
            json!("invalid_request"),
            Value::Null,
            Value::Null
        ]
    );
    assert!(records[3]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("two bodies"));
    assert!(records[4]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no \"url\""));
    assert_eq!(records[3]["id"], 7);
    assert_eq!(env.server.api_stats().processed, 4);
}

/// `--resume` finishes a batch, and refuses an input whose ids moved even
/// when every line has the same URL.
#[test]
fn resume_checks_each_lines_id() {
    let env = Env::with_api("api-resume", binding(Family::OpenAi));
    let lines = batch(30);
    let out = fetch_batch(&env, &lines, &["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let path = env.path("answers.jsonl");
    let full = std::fs::read_to_string(&path).unwrap();
    let first: String = full.lines().take(10).map(|l| format!("{l}\n")).collect();

    // The same file with two ids swapped: refused, nothing sent.
    let mut swapped = lines.clone();
    swapped.swap(3, 4);
    std::fs::write(&path, &first).unwrap();
    let before = env.server.api_stats().processed;
    let out = fetch_batch(&env, &swapped, &["--resume"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("another request"), "{}", stderr(&out));
    assert!(stderr(&out).contains("\"req-4\""), "{}", stderr(&out));
    assert_eq!(env.server.api_stats().processed, before);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        first,
        "left as it was"
    );

    let out = fetch_batch(&env, &lines, &["--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("10 of 30 requests already done"),
        "{}",
        stderr(&out)
    );
    let ids: Vec<Value> = records(&std::fs::read(&path).unwrap())
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    let want: Vec<Value> = (0..30).map(|i| json!(format!("req-{i}"))).collect();
    assert_eq!(ids, want);
    assert_eq!(env.server.api_stats().processed, before + 20);
}

/// curl's words for URL lines: `-X`, `-d` (and `@file`), `--json`; and a
/// kept response field.
#[test]
fn curls_flags_send_a_method_and_body_with_every_url_line() {
    let env = Env::new("api-curl");
    let urls = vec![env.url("/echo"), env.url("/echo")];
    let input = env.input("urls.txt", &urls);
    let input = input.to_str().unwrap();
    let out = run(&["fetch", "-q", input, "--body", "-d", "a=1&b=2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for r in records(&out.stdout) {
        assert_eq!(r["body"], "POST\na=1&b=2");
    }
    let data = env.path("data.txt");
    std::fs::write(&data, "a=1\n&b=2\n").unwrap();
    let at = format!("@{}", data.display());
    let out = run(&["fetch", "-q", input, "--body", "-X", "PUT", "-d", &at]);
    assert_eq!(
        records(&out.stdout)[0]["body"],
        "PUT\na=1&b=2",
        "newlines removed, as curl does"
    );
    let out = run(&[
        "fetch",
        "-q",
        input,
        "--body",
        "--json",
        r#"{"q": 1}"#,
        "--keep-header",
        "Content-Type",
    ]);
    let r = &records(&out.stdout)[1];
    assert_eq!(r["body"], "POST\n{\"q\": 1}");
    assert_eq!(
        r["headers"],
        json!({"content-type": "application/octet-stream"})
    );
    let out = run(&["fetch", "-q", input, "--json", "{not json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--json: not JSON"),
        "{}",
        stderr(&out)
    );
}

/// A POST whose connection is lost after it was written is not sent
/// again, however many retries: the server may have processed it.
#[test]
fn a_post_lost_after_it_was_written_is_not_sent_again() {
    let env = Env::new("api-drop");
    let line =
        json!({"id": "once", "url": env.url("/drop-after-read/k1"), "body": {"a": 1}}).to_string();
    let input = env.input("batch.jsonl", &[line]);
    let out = run(&["fetch", "-q", input.to_str().unwrap(), "--retries", "5"]);
    assert_eq!(out.status.code(), Some(1));
    let r = &records(&out.stdout)[0];
    assert_eq!(
        (r["error"]["kind"].as_str(), r["retries"].as_u64()),
        (Some("connect"), Some(0))
    );
    assert_eq!(r["id"], "once");
    let mut cmd = gather_cmd();
    cmd.args(["fetch", "-q", "--body"]);
    let out = run_with(cmd, &env.url("/count/k1"), Duration::from_secs(30));
    assert_eq!(records(&out.stdout)[0]["body"], "1", "processed once");
}

/// A list of GETs (a geocoding or search API's lookups) is paced by the
/// limits the answers announce, as a batch of POSTs is: every answer
/// tells the origin's pacing, not only those of requests with a body.
/// (Until this test, a GET that was not redirected never did, and a URL
/// list ran into the limit as a flood does.)
#[test]
fn a_list_of_gets_is_paced_by_the_announced_limits_too() {
    let env = Env::with_api(
        "api-gets",
        ApiLimits {
            requests_per_minute: 3000,
            burst_seconds: 1.0,
            ..ApiLimits::default()
        },
    );
    let n = 150;
    let lines: Vec<String> = (0..n)
        .map(|i| env.server.url(&format!("/v1/geocode?q={i}")))
        .collect();
    let input = env.input("lookups.txt", &lines);
    let out_path = env.path("answers.jsonl");
    let mut cmd = gather_cmd();
    cmd.args(["fetch", input.to_str().unwrap(), "-o"])
        .arg(&out_path);
    let out = run_with(cmd, "", Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = records(&std::fs::read(&out_path).unwrap());
    assert_eq!(records.len(), n);
    assert!(
        records.iter().all(|r| r["status"] == 200),
        "every lookup answered"
    );
    let stats = env.server.api_stats();
    assert_eq!(stats.processed, n as u64);
    assert_eq!(stats.duplicates, 0);
    assert!(
        stats.limited * 50 <= n as u64,
        "{} 429s for {n} GETs (at most 2%)",
        stats.limited
    );
}

/// A request file far larger than what is in flight is read as requests
/// start: peak memory for 500,000 chat requests (~140 MB of JSON Lines)
/// is that of 50,000. The first 2,000 go to `/echo` (every body answered,
/// as many as the machine manages before the deadline), the rest to a
/// server that never answers, cut by `--total-timeout` and written as
/// read, each line with its id, so both the sending and the deadline's
/// paths read the file without holding it.
#[test]
#[ignore = "needs GNU time (/usr/bin/time)"]
fn a_request_file_is_read_as_it_is_sent_in_flat_memory() {
    require("/usr/bin/time");
    let env = Env::new("jsonl-flat");
    let echo = env.url("/echo");
    let hang = env.url("/hang");
    let run = |n: usize| -> u64 {
        let input = env.path(&format!("requests-{n}.jsonl"));
        {
            use std::io::Write;
            let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
            // 2,000 answered, then the rest to a server that never
            // answers, cut by the deadline.
            for i in 0..n {
                let url = if i < 2_000 { &echo } else { &hang };
                let body = json!({"model": "m", "max_tokens": 40, "messages": [{"role": "user", "content": format!("question {i} {}", "x".repeat(120))}]});
                writeln!(
                    f,
                    "{}",
                    json!({"custom_id": format!("r{i}"), "url": url, "body": body})
                )
                .unwrap();
            }
        }
        let output = env.path(&format!("out-{n}.jsonl"));
        // How many of the 2,000 to `/echo` are answered before the
        // deadline depends on the machine (a loaded CI machine answered
        // 1,985 of them in 3 s): each is answered or cut, never anything
        // else, and at least one is answered, so the sending path ran.
        let answered = std::cell::Cell::new(0usize);
        let peak = peak_kb_at_a_deadline(&input, &output, "3s", n, |i, line| {
            let ours = line.starts_with(&format!("{{\"index\":{i},"))
                && line.contains(&format!("\"id\":\"r{i}\""));
            let ok = line.contains("\"status\":200");
            answered.set(answered.get() + usize::from(ok));
            ours && (line.contains("\"total_timeout\"") || ok && i < 2_000)
        });
        assert!(
            answered.get() > 0,
            "no request answered before the deadline"
        );
        peak
    };
    assert_flat_peak(run(50_000), run(500_000), "requests (50,000 and 500,000)");
}

/// Ctrl-C in the middle of a batch of POSTs, then `--resume`, as a user
/// would: the API has processed every request exactly once. The POSTs in
/// flight at the interrupt (each taking the API 400 ms) are waited for and
/// written, so the resumed run does not send them again. (Before, they
/// were dropped unrecorded, and `--resume` sent every one of them a
/// second time.)
#[test]
fn ctrl_c_then_resume_processes_every_post_once() {
    let env = Env::with_api(
        "api-sigint",
        ApiLimits {
            requests_per_minute: 1_000_000,
            latency: Duration::from_millis(400),
            ..ApiLimits::default()
        },
    );
    let n = 60;
    let input = env.input("batch.jsonl", &batch(n));
    let out = env.path("answers.jsonl");
    let base = env.server.url("");
    let args = |resume: bool| {
        let mut cmd = gather_cmd();
        cmd.args([
            "fetch",
            input.to_str().unwrap(),
            "--base-url",
            &base,
            "--limit",
            "8",
        ])
        .arg("-o")
        .arg(&out);
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let mut first = args(false);
    first
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = first.spawn().unwrap();
    // Interrupted while a batch of 8 is in flight: after the first
    // answers are written, before the last.
    for _ in 0..500 {
        let written = std::fs::read_to_string(&out).map_or(0, |t| t.lines().count());
        if written >= 8 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(150));
    interrupt(&child);
    let interrupted = wait_bounded(child, Duration::from_secs(30));
    assert_eq!(
        interrupted.status.code(),
        Some(130),
        "{}",
        stderr(&interrupted)
    );
    let err = stderr(&interrupted);
    assert!(err.contains("finishing the requests in flight"), "{err}");
    let processed = env.server.api_stats().processed;
    let written = records(&std::fs::read(&out).unwrap()).len() as u64;
    assert!(processed < n as u64, "stopped before the end: {processed}");
    assert_eq!(
        written, processed,
        "every request the API processed has its line"
    );

    let resumed = run_with(args(true), "", Duration::from_secs(60));
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    let stats = env.server.api_stats();
    assert_eq!(stats.processed, n as u64);
    assert_eq!(stats.duplicates, 0, "no POST processed twice");
    let records = records(&std::fs::read(&out).unwrap());
    let ids: Vec<String> = records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        (0..n).map(|i| format!("req-{i}")).collect::<Vec<_>>(),
        "in input order"
    );
}

/// The same batch over HTTP/2 (h2c, as providers serve their APIs over
/// h2): every request shares one connection, so only the announced
/// limits hold the client back; they must, as over HTTP/1.1.
#[test]
fn a_batch_over_http2_is_paced_as_over_http1() {
    let env = Env::new("api-h2");
    let server = env
        .rt
        .block_on(gather_pageserver::http2::Http2Server::start_api(binding(
            Family::OpenAi,
        )))
        .unwrap();
    let n = 200;
    let input = env.input("batch.jsonl", &batch(n));
    let out = env.path("answers.jsonl");
    let mut cmd = gather_cmd();
    cmd.args([
        "fetch",
        input.to_str().unwrap(),
        "--base-url",
        &server.url(""),
    ])
    .args([
        "--http2-prior-knowledge",
        "--limit",
        "64",
        "--body",
        "--retries",
        "8",
        "-o",
    ])
    .arg(&out);
    let run = run_with(cmd, "", Duration::from_secs(120));
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let records = records(&std::fs::read(&out).unwrap());
    assert_eq!(records.len(), n);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["id"], format!("req-{i}"));
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["http_version"], "2");
    }
    let stats = server.api_stats();
    assert_eq!(stats.processed, n as u64);
    assert_eq!(stats.duplicates, 0);
    assert!(
        stats.limited * 50 <= n as u64,
        "{} 429s for {n} requests over HTTP/2 (at most 2%)",
        stats.limited
    );
    drop(server);
}

/// The first burst against a token budget: chat requests of ~150 tokens
/// each against 30,000 tokens a minute, enforced per second from a second's
/// worth (500 tokens: three of them). Before the first answer nothing is
/// known of the limits; requests that carry a token weight wait for it, so
/// that the burst is not refused (at most 2 of 30 are answered 429, where
/// 8 sent at once got 5 or more).
#[test]
fn the_first_burst_against_a_token_budget_waits_for_the_first_answer() {
    let limits = ApiLimits {
        requests_per_minute: 100_000,
        tokens_per_minute: Some(30_000),
        burst_seconds: 1.0,
        family: Family::OpenAi,
        ..ApiLimits::default()
    };
    let env = Env::with_api("api-first-burst", limits);
    let lines: Vec<String> = (0..30)
        .map(|i| {
            json!({
                "custom_id": format!("req-{i}"),
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": format!("q{i} {}", "x".repeat(150))}]},
            })
            .to_string()
        })
        .collect();
    let out = fetch_batch(&env, &lines, &["--retries", "8"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stats = env.server.api_stats();
    assert_eq!(stats.processed, 30);
    assert!(
        stats.limited <= 2,
        "{} answered 429 (at most 2)",
        stats.limited
    );
}
