//! Compiled filter rules (issue 3): placeholder until the rule engine lands.
