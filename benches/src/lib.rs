//! Shared helpers of the ducttape benches.
