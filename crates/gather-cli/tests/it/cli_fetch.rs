//! `gather fetch`: ordered output, a line for every URL or --fail-fast, bodies, stdin, flags.

use std::time::Duration;

use crate::support::*;

#[test]
fn every_url_is_written_in_input_order_whatever_order_they_finish() {
    let env = Env::new("order");
    // Earlier URLs answer later.
    let urls: Vec<String> = (0..30)
        .map(|i| env.url(&format!("/page/{i}?delay_ms={}", (30 - i) * 10)))
        .collect();
    let input = env.input("urls.txt", &urls);
    let out = run(&["fetch", "-q", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out.stdout);
    assert_eq!(indexes(&recs), (0..30).collect::<Vec<_>>());
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["url"], urls[i]);
        assert_eq!(r["status"], 200);
        assert!(r["bytes"].as_u64().unwrap() > 0);
        assert!(r["elapsed_ms"].as_f64().is_some());
        assert_eq!(r["final_url"], urls[i]);
    }
}

#[test]
fn threads_change_where_requests_run_not_what_is_written() {
    let env = Env::new("threads");
    let urls: Vec<String> = (0..40)
        .map(|i| env.url(&format!("/page/{i}?delay_ms={}", (i * 7) % 30)))
        .collect();
    let input = env.input("urls.txt", &urls);
    // One thread (the default's current-thread runtime), a pool of two,
    // and one worker per core.
    for threads in ["1", "2", "0"] {
        let out = run(&[
            "fetch",
            "-q",
            "--threads",
            threads,
            "--limit",
            "8",
            input.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "--threads {threads}: {}",
            stderr(&out)
        );
        let recs = records(&out.stdout);
        assert_eq!(
            indexes(&recs),
            (0..40).collect::<Vec<_>>(),
            "--threads {threads}"
        );
        for (r, url) in recs.iter().zip(&urls) {
            assert_eq!(r["url"], *url, "--threads {threads}");
            assert_eq!(r["status"], 200, "--threads {threads}");
        }
    }
}

#[test]
fn fail_fast_stops_at_the_first_failure_and_writes_the_lines_up_to_it() {
    let env = Env::new("failfast");
    let mut urls: Vec<String> = (0..5).map(|i| env.url(&format!("/page/{i}"))).collect();
    // Fails after the pages before it have finished.
    urls.push(env.url("/reset?delay_ms=500"));
    // 60 s answers: awaited, they would hold the run past the 30 s at
    // which it is killed (and the test fails); cancelled, it ends in a
    // fraction of a second. No tight wall-clock margin either way.
    urls.extend((0..5).map(|i| env.url(&format!("/page/{i}?delay_ms=60000"))));
    let input = env.input("urls.txt", &urls);
    let mut cmd = gather_cmd();
    cmd.args(["fetch", "-q", "--fail-fast", input.to_str().unwrap()]);
    let out = run_with(cmd, "", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out.stdout);
    assert_eq!(
        indexes(&recs),
        [0, 1, 2, 3, 4, 5],
        "the ordered prefix, then the failure's own line"
    );
    assert_eq!(recs[5]["error"]["kind"], "connect");
    let err = stderr(&out);
    assert!(err.contains("error: URL 5 (line 6)"), "{err}");
    assert!(err.contains("(connect)"), "{err}");
    assert!(err.contains("6 lines written"), "{err}");
}

#[test]
fn fail_fast_still_writes_the_lines_before_the_failure_that_were_running() {
    // The case: an instantly invalid URL at line 2 while line 1 is
    // still in flight. Line 1 is awaited and written, then line 2's error;
    // the slow lines after it are cancelled.
    let env = Env::new("failfast-running");
    let mut urls = vec![env.url("/page/0?delay_ms=300"), "not a url".to_owned()];
    // Awaited, the 60 s lines after the failure would hold the run past
    // the 30 s at which it is killed (see the test above).
    urls.extend((1..4).map(|i| env.url(&format!("/page/{i}?delay_ms=60000"))));
    let input = env.input("urls.txt", &urls);
    let mut cmd = gather_cmd();
    cmd.args(["fetch", "-q", "--fail-fast", input.to_str().unwrap()]);
    let out = run_with(cmd, "", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out.stdout);
    assert_eq!(indexes(&recs), [0, 1]);
    assert_eq!(
        recs[0]["status"], 200,
        "the running line before the failure was lost"
    );
    assert_eq!(recs[1]["error"]["kind"], "invalid_url");
}

#[test]
fn by_default_every_url_gets_a_line_and_the_exit_status_says_one_failed() {
    // The same input as above, without --fail-fast: every line, exit 1.
    let env = Env::new("default-all");
    let urls = vec![
        env.url("/page/0?delay_ms=300"),
        "not a url".to_owned(),
        env.url("/page/1"),
    ];
    let input = env.input("urls.txt", &urls);
    let out = run(&["fetch", "-q", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out.stdout);
    assert_eq!(indexes(&recs), [0, 1, 2]);
    assert_eq!(recs[1]["error"]["kind"], "invalid_url");
    assert_eq!(recs[2]["status"], 200);
}

#[test]
fn the_old_k_flag_still_gives_every_url_a_line() {
    let env = Env::new("k");
    let urls = vec![
        env.url("/page/0"),
        env.refused_url(),
        "not a url".to_owned(),
        env.url("/page/1"),
    ];
    let input = env.input("urls.txt", &urls);
    let out = run(&["fetch", "-q", "-k", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out.stdout);
    assert_eq!(indexes(&recs), [0, 1, 2, 3]);
    assert_eq!(recs[1]["error"]["kind"], "connect");
    assert_eq!(recs[2]["error"]["kind"], "invalid_url");
    assert_eq!(recs[3]["status"], 200);

    let ok = run(&[
        "fetch",
        "-q",
        env.input("ok.txt", &[env.url("/page/0")]).to_str().unwrap(),
    ]);
    assert_eq!(ok.status.code(), Some(0));
}

#[test]
fn an_http_error_status_is_a_result_unless_fail_on_status() {
    let env = Env::new("status");
    let input = env.input("urls.txt", &[env.url("/status/404"), env.url("/page/1")]);
    let out = run(&["fetch", "-q", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(records(&out.stdout)[0]["status"], 404);

    let out = run(&["fetch", "-q", "--fail-on-status", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out.stdout);
    assert_eq!(recs[0]["error"]["kind"], "status");
    assert!(
        recs[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP status 404"),
        "{}",
        recs[0]
    );
    assert_eq!(recs[1]["status"], 200, "every URL gets a line");
    assert!(
        stderr(&out).contains("1 of 2 requests failed"),
        "{}",
        stderr(&out)
    );

    let out = run(&[
        "fetch",
        "-q",
        "--fail-on-status",
        "--fail-fast",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP status 404"), "{}", stderr(&out));
}

#[test]
fn urls_come_from_stdin_with_blank_lines_and_comments_skipped_and_duplicates_fetched_per_line() {
    let env = Env::new("stdin");
    let page = env.url("/page/7");
    let text = format!("# my pages\n\n{page}\n   \n{page}\n# end\n");
    let mut cmd = gather_cmd();
    cmd.args(["fetch", "-q", "-"]);
    let out = run_with(cmd, &text, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out.stdout);
    assert_eq!(indexes(&recs), [0, 1]);
    assert_eq!(recs[0]["url"], recs[1]["url"]);
}

#[test]
fn bodies_are_text_when_utf8_and_base64_otherwise() {
    let env = Env::new("body");
    let input = env.input("urls.txt", &[env.url("/page/3"), env.url("/binary")]);
    let out = run(&["fetch", "-q", "--body", input.to_str().unwrap()]);
    let recs = records(&out.stdout);
    assert!(recs[0]["body"].as_str().unwrap().contains("page 3"));
    assert_eq!(recs[1]["body_base64"], "//4AgGHD");
    assert!(recs[1].get("body").is_none());
}

#[test]
fn save_dir_writes_each_body_to_a_file_named_in_its_line() {
    let env = Env::new("save");
    let input = env.input("urls.txt", &[env.url("/page/1"), env.url("/page/2")]);
    let dir = env.path("bodies");
    let out = run(&[
        "fetch",
        "-q",
        "--save-dir",
        dir.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for r in records(&out.stdout) {
        let saved = r["saved"].as_str().unwrap();
        let body = std::fs::read_to_string(saved).unwrap();
        assert!(body.contains(&format!("page {}", r["index"].as_u64().unwrap() + 1)));
    }
}

#[test]
#[ignore = "needs GNU time (/usr/bin/time)"]
fn regression_save_dir_streams_each_body_to_its_file() {
    // Six 20 MiB bodies took 134 MB of memory: each was held whole, then
    // written. Streamed, memory stays near one read per request.
    require("/usr/bin/time");
    let env = Env::new("save-stream");
    const SIZE: u64 = 20 << 20;
    let urls: Vec<String> = (0..6)
        .map(|_| env.url(&format!("/big?bytes={SIZE}")))
        .collect();
    let input = env.input("urls.txt", &urls);
    let dir = env.path("big-bodies");
    let args = ["fetch", "-q", "--max-bytes", "30MiB", "--save-dir"].map(std::ffi::OsStr::new);
    let (out, peak_kb) = run_peak_kb(&[&args[..], &[dir.as_os_str(), input.as_os_str()]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for r in records(&out.stdout) {
        let saved = r["saved"].as_str().unwrap();
        assert_eq!(std::fs::metadata(saved).unwrap().len(), SIZE, "{saved}");
    }
    assert!(
        peak_kb < 48 * 1024,
        "peak memory {peak_kb} KiB for 6 x 20 MiB saved"
    );
}

/// A body saved to a folder costs no memory, so it has no size limit
/// unless `--max-bytes` gives one; kept in its line, 10 MiB is the most.
#[test]
fn save_dir_lifts_the_default_size_limit_and_max_bytes_still_sets_one() {
    let env = Env::new("save-big");
    const SIZE: u64 = 12 << 20;
    let input = env.input("urls.txt", &[env.url(&format!("/big?bytes={SIZE}"))]);
    let fetch = |extra: &[&str]| {
        let mut args = vec!["fetch", "-q"];
        args.extend_from_slice(extra);
        args.push(input.to_str().unwrap());
        let out = run(&args);
        (out.status.code(), records(&out.stdout).remove(0))
    };
    let kept = fetch(&[]);
    assert_eq!(kept.0, Some(1));
    assert_eq!(kept.1["error"]["kind"], "body_too_large", "{}", kept.1);
    let dir = env.path("unlimited");
    let saved = fetch(&["--save-dir", dir.to_str().unwrap()]);
    assert_eq!(saved.0, Some(0), "{}", saved.1);
    assert_eq!(std::fs::metadata(dir.join("0.body")).unwrap().len(), SIZE);
    let dir = env.path("limited");
    let limited = fetch(&["--save-dir", dir.to_str().unwrap(), "--max-bytes", "1MiB"]);
    assert_eq!(
        limited.1["error"]["kind"], "body_too_large",
        "{}",
        limited.1
    );
}

#[test]
fn a_body_that_fails_leaves_no_file_under_save_dir() {
    let env = Env::new("save-failed");
    let input = env.input("urls.txt", &[env.url("/truncated"), env.url("/page/1")]);
    let dir = env.path("bodies");
    let out = run(&[
        "fetch",
        "-q",
        "--save-dir",
        dir.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let recs = records(&out.stdout);
    assert_eq!(recs[0]["error"]["kind"], "body", "{}", recs[0]);
    assert!(
        !dir.join("0.body").exists(),
        "a cut body was left as if whole"
    );
    assert!(dir.join("1.body").exists());
}

#[test]
fn output_goes_to_a_file_with_o_and_a_summary_to_stderr() {
    let env = Env::new("ofile");
    let input = env.input(
        "urls.txt",
        &[env.url("/page/1"), env.url("/flaky/s?fail=1")],
    );
    let out_file = env.path("out.jsonl");
    let out = run(&[
        "fetch",
        "--retries",
        "2",
        "--retry-delay",
        "10ms",
        input.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "data goes to the file only");
    assert_eq!(records(&std::fs::read(&out_file).unwrap()).len(), 2);
    let err = stderr(&out);
    assert!(err.contains("2 of 2 requests"), "{err}");
    assert!(
        err.contains("2 ok, 0 http_error, 0 failed, 1 retried"),
        "{err}"
    );
    assert!(err.contains("p50") && err.contains("p99"), "{err}");
    assert!(
        !err.contains('\r'),
        "no progress bar when stderr is not a terminal"
    );
}

#[test]
fn headers_and_user_agent_are_sent_and_credentials_stay_with_their_origin() {
    let env = Env::new("headers");
    let other = env
        .rt
        .block_on(gather_pageserver::Server::start(Duration::ZERO))
        .unwrap();
    let own_port = env.server.addr().port();
    let urls = [
        env.url("/headers"),
        env.url(&format!("/redirect-to/{own_port}/headers")),
        env.url(&format!("/redirect-to/{}/headers", other.addr().port())),
    ];
    let input = env.input("urls.txt", &urls);
    let out = run(&[
        "fetch",
        "-q",
        "--body",
        "-H",
        "X-Test: yes",
        "-H",
        "Authorization: Bearer s3cret",
        "-H",
        "Cookie: id=1",
        "--user-agent",
        "tester/1",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out.stdout);
    let sent: Vec<String> = recs
        .iter()
        .map(|r| r["body"].as_str().unwrap().to_ascii_lowercase())
        .collect();
    for (i, headers) in sent.iter().enumerate() {
        assert!(headers.contains("x-test: yes"), "{i}: {headers}");
        assert!(headers.contains("user-agent: tester/1"), "{i}: {headers}");
    }
    // Direct, and redirected within the origin: credentials sent.
    for headers in &sent[..2] {
        assert!(
            headers.contains("authorization: bearer s3cret"),
            "{headers}"
        );
        assert!(headers.contains("cookie: id=1"), "{headers}");
    }
    // Redirected to another origin: dropped.
    assert_eq!(recs[2]["final_url"], other.url("/headers"));
    assert!(!sent[2].contains("authorization"), "{}", sent[2]);
    assert!(!sent[2].contains("cookie"), "{}", sent[2]);

    let out = run(&[
        "fetch",
        "-q",
        "-H",
        "no colon here",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("-H \"no colon here\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn regression_credentials_in_a_redirects_location_are_not_sent_to_another_origin() {
    let env = Env::new("location-credentials");
    let other = env
        .rt
        .block_on(gather_pageserver::Server::start(Duration::ZERO))
        .unwrap();
    let url = env.url(&format!(
        "/redirect-with-credentials/{}/headers",
        other.addr().port()
    ));
    let input = env.input("urls.txt", &[url]);
    let out = run(&["fetch", "-q", "--body", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rec = &records(&out.stdout)[0];
    let sent = rec["body"].as_str().unwrap().to_ascii_lowercase();
    assert!(
        !sent.contains("authorization"),
        "a Location's credentials were sent: {sent}"
    );
    assert_eq!(
        rec["final_url"],
        other.url("/headers"),
        "and not kept in the URL"
    );
}

#[test]
fn credentials_in_the_url_are_sent_as_basic_auth() {
    let env = Env::new("userinfo");
    let url = env
        .url("/headers")
        .replace("http://", "http://user:p%40ss@");
    let input = env.input("urls.txt", std::slice::from_ref(&url));
    let out = run(&["fetch", "-q", "--body", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out.stdout);
    let sent = recs[0]["body"].as_str().unwrap().to_ascii_lowercase();
    // base64("user:p@ss"), lowercased with the rest of the echo.
    assert!(sent.contains("authorization: basic dxnlcjpwqhnz"), "{sent}");
    assert_eq!(recs[0]["url"], url);
}

/// Regression: the whole parsed input was held in memory (~300 bytes per
/// URL), found by scripts/reliability.py at 100k URLs. Peak memory is
/// measured by GNU time, since a child forked from this test would keep the
/// test's own size as its high-water mark.
#[test]
#[ignore = "needs GNU time (/usr/bin/time)"]
fn regression_memory_grew_with_the_number_of_urls() {
    require("/usr/bin/time");
    let env = Env::new("flat");
    let peak_kb = |n: usize| -> u64 {
        // Lines that fail at once (not URLs): no network, just the pipeline.
        let lines: Vec<String> = (0..n).map(|i| format!("not-a-url-{i:08}")).collect();
        let input = env.input(&format!("bad-{n}.txt"), &lines);
        let args = ["fetch", "-q", "-o", "/dev/null"].map(std::ffi::OsStr::new);
        let (out, peak) = run_peak_kb(&[&args[..], &[input.as_os_str()]].concat());
        assert_eq!(out.status.code(), Some(1), "every line failed, so exit 1");
        peak
    };
    let small = peak_kb(5_000);
    let large = peak_kb(100_000);
    let growth_kb = large.saturating_sub(small);
    // Holding 95,000 more jobs cost ~28 MiB before the fix.
    assert!(
        growth_kb < 8 * 1024,
        "peak memory grew by {growth_kb} KiB for 95,000 more URLs"
    );
}

/// Regression (#23): at `--total-timeout` the rest of the input was walked
/// at once (each URL's job built and held until its line was written), so
/// 2,000,000 URLs to a slow server peaked at 247 MB against 30 MB for
/// 200,000. The `total_timeout` lines are now written as the rest of the
/// input is read: the peak does not grow with the input.
#[test]
#[ignore = "needs GNU time (/usr/bin/time)"]
fn a_total_timeout_writes_the_rest_as_it_reads_it_in_flat_memory() {
    require("/usr/bin/time");
    let env = Env::new("deadline-flat");
    let url = env.url("/hang");
    let run = |n: usize| -> u64 {
        let input = env.path(&format!("urls-{n}.txt"));
        {
            use std::io::Write;
            let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
            for _ in 0..n {
                writeln!(f, "{url}").unwrap();
            }
        }
        let output = env.path(&format!("out-{n}.jsonl"));
        // Every URL has its line, in order, each a total_timeout (none
        // answers).
        peak_kb_at_a_deadline(&input, &output, "1s", n, |i, line| {
            line.starts_with(&format!("{{\"index\":{i},")) && line.contains("\"total_timeout\"")
        })
    };
    assert_flat_peak(run(200_000), run(2_000_000), "URLs (200,000 and 2,000,000)");
}

#[test]
fn the_reorder_window_holds_back_urls_while_an_early_one_is_slow() {
    let env = Env::new("window");
    let mut urls = vec![env.url("/page/0?delay_ms=1500")];
    urls.extend((1..30).map(|i| env.url(&format!("/page/{i}"))));
    let input = env.input("urls.txt", &urls);
    // Requests the server has seen while URL 0 holds line 0 back, for a
    // given window; then the run ends with every line, in order.
    let started_meanwhile = |window: &str| {
        let before = env.server.requests();
        let child = gather_cmd()
            .args(["fetch", "-q", "--limit", "8", "--reorder-window", window])
            .arg(&input)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        let meanwhile = env.server.requests() - before;
        let out = wait_bounded(child, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            indexes(&records(&out.stdout)),
            (0..30).collect::<Vec<u64>>()
        );
        meanwhile
    };
    // Positions 0 to 3 only: within 4 of the next line to write (line 0).
    assert_eq!(started_meanwhile("4"), 4);
    // A wide window lets the other 29 through while URL 0 is slow.
    assert_eq!(started_meanwhile("1000"), 30);
}

#[test]
fn an_http_error_status_is_counted_apart_from_ok_and_failed() {
    // A 503 that stays a 503 after its retries was counted as "ok".
    let env = Env::new("http-error");
    let input = env.input(
        "urls.txt",
        &[
            env.url("/page/0"),
            env.url("/status/503"),
            env.url("/page/2"),
        ],
    );
    let path = input.display().to_string();
    let out = run(&["fetch", "--retries", "1", "--retry-delay", "1ms", &path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("2 ok, 1 http_error, 0 failed"), "{err}");
    // --fail-on-status makes it a failure, and the exit status says so.
    let out = run(&["fetch", "--fail-on-status", &path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("2 ok, 0 http_error, 1 failed"), "{err}");
}

/// `--cookies`: a login that answers with a cookie and a redirect gets
/// the cookie back on the redirect, and a later request to the host gets
/// it too; another host (the same server named `localhost`) does not;
/// without the flag nothing is kept.
#[test]
fn cookies_keeps_what_a_server_sets_for_that_host() {
    let env = Env::new("cookies");
    let lines = |args: &[&str], urls: &[String]| {
        let input = env.input("urls.txt", urls);
        let mut all = vec!["fetch", "-q", "--body", "--limit", "1", "--per-host", "1"];
        all.extend_from_slice(args);
        all.push(input.to_str().unwrap());
        let out = run(&all);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        records(&out.stdout)
    };
    let port = env.server.addr().port();
    let urls = [
        env.url("/login/session/abc123"),
        env.url("/headers"),
        format!("http://localhost:{port}/headers"),
    ];
    let with = lines(&["--cookies"], &urls);
    let body = |r: &serde_json::Value| r["body"].as_str().unwrap().to_lowercase();
    assert!(
        body(&with[0]).contains("cookie: session=abc123"),
        "{}",
        with[0]
    );
    assert!(
        body(&with[1]).contains("cookie: session=abc123"),
        "{}",
        with[1]
    );
    assert!(
        !body(&with[2]).contains("cookie:"),
        "another host got the cookie: {}",
        with[2]
    );
    let without = lines(&[], &urls);
    for r in &without {
        assert!(!body(r).contains("cookie:"), "{r}");
    }
}
