// SPDX-License-Identifier: Apache-2.0
//! Placement algorithms: deterministic key → node tables. PyO3-free.
//!
//! `Table::build(&Config)` is the one entry point: the common node/weight
//! rules live here. Each kind file owns everything else about its kind: a
//! `KindSpec` (name, whether it reproduces a public algorithm, how it reads
//! its options), the options' build (limits included) and a `Placement`
//! (lookup, replicas, batch routes, size facts, fingerprint contents).
//! `KINDS` registers them: adding a kind is one kind file and one line there.

pub mod bounded;
pub mod options;
pub mod recycle;
pub mod weights;

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use crate::batch::{par_map, par_rows};
use crate::hash::keyed::PlacementKey;
use crate::hash::{full_hash, HashAlgorithm};
use crate::keys::{KeyBatch, KeyError};
pub use options::{OptionReader, OptionValue, Options};

/// Declares each kind file as a module and lists its `KindSpec`s in `KINDS`.
macro_rules! kinds {
    ($($module:ident: [$($spec:ident),+]),+ $(,)?) => {
        $(pub mod $module;)+
        /// Every placement kind, by the name `Config::kind` (and the Python faces) use.
        pub const KINDS: &[KindSpec] = &[$($($module::$spec),+),+];
    };
}

// The registry: one line per kind file.
kinds! {
    ring: [RING],
    ketama: [KETAMA],
    maglev: [MAGLEV],
    jump: [JUMP],
    jumpback: [JUMPBACK],
    jumpback_anchor: [JUMPBACK_ANCHOR],
    rendezvous: [RENDEZVOUS],
    iphash: [IP_HASH],
    nginx: [NGINX_CHASH, NGINX_HASH],
    haproxy: [HAPROXY_CHASH, HAPROXY_MAP],
}

/// An argument broke a rule: `arg` names it (as the Python API spells it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub arg: &'static str,
    pub message: String,
}

impl BuildError {
    pub fn new(arg: &'static str, message: impl Into<String>) -> Self {
        BuildError { arg, message: message.into() }
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.arg, self.message)
    }
}

impl std::error::Error for BuildError {}

/// One placement kind: its registry entry, a `pub const` in its kind file.
#[derive(Clone, Copy)]
pub struct KindSpec {
    /// The kind's name (part of the fingerprint; the Python face's `_kind`).
    pub name: &'static str,
    /// Reproduces a public algorithm (nginx, HAProxy, ketama) byte for byte:
    /// a secret would silently break that, so the kind refuses one (§22.3).
    pub reproduces_public_algorithm: bool,
    /// Reads the kind's options (every error names the option).
    pub read_options: fn(&mut OptionReader<'_>) -> Result<Box<dyn KindOptions>, BuildError>,
}

/// What a kind builds from, after the common checks.
pub struct Nodes<'a> {
    pub names: &'a [NodeName],
    /// The names' bytes, in node order.
    pub name_bytes: &'a [&'a [u8]],
    /// Finite, >= 0, not all zero; one per name.
    pub weights: &'a [f64],
    /// The table's key hash (some kinds also hash node points with it).
    pub hash: HashAlgorithm,
}

/// A kind's decoded options: builds the lookup structure.
pub trait KindOptions: Debug + Send + Sync {
    fn build(&self, nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError>;

    /// The structure for `nodes` (the membership after `change`), reusing `old`, this
    /// kind's build of the membership before it, so unchanged nodes are not hashed
    /// again (docs/algorithms.md §25). None: no incremental path, `build` runs.
    fn update(&self, _old: &dyn Placement, _change: NodeChange<'_>, _nodes: &Nodes<'_>)
        -> Option<Result<Arc<dyn Placement>, BuildError>> {
        None
    }

    /// HAProxy `avalanche`: full_hash() over the 32-bit key hash before the lookup.
    fn avalanche(&self) -> bool {
        false
    }
}

/// The options of a kind that has none: its build is a function of the nodes.
pub struct NoOptions(pub fn(&Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError>);

impl Debug for NoOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoOptions")
    }
}

impl KindOptions for NoOptions {
    fn build(&self, nodes: &Nodes<'_>) -> Result<Arc<dyn Placement>, BuildError> {
        (self.0)(nodes)
    }
}

/// A built lookup structure. Batch methods have per-kind defaults: a default
/// body is compiled for each implementing type, so its per-key `lookup` is a
/// static call; the table dispatches once per call or batch.
pub trait Placement: AsAny + Debug + Send + Sync {
    /// Node index for a finished key hash.
    fn lookup(&self, h: u64) -> u32;

    /// The primary and the next n-1 distinct nodes for a finished key hash.
    fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>);

    /// Nodes that can receive keys.
    fn holders(&self, weights: &[f64]) -> usize {
        weights.iter().filter(|w| **w > 0.0).count()
    }

    /// Size facts: entries in the table and bytes they use.
    fn stats(&self, node_count: usize) -> (usize, usize);

    /// The built contents that identify the table beyond its config (appended
    /// to the fingerprint's bytes).
    fn fingerprint_contents(&self, _out: &mut Vec<u8>) {}

    /// Keys are addresses, not hashed (nginx `ip_hash`): `lookup` takes an
    /// IPv4 address as a number and the binding converts address keys itself.
    fn keys_are_addresses(&self) -> bool {
        false
    }

    /// Node index per key of a validated batch of `m` keys. Err(i): key i
    /// cannot be placed (ip_hash: not an address).
    fn route(&self, keys: &KeyHasher, batch: KeyBatch<'_>, _m: usize) -> Result<Vec<i32>, usize> {
        Ok(keys.map_batch(batch, |h| self.lookup(h) as i32))
    }

    /// Node index per finished 64-bit hash.
    fn route_hashed(&self, h: &[u64]) -> Vec<i32> {
        par_map(h.len(), || (), |_, i| self.lookup(h[i]) as i32)
    }

    /// `n` replicas per key of a validated batch of `m` keys, row-major; a
    /// row of -1 marks a key that cannot be placed (ip_hash: not an address).
    fn route_replicas(&self, keys: &KeyHasher, batch: KeyBatch<'_>, m: usize, n: usize) -> Vec<i32> {
        par_rows(m, n, || (Vec::new(), Vec::with_capacity(n)), |(scratch, reps), i, row| {
            self.replicas(keys.hash_at(batch, i, scratch), n, reps);
            for (slot, &r) in row.iter_mut().zip(reps.iter()) {
                *slot = r as i32;
            }
        })
    }
}

/// `Any` for every placement, so the binding can reach a kind's own
/// operations (ring points, nginx attempts) with `Table::placement_as`, and
/// the table can give per-call lookups static dispatch (`static_lookup!`).
pub trait AsAny: Any + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<T: Any + Send + Sync> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// The table keeps these built types by value in an enum: per-call
/// `Table::lookup` is a match with the lookup inlined and no pointer to
/// follow, as before kinds were trait objects (through an `Arc<dyn>`,
/// `get_node` measured 3-5% slower; docs/build.md §11). Optional for a new
/// kind: a type not listed here is kept as `Arc<dyn Placement>`.
macro_rules! static_lookup {
    ($($variant:ident: $ty:ty),+ $(,)?) => {
        #[derive(Debug, Clone)]
        enum Built {
            $($variant($ty),)+
            Dynamic(Arc<dyn Placement>),
        }

        impl Built {
            /// `placement` by value when its type is listed (a new build holds the only reference).
            fn of(placement: Arc<dyn Placement>) -> Built {
                let any = <dyn Placement as AsAny>::into_any(Arc::clone(&placement));
                $(
                    let any = match any.downcast::<$ty>() {
                        Ok(built) => {
                            drop(placement);
                            match Arc::try_unwrap(built) {
                                Ok(value) => return Built::$variant(value),
                                Err(shared) => return Built::Dynamic(shared),
                            }
                        }
                        Err(other) => other,
                    };
                )+
                drop(any);
                Built::Dynamic(placement)
            }

            #[inline]
            fn get(&self) -> &dyn Placement {
                match self {
                    $(Built::$variant(built) => built,)+
                    Built::Dynamic(placement) => &**placement,
                }
            }

            #[inline]
            fn lookup(&self, h: u64) -> u32 {
                match self {
                    $(Built::$variant(built) => Placement::lookup(built, h),)+
                    Built::Dynamic(placement) => placement.lookup(h),
                }
            }
        }
    };
}

static_lookup! {
    Ring: ring::Ring,
    Maglev: maglev::Maglev,
    Jump: jump::Jump,
    JumpBack: jumpback::JumpBack,
    Rendezvous: rendezvous::Rendezvous,
    PlainHash: nginx::PlainHash,
    Map: haproxy::MapTable,
    IpHash: iphash::IpHash,
}

/// How a table hashes keys: SipHash-1-3 under the secret's key, else the
/// public `hash` with seed 0; then HAProxy's `avalanche` step where set.
#[derive(Debug, Clone, Copy)]
pub struct KeyHasher {
    hash: HashAlgorithm,
    secret: Option<PlacementKey>,
    avalanche: bool,
}

impl KeyHasher {
    /// The finishing step: HAProxy `avalanche` applies full_hash() to the
    /// 32-bit hash; every other kind uses the hash as is.
    #[inline]
    pub fn finish(&self, h: u64) -> u64 {
        if self.avalanche { full_hash(h as u32) as u64 } else { h }
    }

    /// Hash of a key's canonical bytes, unfinished.
    #[inline]
    fn raw(&self, key: &[u8]) -> u64 {
        match &self.secret {
            Some(k) => k.hash(key),
            None => self.hash.hash(key, 0),
        }
    }

    /// Finished hash of a key's bytes.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.finish(self.raw(key))
    }

    /// Finished hash of an integer key (8 bytes little-endian).
    #[inline]
    pub fn hash_u64(&self, key: u64) -> u64 {
        self.hash(&key.to_le_bytes())
    }

    /// Finished hash of key `i` of a validated batch.
    #[inline]
    pub fn hash_at(&self, batch: KeyBatch<'_>, i: usize, scratch: &mut Vec<u8>) -> u64 {
        let h = match &self.secret {
            Some(k) => batch.hash_at_with(i, &|b: &[u8]| k.hash(b), scratch),
            None => batch.hash_at(i, self.hash, 0, scratch),
        };
        self.finish(h)
    }

    /// `f(finished hash)` per key of a validated batch. Each hash variant gets
    /// its own monomorphic loop (no per-key branch on the secret or avalanche).
    pub fn map_batch<T, F>(&self, batch: KeyBatch<'_>, f: F) -> Vec<T>
    where
        T: Send + Copy + Default,
        F: Fn(u64) -> T + Sync + Send,
    {
        let algo = self.hash;
        match (&self.secret, self.avalanche) {
            (Some(key), false) => batch.map_hashes_with(move |b: &[u8]| key.hash(b), f),
            (Some(key), true) => batch.map_hashes_with(move |b: &[u8]| full_hash(key.hash(b) as u32) as u64, f),
            // The default text-key hash gets its own loop: through `algo.hash` every
            // key paid a call and a match on the algorithm (docs/build.md §12).
            // xxh3 with seed 0 is xxh3_64 (XXH3 spec: seed 0 uses the default secret as is).
            (None, false) if algo == HashAlgorithm::Xxh3 => batch.map_hashes_with(xxhash_rust::xxh3::xxh3_64, f),
            (None, false) => batch.map_hashes_with(move |b: &[u8]| algo.hash(b, 0), f),
            (None, true) => batch.map_hashes_with(move |b: &[u8]| full_hash(algo.hash(b, 0) as u32) as u64, f),
        }
    }

    /// Unfinished key hashes of a batch (validated here).
    pub fn hash_batch(&self, batch: KeyBatch<'_>) -> Result<Vec<u64>, KeyError> {
        let algo = self.hash;
        match &self.secret {
            Some(key) => batch.hash_all_with(move |b: &[u8]| key.hash(b)),
            None => batch.hash_all_with(move |b: &[u8]| algo.hash(b, 0)),
        }
    }
}

/// A node name, shared between a table and the tables changed from it (an update
/// copies the list of names, not the names).
pub type NodeName = Arc<str>;

/// Everything a table is built from.
#[derive(Debug, Clone)]
pub struct Config {
    pub names: Vec<NodeName>,
    pub weights: Vec<f64>,
    /// Key hash (nginx kinds: crc32; unused by ip_hash).
    pub hash: HashAlgorithm,
    /// Hash any non-text key as the UTF-8 of its text form (uhashring semantics);
    /// the binding applies it, the table only records it.
    pub text_keys: bool,
    /// A `KINDS` name.
    pub kind: String,
    /// The kind's own settings (see its kind file).
    pub options: Options,
    /// Keyed placement (docs/algorithms.md §22): with a key, every key hash is
    /// SipHash-1-3 under it instead of `hash` (node points still use `hash`).
    pub secret: Option<PlacementKey>,
}

/// The registry entry named `kind`.
pub fn kind_spec(kind: &str) -> Result<&'static KindSpec, BuildError> {
    KINDS
        .iter()
        .find(|spec| spec.name == kind)
        .ok_or_else(|| BuildError::new("kind", format!("unknown placement {kind:?}")))
}

/// The kind's options decoded from `options` (every option read, none unknown).
fn read_kind_options(spec: &'static KindSpec, options: &Options) -> Result<Box<dyn KindOptions>, BuildError> {
    let mut reader = OptionReader::new(spec.name, options);
    let decoded = (spec.read_options)(&mut reader)?;
    reader.finish()?;
    Ok(decoded)
}

/// The node and weight rules every kind shares, and the secret rule.
fn check_nodes(spec: &KindSpec, config: &Config) -> Result<(), BuildError> {
    let (names, weights) = (&config.names, &config.weights);
    if names.is_empty() || names.len() != weights.len() || names.len() > i32::MAX as usize {
        return Err(BuildError::new("nodes", "internal: names and weights must be non-empty and equal in length"));
    }
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || !weights.iter().any(|w| *w > 0.0) {
        return Err(BuildError::new("weights", "must be finite, >= 0 and not all zero"));
    }
    if config.secret.is_some() && (spec.reproduces_public_algorithm || config.text_keys) {
        return Err(BuildError::new(
            "secret",
            format!(
                "{} reproduces a public algorithm for compatibility and cannot be keyed; use HashRing, Maglev, JumpHash or Rendezvous",
                if config.text_keys { "the uhashring mode" } else { spec.name }
            ),
        ));
    }
    Ok(())
}

/// An immutable placement table: key hash → node index.
#[derive(Debug, Clone)]
pub struct Table {
    built: Built,
    /// What the table was built from, and its decoded options (the incremental updates reuse both).
    config: Config,
    options: Arc<dyn KindOptions>,
    keys: KeyHasher,
    kind: &'static str,
    text_keys: bool,
    keys_are_addresses: bool,
    node_count: usize,
    /// Nodes that can receive keys (positive weight / points).
    holders: usize,
    /// Made on first use (an update need not pay for hashing the whole table).
    fingerprint: std::sync::OnceLock<String>,
}

impl Table {
    pub fn build(config: &Config) -> Result<Table, BuildError> {
        let spec = kind_spec(&config.kind)?;
        let options: Arc<dyn KindOptions> = read_kind_options(spec, &config.options)?.into();
        check_nodes(spec, config)?;
        let name_bytes: Vec<&[u8]> = config.names.iter().map(|n| n.as_bytes()).collect();
        let nodes = Nodes { names: &config.names, name_bytes: &name_bytes, weights: &config.weights, hash: config.hash };
        let placement = options.build(&nodes)?;
        Ok(Table::assemble(spec, config.clone(), options, placement))
    }

    /// The table around a built `placement` of `config`.
    fn assemble(spec: &'static KindSpec, config: Config, options: Arc<dyn KindOptions>, placement: Arc<dyn Placement>) -> Table {
        Table {
            holders: placement.holders(&config.weights),
            fingerprint: std::sync::OnceLock::new(),
            keys_are_addresses: placement.keys_are_addresses(),
            built: Built::of(placement),
            keys: KeyHasher { hash: config.hash, secret: config.secret, avalanche: options.avalanche() },
            kind: spec.name,
            text_keys: config.text_keys,
            node_count: config.names.len(),
            config,
            options,
        }
    }

    /// The kind's name (a `KINDS` entry).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn hash(&self) -> HashAlgorithm {
        self.keys.hash
    }

    pub fn text_keys(&self) -> bool {
        self.text_keys
    }

    /// Whether key hashes are keyed (SipHash-1-3 under the secret's key).
    pub fn keyed(&self) -> bool {
        self.keys.secret.is_some()
    }

    /// Keys are addresses, not hashed (ip_hash).
    pub fn keys_are_addresses(&self) -> bool {
        self.keys_are_addresses
    }

    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// Nodes that can receive keys.
    pub fn holders(&self) -> usize {
        self.holders
    }

    /// Stable identifier of the table contents (same config → same string).
    pub fn fingerprint(&self) -> &str {
        self.fingerprint.get_or_init(|| fingerprint(self.kind, &self.config, self.built.get()))
    }

    /// The built structure as its own type, for operations one kind has
    /// (ring points, nginx attempts, ip_hash addresses); None for other kinds.
    pub fn placement_as<T: Placement>(&self) -> Option<&T> {
        // Named as `dyn Placement`'s: on an `Arc`, `.as_any()` would pick the
        // blanket `AsAny` impl of the `Arc` itself and never match.
        <dyn Placement as AsAny>::as_any(self.built.get()).downcast_ref::<T>()
    }

    /// The table's key-hash step after hashing (HAProxy `avalanche`).
    #[inline]
    pub fn finish(&self, h: u64) -> u64 {
        self.keys.finish(h)
    }

    /// Hash of a key's bytes as this table hashes keys (with `finish`).
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        self.keys.hash(key)
    }

    /// Hash of an integer key (8 bytes little-endian), with `finish`.
    #[inline]
    pub fn key_hash_u64(&self, key: u64) -> u64 {
        self.keys.hash_u64(key)
    }

    /// Key hashes of a batch, before `finish` (what `route_hashed` takes for
    /// every kind without a finishing step).
    pub fn hash_batch(&self, batch: KeyBatch<'_>) -> Result<Vec<u64>, KeyError> {
        self.keys.hash_batch(batch)
    }

    /// Node index for a finished key hash (ip_hash: an IPv4 address as a number).
    #[inline]
    pub fn lookup(&self, h: u64) -> u32 {
        self.built.lookup(h)
    }

    /// The primary and the next n-1 distinct nodes for a finished key hash.
    pub fn replicas(&self, h: u64, n: usize, out: &mut Vec<u32>) {
        self.built.get().replicas(h, n, out)
    }

    /// Replicas in distinct localities (docs/multi_region.md §6): the key's failover
    /// order with every node whose `codes[node]` is already taken skipped, looking at
    /// n, then 3n + 2, then all holders. False if the order ends short of n.
    pub fn replicas_distinct(&self, h: u64, n: usize, codes: &[u32], scratch: &mut Vec<u32>, out: &mut Vec<u32>) -> bool {
        let mut width = n;
        loop {
            self.replicas(h, width, scratch);
            if distinct_prefix(scratch, codes, n, out) {
                return true;
            }
            if width >= self.holders {
                return false;
            }
            width = if width == n { (3 * n + 2).min(self.holders) } else { self.holders };
        }
    }

    /// `n` for replica lookups: 1 ..= the nodes that can hold keys.
    pub fn check_replica_count(&self, n: usize) -> Result<(), BuildError> {
        if n == 0 || n > self.holders {
            return Err(BuildError::new(
                "n",
                format!("must be in 1..={} (nodes that can hold keys), got {n}", self.holders),
            ));
        }
        Ok(())
    }

    /// Node index per key of a validated batch of `m` keys. Err(i): key i is
    /// not an address (ip_hash only).
    pub fn route(&self, batch: KeyBatch<'_>, m: usize) -> Result<Vec<i32>, usize> {
        self.built.get().route(&self.keys, batch, m)
    }

    /// Node index per finished 64-bit hash.
    pub fn route_hashed(&self, h: &[u64]) -> Vec<i32> {
        self.built.get().route_hashed(h)
    }

    /// `n` replicas per key of a validated batch of `m` keys, row-major.
    /// Err(i): key i is not an address (ip_hash only).
    pub fn route_replicas(&self, batch: KeyBatch<'_>, m: usize, n: usize) -> Result<Vec<i32>, usize> {
        let flat = self.built.get().route_replicas(&self.keys, batch, m, n);
        match flat.iter().position(|&v| v < 0) {
            Some(bad) => Err(bad / n),
            None => Ok(flat),
        }
    }

    /// Size facts: entries in the table and bytes they use.
    pub fn stats(&self) -> (usize, usize) {
        self.built.get().stats(self.node_count)
    }
}

// ---- Incremental membership updates (docs/algorithms.md §25) ----

/// One membership change, as `with_node` / `without_node` / `with_weight` make it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NodeChange<'a> {
    /// `name` appended as the last node, with `weight`.
    Add { name: &'a str, weight: f64 },
    /// Node `index` leaves; the nodes after it move down one index.
    Remove { index: usize },
    /// Node `index` gets `weight`.
    Reweight { index: usize, weight: f64 },
}

impl NodeChange<'_> {
    /// `values` (one per node before the change) realigned to the nodes after it;
    /// `added(name)` makes an added node's value.
    pub fn apply<T>(&self, values: &mut Vec<T>, added: impl FnOnce(&str) -> T) {
        match *self {
            NodeChange::Add { name, .. } => values.push(added(name)),
            NodeChange::Remove { index } => {
                values.remove(index);
            }
            NodeChange::Reweight { .. } => {}
        }
    }
}

/// `after` is `before` with every per-node list realigned to `change` (`n` nodes
/// before it) and nothing else changed: then the old build's per-node data still
/// describes every unchanged node.
fn options_follow(before: &Options, after: &Options, change: NodeChange<'_>, n: usize) -> bool {
    let keys_match = before.iter().count() == after.iter().count();
    keys_match
        && before.iter().all(|(name, old)| match (old, after.get(name)) {
            (_, None) => false,
            (OptionValue::Ints(old), Some(OptionValue::Ints(new))) if old.len() == n => {
                let mut aligned = old.clone();
                match change {
                    NodeChange::Add { .. } => new.len() == n + 1 && new[..n] == aligned[..],
                    _ => {
                        change.apply(&mut aligned, |_| 0);
                        *new == aligned
                    }
                }
            }
            (old, Some(new)) => old == new,
        })
}

impl Table {
    /// A new table with `name` appended (weight `weight`); this one is untouched.
    pub fn with_node(&self, name: &str, weight: f64) -> Result<Table, BuildError> {
        self.with_change(NodeChange::Add { name, weight }, None)
    }

    /// A new table without node `index`.
    pub fn without_node(&self, index: usize) -> Result<Table, BuildError> {
        self.with_change(NodeChange::Remove { index }, None)
    }

    /// A new table where node `index` has weight `weight`.
    pub fn with_weight(&self, index: usize, weight: f64) -> Result<Table, BuildError> {
        self.with_change(NodeChange::Reweight { index, weight }, None)
    }

    /// The table after `change`, equal to `Table::build` of the new membership (same
    /// fingerprint, lookups and replicas); the kind's `update` reuses this table's
    /// work where it can. `per_node`: options holding one value per node, realigned
    /// by the caller (they replace this table's; any other option kept as it is).
    pub fn with_change(&self, change: NodeChange<'_>, per_node: Option<&Options>) -> Result<Table, BuildError> {
        let n = self.config.names.len();
        match change {
            NodeChange::Add { name, .. } => {
                if self.config.names.iter().any(|have| &**have == name) {
                    return Err(BuildError::new("name", "the node is already present"));
                }
            }
            NodeChange::Remove { index } | NodeChange::Reweight { index, .. } if index >= n => {
                return Err(BuildError::new("name", format!("node index {index} out of range for {n} nodes")));
            }
            NodeChange::Remove { .. } if n == 1 => return Err(BuildError::new("name", "cannot remove the last node")),
            _ => {}
        }
        let spec = kind_spec(self.kind)?;
        let mut config = self.config.clone();
        if let Some(given) = per_node {
            for (name, value) in given.iter() {
                config.options.set(name, value.clone());
            }
        }
        change.apply(&mut config.names, |name| NodeName::from(name));
        match change {
            NodeChange::Add { weight, .. } => config.weights.push(weight),
            NodeChange::Remove { index } => {
                config.weights.remove(index);
            }
            NodeChange::Reweight { index, weight } => config.weights[index] = weight,
        }
        let reusable = options_follow(&self.config.options, &config.options, change, n);
        let options: Arc<dyn KindOptions> = if config.options == self.config.options {
            Arc::clone(&self.options)
        } else {
            read_kind_options(spec, &config.options)?.into()
        };
        check_nodes(spec, &config)?;
        let name_bytes: Vec<&[u8]> = config.names.iter().map(|n| n.as_bytes()).collect();
        let nodes = Nodes { names: &config.names, name_bytes: &name_bytes, weights: &config.weights, hash: config.hash };
        let updated = if reusable { options.update(self.built.get(), change, &nodes) } else { None };
        let placement = match updated {
            Some(result) => result?,
            None => options.build(&nodes)?,
        };
        Ok(Table::assemble(spec, config, options, placement))
    }

    /// The node names, in index order.
    pub fn names(&self) -> &[NodeName] {
        &self.config.names
    }

    /// The node weights, in index order.
    pub fn weights(&self) -> &[f64] {
        &self.config.weights
    }
}

/// xxh3 over (kind, hash name, names with weights' bits, table contents).
fn fingerprint(kind: &str, config: &Config, placement: &dyn Placement) -> String {
    let mut bytes = Vec::new();
    for part in [kind.as_bytes(), config.hash.name().as_bytes()] {
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(part);
    }
    for (name, weight) in config.names.iter().zip(&config.weights) {
        bytes.extend_from_slice(&(name.len() as u64).to_le_bytes());
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(&weight.to_bits().to_le_bytes());
    }
    placement.fingerprint_contents(&mut bytes);
    let contents = xxhash_rust::xxh3::xxh3_64(&bytes);
    match &config.secret {
        // The digest identifies the secret (keyed HMAC, §22.2) without revealing it.
        Some(key) => format!("{contents:016x}-keyed-{}", key.digest_hex()),
        None => format!("{contents:016x}"),
    }
}

/// Correctly rounded sum of finite values (Shewchuk 1997, "Adaptive Precision
/// Floating-Point Arithmetic", non-overlapping partials; the final half-way
/// correction makes it equal to Python's `math.fsum`). Unlike a running sum
/// it does not depend on the order of the values, so a table built from
/// shuffled nodes normalises their weights identically.
pub fn exact_sum(values: &[f64]) -> f64 {
    let mut partials: Vec<f64> = Vec::with_capacity(8);
    for &value in values {
        let mut x = value;
        let mut kept = 0;
        for k in 0..partials.len() {
            let mut y = partials[k];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    // Add the partials from the largest down; stop at the first inexact step.
    let mut n = partials.len();
    if n == 0 {
        return 0.0;
    }
    n -= 1;
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    // Round half-way cases by the sign of the next partial, as exact rounding requires.
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

#[cfg(test)]
mod exact_sum_tests {
    use super::exact_sum;

    #[test]
    fn order_independent_and_exact() {
        // 0.1 + 0.2 + 0.3 sums to 0.6000000000000001 left to right; exactly rounded it is 0.6.
        assert_eq!(exact_sum(&[0.1, 0.2, 0.3]), 0.6);
        assert_eq!(exact_sum(&[0.3, 0.2, 0.1]), 0.6);
        assert_eq!(exact_sum(&[1e100, 1.0, -1e100, 1e-100]), 1.0);
        assert_eq!(exact_sum(&[]), 0.0);
        assert_eq!(exact_sum(&[2.0, 3.5]), 5.5);
    }
}


#[cfg(test)]
mod table_tests {
    use super::*;

    fn config(kind: &str, options: Options, weights: &[f64]) -> Config {
        let names = (0..weights.len()).map(|i| NodeName::from(format!("n{i}"))).collect();
        Config { names, weights: weights.to_vec(), hash: HashAlgorithm::Xxh3, text_keys: false, kind: kind.into(), options, secret: None }
    }

    fn ring(points_per_weight: f64, max_ring_size: u64) -> Options {
        Options::new()
            .with("mode", "fixed")
            .with("points_per_weight", points_per_weight)
            .with("min_ring_size", 1u64)
            .with("max_ring_size", max_ring_size)
            .with("lookup", "at_or_after")
            .with("weights_are_shares", false)
    }

    fn maglev(table_size: u64) -> Options {
        Options::new().with("table_size", table_size).with("weights_are_shares", false)
    }

    fn map() -> Options {
        Options::new().with("avalanche", false)
    }

    fn none() -> Options {
        Options::new()
    }

    /// Arrow-style data and offsets of `words`.
    fn varlen(words: &[String]) -> (Vec<u8>, Vec<i32>) {
        let mut data = Vec::new();
        let mut offsets = vec![0i32];
        for w in words {
            data.extend_from_slice(w.as_bytes());
            offsets.push(data.len() as i32);
        }
        (data, offsets)
    }

    #[test]
    fn limits_are_reported_with_the_argument_name() {
        let arg = |kind: &str, options: Options, weights: &[f64]| Table::build(&config(kind, options, weights)).unwrap_err().arg;
        assert_eq!(arg("ring", ring(160.0, ring::MAX_POINTS + 1), &[1.0]), "max_ring_size");
        assert_eq!(arg("ring", ring(1e9, 1024), &[1.0]), "points_per_weight");
        assert_eq!(arg("ring", ring(0.1, 1024), &[1.0]), "weights/points_per_weight");
        assert_eq!(arg("maglev", maglev(8), &[1.0]), "table_size");
        assert_eq!(arg("maglev", maglev(maglev::MAX_TABLE_SIZE + 2), &[1.0]), "table_size");
        assert_eq!(arg("nginx_hash", none(), &[1_000_001.0]), "weights");
        assert_eq!(arg("haproxy_map", map(), &[1.5]), "weights");
        assert_eq!(arg("jump", none(), &[0.0, 0.0]), "weights");
    }

    #[test]
    fn options_are_checked_by_the_kind_that_reads_them() {
        let err = |kind: &str, options: Options| Table::build(&config(kind, options, &[1.0])).unwrap_err();
        assert_eq!(err("jump", Options::new().with("table_size", 7u64)).to_string(),
                   "options: placement \"jump\" has no option \"table_size\"");
        assert_eq!(err("maglev", Options::new().with("table_size", 7u64)).arg, "weights_are_shares");
        assert_eq!(err("ring", ring(160.0, 1024).with("lookup", "closest")).to_string(),
                   "lookup: expected one of [\"at_or_after\", \"after\", \"nearest\"], got \"closest\"");
        assert_eq!(err("maglev", maglev(7).with("table_size", -7.0)).to_string(), "table_size: expected int, got float");
        assert_eq!(err("toy", none()).to_string(), "kind: unknown placement \"toy\"");
    }

    #[test]
    fn every_kind_is_registered_once() {
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
    }

    #[test]
    fn placement_as_reaches_the_built_type() {
        let ring_table = Table::build(&config("ring", ring(40.0, 1 << 20), &[1.0, 2.0])).unwrap();
        assert!(ring_table.placement_as::<ring::Ring>().is_some());
        assert!(ring_table.placement_as::<maglev::Maglev>().is_none());
        let ip = Table::build(&config("ip_hash", none(), &[1.0, 2.0])).unwrap();
        assert!(ip.keys_are_addresses() && ip.placement_as::<iphash::IpHash>().is_some());
    }

    #[test]
    fn static_lookup_covers_the_built_in_kinds_and_agrees_with_the_vtable() {
        let kinds = [("ring", ring(40.0, 1 << 20)), ("maglev", maglev(251)), ("jump", none()), ("jumpback", none()),
                     ("rendezvous", none()), ("nginx_hash", none()), ("haproxy_map", map()), ("ip_hash", none()), ("nginx_chash", none())];
        for (name, options) in kinds {
            let table = Table::build(&config(name, options, &[1.0, 2.0, 3.0])).unwrap();
            assert!(!matches!(table.built, Built::Dynamic(_)), "{name}");
            for k in 0..2000u64 {
                let h = k.wrapping_mul(0x9E3779B97F4A7C15);
                assert_eq!(table.lookup(h), table.built.get().lookup(h), "{name}");
            }
        }
    }

    #[test]
    fn replica_count_is_bounded_by_holders() {
        let table = Table::build(&config("rendezvous", none(), &[1.0, 0.0, 2.0])).unwrap();
        assert_eq!(table.holders(), 2);
        assert!(table.check_replica_count(2).is_ok());
        assert_eq!(table.check_replica_count(3).unwrap_err().arg, "n");
        assert_eq!(table.check_replica_count(0).unwrap_err().arg, "n");
    }

    #[test]
    fn keyed_tables_hash_keys_with_the_secret_everywhere() {
        let secret = b"0123456789abcdef";
        let key = PlacementKey::from_secret(secret).unwrap();
        let words: Vec<String> = (0..500).map(|i| format!("card-{i}")).collect();
        let (data, offsets) = varlen(&words);
        let batch = KeyBatch::Varlen { data: &data, offsets: crate::keys::Offsets::I32(&offsets) };
        let kinds = [("ring", ring(40.0, 1 << 20)), ("maglev", maglev(65537)), ("jump", none()), ("rendezvous", none())];
        for (name, options) in kinds {
            let mut cfg = config(name, options, &[1.0, 2.0, 1.0, 3.0]);
            let plain = Table::build(&cfg).unwrap();
            cfg.secret = Some(key);
            let keyed = Table::build(&cfg).unwrap();
            // The keyed hash is SipHash-1-3 under the derived key (tests/reference/siphash.py).
            assert_eq!(keyed.key_hash(b"card-42"), 0x213edaf8f8906d45, "{name}");
            assert_eq!(keyed.key_hash_u64(42), 0xe2a22ecaad033a10, "{name}");
            assert_eq!(plain.key_hash(b"card-42"), HashAlgorithm::Xxh3.hash(b"card-42", 0), "{name}");
            let routed = keyed.route(batch, words.len()).unwrap();
            let single: Vec<i32> = words.iter().map(|w| keyed.lookup(keyed.key_hash(w.as_bytes())) as i32).collect();
            assert_eq!(routed, single, "{name}: keyed batch == keyed single");
            assert_ne!(routed, plain.route(batch, words.len()).unwrap(), "{name}: the secret moves keys");
            assert_eq!(keyed.hash_batch(batch).unwrap()[7], key.hash(words[7].as_bytes()), "{name}");
            let reps = keyed.route_replicas(batch, words.len(), 2).unwrap();
            let mut one = Vec::new();
            keyed.replicas(keyed.key_hash(words[9].as_bytes()), 2, &mut one);
            assert_eq!(&reps[18..20], &[one[0] as i32, one[1] as i32], "{name}");
            assert!(keyed.fingerprint().ends_with("-keyed-6895dbffbaaedb1c"), "{name}");
            assert!(!plain.fingerprint().contains("keyed"), "{name}");
        }
    }

    #[test]
    fn avalanche_batches_match_single_lookups() {
        let words: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
        let (data, offsets) = varlen(&words);
        let batch = KeyBatch::Varlen { data: &data, offsets: crate::keys::Offsets::I32(&offsets) };
        let mut cfg = config("haproxy_map", Options::new().with("avalanche", true), &[1.0, 2.0, 3.0]);
        cfg.hash = HashAlgorithm::Sdbm;
        let table = Table::build(&cfg).unwrap();
        let single: Vec<i32> = words
            .iter()
            .map(|w| table.lookup(full_hash(HashAlgorithm::Sdbm.hash(w.as_bytes(), 0) as u32) as u64) as i32)
            .collect();
        assert_eq!(table.route(batch, words.len()).unwrap(), single);
        let reps = table.route_replicas(batch, words.len(), 1).unwrap();
        assert_eq!(reps, single);
    }

    #[test]
    fn compatibility_kinds_refuse_a_secret() {
        let key = PlacementKey::from_secret(&[3u8; 16]).unwrap();
        for (kind, options) in [("nginx_hash", none()), ("nginx_chash", none()), ("ip_hash", none()), ("haproxy_map", map())] {
            let mut cfg = config(kind, options, &[1.0, 1.0]);
            cfg.secret = Some(key);
            assert_eq!(Table::build(&cfg).unwrap_err().arg, "secret");
        }
        let mut cfg = config("ring", ring(40.0, 1 << 20), &[1.0, 1.0]);
        cfg.text_keys = true;
        cfg.secret = Some(key);
        assert_eq!(Table::build(&cfg).unwrap_err().arg, "secret");
    }

    #[test]
    fn plain_hash_and_map_failover_skip_nothing_twice() {
        let mut out = Vec::new();
        let plain = Table::build(&config("nginx_hash", none(), &[1.0, 0.0, 2.0, 1.0])).unwrap();
        plain.replicas(12345 << 16, 3, &mut out);
        assert_eq!(out.len(), 3);
        assert!(!out.contains(&1), "a zero-weight peer is never a replica: {out:?}");
        let map = Table::build(&config("haproxy_map", map(), &[2.0, 4.0, 6.0])).unwrap();
        map.replicas(0, 3, &mut out);
        assert_eq!(out, [0, 2, 1]); // map_table([2, 4, 6]) = [0, 2, 1, 2, 1, 2]
    }
}


/// The first `n` nodes of `order` whose locality code (`codes[node]`) is new, in order
/// (docs/multi_region.md §6); true when n were found. A code outside `codes` counts as
/// its own locality.
pub fn distinct_prefix(order: &[u32], codes: &[u32], n: usize, out: &mut Vec<u32>) -> bool {
    out.clear();
    let mut taken: [u32; 16] = [0; 16];
    let mut more: Vec<u32> = Vec::new();
    for &node in order {
        let code = codes.get(node as usize).copied().unwrap_or(u32::MAX - node);
        let k = out.len();
        let seen = if k <= 16 { taken[..k].contains(&code) } else { taken.contains(&code) || more.contains(&code) };
        if seen {
            continue;
        }
        if k < 16 {
            taken[k] = code;
        } else {
            more.push(code);
        }
        out.push(node);
        if out.len() == n {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod distinct_tests {
    use super::distinct_prefix;

    #[test]
    fn skips_taken_codes_in_order() {
        let mut out = Vec::new();
        assert!(distinct_prefix(&[4, 1, 0, 3, 2], &[0, 0, 1, 1, 2], 3, &mut out));
        assert_eq!(out, vec![4, 1, 3]);
        assert!(!distinct_prefix(&[0, 1], &[5, 5], 2, &mut out));
        assert_eq!(out, vec![0]);
    }
}
