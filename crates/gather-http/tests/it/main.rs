//! The engine's integration tests, one binary: its HTTP/1.1 client against
//! scripted servers, and requests with methods and bodies against the page
//! server over HTTP/1.1 and HTTP/2; whole runs of requests.

mod client_http1;
mod payloads;
mod retries;
mod run;
mod windows;
