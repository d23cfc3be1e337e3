//! `rdb-restore`: talking to live Redis/Valkey servers (restore, verify, INFO baselines).
//!
//! This crate is the home of everything that needs a socket. It is still empty: the
//! restore, verify and live-server features land here in later issues, on top of
//! [`rdb_parser`]'s record framing and DUMP payload builder.

pub use rdb_parser;
