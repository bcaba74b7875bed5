//! Writing results as JSON Lines, in input order, as soon as the next line
//! in order is ready; and reading them back for `--resume`. One file per
//! job: `record` makes a line, `ordered` puts lines in input order and
//! tells the requests how far it has got, `resume` reads an earlier run's
//! output back.
//!
//! Results arrive in completion order. Each waits in a reorder buffer until
//! every earlier line has been written. The buffer is bounded because a
//! URL is not started while it is more than `--reorder-window` positions
//! ahead of the next line to write, nor while the lines held take the
//! run's byte budget (see [`OrderedWriter::written`]).

mod ordered;
#[cfg(test)]
mod properties;
mod record;
mod resume;

pub(crate) use ordered::OrderedWriter;
pub(crate) use record::{error_line, is_json, page_line, Shape};
#[cfg(test)]
pub(crate) use resume::parse_records;
pub(crate) use resume::{put_in_order, resume, Records};
