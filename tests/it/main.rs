//! The integration-test binary: the real app against real servers.

mod support;
