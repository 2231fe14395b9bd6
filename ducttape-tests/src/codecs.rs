//! How a topic's records are stored, read from the broker's own log files with Kafka's
//! `DumpLogSegments` (`kafka-dump-log`): which compression codec each batch has. A producer
//! configured with a codec that the broker stored otherwise (the topic's own
//! `compression.type` recompresses) did not test compressed records at all.

use std::collections::BTreeSet;

use ducttape_services::kafka::DATA_DIR;
use ducttape_services::{KafkaService, ResultExt, ServiceError};

/// The codec of a `DumpLogSegments` batch line (`baseOffset: … compresscodec: zstd …`),
/// lower-cased; `None` for any other line.
///
/// ```
/// use ducttape_tests::codecs::batch_codec;
/// let line = "baseOffset: 0 lastOffset: 1 count: 2 magic: 2 compresscodec: ZSTD crc: 1 isvalid: true";
/// assert_eq!(batch_codec(line).as_deref(), Some("zstd"));
/// assert_eq!(batch_codec("| offset: 0 payload: 1"), None);
/// ```
pub fn batch_codec(line: &str) -> Option<String> {
    line.split(" compresscodec: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_lowercase)
}

/// `DumpLogSegments` of every log segment of `topic` on the first broker (its batch lines;
/// with `records`, `--print-data-log`: each record with its payload too).
pub async fn dump_topic_log(
    kafka: &KafkaService,
    topic: &str,
    records: bool,
) -> Result<String, ServiceError> {
    let broker = kafka
        .brokers()
        .into_iter()
        .next()
        .ok_or_else(|| ServiceError::Usage {
            service: "kafka".into(),
            detail: "no broker to read the log of".into(),
        })?;
    let files = broker
        .account()
        .ssh_output(&format!("ls {DATA_DIR}/{topic}-*/*.log"))
        .await
        .ctx("kafka")?;
    let files: Vec<&str> = files.split_whitespace().collect();
    let mut args = vec!["--files".to_string(), files.join(",")];
    if records {
        args.insert(0, "--print-data-log".into());
    }
    kafka
        .run_tool_on(&broker, kafka.dump_log_segments_class(), &args)
        .await
}

/// The codecs `topic`'s batches are stored with on the first broker (`none`: uncompressed).
pub async fn stored_codecs(
    kafka: &KafkaService,
    topic: &str,
) -> Result<BTreeSet<String>, ServiceError> {
    let dump = dump_topic_log(kafka, topic, false).await?;
    Ok(dump.lines().filter_map(batch_codec).collect())
}
