//! What the BSD personalities share, kept out of any one of them so that
//! a NetBSD or OpenBSD personality can take it as FreeBSD's does:
//!
//! * `sleep`: waits on a guest word the way BSD kernels' sleep queues
//!   work (a count of sleepers, wakes by number and by kind), on Linux
//!   futexes, for umtx-like synchronisation;
//! * `sysctl`: the request protocol of sysctl(2) (the old value and its
//!   length, ENOMEM with the length needed, refused writes) over a
//!   personality's table of nodes;

pub mod kqueue;
pub mod sleep;
pub mod sysctl;
