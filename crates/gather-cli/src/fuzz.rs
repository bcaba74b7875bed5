//! Fuzzing, with proptest and arbitrary bytes (cargo-fuzz needs a nightly
//! toolchain, which this machine cannot install): reading the URL list and
//! parsing an output file for `--resume` never panic, whatever the bytes,
//! and what the writer writes, the resume parser reads back exactly.
//!
//! `GATHER_PROPTEST_CASES` sets the number of cases (default 2,000).

use std::time::Duration;

use crate::input::parse;
use crate::output::{error_line, page_line, parse_records};
use gather_http::client::request_target;
use gather_http::Page;
use gather_http::UrlParser;
use gather_http::{FetchError, Kind};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("GATHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Bytes that look like URL lists some of the time.
fn input_bytes() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just(b"http://a.test/x".to_vec()),
        Just(b"https://b.test:8443/p?q=1#f".to_vec()),
        Just(b"# comment".to_vec()),
        Just(b"".to_vec()),
        Just(b"ftp://c.test/".to_vec()),
        Just(b"http://".to_vec()),
        prop::collection::vec(any::<u8>(), 0..40),
        // Valid URLs with every printable ASCII character (and some that
        // are not ASCII) in the path, query and fragment.
        "[ -~\u{e9}\u{20ac}]{0,30}".prop_map(|rest| format!("http://h.test/{rest}").into_bytes()),
        "[a-z0-9.-]{1,12}(:[0-9]{1,5})?".prop_map(|host| format!("https://{host}/x").into_bytes()),
    ];
    prop::collection::vec(
        (
            line,
            prop_oneof![Just(b"\n".to_vec()), Just(b"\r\n".to_vec())],
        ),
        0..20,
    )
    .prop_map(|lines| {
        lines
            .into_iter()
            .flat_map(|(l, e)| l.into_iter().chain(e))
            .collect()
    })
}

/// Lines that share origins, written in the ways that parse alike and
/// differently: case, default ports, userinfo, IDNA, IP forms, extra
/// slashes, tabs, backslashes.
fn same_origin_lines() -> impl Strategy<Value = Vec<String>> {
    let origin = prop::sample::select(vec![
        "http://h.test",
        "http://h.test:80",
        "HTTP://h.test",
        "http://H.Test",
        "https://h.test",
        "http://user:pw@h.test",
        "http://caf\u{e9}.test",
        "http://xn--caf-dma.test",
        "http://127.0.0.1:8080",
        "http://0x7f.1",
        "http://[::1]",
        "http://h.te\tst",
        "http://",
        "http:///h.test",
        "http:\\\\h.test",
        "http://h.test%2F",
        "http://bad host",
    ]);
    // Mostly a path, the case the parser's shortcut takes.
    let rest = prop_oneof![
        3 => "/[/\\\\?#a-z.%\t\r é0-9-]{0,10}",
        1 => "[/\\\\?#a-z.%\t\r é0-9-]{0,10}",
    ];
    prop::collection::vec((origin, rest), 1..12)
        .prop_map(|lines| lines.into_iter().map(|(o, r)| format!("{o}{r}")).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn reading_any_bytes_never_panics_and_accounts_for_every_url_line(bytes in input_bytes()) {
        let text = String::from_utf8_lossy(&bytes);
        let jobs = parse(&text);
        let expected = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).count();
        prop_assert_eq!(jobs.len(), expected, "every URL line becomes a job, good or bad");
        for (i, job) in jobs.iter().enumerate() {
            prop_assert_eq!(job.index, i);
            if let Ok(url) = job.url() {
                prop_assert!(url.scheme() == "http" || url.scheme() == "https");
                // Whatever the URL parser accepts, a request can be made
                // for: a target and a Host of visible ASCII only, so that
                // nothing in a URL can end the request line or add a field.
                let target = request_target(&url);
                let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
                prop_assert!(target.starts_with('/'), "{:?}: {:?}", job.raw, target);
                for part in [&*target, host] {
                    prop_assert!(!part.is_empty() && part.bytes().all(|b| b.is_ascii_graphic()), "{:?}: {:?}", job.raw, part);
                }
            }
        }
    }

    #[test]
    fn urls_parsed_in_a_run_are_those_parsed_one_by_one(lines in same_origin_lines()) {
        let mut parser = UrlParser::default();
        for job in parse(&lines.join("\n")) {
            let alone = job.url().map(|u| u.to_string());
            let in_run = parser.parse(&job.raw).map(|u| u.to_string());
            prop_assert_eq!(in_run, alone, "{:?} after {:?}", job.raw, lines);
        }
    }

    #[test]
    fn resume_parsing_never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400), urls in input_bytes()) {
        let jobs = parse(&String::from_utf8_lossy(&urls));
        match parse_records(&bytes) {
            Ok(r) => {
                prop_assert!(r.valid_len <= bytes.len());
                for job in &jobs {
                    if let Err(e) = r.check(job) {
                        prop_assert!(e.contains("same input"), "{}", e);
                    }
                }
                if r.check_count(jobs.len()).is_ok() {
                    prop_assert!(r.indexes().iter().all(|&i| i < jobs.len()));
                }
            }
            Err(e) => prop_assert!(e.starts_with("line "), "a message naming the line: {}", e),
        }
    }

    #[test]
    fn what_the_writer_writes_resume_reads_back(
        n in 1usize..30,
        done in prop::collection::vec(any::<bool>(), 30),
        torn in 0usize..60,
    ) {
        let text: String = (0..n).map(|i| format!("http://h{i}.test/p\n")).collect();
        let jobs = parse(&text);
        let mut file = Vec::new();
        let mut expected = std::collections::HashSet::new();
        for (i, job) in jobs.iter().enumerate() {
            if !done[i] { continue; }
            expected.insert(i);
            let line = if i % 3 == 0 {
                error_line(job, &{ let mut e = FetchError::immediate(Kind::Connect, "refused \"x\"\n".into()); e.elapsed = Duration::from_millis(3); e.retries = 1; e })
            } else {
                page_line(job, &Page { final_url: format!("http://h{i}.test/p"), status: 200, version: gather_http::client::Version::Http11, bytes: 9, encoding: None, body: Some(vec![0xff, b'"', b'\n']), saved: None, headers: None, elapsed: Duration::from_micros(1500), retries: 0 }, &Default::default(), &mut Default::default())
            };
            file.extend_from_slice(line.as_bytes());
            file.push(b'\n');
        }
        let whole = file.len();
        // A torn last line (the run was killed mid-write) is ignored.
        file.extend_from_slice(&b"{\"index\":0,\"url\":\"http://h0.test/p\",\"status\":2"[..torn.min(33)]);
        let r = parse_records(&file).unwrap();
        prop_assert_eq!(r.indexes(), expected);
        prop_assert_eq!(r.valid_len, whole);
        for job in &jobs {
            prop_assert!(r.check(job).is_ok(), "every record matches its own input line");
        }
        prop_assert!(r.check_count(jobs.len()).is_ok());
    }
}
