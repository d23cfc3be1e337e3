//! Managed platforms a snapshot can be sized and checked against offline: the facts
//! about each (server version, databases, memory the data may use) in one place,
//! and the one capacity rule that `preflight` (live) and the HTML report (offline)
//! both apply.
//!
//! Sources: the project's platform research (`shared/docs/platforms.md`); Azure
//! Managed Redis reserves about 20% of a SKU's memory (S15) and offers one database
//! (`SELECT` blocked).

use rdb_parser::Family;

use crate::plan::TargetProfile;
use crate::target::rdb_version_for;

/// A managed migration target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Platform {
    /// Azure Cache for Redis (Basic/Standard/Premium): Redis 6.0.
    AzureCache6,
    /// Azure Managed Redis: Redis 7.4, one database.
    AzureManaged74,
}

impl Platform {
    /// Every platform, in the order reports list them.
    pub const ALL: [Platform; 2] = [Platform::AzureCache6, Platform::AzureManaged74];

    /// The product's name.
    pub fn name(self) -> &'static str {
        match self {
            Platform::AzureCache6 => "Azure Cache for Redis 6.0",
            Platform::AzureManaged74 => "Azure Managed Redis 7.4",
        }
    }

    /// A short identifier (`azure-cache-6.0`): the value of `rdbkit report --target`.
    pub fn id(self) -> &'static str {
        match self {
            Platform::AzureCache6 => "azure-cache-6.0",
            Platform::AzureManaged74 => "azure-managed-7.4",
        }
    }

    /// The Redis version it runs (`MAJOR.MINOR`).
    pub fn version(self) -> (u32, u32) {
        match self {
            Platform::AzureCache6 => (6, 0),
            Platform::AzureManaged74 => (7, 4),
        }
    }

    /// What the restore plan needs to know: the RDB version of its Redis version
    /// ([`rdb_version_for`]) and the family.
    pub fn profile(self) -> TargetProfile {
        let (major, minor) = self.version();
        // Both versions are in rdb_version_for's table (a test checks it).
        let rdb_version = rdb_version_for(Family::Redis, &format!("{major}.{minor}")).unwrap_or(0);
        TargetProfile::new(rdb_version, Family::Redis)
    }

    /// Share of the SKU size usable by data, in percent: Azure Managed Redis
    /// reserves about 20%; Azure Cache's `maxmemory-reserved` is configured per cache
    /// and not subtracted here.
    pub fn usable_percent(self) -> u64 {
        match self {
            Platform::AzureCache6 => 100,
            Platform::AzureManaged74 => 80,
        }
    }

    /// Memory the data may use on a SKU of `sku_bytes`.
    pub fn usable(self, sku_bytes: u64) -> u64 {
        let usable = u128::from(sku_bytes) * u128::from(self.usable_percent()) / 100;
        u64::try_from(usable).unwrap_or(u64::MAX)
    }

    /// Whether keys outside db 0 are refused outright (`true`: one database, `SELECT`
    /// blocked), rather than only on clustered caches (`false`).
    pub fn single_database(self) -> bool {
        matches!(self, Platform::AzureManaged74)
    }
}

/// How a need fits in the memory available for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fit {
    /// Fits with at least 20% headroom.
    Fits,
    /// Fits, with less than 20% headroom.
    Tight,
    /// Does not fit.
    DoesNotFit,
}

/// The capacity rule: `need` bytes fit in `available` with 20% headroom (over the
/// need) when `available >= need × 1.2`.
pub fn fit(need: u64, available: u64) -> Fit {
    if available as f64 >= need as f64 * 1.2 {
        Fit::Fits
    } else if available >= need {
        Fit::Tight
    } else {
        Fit::DoesNotFit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_and_fit() {
        assert_eq!(Platform::AzureCache6.profile().rdb_version, 9);
        assert_eq!(Platform::AzureManaged74.profile().rdb_version, 12);
        assert!(!Platform::AzureCache6.profile().has_functions());
        assert_eq!(Platform::AzureManaged74.usable(10 << 30), 8 << 30);
        assert_eq!(fit(100, 120), Fit::Fits);
        assert_eq!(fit(100, 119), Fit::Tight);
        assert_eq!(fit(100, 100), Fit::Tight);
        assert_eq!(fit(100, 99), Fit::DoesNotFit);
    }
}
