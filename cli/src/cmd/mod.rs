//! One module per subcommand.

pub mod baseline;
pub mod check;
pub mod convert;
pub mod diff;
pub mod export;
pub mod info;
pub mod keys;
pub mod metrics;
pub mod preflight;
pub mod report;
pub mod restore;
pub mod sync;
pub mod verify;
pub mod watch;
