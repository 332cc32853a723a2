//! The memory that pending elicitations and grants take in the memory store: heap bytes still
//! allocated (counted by an instrumented allocator) and the growth of the resident set.
//!
//! `cargo run --release -p scopeup-bench --bin memory [-- --count N]`; `cargo xtask bench` runs
//! it with 100,000.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark's job is to print its figures"
)]

use std::alloc::System;
use std::sync::Arc;

use clap::Parser;
use scopeup_bench::{
    NOTES, engine_config, engine_with_clock, notes_provider, open_elicitation, principal,
    proc_status_bytes, sample_grant,
};
use scopeup_core::ports::SystemClock;
use scopeup_core::{Clock as _, ProviderId, Store, StoreKey};
use scopeup_store::{KeyId, KeyRing, ManualClock, MemoryStore, SealedStore, SealingKey};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The memory target for 100,000 pending elicitations.
const ELICITATIONS_TARGET_MIB: f64 = 64.0;

/// What to count.
#[derive(Debug, Parser)]
struct Arguments {
    /// How many pending elicitations, and how many grants, to hold.
    #[arg(long, default_value_t = 100_000)]
    count: usize,
}

/// Memory held after a step, beyond what was held before it.
#[derive(Debug, Clone, Copy)]
struct Usage {
    /// Heap bytes allocated and not freed.
    heap: i64,
    /// Growth of the process's resident set, in bytes.
    resident: i64,
}

fn main() -> anyhow::Result<()> {
    let arguments = Arguments::parse();
    let count = arguments.count;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    // Each store is kept until the end, so that a later measurement cannot reuse memory an
    // earlier one freed.
    let (opened, pending, _elicitations) = runtime.block_on(pending_elicitations(count))?;
    let (grants, _grants) = runtime.block_on(grants(count))?;

    println!(
        "{:<44} {:>8} {:>11} {:>11} {:>15}",
        "held in the memory store", "count", "heap (MiB)", "bytes each", "resident (MiB)"
    );
    for (what, usage) in [
        ("pending elicitations, as opened", opened),
        ("pending elicitations, rate windows lapsed", pending),
        ("grants", grants),
    ] {
        println!(
            "{what:<44} {count:>8} {:>11.1} {:>11.0} {:>15.1}",
            mebibytes(usage.heap),
            usage.heap as f64 / count as f64,
            mebibytes(usage.resident),
        );
    }
    let scaled = |usage: Usage| mebibytes(usage.heap) * 100_000.0 / count as f64;
    let verdict = match scaled(pending) < ELICITATIONS_TARGET_MIB {
        true => "met",
        false => "MISSED",
    };
    println!(
        "100,000 pending elicitations: {:.1} MiB of heap ({:.1} MiB while each principal's \
         one-minute rate window is live); target under {ELICITATIONS_TARGET_MIB} MiB: {verdict}",
        scaled(pending),
        scaled(opened),
    );
    Ok(())
}

/// `count` principals each with a pending connect elicitation, opened through the engine: the
/// elicitation and its dedupe index, plus the principal's rate window until it lapses, each
/// sealed. Measured as opened, and again once the rate windows have expired and been purged.
async fn pending_elicitations(count: usize) -> anyhow::Result<(Usage, Usage, Arc<MemoryStore>)> {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let engine = engine_with_clock(store.clone(), [notes_provider()?], clock.clone())?;
    let notes = ProviderId::new(NOTES)?;
    let principals = (0..count)
        .map(|serial| principal(&format!("user-{serial}")))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let resident_before = resident_bytes()?;
    let region = Region::new(ALLOCATOR);
    for principal in &principals {
        open_elicitation(&engine, principal, &notes).await?;
    }
    let opened = usage(&region, resident_before)?;

    clock.advance(engine_config()?.rate_window);
    store.purge_expired();
    let pending = usage(&region, resident_before)?;

    anyhow::ensure!(
        store.len() == 2 * count,
        "expected an elicitation and an index for each principal, found {} records",
        store.len()
    );
    Ok((opened, pending, store))
}

/// `count` sealed grants, each as an upgrade leaves it, written to the store the engine uses.
async fn grants(count: usize) -> anyhow::Result<(Usage, Arc<MemoryStore>)> {
    let plain = Arc::new(MemoryStore::new(Arc::new(SystemClock)));
    let ring = KeyRing::new(KeyId::new("bench")?, SealingKey::from_bytes([7; 32]));
    let sealed = SealedStore::new(plain.clone(), ring, Arc::new(scopeup::OsRandom));

    let resident_before = resident_bytes()?;
    let region = Region::new(ALLOCATOR);
    for serial in 0..count {
        let name = format!("user-{serial}");
        let value = serde_json::to_vec(&sample_grant(&name)?)?;
        let key = StoreKey::hashed("grant", &[&name, NOTES]);
        sealed.put(&key, value, None).await?;
    }
    let measured = usage(&region, resident_before)?;

    anyhow::ensure!(plain.len() == count, "expected {count} grants");
    Ok((measured, plain))
}

/// The heap still allocated since `region` began, and the resident set's growth.
fn usage(region: &Region<'_, System>, resident_before: i64) -> anyhow::Result<Usage> {
    let change = region.change();
    // A reallocation is already counted in the bytes allocated or deallocated.
    let heap = change.bytes_allocated as i64 - change.bytes_deallocated as i64;
    let resident = resident_bytes()? - resident_before;
    Ok(Usage { heap, resident })
}

/// The process's resident set, in bytes.
fn resident_bytes() -> anyhow::Result<i64> {
    Ok(i64::try_from(proc_status_bytes("self", "VmRSS")?)?)
}

fn mebibytes(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
