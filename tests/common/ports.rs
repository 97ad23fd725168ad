//! Port regions: each `TestEnv` holds ports of the host that it checked
//! free and that no other running test holds, so no test depends on what
//! listens on the host (a developer's machine has dev servers on 3000, 5173,
//! 8080...) nor on another test.
//!
//! The host's ports 10000..32000 (below the kernel's ephemeral range,
//! `/proc/sys/net/ipv4/ip_local_port_range`, where it starts lower) are cut
//! into slots of [`SLOT`] ports, but for 27000..29000 ([`FIXTURES`]), where
//! the config fixtures write literal ports (a region there would have the
//! redaction rewrite them). A region is one or more consecutive slots:
//!
//! - **held**: each slot is an `flock` on `shards-test-ports/slot-<first
//!   port>.lock` under the system temp dir, taken without waiting and kept
//!   until the region drops. flock excludes other threads (each opens its own
//!   file description) and other processes (`cargo test` runs threads,
//!   nextest a process per test, CI may run both); the files are opened
//!   close-on-exec, so a process a test leaves behind does not keep a slot.
//! - **checked free**: after the slots are held, no socket of the host is on
//!   any of its ports: no TCP listener (what shards counts as busy, read with
//!   shards' own `host::sockets`, IPv4 and IPv6, any address) and no bound
//!   UDP socket (which tests bind themselves). A slot that is busy is let go
//!   and the next one tried.
//!
//! Where every slot is held or busy, the search waits and tries again, and
//! fails the test after a minute.
//!
//! Every region's ports are 5-digit numbers, and the display redaction
//! ([`Region::redact`]) shows port `p` of the region as `p - base + 10000`:
//! a test's first port reads `10000` in every snapshot, whatever region it
//! got, with the same width.

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Ports in one slot: 10 blocks of shards' default size.
pub const SLOT: u16 = 1000;
/// The first port of the first slot.
const FIRST: u16 = 10000;
/// The end (exclusive) of the last slot, unless the ephemeral range starts lower.
const END: u16 = 32000;
/// Ports no region uses: the literal ports of the config fixtures
/// (`fixtures/config/`), which snapshots show as written.
pub const FIXTURES: std::ops::Range<u16> = 27000..29000;
/// What the redaction shows a region's first port as.
pub const SHOWN_BASE: u16 = 10000;

/// Ports of the host that one test holds: `len` ports from `base`.
#[derive(Debug)]
pub struct Region {
    /// Its first port.
    pub base: u16,
    /// How many ports it has.
    pub len: u16,
    /// The slots' locks, released when the region drops.
    _locks: Vec<File>,
}

impl Region {
    /// Takes a region of at least `len` ports (whole slots), held and
    /// checked free as the module doc says.
    pub fn take(len: u16) -> Region {
        let slots = len.div_ceil(SLOT).max(1);
        let end = match ephemeral_low() {
            Some(low) if low < END => low,
            _ => END,
        };
        // The first ports of the regions that fit below `end` and keep out
        // of the fixtures' ports.
        let firsts: Vec<u16> = (FIRST..end)
            .step_by(usize::from(SLOT))
            .filter(|&first| u32::from(first) + u32::from(slots * SLOT) <= u32::from(end))
            .filter(|&first| first + slots * SLOT <= FIXTURES.start || first >= FIXTURES.end)
            .collect();
        assert!(
            !firsts.is_empty(),
            "no room for {slots} port slots below {end}"
        );
        // Start at a different slot in each process and each call, so that
        // tests running at once rarely try the same slots first.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let start = (std::process::id() as usize * 7 + calls) % firsts.len();
        let begun = Instant::now();
        loop {
            for i in 0..firsts.len() {
                let first = firsts[(start + i) % firsts.len()];
                if let Some(region) = Region::try_at(first, slots) {
                    return region;
                }
            }
            assert!(
                begun.elapsed() < Duration::from_secs(60),
                "no free region of {slots} port slots in {FIRST}..{end} for a minute"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Holds `slots` slots from `first` if none is held by another test and
    /// no socket is on their ports.
    fn try_at(first: u16, slots: u16) -> Option<Region> {
        let mut locks = Vec::new();
        for k in 0..slots {
            locks.push(lock(first + k * SLOT)?);
        }
        let len = slots * SLOT;
        let busy = shards::host::sockets()
            .iter()
            .any(|s| (first..first + len).contains(&s.addr.port()));
        (!busy).then_some(Region {
            base: first,
            len,
            _locks: locks,
        })
    }

    /// True when `port` is one of the region's.
    pub fn holds(&self, port: u16) -> bool {
        (self.base..self.base + self.len).contains(&port)
    }

    /// Returns `text` with every port of the region (a run of exactly five
    /// digits) shown as `port - base + 10000`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut digits = String::new();
        let flush = |digits: &mut String, out: &mut String| {
            match digits.parse::<u16>() {
                Ok(p) if digits.len() == 5 && self.holds(p) => {
                    out.push_str(&(p - self.base + SHOWN_BASE).to_string());
                }
                _ => out.push_str(digits),
            }
            digits.clear();
        };
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
            } else {
                flush(&mut digits, &mut out);
                out.push(c);
            }
        }
        flush(&mut digits, &mut out);
        out
    }
}

/// Takes the lock of the slot that starts at `first`, without waiting;
/// `None` when another test holds it.
fn lock(first: u16) -> Option<File> {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::io::AsRawFd;
    let dir = lock_dir();
    let path = dir.join(format!("slot-{first}.lock"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .or_else(|_| File::open(&path))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Another user's tests may use the same slots.
    let _ = file.set_permissions(std::fs::Permissions::from_mode(0o666));
    // SAFETY: flock on a descriptor this function owns.
    let held = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    held.then_some(file)
}

/// Returns the folder of the slots' lock files, made open to every user
/// (sticky, as `/tmp` is) on first use.
fn lock_dir() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join("shards-test-ports");
    if !dir.is_dir() {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
    }
    dir
}

/// The first port of the host's ephemeral range, where it says.
fn ephemeral_low() -> Option<u16> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[test]
fn two_regions_taken_at_once_are_apart_and_show_the_same() {
    let a = Region::take(SLOT);
    let b = Region::take(2 * SLOT);
    assert_eq!(b.len, 2 * SLOT);
    for r in [&a, &b] {
        assert!(
            r.base + r.len <= FIXTURES.start || r.base >= FIXTURES.end,
            "{r:?}"
        );
    }
    assert!(
        a.base + a.len <= b.base || b.base + b.len <= a.base,
        "{a:?} {b:?}"
    );
    let text = format!(
        "{}-{} {} 123456 {}",
        a.base,
        a.base + 99,
        a.base + 999,
        a.base + 1000
    );
    assert_eq!(
        a.redact(&text),
        format!("10000-10099 10999 123456 {}", a.base + 1000)
    );
}
