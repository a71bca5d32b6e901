//! The engine's one error type.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// An argument the caller can fix; the message names it.
    Invalid(String),
    /// More memory than the system can give; the message says how much, for
    /// what, and what to change.
    Memory(String),
    /// The caller asked the computation to stop (Ctrl-C from Python).
    Cancelled,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(msg) | Error::Memory(msg) => f.write_str(msg),
            Error::Cancelled => f.write_str("computation cancelled"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for an [`Error::Invalid`] built with `format!`.
macro_rules! invalid {
    ($($arg:tt)*) => { $crate::error::Error::Invalid(format!($($arg)*)) };
}
pub(crate) use invalid;
