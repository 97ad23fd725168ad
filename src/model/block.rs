//! [`PortBlock`]: a contiguous range of ports, never empty and never past
//! port 65535.
//!
//! Part of the pure core: no I/O, no sockets, no SQLite.

use std::fmt;

/// A contiguous range of ports `[start, start + len - 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortBlock {
    start: u16,
    len: u16,
}

impl PortBlock {
    /// Builds a block, or `None` when it is empty or runs past port 65535.
    pub fn new(start: u16, len: u16) -> Option<PortBlock> {
        if len == 0 || u32::from(start) + u32::from(len) - 1 > u32::from(u16::MAX) {
            return None;
        }
        Some(PortBlock { start, len })
    }

    /// Returns the first port.
    pub fn start(&self) -> u16 {
        self.start
    }

    /// Returns the last port (inclusive).
    pub fn end(&self) -> u16 {
        // `new` guarantees this does not overflow.
        self.start + (self.len - 1)
    }

    /// Returns the number of ports.
    pub fn len(&self) -> u16 {
        self.len
    }

    /// Returns true when the block holds no port; never, by construction.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns true when `port` lies inside the block.
    pub fn contains(&self, port: u16) -> bool {
        self.start <= port && port <= self.end()
    }

    /// Returns true when the two blocks share at least one port.
    pub fn overlaps(&self, other: &PortBlock) -> bool {
        self.start <= other.end() && other.start <= self.end()
    }
}

impl fmt::Display for PortBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_bounds() {
        assert!(PortBlock::new(65500, 36).is_some());
        assert!(PortBlock::new(65500, 37).is_none());
        assert!(PortBlock::new(10, 0).is_none());
        let b = PortBlock::new(3000, 100).unwrap();
        assert_eq!((b.start(), b.end(), b.len()), (3000, 3099, 100));
        assert!(b.contains(3099) && !b.contains(3100));
        assert!(b.overlaps(&PortBlock::new(3099, 5).unwrap()));
        assert!(!b.overlaps(&PortBlock::new(3100, 5).unwrap()));
    }
}
