//! Keyset positions handed to clients as opaque strings: the time and id of
//! the last row a page showed (lists are ordered by time, then id, newest
//! first), so the next page costs the same however deep it is.
//!
//! Encoded as URL-safe base64 without padding of the time (microseconds
//! since the epoch, i64 big-endian) followed by the id's bytes: always
//! [`Cursor::ENCODED_LEN`] characters for a given id type.

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The id that breaks ties between rows of the same time.
pub trait RowId: Copy {
    /// Bytes it takes in a cursor.
    const LEN: usize;
    fn put(&self, out: &mut Vec<u8>);
    fn take(bytes: &[u8]) -> Option<Self>;
}

impl RowId for Uuid {
    const LEN: usize = 16;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn take(bytes: &[u8]) -> Option<Self> {
        Uuid::from_slice(bytes).ok()
    }
}

impl RowId for i64 {
    const LEN: usize = 8;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn take(bytes: &[u8]) -> Option<Self> {
        Some(i64::from_be_bytes(bytes.try_into().ok()?))
    }
}

/// A position in a list ordered by (time, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor<I> {
    pub at: DateTime<Utc>,
    pub id: I,
}

/// Decodes unpadded URL-safe base64, ignoring the spare bits of a last
/// character that carries fewer than six: every string of the documented
/// length and alphabet is then some position (an arbitrary one is simply a
/// place in the list, never an error deeper down).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

impl<I: RowId> Cursor<I> {
    const LEN: usize = 8 + I::LEN;
    /// Characters in an encoded cursor.
    pub const ENCODED_LEN: usize = (Self::LEN * 4).div_ceil(3);
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: a time further
    /// out was not made by us; it is clamped to these (a position before or
    /// after every row) rather than sent to PostgreSQL, which refuses some
    /// such times.
    pub const MIN_MICROS: i64 = -62_135_596_800_000_000;
    pub const MAX_MICROS: i64 = 253_402_300_799_999_999;

    /// The opaque string handed to clients (`next_cursor`, `cursor=`).
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(Self::LEN);
        bytes.extend_from_slice(&self.at.timestamp_micros().to_be_bytes());
        self.id.put(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a cursor of the form [`Cursor::encode`] makes; None for
    /// anything else.
    pub fn decode(s: &str) -> Option<Self> {
        if s.len() != Self::ENCODED_LEN {
            return None;
        }
        let bytes = LENIENT.decode(s).ok()?;
        if bytes.len() != Self::LEN {
            return None;
        }
        let (micros, id) = bytes.split_at(8);
        let micros = i64::from_be_bytes(micros.try_into().ok()?);
        Some(Cursor {
            at: DateTime::from_timestamp_micros(micros.clamp(Self::MIN_MICROS, Self::MAX_MICROS))?,
            id: I::take(id)?,
        })
    }
}

/// One keyset page out of rows fetched as `limit + 1`: keeps the first
/// `limit` and, when there was one more, returns where the next page
/// starts (the position of the last row kept); None on the last page.
pub fn cut_page<T, I>(
    rows: &mut Vec<T>,
    limit: usize,
    position: impl FnOnce(&T) -> Cursor<I>,
) -> Option<Cursor<I>> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_cut_at_its_limit_with_the_next_position_only_when_more_came() {
        let at = DateTime::from_timestamp_micros(1_795_000_000_000_000).unwrap();
        let position = |id: &i64| Cursor { at, id: *id };
        let mut more = vec![1i64, 2, 3];
        assert_eq!(cut_page(&mut more, 2, position), Some(Cursor { at, id: 2 }));
        assert_eq!(more, [1, 2]);
        let mut exact = vec![1i64, 2];
        assert_eq!(cut_page(&mut exact, 2, position), None);
        assert_eq!(exact, [1, 2]);
        let mut empty: Vec<i64> = Vec::new();
        assert_eq!(cut_page(&mut empty, 0, position), None);
    }

    fn round_trip<I: RowId + std::fmt::Debug + PartialEq>(id: I, len: usize) {
        let c = Cursor { at: DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap(), id };
        let s = c.encode();
        assert_eq!(s.len(), len);
        assert_eq!(Cursor::<I>::ENCODED_LEN, len);
        assert!(s.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'), "{s}");
        assert_eq!(Cursor::<I>::decode(&s), Some(c));
        for junk in ["", "abc", "!!!!", &format!("{s}A"), &s[1..], "a+b/c==", &"=".repeat(len)] {
            assert_eq!(Cursor::<I>::decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn cursors_survive_encoding_and_reject_junk() {
        round_trip(Uuid::new_v4(), 32);
        round_trip(987_654_321i64, 22);
        assert!(
            Cursor::<i64>::decode("0000000000000000000000").is_some(),
            "any 22 such characters"
        );
    }

    #[test]
    fn a_cursor_beyond_the_supported_years_is_clamped() {
        let far = |b: u8| URL_SAFE_NO_PAD.encode([[b; 8].as_slice(), &[0; 16]].concat());
        let future = Cursor::<Uuid>::decode(&far(0x7f)).unwrap();
        assert_eq!(future.at.timestamp_micros(), Cursor::<Uuid>::MAX_MICROS);
        let past = Cursor::<Uuid>::decode(&far(0x80)).unwrap();
        assert_eq!(past.at.timestamp_micros(), Cursor::<Uuid>::MIN_MICROS);
    }
}
