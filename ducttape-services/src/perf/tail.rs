//! Following a worker's output while it runs: an [`OutputTail`] remembers how far the file was
//! read, keeps an unfinished last line for the next read, and holds what the whole lines
//! before it parsed into. Each read costs what was printed since the last one.
//!
//! Reading the whole output again at every poll grew with the run: at ≈ 165,000 verifiable
//! producer events one `cat` of it took longer than the 60 s a remote command may take, and a
//! rolling upgrade failed on that alone. The bookkeeping here is pure (bytes in, parsed output
//! out) and tested here; the remote read is
//! [`RemoteAccount::read_file_from`](ducttape_core::remote::RemoteAccount::read_file_from), and
//! [`ToolService`](super::ToolService) puts the two together.

use ducttape_core::remote::FilePart;

use super::worker::ToolOutput;

/// How much of a worker's output one remote command reads at most: a run's first read (or the
/// last, of a worker never read while it ran) may be large, and one command must stay well
/// inside its timeout even on a loaded machine.
pub(crate) const READ_CHUNK: u64 = 4 << 20;

/// What has been read of one worker's output file and what it parsed into.
#[derive(Debug)]
pub(crate) struct OutputTail<O> {
    /// The inode of the file followed; `None` before the first read.
    file: Option<u64>,
    /// Bytes of the file taken so far (whole lines and the unfinished one).
    offset: u64,
    /// The last line read so far without its end.
    partial: Vec<u8>,
    output: O,
    /// Everything read, for a parser that cannot go line by line
    /// ([`ToolOutput::extend`] said so): it parses it all again at each read.
    whole: Option<String>,
}

/// What became of a part read at [`OutputTail::offset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Its bytes were taken: this many.
    Bytes(usize),
    /// It is from another file at the same path, or the file is shorter than what was read
    /// of it: the output was started afresh, and the tail must too.
    Replaced,
}

impl<O: ToolOutput> Default for OutputTail<O> {
    fn default() -> Self {
        Self {
            file: None,
            offset: 0,
            partial: Vec::new(),
            output: O::default(),
            whole: None,
        }
    }
}

impl<O: ToolOutput> OutputTail<O> {
    /// Where the next read starts: the bytes taken so far.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// What the whole lines read so far parsed into.
    pub(crate) fn output(&self) -> &O {
        &self.output
    }

    /// Takes `part`, read at [`offset`](Self::offset), unless it shows the file was replaced
    /// or truncated since the last read.
    pub(crate) fn take(&mut self, part: &FilePart) -> Taken {
        if let Some(inode) = self.file {
            if inode != part.inode || part.size < self.offset {
                return Taken::Replaced;
            }
        }
        self.file = Some(part.inode);
        self.feed(&part.bytes);
        Taken::Bytes(part.bytes.len())
    }

    /// Adds `bytes`, which follow what was read: the whole lines they finish are parsed; an
    /// unfinished last line waits for the rest of it.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.offset += bytes.len() as u64;
        let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
            self.partial.extend_from_slice(bytes);
            return;
        };
        let mut lines = std::mem::take(&mut self.partial);
        lines.extend_from_slice(&bytes[..=end]);
        self.partial.extend_from_slice(&bytes[end + 1..]);
        // Split at a newline, no UTF-8 character is cut: the lossy conversion of the
        // pieces is that of the whole.
        self.parse(&String::from_utf8_lossy(&lines));
    }

    /// The tool has ended: an unfinished last line is all it will ever print of that line,
    /// and counts as one (as it does when the whole output is parsed at once).
    pub(crate) fn finish(&mut self) {
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.parse(&String::from_utf8_lossy(&last));
        }
    }

    fn parse(&mut self, lines: &str) {
        if let Some(whole) = &mut self.whole {
            whole.push_str(lines);
            self.output = O::parse(whole);
        } else if !self.output.extend(lines) {
            self.output = O::parse(lines);
            self.whole = Some(lines.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::perf::{ConsumerPerfOutput, ProducerPerfOutput};
    use crate::verifiable::{VerifiableEvent, VerifiableOutput};

    const PRODUCER: &str = include_str!("../../testdata/verifiable_producer.jsonl");
    const CONSUMER: &str = include_str!("../../testdata/verifiable_consumer.jsonl");

    fn part(inode: u64, size: u64, bytes: &[u8]) -> FilePart {
        FilePart {
            inode,
            size,
            bytes: bytes.to_vec(),
        }
    }

    fn acks(output: &VerifiableOutput) -> usize {
        output
            .events
            .iter()
            .filter(|e| matches!(e, VerifiableEvent::ProducerSendSuccess { .. }))
            .count()
    }

    /// Fed in pieces cut anywhere, the output parses as it does whole: same events, same
    /// counts, same verdicts.
    fn same_as_whole<O: ToolOutput + std::fmt::Debug>(text: &str, cuts: &[usize]) -> O {
        let mut tail = OutputTail::<O>::default();
        let mut from = 0;
        for &cut in cuts.iter().chain([&text.len()]) {
            tail.feed(&text.as_bytes()[from..cut]);
            from = cut;
        }
        tail.finish();
        assert_eq!(tail.offset(), text.len() as u64);
        let whole = serde_json::to_string(&O::parse(text)).unwrap();
        assert_eq!(serde_json::to_string(tail.output()).unwrap(), whole);
        tail.output
    }

    #[test]
    fn a_line_split_across_reads_is_parsed_once_whole() {
        let first = PRODUCER.lines().next().unwrap();
        let mut tail = OutputTail::<VerifiableOutput>::default();
        tail.feed(&first.as_bytes()[..10]);
        assert!(tail.output().events.is_empty() && tail.output().malformed.is_empty());
        tail.feed(&first.as_bytes()[10..]);
        // Its end has not come yet: still nothing.
        assert!(tail.output().events.is_empty());
        tail.feed(b"\n");
        assert_eq!(tail.output().events.len(), 1);
        assert!(
            tail.output().malformed.is_empty(),
            "{:?}",
            tail.output().malformed
        );
        assert_eq!(tail.offset(), first.len() as u64 + 1);
    }

    #[test]
    fn pieces_cut_anywhere_parse_as_the_whole_does() {
        let spread = |text: &str| (0..text.len()).step_by(37).collect::<Vec<usize>>();
        // One cut at every byte of the first lines, then one every 37 bytes.
        for cut in (0..400).chain(spread(PRODUCER)) {
            let out: VerifiableOutput = same_as_whole(PRODUCER, &[cut]);
            assert_eq!(acks(&out), 200);
        }
        // Many cuts in one run.
        let out: VerifiableOutput = same_as_whole(PRODUCER, &spread(PRODUCER));
        assert!(out.malformed.is_empty(), "{:?}", out.malformed);
        let out: VerifiableOutput = same_as_whole(CONSUMER, &spread(CONSUMER));
        assert!(out.malformed.is_empty() && !out.events.is_empty());
        // Byte by byte, on a stretch with a multi-byte character cut in two.
        let odd = "{\"name\":\"x\",\"é\":1}\nnot an event é\n";
        let bytes: Vec<usize> = (1..odd.len()).collect();
        let _: VerifiableOutput = same_as_whole(odd, &bytes);
        // A parser that needs the whole output (the consumer's CSV header) gets it; one that
        // goes line by line (the producer's windows) gets the lines.
        let detailed = include_str!("../../testdata/consumer_performance_detailed.txt");
        let out: ConsumerPerfOutput = same_as_whole(detailed, &[20, 150, detailed.len() / 2]);
        assert!(!out.intervals.is_empty());
        let windows = include_str!("../../testdata/producer_performance.txt");
        let out: ProducerPerfOutput = same_as_whole(windows, &[30, windows.len() / 2]);
        assert!(out.result.is_some() && !out.windows.is_empty());
    }

    #[test]
    fn an_acknowledgement_count_mismatch_is_judged_on_all_that_was_read() {
        // The producer's own count (tool_data) read before the last acknowledgement it
        // counts (two threads writing stdout can order them so): the verdict of the first
        // read is made again over everything at the second.
        let mut lines: Vec<&str> = PRODUCER.split_inclusive('\n').collect();
        let ack = lines
            .iter()
            .rposition(|l| l.contains("producer_send_success"))
            .unwrap();
        let late = lines.remove(ack);
        let mut tail = OutputTail::<VerifiableOutput>::default();
        tail.feed(lines.concat().as_bytes());
        assert_eq!(
            tail.output().malformed.len(),
            1,
            "{:?}",
            tail.output().malformed
        );
        assert!(tail.output().malformed[0].contains("counts 200 acknowledged records, but 199"));
        tail.feed(late.as_bytes());
        assert!(
            tail.output().malformed.is_empty(),
            "{:?}",
            tail.output().malformed
        );
        assert_eq!(acks(tail.output()), 200);
    }

    #[test]
    fn an_unfinished_last_line_counts_only_once_the_tool_has_ended() {
        let text = PRODUCER.trim_end_matches('\n');
        let mut tail = OutputTail::<VerifiableOutput>::default();
        tail.feed(text.as_bytes());
        let before = tail.output().events.len();
        tail.finish();
        assert_eq!(tail.output().events.len(), before + 1);
        // Finishing twice adds nothing.
        tail.finish();
        assert_eq!(tail.output().events.len(), before + 1);
        assert_eq!(
            serde_json::to_string(tail.output()).unwrap(),
            serde_json::to_string(&VerifiableOutput::parse(text)).unwrap()
        );
    }

    #[test]
    fn a_replaced_or_truncated_file_is_told_from_one_that_grew() {
        let mut tail = OutputTail::<VerifiableOutput>::default();
        let lines: Vec<&str> = PRODUCER.split_inclusive('\n').collect();
        let first = lines[0].as_bytes();
        assert_eq!(tail.take(&part(7, 0, first)), Taken::Bytes(first.len()));
        // The same file, grown.
        let second = lines[1].as_bytes();
        assert_eq!(
            tail.take(&part(7, first.len() as u64, second)),
            Taken::Bytes(second.len())
        );
        let offset = tail.offset();
        // Another file at the path (the worker was started again), or the same one shorter
        // than what was read of it: nothing is taken.
        assert_eq!(tail.take(&part(8, offset, b"x\n")), Taken::Replaced);
        assert_eq!(tail.take(&part(7, offset - 1, b"")), Taken::Replaced);
        assert_eq!(tail.offset(), offset);
        assert_eq!(tail.output().events.len(), 2);
    }
}
