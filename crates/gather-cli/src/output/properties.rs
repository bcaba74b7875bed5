//! Properties of the records, with proptest over arbitrary bytes: parsing
//! an output file for `--resume` never panics, whatever the bytes, and what
//! the writer writes, the resume parser reads back exactly (a torn last
//! line ignored).
//!
//! `GATHER_PROPTEST_CASES` sets the number of cases (default 2,000).

use std::time::Duration;

use gather_http::{FetchError, Kind, Page};
use proptest::prelude::*;

use super::{error_line, page_line, parse_records};
use crate::input::parse;
use crate::input::properties::{cases, input_bytes};

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

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
                page_line(job, &Page { final_url: format!("http://h{i}.test/p"), status: 200, version: gather_http::client::Version::Http11, bytes: 9, encoding: None, body: Some(vec![0xff, b'"', b'\n']), saved: None, headers: None, history: None, elapsed: Duration::from_micros(1500), retries: 0 }, &Default::default())
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
