//! Generates Rust declarations from the system's mosquitto headers (Debian: mosquitto-dev).
//! Nothing from mosquitto is copied into this repository.
use std::{env, path::PathBuf};

/// Broker functions the plugin calls; resolved at run time from the broker process (see src/broker/api.rs).
const FUNCTIONS: &[&str] = &[
    "mosquitto_callback_register",
    "mosquitto_callback_unregister",
    "mosquitto_log_printf",
    "mosquitto_client_id",
    "mosquitto_client_address",
    "mosquitto_client_username",
    "mosquitto_client_clean_session",
    "mosquitto_set_username",
    "mosquitto_kick_client_by_clientid",
    "mosquitto_broker_publish_copy",
];

const TYPES: &[&str] = &[
    "mosquitto_opt",
    "mosquitto_plugin_id_t",
    "mosquitto_evt_basic_auth",
    "mosquitto_evt_acl_check",
    "mosquitto_evt_reload",
    "mosquitto_evt_tick",
    "mosquitto_evt_disconnect",
    "mosquitto_evt_extended_auth",
    "mosquitto_evt_control",
    "MOSQ_FUNC_generic_callback",
];

fn main() {
    println!("cargo:rerun-if-changed=include/wrapper.h");
    println!("cargo:rerun-if-changed=build.rs");
    let mut builder = bindgen::Builder::default()
        .header("include/wrapper.h")
        .allowlist_var("MOSQ_ERR_.*|MOSQ_EVT_.*|MOSQ_LOG_.*|MOSQ_ACL_.*|MOSQ_PLUGIN_VERSION")
        .allowlist_type("mosq_err_t|mosquitto_plugin_event")
        .constified_enum_module("mosquitto_plugin_event")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .layout_tests(false)
        .generate_comments(false);
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }
    let bindings = builder.generate().unwrap_or_else(|e| {
        panic!("bindgen failed on include/wrapper.h ({e}); install mosquitto-dev and libclang-dev (ci/setup.sh does)")
    });
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("mosquitto_bindings.rs");
    bindings.write_to_file(&out).expect("write bindings");
}
