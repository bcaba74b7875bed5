//! The command line as typed: raw flags, parsed by clap. Everything here is
//! validated into a [`Config`](crate::config::Config) before use.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::defaults;

const EXIT_CODES: &str = "\
Exit status:
  0    every URL was fetched (HTTP error statuses count as fetched unless --fail-on-status),
       or standard output's reader closed it early (`| head`): the run stops quietly
  1    a URL failed: at least one line is an error (default; with --resume, lines kept from
       the earlier run count too; 0 with --ok-if-complete), or with --fail-fast the first
       failure stopped the run
  2    bad usage, unreadable input, unwritable output, or an --resume file that does not match the input
  124  --total-timeout expired (every line is written; with --fail-fast the ordered prefix)
  130  interrupted by Ctrl-C (nothing new starts, the requests in flight are waited for and every
       answer is written; finish with --resume; a second Ctrl-C stops at once)";

pub(crate) const ERROR_KINDS: &str = "\
Error kinds (\"error\": {\"kind\": ...} in a line):
  invalid_url, unsupported_scheme  the line is not an http(s) URL; nothing was requested
  invalid_request the request line cannot be sent: not JSON, no \"url\", an unknown field, two bodies,
                  a bad header or method (the message says which); nothing was requested
  connect         no connection, or it was lost before the answer's head (retried by --retries)
  tls             the TLS handshake failed: a certificate refused, no common version
  timeout         no complete answer within --timeout
  protocol        the answer is not HTTP the client can read (a malformed head or Content-Length;
                  over HTTP/2 the other requests on the connection are sent again)
  body            the body was cut short, broke its chunked framing, or could not be decoded
  body_too_large  the body is over --max-bytes (its decoded size, when it was compressed)
  redirect        more than --max-redirects, an unusable Location, or a non-http(s) target
  proxy           the proxy refused a tunnel (CONNECT) to the URL's host, e.g. 407 without credentials
  status          an HTTP status of 400 or more, with --fail-on-status
  save            the body could not be written under --save-dir
  total_timeout   --total-timeout expired before this URL was fetched
  internal        a bug in gather itself (a panic), kept to its own line";

const FETCH_EXAMPLES: &str = "\
Examples:
  gather fetch urls.txt -o pages.jsonl              every URL gets a line, errors included
  gather fetch --fail-fast urls.txt -o pages.jsonl  stop at the first failure
  gather fetch --retries 3 urls.txt -o out.jsonl    retry connection failures, 429 and 5xx
  cat urls.txt | gather fetch --limit 16 --body     from stdin, bodies in the output
  gather fetch urls.txt -o out.jsonl --resume       finish an interrupted run
  gather fetch batch.jsonl --base-url https://api.openai.com --body -o answers.jsonl \
      --header-env 'Authorization: Bearer $OPENAI_API_KEY' --retries 5
                                                    an OpenAI Batch file, answers in order with their ids
  gather fetch ids.txt -X DELETE -H @auth.txt       one method for every URL line, the key from a file
  gather fetch urls.txt --json '{\"q\": 1}' --keep-header x-request-id
                                                    the same JSON body POSTed to every URL";

/// Fetch many URLs concurrently, results in input order.
///
/// The command-line face of the `gather` library: Python's
/// `asyncio.gather()` applied to the job it is taught with.
#[derive(Debug, Parser)]
#[command(name = "gather", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Fetch every URL in URLS (or stdin) concurrently; write JSON Lines in input order.
    #[command(after_help = format!("{FETCH_EXAMPLES}\n\n{ERROR_KINDS}\n\n{EXIT_CODES}"))]
    Fetch(Box<FetchArgs>),
    /// Serve pages on 127.0.0.1 and fetch them one by one, then with gather: the speed-up, shown.
    Demo(DemoArgs),
    /// Merge the outputs of `fetch --shard` runs into one, by index, in one streaming pass.
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
}

const MERGE_HELP: &str = "\
Each input is one shard's output, in index order (as gather fetch writes it). The merge holds one
line per input and refuses, naming file and line: an index in two inputs, an index in none, a file
out of order, a torn last line (finish that shard with --resume). With -o, nothing is left at OUT
unless the merge completed.

Example:
  gather fetch --shard 0/3 urls.txt -o part0.jsonl    (and 1/3, 2/3 elsewhere)
  gather merge part0.jsonl part1.jsonl part2.jsonl -o all.jsonl

Exit status: 0 merged; 2 an input is missing, unreadable or does not fit with the others.";

#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The shards' output files.
    #[arg(value_name = "SHARD_OUTPUT", required = true)]
    pub(crate) inputs: Vec<PathBuf>,

    /// Write the merged lines here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// File with one URL or JSON request per line ("-" or nothing: stdin). Blank lines and lines
    /// starting with # are skipped. A line starting with { is a request:
    /// {"id": ..., "method": "POST", "url": ..., "headers": {...}, "body": <any JSON>}, with
    /// "body_text" or "body_base64" for raw bodies, "params" for query parameters
    /// ({"q": "a b"} adds ?q=a+b) and "custom_id" accepted as "id"
    /// (an OpenAI Batch input file runs as it is, with --base-url).
    #[arg(value_name = "URLS")]
    pub(crate) file: Option<PathBuf>,

    /// Write the results to this file instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,

    /// Requests on the wire at once, over every origin [default: 512]. A request waiting for its
    /// origin's turn holds none, so a slow site does not hold back the others. Lowered, with a
    /// warning, to what the files the process may open hold (ulimit -n; gather raises its own soft
    /// limit to the hard one first).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,

    /// Requests at once to one origin (scheme, host and port): connections over HTTP/1.1, streams
    /// on its one connection over HTTP/2. auto (the default): a window per origin that starts at 8
    /// and adapts to the latency the origin shows, growing while it stays near the least seen (the
    /// site has room), shrinking when it rises (a queue forms at the server) and halving on 429,
    /// 503, refused or reset connections and timeouts; at most 256, and at most --limit. N: N at
    /// most, always. 0: no limit but --limit.
    #[arg(long, default_value = "auto", value_name = "auto|N")]
    pub(crate) per_host: String,

    /// Requests started per second at most, over the whole run: R, R/s, R/m or R/h (e.g. 10,
    /// 600/m, 0.5/s). Waiting for a turn does not count against --timeout.
    #[arg(long, value_name = "RATE")]
    pub(crate) rate: Option<String>,

    /// Requests started per second at most to each origin, as --rate. A 429 or 503 with
    /// Retry-After pauses its origin alone, whatever the rates.
    #[arg(long, value_name = "RATE")]
    pub(crate) rate_per_host: Option<String>,

    /// Tokens per minute at most, over the whole run: a second budget besides --rate, for APIs that
    /// limit tokens as well as requests. Each request weighs its "tokens" field, else its body's
    /// max_tokens (or max_completion_tokens, max_output_tokens) plus a token per 4 bytes of body.
    #[arg(long, value_name = "N")]
    pub(crate) tokens_per_minute: Option<u64>,

    /// Ignore the limits servers announce. By default gather reads them from each answer
    /// (OpenAI's x-ratelimit-*, Anthropic's anthropic-ratelimit-*, the IETF RateLimit and
    /// RateLimit-Policy fields) and starts a request to that server only when it has room, so a
    /// rate-limited API is used at its limit without a storm of 429s. Until a server's first
    /// answer says whether it has limits, the window's start (8; or --per-host N) requests at most are in flight to
    /// it, over HTTP/2 too.
    #[arg(long)]
    pub(crate) no_server_limits: bool,

    /// Speak HTTP/1.1 only (by default HTTP/2 is offered to https servers and used when they
    /// accept, with every request to an origin on one connection).
    #[arg(long = "http1.1")]
    pub(crate) http1_1: bool,

    /// Speak HTTP/2 to plain http:// servers without asking first (h2c with prior knowledge,
    /// as curl's flag of the same name); https is negotiated as usual.
    #[arg(long, conflicts_with = "http1_1")]
    pub(crate) http2_prior_knowledge: bool,

    /// Threads that run the requests. One is enough for tens of thousands of requests a second and
    /// leaves the other cores to the rest of the machine (a local server, say); more help when the
    /// client itself is the bottleneck, as with many TLS handshakes. 0: one per core.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub(crate) threads: usize,

    /// Results held waiting for an earlier line, at most. A URL is not started while it is this far
    /// ahead of the next line to write, nor while the lines held take 32 MiB, so memory stays bounded
    /// even when one early URL or a whole site is slow; within it, fast sites go at their own pace
    /// beside a slow one. Default: 64 x --limit.
    #[arg(long, value_name = "N")]
    pub(crate) reorder_window: Option<usize>,

    /// Stop at the first failure, as asyncio.gather() does by default: the lines before the failing
    /// one are still written (requests already running for them are awaited), then its error line,
    /// and nothing after it; requests after it are cancelled or never started. Without it every URL
    /// gets a line, failures as error objects (Python's return_exceptions=True), and the exit status
    /// says whether any failed.
    #[arg(long)]
    pub(crate) fail_fast: bool,

    /// Every URL gets a line: now the default; still accepted for scripts written before.
    #[arg(short = 'k', long, hide = true, conflicts_with = "fail_fast")]
    pub(crate) return_exceptions: bool,

    /// Treat HTTP statuses of 400 and above as failures (by default they are results).
    #[arg(long)]
    pub(crate) fail_on_status: bool,

    /// Timeout for each request attempt, e.g. 10s, 500ms, 1.5 (seconds).
    #[arg(long, default_value = defaults::TIMEOUT.as_str(), value_name = "DURATION")]
    pub(crate) timeout: String,

    /// Timeout for the whole run; results finished by then are kept.
    #[arg(long, value_name = "DURATION")]
    pub(crate) total_timeout: Option<String>,

    /// Retries after a connection failure, 429 or 5xx, with exponential backoff and jitter
    /// (a server's Retry-After in seconds is honoured, up to 30 s).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) retries: u32,

    /// First retry delay; each further retry doubles it.
    #[arg(long, default_value = defaults::RETRY_DELAY.as_str(), value_name = "DURATION")]
    pub(crate) retry_delay: String,

    // Its help is `defaults::MAX_BYTES_HELP`: the default depends on --save-dir.
    #[arg(long, value_name = "SIZE", help = defaults::MAX_BYTES_HELP.as_str())]
    pub(crate) max_bytes: Option<String>,

    /// Redirects followed at most; more is an error (a redirect loop ends here).
    #[arg(long, default_value_t = gather_http::FetchConfig::MAX_REDIRECTS, value_name = "N")]
    pub(crate) max_redirects: usize,

    /// Extra request header, "Name: value"; repeat for more. @FILE reads one per line from FILE
    /// (keeps a secret out of the process list and shell history, as --header-env does).
    /// Authorization and Cookie are not sent on after a redirect to another origin (scheme, host
    /// or port). Credentials in a URL (http://user:pass@host/) are sent as Basic auth unless -H
    /// gives an Authorization. A request line's own "headers" replace fields of the same name.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub(crate) headers: Vec<String>,

    /// A header with environment variables in its value, expanded by gather:
    /// --header-env 'Authorization: Bearer $OPENAI_API_KEY' (single quotes, so that the shell
    /// leaves it alone and only the variable's name is in the process list). $NAME or ${NAME};
    /// an unset or empty variable is an error. Repeat for more.
    #[arg(long = "header-env", value_name = "HEADER")]
    pub(crate) header_env: Vec<String>,

    /// The method of URL lines (curl's -X): GET by default, POST with -d or --json. Request lines
    /// (JSON objects) give their own.
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub(crate) method: Option<String>,

    /// A body for every URL line, as curl's -d: sent as given, as a form
    /// (Content-Type: application/x-www-form-urlencoded unless -H gives one); @FILE reads it from
    /// FILE with its newlines removed.
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATA",
        conflicts_with = "json"
    )]
    pub(crate) data: Option<String>,

    /// A JSON body for every URL line, as curl's --json: checked to be JSON, sent with
    /// Content-Type and Accept application/json; @FILE reads it from FILE as it is.
    #[arg(long = "json", value_name = "JSON")]
    pub(crate) json: Option<String>,

    /// What a relative "url" in a request line (or a relative URL line) is relative to, e.g.
    /// https://api.openai.com for an OpenAI Batch file's "url": "/v1/chat/completions".
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,

    /// Every line is a JSON request ({"url": ..., "method": ..., "headers": {...}, "body": ...});
    /// a plain URL line is then an error line. Without it a line is a request when it starts with {.
    #[arg(long)]
    pub(crate) jsonl: bool,

    /// Keep this field of each answer in its line's "headers" (e.g. x-request-id); repeat for
    /// more. Names are written in lower case; repeated fields are joined with ", ".
    #[arg(long = "keep-header", value_name = "NAME")]
    pub(crate) keep_header: Vec<String>,

    /// Also trust the certificates in this PEM file for HTTPS (a private CA, or a server's own
    /// self-signed certificate, as curl accepts it). Trusted always: the system's store, as curl
    /// reads it (SSL_CERT_FILE and SSL_CERT_DIR when set, else the distribution's bundle), or the
    /// web's roots built in where the system has none.
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<PathBuf>,

    /// Keep the cookies servers set and send them back, to the host that set each, for the rest
    /// of the run (redirects included: a login that answers with a cookie and a redirect works).
    /// A cookie's Domain is not honoured, so no site sets cookies for another.
    #[arg(long)]
    pub(crate) cookies: bool,

    /// Accept any server certificate, as curl's --insecure: for a test server only (a warning
    /// says so).
    #[arg(long)]
    pub(crate) insecure: bool,

    /// Show this client certificate (PEM, then its intermediates) to a server that asks for one;
    /// its private key is --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub(crate) cert: Option<PathBuf>,

    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub(crate) key: Option<PathBuf>,

    /// Send requests through this HTTP proxy: host:port, or http://user:password@host:port for one
    /// that wants credentials (port 1080 if none is given). Plain requests go in absolute form,
    /// https through CONNECT tunnels; the user and password go to the proxy only. Without it, the environment as curl reads it: http_proxy (lower case
    /// only), https_proxy or HTTPS_PROXY, all_proxy or ALL_PROXY. "" turns proxies off.
    #[arg(long, value_name = "URL")]
    pub(crate) proxy: Option<String>,

    /// Hosts that go direct, not through the proxy: comma-separated names (with their subdomains),
    /// addresses, networks (10.0.0.0/8), or * for all. Overrides no_proxy and NO_PROXY.
    #[arg(long, value_name = "LIST")]
    pub(crate) noproxy: Option<String>,

    /// The User-Agent header (a -H "User-Agent: ..." takes precedence).
    #[arg(long, default_value = defaults::USER_AGENT.as_str(), value_name = "TEXT")]
    pub(crate) user_agent: String,

    /// Ask for no compression and keep each body as sent: no Accept-Encoding, nothing decoded.
    /// By default gzip, deflate, br and zstd are asked for and decoded: "bytes" is the decoded size,
    /// "encoding" and "wire_bytes" say how it came, and --max-bytes bounds the decoded size.
    #[arg(long)]
    pub(crate) raw: bool,

    /// Put each body in its line: "json" as JSON when the answer's Content-Type is JSON (so
    /// jq '.json.choices[0].message.content' works), else "body" as text when it is UTF-8, else
    /// "body_base64". JSON answers' "usage" token counts are added up in the summary.
    #[arg(long, conflicts_with = "save_dir")]
    pub(crate) body: bool,

    /// Save each body to DIR/INDEX.body; the line names the file in "saved".
    #[arg(long, value_name = "DIR")]
    pub(crate) save_dir: Option<PathBuf>,

    /// Fetch only shard K of N: the lines whose index is K mod N (indices stay global; merge the
    /// shards' outputs with gather merge). K/N, or N with K from the job engine:
    /// JOB_COMPLETION_INDEX of a Kubernetes Indexed Job, or SLURM_ARRAY_TASK_ID mod N in a Slurm
    /// array (so a rerun of one index is the same shard). With -o, OUT.shard records the shard and
    /// the input, which --resume and gather merge check.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<String>,

    /// With -o: keep the lines already in OUT, skip their indexes, append the rest.
    #[arg(long, requires = "output")]
    pub(crate) resume: bool,

    /// With --resume: fetch again the lines of OUT that carry an error (the new line replaces it;
    /// OUT is rewritten in index order at the end).
    #[arg(long, requires = "resume")]
    pub(crate) retry_failed: bool,

    /// Exit 0 when every line was written, even if some are errors (a job engine then counts the
    /// shard done: Slurm's afterok, a Kubernetes Job's completions). Exit 1 is then kept for runs
    /// that did not write every line.
    #[arg(long, conflicts_with = "fail_fast")]
    pub(crate) ok_if_complete: bool,

    /// No progress bar and no summary.
    #[arg(short, long, conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    /// Say on stderr when an origin's window (--per-host auto) moves, and why.
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Pages to serve and fetch.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub(crate) pages: usize,

    /// How long the server takes to answer each page, in milliseconds.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub(crate) latency_ms: u64,

    /// Requests in flight at once in the gathered run.
    #[arg(long, default_value_t = gather_http::FetchConfig::LIMIT, value_name = "N")]
    pub(crate) limit: usize,

    /// POSTs to the demo's rate-limited API, sent twice: paced by the limits its answers announce,
    /// then as a flood. 0 skips that part.
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub(crate) api_requests: usize,

    /// Requests a second the demo's API allows (a second's worth at once).
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) api_rate: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use gather_http::Kind;

    #[test]
    fn help_explains_every_kind_a_line_can_carry() {
        let help = ERROR_KINDS;
        for kind in Kind::WRITTEN {
            assert!(
                help.lines().any(|l| l
                    .split_whitespace()
                    .any(|w| w.trim_end_matches(',') == kind.as_str())),
                "--help does not explain {kind}"
            );
        }
    }
}
