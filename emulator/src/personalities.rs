//! The personalities emu has: the one place that names them, for the front
//! end to pick from, by a guest's ELF brand or by the name a table gives.
//! Nothing below the front end names a personality.

use crate::personality::Personality;
use loader::GuestAbi;

static ALL: [(GuestAbi, &dyn Personality); 2] =
    [(GuestAbi::Linux, &crate::linux::LINUX), (GuestAbi::FreeBsd, &crate::freebsd::FREEBSD)];

/// The personality for a guest's brand.
pub fn for_abi(abi: GuestAbi) -> Option<&'static dyn Personality> {
    ALL.iter().find(|(a, _)| *a == abi).map(|&(_, p)| p)
}

/// The personality a table's `personality` statement names.
pub fn named(name: &str) -> Option<&'static dyn Personality> {
    ALL.iter().find(|(_, p)| p.name() == name).map(|&(_, p)| p)
}
