//! Property tests (proptest, 1,000+ cases each): the allocator against a
//! simple model, and the env-file editor's promises.

use std::collections::BTreeSet;

use proptest::prelude::*;
use shards::alloc::{self, Pool};
use shards::envfile;
use shards::model::PortBlock;

#[derive(Debug, Clone)]
enum Op {
    /// Allocate with the current pool.
    Alloc,
    /// Free the i-th held block (modulo the count).
    Free(usize),
    /// Mark a port busy on the host.
    Busy(u16),
    /// Clear a busy port.
    Unbusy(u16),
    /// Change the block size (the pool's base and max stay).
    Resize(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Alloc),
        2 => any::<usize>().prop_map(Op::Free),
        1 => (40000u16..40200).prop_map(Op::Busy),
        1 => (40000u16..40200).prop_map(Op::Unbusy),
        1 => (1u16..40).prop_map(Op::Resize),
    ]
}

/// The model: scan every aligned candidate, port by port.
fn model_pick(
    base: u16,
    max: u16,
    size: u16,
    held: &[PortBlock],
    busy: &BTreeSet<u16>,
) -> Option<(u16, u16)> {
    let mut start = u32::from(base);
    while start + u32::from(size) - 1 <= u32::from(max) {
        let end = start + u32::from(size) - 1;
        let ports = start..=end;
        let taken = ports
            .clone()
            .any(|p| held.iter().any(|h| h.contains(p as u16)));
        let in_use = ports.clone().any(|p| busy.contains(&(p as u16)));
        if !taken && !in_use {
            return Some((start as u16, end as u16));
        }
        start += u32::from(size);
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn the_allocator_matches_the_model(ops in proptest::collection::vec(op(), 1..60), size in 1u16..40) {
        let (base, max) = (40000u16, 40199u16);
        let mut size = size;
        let mut held: Vec<PortBlock> = Vec::new();
        let mut busy = BTreeSet::new();
        for op in ops {
            match op {
                Op::Alloc => {
                    let pool = Pool::new(base, max, size).unwrap();
                    let got = alloc::pick(&pool, &held, |b| busy.range(b.start()..=b.end()).next().is_some());
                    let want = model_pick(base, max, size, &held, &busy);
                    match (got, want) {
                        (Ok(b), Some((s, e))) => {
                            prop_assert_eq!((b.start(), b.end()), (s, e));
                            prop_assert!(held.iter().all(|h| !h.overlaps(&b)));
                            held.push(b);
                        }
                        (Err(ex), None) => {
                            prop_assert_eq!(ex.total, pool.total());
                            prop_assert_eq!(ex.held + ex.busy, ex.total);
                        }
                        (got, want) => prop_assert!(false, "allocator {:?} but model {:?}", got, want),
                    }
                }
                Op::Free(i) => {
                    if !held.is_empty() {
                        let i = i % held.len();
                        held.remove(i);
                    }
                }
                Op::Busy(p) => { busy.insert(p); }
                Op::Unbusy(p) => { busy.remove(&p); }
                Op::Resize(s) => size = s,
            }
        }
    }

    #[test]
    fn user_bytes_outside_the_section_survive(
        before in proptest::collection::vec(any::<u8>(), 0..300),
        after in proptest::collection::vec(any::<u8>(), 0..300),
        port in 1u16..65000,
    ) {
        // Any bytes that carry no marker line of their own.
        let clean = |b: &[u8]| !String::from_utf8_lossy(b).contains("# >>> shards >>>") && !String::from_utf8_lossy(b).contains("# <<< shards <<<");
        prop_assume!(clean(&before) && clean(&after));
        let vars = vec![("PORT".to_string(), port.to_string())];
        let first = envfile::apply(&before, &vars).unwrap();
        // Appending keeps every byte, adding at most the final line's newline.
        prop_assert!(first.bytes.starts_with(&before));
        let added = first.bytes.len() - before.len();
        let section = envfile::render_section(&vars, if before.windows(2).any(|w| w == b"\r\n") { "\r\n" } else { "\n" });
        prop_assert!(added == section.len() || added == section.len() + 1 || added == section.len() + 2);
        // User lines after the section come back byte for byte on a rewrite.
        let mut with_after = first.bytes.clone();
        with_after.extend_from_slice(&after);
        let vars2 = vec![("PORT".to_string(), (port / 2 + 1).to_string())];
        let second = envfile::apply(&with_after, &vars2).unwrap();
        prop_assert!(second.bytes.starts_with(&first.bytes[..first.bytes.len() - section.len()]));
        prop_assert!(second.bytes.ends_with(&after));
        // Applying the same section twice changes nothing.
        let third = envfile::apply(&second.bytes, &vars2).unwrap();
        prop_assert_eq!(&third.bytes, &second.bytes);
        prop_assert_eq!(envfile::read_section(&third.bytes), Some(vars2));
    }
}
