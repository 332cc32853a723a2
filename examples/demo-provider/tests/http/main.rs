//! The demo provider driven over real HTTP on a loopback listener, the way a browser, an OAuth
//! client and an API caller use it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions fail the test by panicking"
)]

mod api;
mod authorize;
mod metadata;
mod support;
mod token;
