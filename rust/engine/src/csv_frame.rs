// SPDX-License-Identifier: Apache-2.0
//! CSV record framing for bulk routing (docs/bulk.md, "CSV framing").
//!
//! Before any CSV bytes reach the Arrow parser, the framer finds where each
//! record starts and ends, so that one bad line can never swallow the rest of
//! a file and every bad row is reported with its line number. It follows the
//! quoting rules of Arrow's CSV parser (RFC 4180 plus Arrow's leniencies):
//! a quote opens a quoted field only at the start of a field; inside one, `""`
//! is a literal quote and line breaks belong to the value; after the closing
//! quote the field continues unquoted up to the delimiter. A record ends at
//! `\n`, `\r\n` or a lone `\r` outside quotes, or at the end of the input.
//! Zero-length lines are blank (Arrow's `ignore_empty_lines`).
//!
//! A record is bad when its field count differs from the header's, when it is
//! not valid UTF-8, when it is longer than the row bound, or when the input
//! ends inside a quoted field. A record that grows past the bound, or that
//! the end of input leaves inside quotes, is taken to be the single physical
//! line on which it began (a stray quote): framing resumes on the next line,
//! so the rows after one bad quote are still read as rows.

/// Why a record was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadReason {
    /// Field count differs from the header's.
    FieldCount(u32),
    InvalidUtf8,
    /// Longer than the row bound while outside quotes.
    TooLong,
    /// Still inside a quoted field at the row bound or at the end of input.
    UnterminatedQuote,
}

impl BadReason {
    /// Stable code for the Python face: (code, detail).
    pub fn code(self) -> (u8, u32) {
        match self {
            BadReason::FieldCount(n) => (1, n),
            BadReason::InvalidUtf8 => (2, 0),
            BadReason::TooLong => (3, 0),
            BadReason::UnterminatedQuote => (4, 0),
        }
    }
}

/// One rejected record: its first line number and byte range (terminator excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRecord {
    pub line: u64,
    pub start: usize,
    pub end: usize,
    pub reason: BadReason,
}

/// What one `frame` call found in `buf[offset..]`.
#[derive(Debug, Default)]
pub struct Framed {
    /// Position in `buf` up to which everything was framed; the rest is an
    /// incomplete record to be framed again with more input.
    pub consumed: usize,
    /// Byte ranges of consecutive good records (terminators included, blank
    /// lines between good records included): each is valid CSV on its own.
    pub good_runs: Vec<(usize, usize)>,
    /// First line number of every good record, in order.
    pub row_lines: Vec<u64>,
    /// (index into row_lines, extra physical lines) of good records that span
    /// several lines (quoted line breaks); rare, so kept sparse.
    pub multiline_rows: Vec<(u64, u64)>,
    /// Physical lines spanned by the good records.
    pub good_lines: u64,
    pub bad: Vec<BadRecord>,
    /// Physical lines spanned by the bad records.
    pub bad_lines: u64,
    pub blank_lines: u64,
    /// Field count of the last complete record (used for the header).
    pub last_fields: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: either the first of `""` or the closing one.
    QuoteSeen,
}

/// Result of scanning one record from `start`.
enum Scan {
    /// Complete: content ends at `end`, the terminator is `term` bytes long.
    Complete { end: usize, term: usize, fields: u32, breaks: u64, non_ascii: bool },
    /// More input is needed to finish the record.
    Incomplete { in_quotes: bool },
    /// The record passed the row bound.
    Overlong { in_quotes: bool },
}

/// Frames CSV input incrementally; keeps the line count and a resync state
/// across calls.
#[derive(Debug, Clone)]
pub struct CsvFramer {
    /// Fields every record must have; 0 accepts any count (the header).
    pub expected_fields: u32,
    pub max_row_bytes: usize,
    /// Line number on which the next record starts (1-based).
    pub next_line: u64,
    /// Skipping the rest of a rejected line that did not fit in the buffer.
    skipping_line: bool,
}

impl CsvFramer {
    pub fn new(max_row_bytes: usize) -> Self {
        CsvFramer { expected_fields: 0, max_row_bytes: max_row_bytes.max(1), next_line: 1, skipping_line: false }
    }

    /// Frames complete records of `buf[offset..]`, at most `max_records` of
    /// them (good, bad and blank lines each count as one). `at_eof` says that
    /// no input follows `buf`.
    pub fn frame(&mut self, buf: &[u8], offset: usize, at_eof: bool, max_records: usize) -> Framed {
        let mut out = Framed::default();
        let mut pos = offset.min(buf.len());
        if self.skipping_line {
            match line_end(buf, pos, at_eof) {
                Some((end, term)) => {
                    pos = end + term;
                    self.skipping_line = false;
                    self.next_line += 1;
                    out.bad_lines += 1;
                }
                None => {
                    if at_eof {
                        self.skipping_line = false;
                        self.next_line += 1;
                        out.bad_lines += 1;
                    }
                    out.consumed = buf.len();
                    return out;
                }
            }
        }
        let mut run_start: Option<usize> = None;
        let mut records = 0usize;
        while records < max_records && pos < buf.len() {
            let start = pos;
            match self.scan(buf, start, at_eof) {
                Scan::Complete { end, term, fields, breaks, non_ascii } => {
                    records += 1;
                    let line = self.next_line;
                    self.next_line += 1 + breaks;
                    pos = end + term;
                    if end == start {
                        out.blank_lines += 1;
                        continue;
                    }
                    out.last_fields = fields;
                    let reason = if self.expected_fields != 0 && fields != self.expected_fields {
                        Some(BadReason::FieldCount(fields))
                    } else if non_ascii && std::str::from_utf8(&buf[start..end]).is_err() {
                        Some(BadReason::InvalidUtf8)
                    } else {
                        None
                    };
                    match reason {
                        None => {
                            run_start.get_or_insert(start);
                            if breaks > 0 {
                                out.multiline_rows.push((out.row_lines.len() as u64, breaks));
                            }
                            out.row_lines.push(line);
                            out.good_lines += 1 + breaks;
                        }
                        Some(reason) => {
                            if let Some(s) = run_start.take() {
                                out.good_runs.push((s, start));
                            }
                            out.bad.push(BadRecord { line, start, end, reason });
                            out.bad_lines += 1 + breaks;
                        }
                    }
                }
                // Wait for more input (at EOF an unquoted tail is always Complete).
                Scan::Incomplete { in_quotes } if !(at_eof && in_quotes) => break,
                Scan::Incomplete { in_quotes } | Scan::Overlong { in_quotes } => {
                    let reason = if in_quotes { BadReason::UnterminatedQuote } else { BadReason::TooLong };
                    records += 1;
                    if let Some(s) = run_start.take() {
                        out.good_runs.push((s, start));
                    }
                    let line = self.next_line;
                    match line_end(buf, start, at_eof) {
                        Some((end, term)) => {
                            out.bad.push(BadRecord { line, start, end, reason });
                            self.next_line += 1;
                            out.bad_lines += 1;
                            pos = end + term;
                        }
                        None => {
                            // The line itself runs past the buffer: skip to its end next time.
                            let end = buf.len().min(start + self.max_row_bytes);
                            out.bad.push(BadRecord { line, start, end, reason });
                            self.skipping_line = true;
                            pos = buf.len();
                        }
                    }
                }
            }
        }
        if let Some(s) = run_start {
            out.good_runs.push((s, pos));
        }
        out.consumed = pos;
        out
    }

    fn scan(&self, buf: &[u8], start: usize, at_eof: bool) -> Scan {
        let limit = start.saturating_add(self.max_row_bytes);
        if let Some(plain) = plain_record(buf, start, limit) {
            return plain;
        }
        let mut state = State::FieldStart;
        let mut fields = 1u32;
        let mut breaks = 0u64;
        let mut non_ascii = false;
        let mut i = start;
        let n = buf.len();
        while i < n {
            let c = buf[i];
            // Byte `i` is content number max_row_bytes + 1 unless it ends the record.
            if i >= limit && (state == State::Quoted || (c != b'\n' && c != b'\r')) {
                return Scan::Overlong { in_quotes: state == State::Quoted };
            }
            if c >= 0x80 {
                non_ascii = true;
                if state != State::Quoted {
                    state = State::Unquoted;
                }
            } else {
                match state {
                    State::Quoted => match c {
                        b'"' => state = State::QuoteSeen,
                        b'\n' => breaks += 1,
                        // A lone CR is a line break; CRLF counts once, at its LF.
                        b'\r' if buf.get(i + 1) != Some(&b'\n') => breaks += 1,
                        _ => {}
                    },
                    _ => match c {
                        b',' => {
                            fields += 1;
                            state = State::FieldStart;
                        }
                        b'\n' => return Scan::Complete { end: i, term: 1, fields, breaks, non_ascii },
                        b'\r' => {
                            if i + 1 < n {
                                let term = if buf[i + 1] == b'\n' { 2 } else { 1 };
                                return Scan::Complete { end: i, term, fields, breaks, non_ascii };
                            }
                            if at_eof {
                                return Scan::Complete { end: i, term: 1, fields, breaks, non_ascii };
                            }
                            return Scan::Incomplete { in_quotes: false };
                        }
                        b'"' if state == State::FieldStart || state == State::QuoteSeen => state = State::Quoted,
                        _ => state = State::Unquoted,
                    },
                }
            }
            i += 1;
            // Fast path: skip the run of bytes that cannot change the state.
            let plain: &[bool; 256] = match state {
                State::Quoted => &PLAIN_IN_QUOTES,
                State::Unquoted => &PLAIN_UNQUOTED,
                _ => continue,
            };
            let stop = n.min(limit);
            while i < stop && plain[buf[i] as usize] {
                i += 1;
            }
        }
        if state == State::Quoted {
            return Scan::Incomplete { in_quotes: true };
        }
        if at_eof {
            Scan::Complete { end: n, term: 0, fields, breaks, non_ascii }
        } else {
            Scan::Incomplete { in_quotes: false }
        }
    }
}

/// The common record, decided without the state machine: a line within the row
/// bound holding no quote, no CR other than a CRLF terminator, and only ASCII.
/// Its fields are its commas plus one. None: take the general path.
#[inline]
fn plain_record(buf: &[u8], start: usize, limit: usize) -> Option<Scan> {
    let window = &buf[start..buf.len().min(limit.saturating_add(2))];
    let rel = memchr::memchr(b'\n', window)?;
    let (content, term) = match window[..rel].last() {
        Some(b'\r') => (&window[..rel - 1], 2),
        _ => (&window[..rel], 1),
    };
    if content.len() > limit - start {
        return None;
    }
    let mut commas = 0u32;
    let mut special = false;
    for &c in content {
        commas += (c == b',') as u32;
        special |= (c == b'"') | (c == b'\r') | (c >= 0x80);
    }
    if special {
        return None;
    }
    Some(Scan::Complete { end: start + content.len(), term, fields: commas + 1, breaks: 0, non_ascii: false })
}

/// Bytes that leave the state unchanged inside an unquoted field (ASCII other
/// than delimiter, quote and line breaks) and inside a quoted one.
const fn plain_table(in_quotes: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x80 {
        t[c] = !(c == b'"' as usize || c == b'\n' as usize || c == b'\r' as usize || (!in_quotes && c == b',' as usize));
        c += 1;
    }
    t
}
static PLAIN_UNQUOTED: [bool; 256] = plain_table(false);
static PLAIN_IN_QUOTES: [bool; 256] = plain_table(true);

/// End of the physical line starting at `start`: (content end, terminator length).
fn line_end(buf: &[u8], start: usize, at_eof: bool) -> Option<(usize, usize)> {
    let Some(rel) = buf[start..].iter().position(|&c| c == b'\n' || c == b'\r') else {
        return if at_eof { Some((buf.len(), 0)) } else { None };
    };
    let end = start + rel;
    if buf[end] == b'\n' {
        return Some((end, 1));
    }
    match buf.get(end + 1) {
        Some(b'\n') => Some((end, 2)),
        Some(_) => Some((end, 1)),
        None if at_eof => Some((end, 1)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(text: &[u8], fields: u32, max_row: usize, chunk: usize) -> (Vec<u64>, Vec<(u64, BadReason)>, Framed) {
        // Feeds the input in chunks of `chunk` bytes, carrying the unframed tail.
        let mut framer = CsvFramer::new(max_row);
        framer.expected_fields = fields;
        let mut rows = Vec::new();
        let mut bad = Vec::new();
        let mut total = Framed::default();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            let take = chunk.min(text.len() - fed);
            buf.extend_from_slice(&text[fed..fed + take]);
            fed += take;
            let eof = fed == text.len();
            let f = framer.frame(&buf, 0, eof, usize::MAX);
            rows.extend(f.row_lines.iter().copied());
            bad.extend(f.bad.iter().map(|b| (b.line, b.reason)));
            total.good_lines += f.good_lines;
            total.bad_lines += f.bad_lines;
            total.blank_lines += f.blank_lines;
            buf.drain(..f.consumed);
            if eof {
                assert!(buf.is_empty(), "everything is framed at the end of input");
                break;
            }
        }
        (rows, bad, total)
    }

    #[test]
    fn quoted_newlines_stay_in_one_record_across_chunks() {
        let text = b"1,\"a\nb\",x\n2,\"c\"\"d\",y\r\n3,z,w";
        for chunk in 1..text.len() + 1 {
            let (rows, bad, t) = frame_all(text, 3, 1 << 20, chunk);
            assert_eq!(rows, vec![1, 3, 4], "chunk {chunk}");
            assert!(bad.is_empty());
            assert_eq!(t.good_lines, 4);
        }
    }

    #[test]
    fn stray_quote_rejects_one_line_and_resyncs() {
        let mut text = b"1,\"oops,x\n".to_vec();
        for i in 2..200 {
            text.extend_from_slice(format!("{i},b,c\n").as_bytes());
        }
        let (rows, bad, t) = frame_all(&text, 3, 64, 7);
        assert_eq!(bad, vec![(1, BadReason::UnterminatedQuote)]);
        assert_eq!(rows, (2..200).collect::<Vec<u64>>());
        assert_eq!(t.good_lines + t.bad_lines, 199);
        // Unterminated at the end of input, below the bound.
        let (rows, bad, _) = frame_all(b"1,a,b\n2,\"x,y\n3,c,d\n", 3, 1 << 20, 1000);
        assert_eq!(bad, vec![(2, BadReason::UnterminatedQuote)]);
        assert_eq!(rows, vec![1, 3]);
    }

    #[test]
    fn field_counts_utf8_blank_and_overlong() {
        let text = b"a,b\n\nc\nd,\xff\n\r\ne,f\ng,hhhhhhhhhhhhhhhhhhhhhh\ni,j";
        let (rows, bad, t) = frame_all(text, 2, 10, 3);
        assert_eq!(rows, vec![1, 6, 8]);
        assert_eq!(
            bad,
            vec![(3, BadReason::FieldCount(1)), (4, BadReason::InvalidUtf8), (7, BadReason::TooLong)]
        );
        assert_eq!(t.blank_lines, 2);
        assert_eq!(t.good_lines + t.bad_lines + t.blank_lines, 8);
    }

    #[test]
    fn quote_only_opens_at_field_start_and_closing_quote_continues_unquoted() {
        let (rows, bad, _) = frame_all(b"ab\"c,d\n\"x\"y,z\n", 2, 100, 100);
        assert_eq!(rows, vec![1, 2]);
        assert!(bad.is_empty());
    }

    #[test]
    fn long_unterminated_line_is_skipped_across_calls() {
        let mut text = b"x,\"".to_vec();
        text.extend(std::iter::repeat(b'q').take(5000));
        text.extend_from_slice(b"\nb,c\n");
        let (rows, bad, t) = frame_all(&text, 2, 100, 64);
        assert_eq!(bad, vec![(1, BadReason::UnterminatedQuote)]);
        assert_eq!(rows, vec![2]);
        assert_eq!(t.bad_lines, 1);
    }
}
