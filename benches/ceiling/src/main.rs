// SPDX-License-Identifier: Apache-2.0
//! The no-Python ceiling (docs/build.md §12): the tightest single-thread loops
//! we can write over the data benches/ceiling.py wrote to DIR, timed here so
//! fastroute's batch calls can be given as a fraction of them in one run.
//!
//! Usage: fastroute-ceiling DIR NODE_COUNTS REPEAT [RING_BITS]   (NODE_COUNTS: e.g. 100,10000,1000000)
//!
//! DIR holds little-endian arrays: hashes.u64, ring_points.u64,
//! ring_owners.u32, maglev.u32, arrow_data.bin, arrow_offsets.i32. Every loop
//! runs once untimed (warm caches, fault in the output) and REPEAT times timed
//! (the fastest is reported; the driver repeats fastroute's calls as often); its
//! output is written to DIR/<loop>.i32 for the correctness test and a
//! checksum keeps the work observable. One JSON object goes to stdout.
//!
//! Nothing here links fastroute's engine: the loops are written afresh from
//! the papers (Lamping & Veach 2014 Fig. 1; Ertl 2024), with unchecked indexing
//! where the layout was checked on load.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use xxhash_rust::xxh3::xxh3_64;

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn words<const W: usize, T>(bytes: &[u8], from: fn([u8; W]) -> T) -> Vec<T> {
    assert_eq!(bytes.len() % W, 0, "length is not a multiple of {W}");
    bytes.chunks_exact(W).map(|c| from(c.try_into().unwrap())).collect()
}

fn write_out(dir: &Path, name: &str, out: &[i32]) {
    let bytes: Vec<u8> = out.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join(format!("{name}.i32")), bytes).unwrap();
}

/// Points compared without branches by `BucketRing::lookup_probe`.
const PROBE: usize = 4;

/// Sorted ring points with an index over their top `bits` bits:
/// `start[b]` = first point whose top bits are >= b, `start[1 << bits]` = n.
struct BucketRing<'a> {
    points: &'a [u64],
    /// `points` followed by PROBE copies of u64::MAX, so probes read in bounds.
    padded: Vec<u64>,
    owners: &'a [u32],
    start: Vec<u32>,
    shift: u32,
}

impl<'a> BucketRing<'a> {
    fn new(points: &'a [u64], owners: &'a [u32], bits: u32) -> Self {
        assert!(points.windows(2).all(|w| w[0] <= w[1]) && !points.is_empty() && points.len() == owners.len());
        assert!((1..=30).contains(&bits));
        let padded = points.iter().copied().chain([u64::MAX; PROBE]).collect();
        let shift = 64 - bits;
        let mut start = Vec::with_capacity((1 << bits) + 1);
        let mut i = 0usize;
        for b in 0..1u64 << bits {
            while i < points.len() && (points[i] >> shift) < b {
                i += 1;
            }
            start.push(i as u32);
        }
        start.push(points.len() as u32);
        BucketRing { points, padded, owners, start, shift }
    }

    /// Owner of the first point >= h, wrapping (`at_or_after`, HashRing's
    /// default): the bucket narrows the search to the few points sharing h's
    /// top bits, scanned linearly (a bucket holds ~1 point on average).
    #[inline(always)]
    fn lookup(&self, h: u64) -> i32 {
        let b = (h >> self.shift) as usize;
        // SAFETY: b < 1 << bits, start has (1 << bits) + 1 entries, each <= n.
        unsafe {
            let mut i = *self.start.get_unchecked(b) as usize;
            let hi = *self.start.get_unchecked(b + 1) as usize;
            while i < hi && *self.points.get_unchecked(i) < h {
                i += 1;
            }
            let i = if i == self.points.len() { 0 } else { i };
            *self.owners.get_unchecked(i) as i32
        }
    }

    /// `lookup` with the first PROBE points of the bucket counted without
    /// branches (no mispredicted loop exit), the rest of a crowded bucket searched.
    #[inline(always)]
    fn lookup_probe(&self, h: u64) -> i32 {
        let b = (h >> self.shift) as usize;
        // SAFETY: as in `lookup`; `padded` has PROBE entries past any start.
        unsafe {
            let lo = *self.start.get_unchecked(b) as usize;
            let hi = *self.start.get_unchecked(b + 1) as usize;
            // Slots past the bucket hold larger points (higher top bits, or the
            // u64::MAX padding): they are never < h, so no width test is needed.
            let mut count = 0;
            for k in 0..PROBE {
                count += (*self.padded.get_unchecked(lo + k) < h) as usize;
            }
            if count == PROBE && hi - lo > PROBE {
                count += self.points.get_unchecked(lo + PROBE..hi).partition_point(|&p| p < h);
            }
            let i = lo + count;
            let i = if i == self.points.len() { 0 } else { i };
            *self.owners.get_unchecked(i) as i32
        }
    }
}

/// Lamping & Veach 2014, Fig. 1, as printed.
#[inline(always)]
fn jump(mut key: u64, buckets: i64) -> i32 {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2862933555777941757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as i32
}

/// SplitMix64 output step (Steele, Lea & Flood 2014).
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// JumpBackHash (Ertl 2024, Algorithm 1 with hash4j's SplitMix64 stream
/// seeded by the key and its 32-bit draw layout), written as a plain loop.
#[inline(always)]
fn jump_back(key: u64, n: u32) -> i32 {
    if n <= 1 {
        return 0;
    }
    let mut state = key.wrapping_add(0x9e3779b97f4a7c15);
    let first = mix(state);
    let mut set = ((first ^ (first >> 32)) as u32) & (u32::MAX >> (n - 1).leading_zeros());
    while set != 0 {
        let top = 31 - set.leading_zeros();
        let low = 1u32 << top;
        let half = (first >> ((set.count_ones() * 32) % 64)) as u32;
        let c = low | (half & (low - 1));
        if c < n {
            return c as i32;
        }
        let mask = (low << 1) - 1;
        'redraw: loop {
            state = state.wrapping_add(0x9e3779b97f4a7c15);
            let r = mix(state);
            for c in [(r as u32) & mask, ((r >> 32) as u32) & mask] {
                if c < low {
                    break 'redraw;
                }
                if c < n {
                    return c as i32;
                }
            }
        }
        set ^= low;
    }
    0
}

/// CPU time of the calling thread: on a shared machine a loop's wall time
/// includes the time other processes held the core; its CPU time does not.
fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write; the clock id is a constant Linux has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// One pass's timings: CPU seconds (the figure compared), wall seconds, checksum.
type Figures = (f64, f64, i64);

/// Timed passes per loop (the REPEAT argument).
static REPEAT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// One untimed pass of `body` over `out`, then REPEAT timed ones: the fastest.
fn timed(out: &mut [i32], mut body: impl FnMut(&mut [i32])) -> Figures {
    body(out);
    let (mut best_cpu, mut best_wall) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..REPEAT.load(std::sync::atomic::Ordering::Relaxed) {
        let (wall, cpu) = (Instant::now(), thread_cpu_seconds());
        body(black_box(&mut *out));
        best_cpu = best_cpu.min(thread_cpu_seconds() - cpu);
        best_wall = best_wall.min(wall.elapsed().as_secs_f64());
    }
    (best_cpu, best_wall, out.iter().map(|&v| v as i64).sum())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(args.len() == 4 || args.len() == 5, "usage: {} DIR NODE_COUNTS REPEAT [RING_BITS]", args[0]);
    let repeat: usize = args[3].parse().expect("REPEAT");
    assert!(repeat >= 1, "REPEAT must be >= 1");
    REPEAT.store(repeat, std::sync::atomic::Ordering::Relaxed);
    // RING_BITS: time only that bucket count (probe scan), to compare settings by hand.
    let forced_bits: Option<u32> = args.get(4).map(|b| b.parse().expect("RING_BITS"));
    let dir = Path::new(&args[1]);
    let node_counts: Vec<u32> = args[2].split(',').map(|s| s.parse().expect("node count")).collect();

    let hashes = words(&read(dir, "hashes.u64"), u64::from_le_bytes);
    let points = words(&read(dir, "ring_points.u64"), u64::from_le_bytes);
    let owners = words(&read(dir, "ring_owners.u32"), u32::from_le_bytes);
    let maglev = words(&read(dir, "maglev.u32"), u32::from_le_bytes);
    let data = read(dir, "arrow_data.bin");
    let offsets: Vec<usize> = words(&read(dir, "arrow_offsets.i32"), i32::from_le_bytes)
        .into_iter()
        .map(|o| usize::try_from(o).expect("offset >= 0"))
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]) && offsets.last().is_some_and(|&e| e <= data.len()));
    assert!(!maglev.is_empty());
    let strings = offsets.len() - 1;

    let mut results: Vec<String> = Vec::new();
    let mut record = |name: &str, keys: usize, (cpu, wall, sum): Figures, extra: String| {
        results.push(format!(
            "\"{name}\": {{\"seconds\": {cpu:.9}, \"wall_seconds\": {wall:.9}, \"keys\": {keys}, \"checksum\": {sum}{extra}}}"
        ));
    };
    let mut out = vec![0i32; hashes.len()];

    // Ring: the bucket count and scan are the ceiling's to choose: each
    // setting around one bucket per point is tried once (calibration), and the
    // fastest is then timed alone, so the reported figure is one fresh timing
    // like fastroute's, not the minimum over many settings.
    let log2 = usize::BITS - 1 - points.len().leading_zeros();
    let settings: Vec<(u32, bool)> = match forced_bits {
        Some(bits) => vec![(bits, true)],
        None => (log2.saturating_sub(1).max(1)..=(log2 + 3).min(30)).flat_map(|b| [(b, false), (b, true)]).collect(),
    };
    let ring_pass = |ring: &BucketRing, probe: bool, o: &mut [i32]| {
        if probe {
            o.iter_mut().zip(&hashes).for_each(|(o, &h)| *o = ring.lookup_probe(h))
        } else {
            o.iter_mut().zip(&hashes).for_each(|(o, &h)| *o = ring.lookup(h))
        }
    };
    let (mut fastest, mut setting) = (f64::INFINITY, settings[0]);
    for &(bits, probe) in &settings {
        let ring = BucketRing::new(&points, &owners, bits);
        let secs = timed(&mut out, |o| ring_pass(&ring, probe, o)).0;
        if secs < fastest {
            (fastest, setting) = (secs, (bits, probe));
        }
    }
    let (bits, probe) = setting;
    let ring = BucketRing::new(&points, &owners, bits);
    let figures = timed(&mut out, |o| ring_pass(&ring, probe, o));
    write_out(dir, "ring", &out);
    let ring_config = format!(", \"bucket_bits\": {bits}, \"scan\": \"{}\"", if probe { "probe" } else { "linear" });
    record("ring", hashes.len(), figures, ring_config.clone());

    // Maglev: table[h % M]. M is a run-time value here (a division per key);
    // when it is the default 65537 the compile-time constant lets the compiler
    // use its multiply-by-reciprocal. Calibrated as the ring: the faster form
    // is timed again and reported.
    let m = maglev.len() as u64;
    let t = &maglev[..];
    let by_division = |o: &mut [i32]| {
        let m = black_box(m);
        o.iter_mut().zip(&hashes).for_each(|(o, &h)| *o = unsafe { *t.get_unchecked((h % m) as usize) } as i32)
    };
    let by_constant = |o: &mut [i32]| {
        o.iter_mut().zip(&hashes).for_each(|(o, &h)| *o = unsafe { *t.get_unchecked((h % 65537) as usize) } as i32)
    };
    let division_secs = timed(&mut out, by_division).0;
    let constant = m == 65537 && timed(&mut out, by_constant).0 < division_secs;
    let figures = if constant { timed(&mut out, by_constant) } else { timed(&mut out, by_division) };
    write_out(dir, "maglev", &out);
    let modulo = if constant { "constant" } else { "division" };
    record("maglev", hashes.len(), figures, format!(", \"modulo\": \"{modulo}\", \"division_seconds\": {division_secs:.9}"));

    // Arrow strings: xxh3-64 of each string, then the ring lookup above.
    fn hash_and_look_up(data: &[u8], offsets: &[usize], o: &mut [i32], look_up: impl Fn(u64) -> i32) {
        for (i, slot) in o.iter_mut().enumerate() {
            // SAFETY: offsets were checked non-decreasing and within data on load.
            let key = unsafe { data.get_unchecked(*offsets.get_unchecked(i)..*offsets.get_unchecked(i + 1)) };
            *slot = look_up(xxh3_64(key));
        }
    }
    let mut text_out = vec![0i32; strings];
    let arrow = if probe {
        timed(&mut text_out, |o| hash_and_look_up(&data, &offsets, o, |h| ring.lookup_probe(h)))
    } else {
        timed(&mut text_out, |o| hash_and_look_up(&data, &offsets, o, |h| ring.lookup(h)))
    };
    write_out(dir, "arrow", &text_out);
    record("arrow", strings, arrow, ring_config);

    for &n in &node_counts {
        assert!(n >= 1);
        let r = timed(&mut out, |o| o.iter_mut().zip(&hashes).for_each(|(o, &h)| *o = jump(h, n as i64)));
        write_out(dir, &format!("jump_{n}"), &out);
        record(&format!("jump_{n}"), hashes.len(), r, String::new());
        let r = timed(&mut out, |o| o.iter_mut().zip(&hashes).for_each(|(o, &h)| *o = jump_back(h, n)));
        write_out(dir, &format!("jumpback_{n}"), &out);
        record(&format!("jumpback_{n}"), hashes.len(), r, String::new());
    }
    println!("{{{}}}", results.join(", "));
}
