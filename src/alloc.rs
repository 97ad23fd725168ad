//! The port-block allocator: pure functions over the blocks already taken.
//!
//! Invariants, which the tests below and the property tests hold it to:
//! - a block is `base + k * block_size ..= base + (k + 1) * block_size - 1`
//!   and lies entirely inside `base ..= max`;
//! - the block returned overlaps no taken block (taken blocks may have any
//!   size and alignment: the pool's settings can change between creates);
//! - the lowest such block that the host does not report busy is returned,
//!   so numbers stay predictable and freed blocks are reused first.
//!
//! Knows nothing of SQLite, git, sockets or clap: taken blocks and a busy
//! predicate in, a block or [`Exhausted`] out.

use crate::model::PortBlock;

/// The ports blocks are cut from, and the size of each block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    base: u16,
    max: u16,
    block_size: u16,
}

impl Pool {
    /// Builds a pool, or says why the settings cannot hold even one block.
    pub fn new(base: u16, max: u16, block_size: u16) -> Result<Pool, String> {
        if block_size == 0 {
            return Err("ports.block_size must be at least 1".into());
        }
        if base == 0 {
            return Err("ports.base must be at least 1".into());
        }
        if max < base {
            return Err(format!("ports.max ({max}) is below ports.base ({base})"));
        }
        let pool = Pool {
            base,
            max,
            block_size,
        };
        if pool.total() == 0 {
            return Err(format!(
                "the pool {base}-{max} holds {} ports, fewer than one block of {block_size}",
                u32::from(max) - u32::from(base) + 1
            ));
        }
        Ok(pool)
    }

    /// Returns the first port of the pool.
    pub fn base(&self) -> u16 {
        self.base
    }

    /// Returns the last port of the pool.
    pub fn max(&self) -> u16 {
        self.max
    }

    /// Returns the number of ports in each block.
    pub fn block_size(&self) -> u16 {
        self.block_size
    }

    /// Returns how many whole blocks fit in the pool.
    pub fn total(&self) -> u32 {
        (u32::from(self.max) - u32::from(self.base) + 1) / u32::from(self.block_size)
    }

    /// Returns the pool's blocks in order, lowest first.
    pub fn blocks(&self) -> impl Iterator<Item = PortBlock> + '_ {
        (0..self.total()).filter_map(move |k| {
            let start = u32::from(self.base) + k * u32::from(self.block_size);
            PortBlock::new(u16::try_from(start).ok()?, self.block_size)
        })
    }
}

/// Why no block could be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    /// Blocks in the pool.
    pub total: u32,
    /// Pool blocks that overlap a block held in the ledger.
    pub held: u32,
    /// Pool blocks not held but with a port in use on the host.
    pub busy: u32,
}

/// Returns the lowest pool block that overlaps no `taken` block and that
/// `busy` does not reject.
///
/// `busy` is asked only about blocks that are free in the ledger, lowest
/// first, and not asked again once a block is found.
pub fn pick(
    pool: &Pool,
    taken: &[PortBlock],
    mut busy: impl FnMut(PortBlock) -> bool,
) -> Result<PortBlock, Exhausted> {
    let mut sorted = taken.to_vec();
    sorted.sort();
    let mut held = 0;
    let mut busy_count = 0;
    // `first` is the index of the first taken block that can still overlap a
    // candidate: candidates grow, so blocks ending before one never matter again.
    let mut first = 0;
    for block in pool.blocks() {
        while first < sorted.len() && sorted[first].end() < block.start() {
            first += 1;
        }
        let overlaps = sorted[first..]
            .iter()
            .take_while(|t| t.start() <= block.end())
            .any(|t| t.overlaps(&block));
        if overlaps {
            held += 1;
        } else if busy(block) {
            busy_count += 1;
        } else {
            return Ok(block);
        }
    }
    Err(Exhausted {
        total: pool.total(),
        held,
        busy: busy_count,
    })
}

/// Returns the lowest offset inside a block of `len` ports that is neither
/// `used` by an allocated service nor `reserved` for a configured one.
pub fn service_offset(len: u16, used: &[u16], reserved: &[u16]) -> Option<u16> {
    (0..len).find(|o| !used.contains(o) && !reserved.contains(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(start: u16, len: u16) -> PortBlock {
        PortBlock::new(start, len).unwrap()
    }

    fn free(_: PortBlock) -> bool {
        false
    }

    #[test]
    fn first_fit_from_base() {
        let pool = Pool::new(3000, 32767, 100).unwrap();
        assert_eq!(pick(&pool, &[], free), Ok(b(3000, 100)));
        assert_eq!(pick(&pool, &[b(3000, 100)], free), Ok(b(3100, 100)));
    }

    #[test]
    fn reuses_the_lowest_gap() {
        let pool = Pool::new(3000, 32767, 100).unwrap();
        let taken = [b(3200, 100), b(3000, 100)];
        assert_eq!(pick(&pool, &taken, free), Ok(b(3100, 100)));
    }

    #[test]
    fn skips_busy_blocks() {
        let pool = Pool::new(3000, 32767, 100).unwrap();
        let got = pick(&pool, &[], |blk| blk.contains(3000) || blk.contains(3150));
        assert_eq!(got, Ok(b(3200, 100)));
    }

    #[test]
    fn odd_sized_taken_blocks_block_every_overlapping_candidate() {
        // A block taken under an older, larger block size.
        let pool = Pool::new(3000, 3999, 100).unwrap();
        assert_eq!(pick(&pool, &[b(3050, 200)], free), Ok(b(3300, 100)));
    }

    #[test]
    fn exhaustion_counts_held_and_busy() {
        let pool = Pool::new(40000, 40029, 10).unwrap();
        let err = pick(&pool, &[b(40000, 10)], |blk| blk.start() >= 40010).unwrap_err();
        assert_eq!(
            err,
            Exhausted {
                total: 3,
                held: 1,
                busy: 2
            }
        );
        let err = pick(&pool, &[b(40000, 10), b(40020, 10)], |blk| {
            blk.start() == 40010
        })
        .unwrap_err();
        assert_eq!((err.total, err.held, err.busy), (3, 2, 1));
    }

    #[test]
    fn the_top_of_the_port_space_does_not_overflow() {
        let pool = Pool::new(65500, 65535, 10).unwrap();
        assert_eq!(pool.total(), 3);
        let taken = [b(65500, 10), b(65510, 10)];
        assert_eq!(pick(&pool, &taken, free), Ok(b(65520, 10)));
        let all: Vec<_> = pool.blocks().collect();
        assert_eq!(all.last().unwrap().end(), 65529);
    }

    #[test]
    fn service_offsets_skip_used_and_reserved() {
        assert_eq!(service_offset(5, &[], &[0, 1]), Some(2));
        assert_eq!(service_offset(5, &[2, 3], &[0, 1]), Some(4));
        assert_eq!(service_offset(2, &[1], &[0]), None);
    }

    #[test]
    fn bad_pools_are_refused() {
        assert!(Pool::new(3000, 3000, 0).is_err());
        assert!(Pool::new(3000, 2999, 1).is_err());
        assert!(Pool::new(3000, 3050, 100).is_err());
        assert!(Pool::new(0, 100, 10).is_err());
        assert!(Pool::new(3000, 3099, 100).is_ok());
    }
}
