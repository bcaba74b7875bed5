//! `gather fetch` asks for gzip, deflate, br and zstd and hands back the
//! decoded bodies, as aiohttp, wget2 and browsers do; `--raw` keeps the
//! bytes as sent; `--max-bytes` bounds the decoded size (#16). Against the
//! in-process fault server, which sends bodies made by the reference
//! encoders (`crates/gather-pageserver/fixtures`).

use crate::support::*;
use gather_pageserver::fixtures;

#[test]
fn every_coding_is_asked_for_and_decoded() {
    let env = Env::new("codings");
    let codings = ["gzip", "deflate", "deflate-raw", "br", "zstd", "identity"];
    let mut urls: Vec<String> = codings
        .iter()
        .map(|c| env.url(&format!("/encoded/{c}")))
        .collect();
    urls.push(env.url("/accept-encoding"));
    let input = env.input("urls.txt", &urls);
    let out = run(&["fetch", "-q", "--body", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out.stdout);
    let text = std::str::from_utf8(fixtures::PAGE).unwrap();
    for (rec, coding) in recs.iter().zip(codings) {
        assert_eq!(rec["body"], text, "{coding}: the body is the decoded text");
        assert_eq!(
            rec["bytes"],
            fixtures::PAGE.len() as u64,
            "{coding}: bytes is the decoded size"
        );
        if coding == "identity" {
            assert!(rec.get("wire_bytes").is_none(), "{rec}");
        } else {
            let name = if coding == "deflate-raw" {
                "deflate"
            } else {
                coding
            };
            assert_eq!(rec["encoding"], name, "{rec}");
            let wire = rec["wire_bytes"].as_u64().unwrap();
            assert!(
                wire < fixtures::PAGE.len() as u64 / 4,
                "{coding}: {wire} bytes on the wire"
            );
        }
    }
    assert_eq!(recs[codings.len()]["body"], "gzip, deflate, br, zstd");
}

#[test]
fn raw_asks_for_nothing_and_keeps_the_bytes_as_sent() {
    let env = Env::new("raw");
    let urls = vec![env.url("/encoded/gzip"), env.url("/accept-encoding")];
    let input = env.input("urls.txt", &urls);
    let out = run(&["fetch", "-q", "--raw", "--body", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out.stdout);
    // Not UTF-8: the gzip stream itself, in base64.
    assert!(recs[0].get("body_base64").is_some(), "{}", recs[0]);
    assert_eq!(recs[0]["bytes"], fixtures::PAGE_GZIP.len() as u64);
    assert_eq!(recs[0]["encoding"], "gzip");
    assert!(
        recs[0].get("wire_bytes").is_none(),
        "not decoded: {}",
        recs[0]
    );
    assert_eq!(recs[1]["body"], "", "--raw sends no Accept-Encoding");
}

#[test]
fn a_gzip_bomb_stops_at_max_bytes_of_decoded_body() {
    let env = Env::new("bomb");
    let input = env.input("urls.txt", &[env.url("/gzip-bomb"), env.url("/gzip-bomb")]);
    let out = run(&[
        "fetch",
        "-q",
        "--max-bytes",
        "1MiB",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out.stdout);
    for rec in &recs {
        assert_eq!(rec["error"]["kind"], "body_too_large", "{rec}");
        let message = rec["error"]["message"].as_str().unwrap();
        // The engine's words with the value, then the flag that sets it.
        assert!(
            message.starts_with("decoded body is over the size limit of 1048576 bytes")
                && message.ends_with("(--max-bytes)"),
            "{message}"
        );
    }
    // Under a limit that fits, the whole 10 MiB is counted (not kept).
    let out = run(&[
        "fetch",
        "-q",
        "--max-bytes",
        "11MiB",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(records(&out.stdout)[0]["bytes"], fixtures::BOMB_SIZE);
}

#[test]
fn a_corrupt_or_unknown_coding_is_reported_not_passed_off_as_the_page() {
    let env = Env::new("corrupt");
    let input = env.input(
        "urls.txt",
        &[env.url("/encoded/corrupt"), env.url("/encoded/unknown")],
    );
    let out = run(&["fetch", "-q", "--body", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out.stdout);
    assert_eq!(recs[0]["error"]["kind"], "body", "{}", recs[0]);
    assert!(
        recs[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gzip"),
        "{}",
        recs[0]
    );
    // A coding this client does not know: kept as sent, and said so.
    assert_eq!(recs[1]["encoding"], "compress", "{}", recs[1]);
    assert!(recs[1].get("wire_bytes").is_none(), "{}", recs[1]);
    assert_eq!(recs[1]["body"], "not really compressed\n");
}
