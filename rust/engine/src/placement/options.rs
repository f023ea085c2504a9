// SPDX-License-Identifier: Apache-2.0
//! A placement kind's own settings as a generic, ordered option map. The
//! binding converts keyword arguments into `Options` without knowing any
//! kind; each kind file reads its settings with the typed getters of
//! `OptionReader`, which name the option in every error. An option the kind
//! did not read is an error naming it (a typo must not be silently ignored).

use super::BuildError;

/// One option value, as the binding converts it (Python `None` is `Absent`).
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    Absent,
    Bool(bool),
    Int(i128),
    Float(f64),
    Text(String),
    Ints(Vec<i128>),
}

impl OptionValue {
    fn type_name(&self) -> &'static str {
        match self {
            OptionValue::Absent => "None",
            OptionValue::Bool(_) => "bool",
            OptionValue::Int(_) => "int",
            OptionValue::Float(_) => "float",
            OptionValue::Text(_) => "str",
            OptionValue::Ints(_) => "list of int",
        }
    }
}

impl From<bool> for OptionValue {
    fn from(v: bool) -> Self {
        OptionValue::Bool(v)
    }
}

impl From<u64> for OptionValue {
    fn from(v: u64) -> Self {
        OptionValue::Int(v as i128)
    }
}

impl From<f64> for OptionValue {
    fn from(v: f64) -> Self {
        OptionValue::Float(v)
    }
}

impl From<&str> for OptionValue {
    fn from(v: &str) -> Self {
        OptionValue::Text(v.to_owned())
    }
}

impl<T: Into<i128>> From<Option<Vec<T>>> for OptionValue {
    fn from(v: Option<Vec<T>>) -> Self {
        match v {
            Some(values) => OptionValue::Ints(values.into_iter().map(Into::into).collect()),
            None => OptionValue::Absent,
        }
    }
}

/// Option name → value, in the order given; setting a name again replaces its value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    entries: Vec<(String, OptionValue)>,
}

impl Options {
    pub fn new() -> Self {
        Options::default()
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<OptionValue>) {
        let (name, value) = (name.into(), value.into());
        match self.entries.iter_mut().find(|(k, _)| *k == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// Builder form of `set`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<OptionValue>) -> Self {
        self.set(name, value);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The options in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &OptionValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn get(&self, name: &str) -> Option<&OptionValue> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// Typed, tracked reads of one kind's options. Every option is required
/// (the Python face passes all of them; defaults live there only).
pub struct OptionReader<'a> {
    kind: &'static str,
    entries: &'a [(String, OptionValue)],
    taken: Vec<bool>,
}

impl<'a> OptionReader<'a> {
    pub fn new(kind: &'static str, options: &'a Options) -> Self {
        OptionReader { kind, entries: &options.entries, taken: vec![false; options.entries.len()] }
    }

    /// The placement kind these options are read for.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    fn value(&mut self, name: &'static str) -> Result<&'a OptionValue, BuildError> {
        match self.entries.iter().position(|(k, _)| k == name) {
            Some(i) => {
                self.taken[i] = true;
                Ok(&self.entries[i].1)
            }
            None => Err(BuildError::new(name, format!("option required for placement {:?}", self.kind))),
        }
    }

    fn wrong_type(name: &'static str, expected: &str, got: &OptionValue) -> BuildError {
        BuildError::new(name, format!("expected {expected}, got {}", got.type_name()))
    }

    pub fn bool(&mut self, name: &'static str) -> Result<bool, BuildError> {
        match self.value(name)? {
            OptionValue::Bool(v) => Ok(*v),
            other => Err(Self::wrong_type(name, "bool", other)),
        }
    }

    /// An integer in `T`'s range (u64, u32, usize, …).
    pub fn int<T: TryFrom<i128>>(&mut self, name: &'static str) -> Result<T, BuildError> {
        match self.value(name)? {
            OptionValue::Int(v) => T::try_from(*v).map_err(|_| {
                BuildError::new(name, format!("integer out of range for {}", std::any::type_name::<T>()))
            }),
            other => Err(Self::wrong_type(name, "int", other)),
        }
    }

    /// A real number; an int converts as Python's float() does (round to nearest).
    pub fn float(&mut self, name: &'static str) -> Result<f64, BuildError> {
        match self.value(name)? {
            OptionValue::Float(v) => Ok(*v),
            OptionValue::Int(v) => Ok(*v as f64),
            other => Err(Self::wrong_type(name, "float", other)),
        }
    }

    pub fn text(&mut self, name: &'static str) -> Result<&'a str, BuildError> {
        match self.value(name)? {
            OptionValue::Text(v) => Ok(v),
            other => Err(Self::wrong_type(name, "str", other)),
        }
    }

    /// A text option naming one of `names`, parsed by `parse`.
    pub fn choice<T>(&mut self, name: &'static str, names: &[&str], parse: impl Fn(&str) -> Option<T>) -> Result<T, BuildError> {
        let value = self.text(name)?;
        parse(value).ok_or_else(|| BuildError::new(name, format!("expected one of {names:?}, got {value:?}")))
    }

    /// A list of integers in `T`'s range, or None (`Absent`).
    pub fn ints_or_none<T: TryFrom<i128>>(&mut self, name: &'static str) -> Result<Option<Vec<T>>, BuildError> {
        match self.value(name)? {
            OptionValue::Absent => Ok(None),
            OptionValue::Ints(values) => values
                .iter()
                .map(|&v| T::try_from(v))
                .collect::<Result<Vec<T>, _>>()
                .map(Some)
                .map_err(|_| BuildError::new(name, format!("integer out of range for {}", std::any::type_name::<T>()))),
            other => Err(Self::wrong_type(name, "list of int or None", other)),
        }
    }

    /// Err naming the first option the kind did not read.
    pub fn finish(self) -> Result<(), BuildError> {
        match self.taken.iter().position(|&t| !t) {
            Some(i) => Err(BuildError::new(
                "options",
                format!("placement {:?} has no option {:?}", self.kind, self.entries[i].0),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_reads_name_the_option() {
        let options = Options::new().with("size", 7u64).with("flag", true).with("mode", "fixed").with("share", 0.5);
        let mut r = OptionReader::new("toy", &options);
        assert_eq!(r.int::<u32>("size").unwrap(), 7);
        assert!(r.bool("flag").unwrap());
        assert_eq!(r.float("share").unwrap(), 0.5);
        assert_eq!(r.choice("mode", &["fixed"], |s| (s == "fixed").then_some(1)).unwrap(), 1);
        assert!(r.finish().is_ok());

        let mut r = OptionReader::new("toy", &options);
        assert_eq!(r.bool("size").unwrap_err(), BuildError::new("size", "expected bool, got int"));
        assert_eq!(r.int::<u64>("missing").unwrap_err().arg, "missing");
        assert_eq!(r.choice("mode", &["x"], |_| None::<u8>).unwrap_err().message, "expected one of [\"x\"], got \"fixed\"");
    }

    #[test]
    fn unread_options_are_an_error_naming_them() {
        let options = Options::new().with("size", 7u64).with("sise", 8u64);
        let mut r = OptionReader::new("toy", &options);
        r.int::<u64>("size").unwrap();
        let err = r.finish().unwrap_err();
        assert_eq!(err.arg, "options");
        assert_eq!(err.message, "placement \"toy\" has no option \"sise\"");
    }

    #[test]
    fn integers_out_of_range_and_lists() {
        let options = Options::new().with("n", OptionValue::Int(-1)).with("ports", Some(vec![1u32, 70000]))
            .with("none", None::<Vec<u32>>);
        let mut r = OptionReader::new("toy", &options);
        assert_eq!(r.int::<u64>("n").unwrap_err().arg, "n");
        assert_eq!(r.ints_or_none::<u16>("ports").unwrap_err().arg, "ports");
        assert_eq!(r.ints_or_none::<u32>("ports").unwrap(), Some(vec![1, 70000]));
        assert_eq!(r.ints_or_none::<u32>("none").unwrap(), None);
    }
}
