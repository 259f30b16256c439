//! Connection states (issue 3): placeholder until the state tables land.
