//! # ducttape-services
//!
//! The `Service` lifecycle and the batteries: ZooKeeper, Kafka, the REST proxy and the
//! performance and verification clients. Being built: see the issues.
