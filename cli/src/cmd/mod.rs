//! One module per subcommand.

pub mod baseline;
pub mod check;
pub mod diff;
pub mod export;
pub mod restore;
