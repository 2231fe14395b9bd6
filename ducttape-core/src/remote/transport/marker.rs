//! Splitting a command shell's output stream into the command's bytes and the shell's marker
//! lines (see [`super::shell`]). Pure logic: no I/O.

/// One piece of an output stream.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Piece {
    /// Bytes the command wrote.
    Data(Vec<u8>),
    /// A marker line: `<marker><kind><payload>\n`.
    Mark {
        /// The byte after the marker (`S` start, `E` end).
        kind: u8,
        /// The rest of the line.
        payload: String,
    },
}

/// Finds marker lines in a byte stream that arrives in arbitrary chunks. Bytes that could be
/// the start of a marker split across chunks are held back until the next chunk decides.
pub(super) struct Scanner {
    marker: Vec<u8>,
    buf: Vec<u8>,
}

impl Scanner {
    pub(super) fn new(marker: &[u8]) -> Self {
        Self {
            marker: marker.to_vec(),
            buf: Vec::new(),
        }
    }

    /// Feeds the next chunk; returns what it completes, in stream order.
    pub(super) fn push(&mut self, chunk: &[u8]) -> Vec<Piece> {
        self.buf.extend_from_slice(chunk);
        let mut pieces = Vec::new();
        loop {
            let Some(at) = find(&self.buf, &self.marker) else {
                let emit = self.buf.len() - partial_suffix(&self.buf, &self.marker);
                if emit > 0 {
                    pieces.push(Piece::Data(self.buf.drain(..emit).collect()));
                }
                return pieces;
            };
            if at > 0 {
                pieces.push(Piece::Data(self.buf.drain(..at).collect()));
            }
            let line = &self.buf[self.marker.len()..];
            let Some(newline) = line.iter().position(|&b| b == b'\n') else {
                return pieces; // the rest of the marker line is still on its way
            };
            let kind = line.first().copied().unwrap_or(b'\n');
            let payload = String::from_utf8_lossy(line.get(1..newline).unwrap_or_default());
            pieces.push(Piece::Mark {
                kind,
                payload: payload.into_owned(),
            });
            self.buf.drain(..self.marker.len() + newline + 1);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The length of the longest end of `buf` that is a proper beginning of `marker`.
fn partial_suffix(buf: &[u8], marker: &[u8]) -> usize {
    (1..marker.len().min(buf.len() + 1))
        .rev()
        .find(|&k| buf.ends_with(&marker[..k]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &[u8] = b"\x1edt-1234";

    fn data(s: &str) -> Piece {
        Piece::Data(s.as_bytes().to_vec())
    }

    fn mark(kind: u8, payload: &str) -> Piece {
        Piece::Mark {
            kind,
            payload: payload.into(),
        }
    }

    /// Joins adjacent data pieces, so that results compare regardless of chunking.
    fn normalized(pieces: Vec<Piece>) -> Vec<Piece> {
        let mut out: Vec<Piece> = Vec::new();
        for p in pieces {
            match (out.last_mut(), p) {
                (Some(Piece::Data(prev)), Piece::Data(more)) => prev.extend(more),
                (_, p) => out.push(p),
            }
        }
        out
    }

    #[test]
    fn splits_output_and_markers() {
        let mut s = Scanner::new(M);
        let stream = b"\x1edt-1234S42\nhello\nno newline\x1edt-1234E3\n";
        assert_eq!(
            s.push(stream),
            vec![mark(b'S', "42"), data("hello\nno newline"), mark(b'E', "3")]
        );
    }

    #[test]
    fn same_result_for_every_chunking() {
        let stream = b"pre\x1e\x1edt-12\x1edt-1234S7\nout\x1edt-123\n\x1edt-1234E0\ntail";
        let whole = normalized(Scanner::new(M).push(stream));
        assert_eq!(
            whole,
            vec![
                data("pre\x1e\x1edt-12"),
                mark(b'S', "7"),
                data("out\x1edt-123\n"),
                mark(b'E', "0"),
                data("tail"),
            ]
        );
        for size in 1..stream.len() {
            let mut s = Scanner::new(M);
            let pieces = stream.chunks(size).flat_map(|c| s.push(c)).collect();
            assert_eq!(normalized(pieces), whole, "chunks of {size}");
        }
    }

    #[test]
    fn holds_back_only_a_possible_marker_start() {
        let mut s = Scanner::new(M);
        assert_eq!(s.push(b"abc\x1edt"), vec![data("abc")]);
        assert_eq!(s.push(b"x"), vec![data("\x1edtx")]);
        assert_eq!(s.push(b"\x1edt-1234E"), vec![]);
        assert_eq!(s.push(b"5\n"), vec![mark(b'E', "5")]);
    }

    #[test]
    fn partial_suffix_lengths() {
        assert_eq!(partial_suffix(b"abc", M), 0);
        assert_eq!(partial_suffix(b"abc\x1e", M), 1);
        assert_eq!(partial_suffix(b"\x1edt-123", M), 7);
        assert_eq!(partial_suffix(b"", M), 0);
    }
}
