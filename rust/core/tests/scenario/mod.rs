//! Data-driven Raft scenarios in the style of etcd-io/raft's `rafttest`: scripts under
//! `tests/testdata/*.txt` drive an in-memory cluster command by command and compare what
//! happens with the expected output written under each command.
//!
//! Regenerate the expected outputs with `SENATE_REWRITE=1 cargo test -p senate-core --test
//! scenarios`, then review the diff by hand: the output is the specification.
#![allow(dead_code)]

pub mod commands;
pub mod datadriven;
pub mod format;
pub mod harness;
