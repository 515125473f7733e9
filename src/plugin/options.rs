//! The `plugin_opt_KEY value` lines of mosquitto.conf, which arrive at init as key/value pairs (the
//! FFI layer only copies the C strings): the jwt.json to load and, in debug builds, the fault
//! injection the panic-boundary tests use.
use std::path::PathBuf;

#[derive(Debug, Default)]
pub struct Options {
    /// plugin_opt_config_file: everything else is configured in jwt.json.
    pub config_file: Option<PathBuf>,
    pub faults: Faults,
}

/// Debug builds only (release builds ignore the options): panics inside a callback, to test that
/// none reaches C.
#[derive(Debug, Default)]
pub struct Faults {
    /// plugin_opt_test_panic_username: authenticating this username panics.
    username: Option<Vec<u8>>,
    /// plugin_opt_test_panic_topic: the ACL check of this topic panics.
    topic: Option<Vec<u8>>,
}

impl Options {
    /// Unknown keys are ignored (mosquitto passes every plugin_opt_ line of the plugin's block).
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Options {
        let mut o = Options::default();
        for (k, v) in pairs {
            match k {
                b"config_file" => o.config_file = Some(PathBuf::from(String::from_utf8_lossy(v).into_owned())),
                b"test_panic_username" if cfg!(debug_assertions) => o.faults.username = Some(v.to_vec()),
                b"test_panic_topic" if cfg!(debug_assertions) => o.faults.topic = Some(v.to_vec()),
                _ => {}
            }
        }
        o
    }
}

impl Faults {
    /// BASIC_AUTH of `username`.
    pub fn at_basic_auth(&self, username: Option<&[u8]>) {
        if self.username.is_some() && username == self.username.as_deref() {
            panic!("fault injection for client username {:?}", String::from_utf8_lossy(username.unwrap_or_default()));
        }
    }

    /// ACL_CHECK of `topic`.
    pub fn at_acl_check(&self, topic: &str) {
        if self.topic.as_deref() == Some(topic.as_bytes()) {
            panic!("fault injection for topic {topic:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_and_debug_faults() {
        let o = Options::parse([
            (&b"config_file"[..], &b"/etc/mosquitto/jwt.json"[..]),
            (b"unrelated", b"x"),
            (b"test_panic_topic", b"boom/x"),
        ]);
        assert_eq!(o.config_file, Some(PathBuf::from("/etc/mosquitto/jwt.json")));
        o.faults.at_basic_auth(Some(b"boom"));
        o.faults.at_acl_check("boom/y");
        let hit = std::panic::catch_unwind(|| o.faults.at_acl_check("boom/x")).is_err();
        assert_eq!(hit, cfg!(debug_assertions));
        assert_eq!(Options::parse([]).config_file, None);
    }
}
