//! One-pass deserialization of the internally tagged protocol types
//! (`ServerFrame`, `EventBody`, `MessageContent`, `ErrorCode`, …) and of the
//! structs that flatten one (`ErrorBody`, `Conversation`).
//!
//! serde's derive for `#[serde(tag = …)]` and `#[serde(flatten)]` buffers
//! the whole object into its private `Content` tree, then reads every
//! variant's fields a second time from that tree: two deserializers per
//! field type, ~60 KB of the browser app's wasm (issue 13). The impls built
//! on this module read each key once, straight from the input, into a
//! `Default` struct of `Option`s, and build the variant the tag names at
//! the end. The wire format is unchanged (serialization is still derived).
//!
//! Once the tag has been read, keys the named variant does not have are
//! skipped unparsed, as serde does: everything serde writes puts the tag
//! first. Keys that come before the tag (e.g. from a JSON value whose keys
//! are sorted) are parsed by the type they have in the variants that use
//! them.

use std::{fmt, marker::PhantomData};

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The keys of one object, read one at a time.
pub(crate) trait Fields<'de>: Default {
    /// The object's key names: a derived `field_identifier` enum.
    type Key: Deserialize<'de>;

    /// Reads (or skips) the value of `key`.
    fn read<A: MapAccess<'de>>(&mut self, key: Self::Key, map: &mut A) -> Result<(), A::Error>;
}

/// Reads an object into `F`, key by key.
pub(crate) fn read<'de, D: Deserializer<'de>, F: Fields<'de>>(
    deserializer: D,
    expecting: &'static str,
) -> Result<F, D::Error> {
    struct MapVisitor<F>(&'static str, PhantomData<F>);

    impl<'de, F: Fields<'de>> Visitor<'de> for MapVisitor<F> {
        type Value = F;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<F, A::Error> {
            let mut fields = F::default();
            while let Some(key) = map.next_key()? {
                fields.read(key, &mut map)?;
            }
            Ok(fields)
        }
    }

    deserializer.deserialize_map(MapVisitor(expecting, PhantomData))
}

/// Whether a key used by the variants `among` is wanted: yes until the tag
/// is known, then only if it names one of them.
pub(crate) fn wants<K: Copy + PartialEq>(tag: Option<K>, among: &[K]) -> bool {
    tag.is_none_or(|tag| among.contains(&tag))
}

/// Reads the next value into `slot` when `wanted`, else skips it.
pub(crate) fn put<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    wanted: bool,
    map: &mut A,
) -> Result<(), A::Error> {
    if wanted {
        *slot = Some(map.next_value()?);
    } else {
        skip(map)?;
    }
    Ok(())
}

/// Skips the next value.
pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

/// A required field's value, or serde's "missing field" error.
pub(crate) fn need<T, E: de::Error>(slot: Option<T>, name: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| E::missing_field(name))
}
