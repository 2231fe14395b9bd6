//! Kafka's verifiable clients, `VerifiableProducer` and `VerifiableConsumer`: the basis of
//! "no acknowledged record was lost" checks.
//!
//! Both tools print one JSON event per line on stdout. `events.rs` parses those lines into
//! [`VerifiableEvent`]s ([`parse_events`]); `checker.rs` ([`DeliveryChecker`]) matches the
//! producer's acknowledgements against what the consumers received and reports lost,
//! duplicated and reordered records ([`DeliveryReport`]); `clients.rs` runs the tools as
//! background workers ([`VerifiableProducer`], [`VerifiableConsumer`]) and checks their
//! output ([`check_delivery`]); `group.rs` ([`GroupChecker`]) checks consumer-group semantics
//! (assignments, positions, commits) from the consumers' events.
//!
//! Kafka's exactly-once copier runs here too: `copier.rs` ([`TransactionalMessageCopier`]),
//! and `exactly_once.rs` ([`ExactlyOnceChecker`]) checks its output against its input.

pub(crate) mod checker;
pub(crate) mod clients;
pub(crate) mod copier;
pub(crate) mod events;
pub(crate) mod exactly_once;
pub(crate) mod group;

pub use checker::{
    DeliveryChecker, DeliveryPoint, DeliveryReport, OrderViolation, RecordId, ValueMismatch,
};
pub use clients::{
    acknowledged_on, acknowledged_so_far, check_delivery, check_delivery_of, delivery_report,
    VerifiableConsumer, VerifiableConsumerService, VerifiableOutput, VerifiableProducer,
    VerifiableProducerService, WorkerOutput,
};
pub use copier::{
    copier_progress, CopierOutput, CopierService, CopierStatus, TransactionalMessageCopier,
};
pub use events::{
    parse_event_line, parse_events, CommittedOffset, EventError, PartitionRecords, Record,
    TopicPartition, VerifiableEvent,
};
pub use exactly_once::{Duplicate, ExactlyOnceChecker, ExactlyOnceReport, OrderBreak, ReadRecord};
pub use group::{AssignmentProblems, GroupChecker, GroupViolation};
