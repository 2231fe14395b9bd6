//! Kafka's verifiable clients, `VerifiableProducer` and `VerifiableConsumer`: the basis of
//! "no acknowledged record was lost" checks.
//!
//! Both tools print one JSON event per line on stdout. [`events`] parses those lines into
//! [`events::VerifiableEvent`]s; [`checker`] matches the producer's acknowledgements against
//! what the consumers received and reports lost, duplicated and reordered records.

pub mod checker;
pub mod clients;
pub mod events;

pub use checker::{DeliveryChecker, DeliveryReport};
pub use clients::{
    acknowledged_so_far, check_delivery, check_delivery_of, delivery_report, VerifiableConsumer,
    VerifiableConsumerService, VerifiableProducer, VerifiableProducerService,
};
