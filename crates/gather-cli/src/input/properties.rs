//! Properties of reading the input, with proptest over arbitrary bytes
//! (cargo-fuzz needs a nightly toolchain and a C++ compiler): reading never
//! panics, and every URL line becomes a job, good or bad, at its index.
//!
//! `GATHER_PROPTEST_CASES` sets the number of cases (default 2,000).

use proptest::prelude::*;

use super::parse;

pub(crate) fn cases() -> u32 {
    std::env::var("GATHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Bytes that look like URL lists some of the time.
pub(crate) fn input_bytes() -> impl Strategy<Value = Vec<u8>> {
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
        }
    }
}
