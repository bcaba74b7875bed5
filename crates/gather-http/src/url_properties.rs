//! Properties of the URL rules, with proptest over arbitrary and
//! adversarial lines: whatever the parser accepts, a request can be made
//! for (a target and a Host of visible ASCII only, so nothing in a URL can
//! end the request line or add a field), and the parser's shortcut for
//! runs of URLs that share an origin gives what parsing each alone gives.
//!
//! `GATHER_PROPTEST_CASES` sets the number of cases (default 2,000).

use proptest::prelude::*;

use crate::client::request_target;
use crate::urls::{parse, UrlParser};

fn cases() -> u32 {
    std::env::var("GATHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Lines that look like URLs some of the time.
fn lines() -> impl Strategy<Value = Vec<String>> {
    let line = prop_oneof![
        Just("http://a.test/x".to_owned()),
        Just("https://b.test:8443/p?q=1#f".to_owned()),
        Just("ftp://c.test/".to_owned()),
        Just("http://".to_owned()),
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        // Valid URLs with every printable ASCII character (and some that
        // are not ASCII) in the path, query and fragment.
        "[ -~\u{e9}\u{20ac}]{0,30}".prop_map(|rest| format!("http://h.test/{rest}")),
        "[a-z0-9.-]{1,12}(:[0-9]{1,5})?".prop_map(|host| format!("https://{host}/x")),
    ];
    prop::collection::vec(line, 0..20)
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
    fn every_url_accepted_makes_a_request_of_visible_ascii(lines in lines()) {
        for line in &lines {
            let Ok(url) = parse(line.trim()) else { continue };
            prop_assert!(url.scheme() == "http" || url.scheme() == "https");
            let target = request_target(&url);
            let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
            prop_assert!(target.starts_with('/'), "{:?}: {:?}", line, target);
            for part in [&*target, host] {
                prop_assert!(!part.is_empty() && part.bytes().all(|b| b.is_ascii_graphic()), "{:?}: {:?}", line, part);
            }
        }
    }

    #[test]
    fn urls_parsed_in_a_run_are_those_parsed_one_by_one(lines in same_origin_lines()) {
        let mut parser = UrlParser::default();
        for line in &lines {
            let line = line.trim();
            let alone = parse(line).map(|u| u.to_string());
            let in_run = parser.parse(line).map(|u| u.to_string());
            prop_assert_eq!(in_run, alone, "{:?} after {:?}", line, lines);
        }
    }
}
