//! Test harness: a real mosquitto with the freshly built plugin on a free loopback port, a minimal
//! raw MQTT client (CONNECT/CONNACK, PINGREQ), and token minting with the fixture keys.
#![allow(dead_code)]
pub mod announce;
pub mod authserver;
pub mod broker;
pub mod external;
pub mod idp;
pub mod mqtt;
pub mod relay;
pub mod tokens;
