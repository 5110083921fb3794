//! Layering, secret resolution and validation of the configuration.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret as _;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Environment {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("create temp file");
    file.write_all(text.as_bytes()).expect("write temp file");
    file
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address parses")
}

/// Loads and validates, expecting failure, and returns the errors.
fn invalid(path: Option<&Path>, env: &Environment) -> Vec<FieldError> {
    match Settings::load_with_env(path, env) {
        Ok(settings) => panic!("expected errors, got {settings:?}"),
        Err(ConfigError::Invalid(errors)) => errors,
        Err(other) => panic!("expected field errors, got {other}"),
    }
}

fn has_error(errors: &[FieldError], path: &str, needle: &str) -> bool {
    errors
        .iter()
        .any(|e| e.path == path && e.message.contains(needle))
}

#[track_caller]
fn assert_error(errors: &[FieldError], path: &str, needle: &str) {
    assert!(
        has_error(errors, path, needle),
        "no error at `{path}` containing `{needle}` in:\n{}",
        report(errors)
    );
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/salur.example.toml")
}

#[test]
fn defaults_only_give_the_documented_values() {
    let config = Config::load_with_env(None, &Environment::default()).expect("defaults load");
    assert_eq!(config.server.listen, addr("127.0.0.1:8080"));
    assert_eq!(config.server.public_url, None);
    assert_eq!(config.server.body_limit, 1_048_576);
    assert_eq!(config.server.request_timeout, Duration::from_secs(30));
    assert_eq!(config.server.shutdown_grace, Duration::from_secs(30));
    assert_eq!(config.server.workers, 0);
    assert_eq!(config.database.url, "sqlite://salur-data/salur.db");
    assert_eq!(config.database.max_connections, 16);
    assert_eq!(config.database.sqlite_synchronous, SqliteSynchronous::Full);
    assert_eq!(config.database.write_batch_max, 512);
    assert!(config.api.tokens.is_empty());
    assert_eq!(config.intake.quiet_period, Duration::from_secs(600));
    assert_eq!(
        config.intake.duplicate_window,
        Duration::from_secs(7 * 86_400)
    );
    assert_eq!(config.intake.default_region, "ID");
    assert_eq!(config.intake.seal_interval, Duration::from_secs(5));
    let minutes = |m: u64| Duration::from_secs(m * 60);
    assert_eq!(
        config.outbox.retry_schedule,
        [
            Duration::from_secs(5),
            Duration::from_secs(30),
            minutes(2),
            minutes(10),
            minutes(60),
            minutes(360),
        ]
    );
    assert_eq!(config.outbox.poll_interval, Duration::from_secs(1));
    assert_eq!(config.outbox.batch_size, 100);
    assert_eq!(config.outbox.lease, Duration::from_secs(60));
    assert_eq!(config.log.level, "info");
    assert_eq!(config.log.format, LogFormat::Text);
    assert!(config.sinks.is_empty());
    assert!(config.channels.is_empty());

    let settings = config
        .validate(&Environment::default())
        .expect("defaults validate");
    assert!(settings.api_tokens().is_empty());
    assert!(!settings.config().database.is_postgres());
    assert_eq!(
        settings.config().database.sqlite_path(),
        Some(PathBuf::from("salur-data/salur.db"))
    );
}

#[test]
fn file_overrides_defaults_and_env_overrides_file() {
    let file = toml_file(
        r#"
        [server]
        listen = "0.0.0.0:9000"
        public_url = "https://aduan.example.go.id"

        [intake]
        quiet_period = "2m"
        default_region = "MY"

        [database]
        sqlite_synchronous = "normal"
        "#,
    );
    let config =
        Config::load_with_env(Some(file.path()), &Environment::default()).expect("file loads");
    assert_eq!(config.server.listen, addr("0.0.0.0:9000"));
    assert_eq!(
        config.server.public_url.as_deref(),
        Some("https://aduan.example.go.id")
    );
    assert_eq!(config.intake.quiet_period, Duration::from_secs(120));
    assert_eq!(config.intake.default_region, "MY");
    assert_eq!(
        config.database.sqlite_synchronous,
        SqliteSynchronous::Normal
    );
    // Untouched keys of a section the file sets keep their defaults.
    assert_eq!(config.server.body_limit, 1_048_576);
    assert_eq!(
        config.intake.duplicate_window,
        Duration::from_secs(7 * 86_400)
    );

    let vars = env(&[
        ("SALUR_SERVER__LISTEN", "10.0.0.1:7000"),
        ("SALUR_INTAKE__QUIET_PERIOD", "5m"),
        ("SALUR_DATABASE__URL", "postgres://salur@db.internal/salur"),
        ("SALUR_DATABASE__MAX_CONNECTIONS", "4"),
        ("SALUR_LOG__FORMAT", "json"),
        ("SALUR_API__TOKENS", "env:TOKEN_A, env:TOKEN_B"),
        ("SALUR_OUTBOX__RETRY_SCHEDULE", "1s,1m"),
    ]);
    let config = Config::load_with_env(Some(file.path()), &vars).expect("file and env load");
    assert_eq!(config.server.listen, addr("10.0.0.1:7000"));
    assert_eq!(config.intake.quiet_period, Duration::from_secs(300));
    assert_eq!(config.intake.default_region, "MY", "file value kept");
    assert!(config.database.is_postgres());
    assert_eq!(config.database.sqlite_path(), None);
    assert_eq!(config.database.max_connections, 4);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(
        format!("{:?}", config.api.tokens),
        "[env:TOKEN_A, env:TOKEN_B]"
    );
    assert_eq!(
        config.outbox.retry_schedule,
        [Duration::from_secs(1), Duration::from_secs(60)]
    );
}

#[test]
fn env_without_a_file_overrides_defaults() {
    let vars = env(&[("SALUR_INTAKE__QUIET_PERIOD", "90")]);
    let config = Config::load_with_env(None, &vars).expect("env loads");
    assert_eq!(
        config.intake.quiet_period,
        Duration::from_secs(90),
        "a bare number is seconds"
    );
}

#[test]
fn unrelated_salur_variables_are_ignored() {
    let vars = env(&[
        ("SALUR_API_TOKEN", "s3cret-token"),
        ("SALUR_TEST_REQUIRE_SERVICES", "1"),
        ("SALUR_LOG", "debug"),
        ("SALUR_CHANNELS__0__NAME", "x"),
        ("SALUR_SINKS__KIND", "nats"),
        ("SALURX_SERVER__LISTEN", "bad"),
        ("PATH", "/usr/bin"),
    ]);
    let config = Config::load_with_env(None, &vars).expect("unrelated variables are ignored");
    assert_eq!(config.server.listen, addr("127.0.0.1:8080"));
    assert_eq!(config.log.level, "info");
    assert!(config.channels.is_empty());
    assert!(config.sinks.is_empty());
    config.validate(&vars).expect("and validation passes");
}

#[test]
fn a_misspelled_env_key_is_an_error_naming_the_variable() {
    let vars = env(&[("SALUR_SERVER__LISTN", "0.0.0.0:1")]);
    let errors = invalid(None, &vars);
    assert_error(&errors, "server.listn", "unknown field");
    assert_error(&errors, "server.listn", "SALUR_SERVER__LISTN");
    assert_eq!(errors.len(), 1, "{}", report(&errors));
}

#[test]
fn a_bad_env_value_is_an_error_naming_the_variable() {
    let vars = env(&[
        ("SALUR_SERVER__LISTEN", "not-an-address"),
        ("SALUR_OUTBOX__RETRY_SCHEDULE", "5s,soon"),
    ]);
    let errors = invalid(None, &vars);
    assert_error(&errors, "server.listen", "SALUR_SERVER__LISTEN");
    assert_error(
        &errors,
        "outbox.retry_schedule[1]",
        "SALUR_OUTBOX__RETRY_SCHEDULE",
    );
    assert_eq!(errors.len(), 2, "{}", report(&errors));
}

#[test]
fn a_missing_explicit_file_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope.toml");
    match Config::load_with_env(Some(&missing), &Environment::default()) {
        Err(ConfigError::Read { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn a_toml_syntax_error_names_the_file() {
    let file = toml_file("[server\nlisten = 1\n");
    let errors = invalid(Some(file.path()), &Environment::default());
    assert_eq!(errors.len(), 1, "{}", report(&errors));
    assert_eq!(errors[0].path, file.path().display().to_string());
    assert_eq!(
        errors[0].message,
        "line 1, column 8: invalid table header; expected `.`, `]`"
    );
}

#[test]
fn env_and_file_secrets_resolve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_file = dir.path().join("sms.secret");
    std::fs::write(&secret_file, "from-file\n").expect("write secret");
    let webhook_file = dir.path().join("hook.secret");
    std::fs::write(&webhook_file, "whsec_abc\r\n").expect("write secret");
    let file = toml_file(&format!(
        r#"
        [server]
        public_url = "https://aduan.example.go.id"

        [api]
        tokens = ["env:TOKEN_A", "literal-token"]

        [[sinks]]
        kind = "webhook"
        name = "dashboard"
        url = "https://dash.example.go.id/hook"
        secret = "file:{webhook}"

        [[sinks]]
        kind = "nats"
        url = "tls://nats.example.go.id:4222"

        [[channels]]
        name = "sms-utama"
        kind = "sms"
        provider = "twilio"
        secret = "file:{sms}"
        account_sid = "AC0123456789abcdef0123456789abcdef"
        from = "+15005550006"

        [[channels]]
        name = "sms_demo"
        kind = "sms"
        provider = "generic"
        allow_unsigned = true
        "#,
        webhook = webhook_file.display(),
        sms = secret_file.display(),
    ));
    let vars = env(&[("TOKEN_A", "token-from-env")]);
    let settings = Settings::load_with_env(Some(file.path()), &vars).expect("valid");

    let tokens: Vec<&str> = settings
        .api_tokens()
        .iter()
        .map(|t| t.expose_secret())
        .collect();
    assert_eq!(tokens, ["token-from-env", "literal-token"]);

    let sms = settings.channel("sms-utama").expect("channel exists");
    assert_eq!(sms.secret.map(|s| s.expose_secret()), Some("from-file"));
    assert_eq!(sms.config.kind(), salur_channels_core::ChannelKind::Sms);
    let ChannelConfig::Sms(sms_config) = sms.config else {
        panic!("an SMS channel");
    };
    assert_eq!(sms_config.provider, SmsProvider::Twilio);
    assert!(sms_config.assemble, "assemble defaults to true");
    assert!(!sms_config.allow_unsigned);
    assert_eq!(sms_config.signature_header, "X-Salur-Signature");

    let demo = settings.channel("sms_demo").expect("channel exists");
    assert!(demo.secret.is_none());
    assert!(demo.config.allow_unsigned());

    let sinks: Vec<_> = settings.sinks().collect();
    assert_eq!(sinks.len(), 2);
    assert_eq!(
        sinks[0].secret.map(|s| s.expose_secret()),
        Some("whsec_abc")
    );
    match sinks[0].config {
        SinkConfig::Webhook(w) => assert_eq!(w.timeout, Duration::from_secs(10)),
        other => panic!("expected a webhook, got {other:?}"),
    }
    assert!(sinks[1].secret.is_none());
    match sinks[1].config {
        SinkConfig::Nats(n) => {
            assert_eq!(n.stream, "SALUR");
            assert_eq!(n.subject_prefix, "salur.complaints");
        }
        other => panic!("expected nats, got {other:?}"),
    }
}

#[test]
fn unresolvable_secrets_are_field_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.secret");
    std::fs::write(&empty, "\n").expect("write empty secret");
    let missing = dir.path().join("missing.secret");
    let file = toml_file(&format!(
        r#"
        [api]
        tokens = ["env:UNSET_TOKEN", "env:EMPTY_TOKEN"]

        [[channels]]
        name = "a"
        kind = "sms"
        provider = "generic"
        secret = "file:{empty}"

        [[channels]]
        name = "b"
        kind = "sms"
        provider = "generic"
        secret = "file:{missing}"

        [[sinks]]
        kind = "webhook"
        url = "https://example.go.id/hook"
        secret = "env:HOOK_SECRET"
        "#,
        empty = empty.display(),
        missing = missing.display(),
    ));
    let vars = env(&[("EMPTY_TOKEN", "")]);
    let errors = invalid(Some(file.path()), &vars);
    assert_error(&errors, "api.tokens[0]", "`UNSET_TOKEN` is not set");
    assert_error(&errors, "api.tokens[1]", "`EMPTY_TOKEN` is empty");
    assert_error(&errors, "channels[0] (a).secret", "is empty");
    assert_error(&errors, "channels[1] (b).secret", "cannot read");
    assert_error(&errors, "sinks[0].secret", "`HOOK_SECRET` is not set");
    assert_eq!(errors.len(), 5, "{}", report(&errors));
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let file = toml_file(
        r#"
        [api]
        tokens = ["literal-api-token", "env:TOKEN_A"]

        [[channels]]
        name = "sms-utama"
        kind = "sms"
        provider = "generic"
        secret = "literal-sms-secret"
        "#,
    );
    let vars = env(&[("TOKEN_A", "env-api-token")]);
    let config = Config::load_with_env(Some(file.path()), &vars).expect("loads");
    let debug = format!("{config:?}");
    assert!(debug.contains("env:TOKEN_A"), "{debug}");
    assert!(debug.contains("\"<literal>\""), "{debug}");
    let settings = config.validate(&vars).expect("valid");
    let debug = format!("{settings:?} {vars:?}");
    for secret in ["literal-api-token", "env-api-token", "literal-sms-secret"] {
        assert!(!debug.contains(secret), "{secret} leaked in {debug}");
    }
}

#[test]
fn check_config_reports_every_problem_with_its_path() {
    let file = toml_file(
        r#"
        [server]
        lisen = "0.0.0.0:8080"
        public_url = "/relative"

        [database]
        url = "mysql://root@localhost/salur"

        [outbox]
        retry_schedule = []

        [[channels]]
        name = "SMS Utama"
        kind = "sms"
        provider = "generic"
        secret = "env:SMS_SECRET"

        [[channels]]
        name = "sms-dua"
        kind = "sms"
        provider = "generic"

        [[channels]]
        name = "sms-dua"
        kind = "sms"
        provider = "kannel"
        secret = "env:SMS_SECRET"
        replies = false

        [[channels]]
        name = "fax-utama"
        kind = "fax"

        [[channels]]
        name = "sms-tiga"
        kind = "sms"
        provider = "generic"
        secret = "env:SMS_SECRET"
        colour = "blue"

        [[sinks]]
        kind = "nats"
        url = "http://127.0.0.1:4222"
        "#,
    );
    let vars = env(&[("SMS_SECRET", "s")]);
    let errors = invalid(Some(file.path()), &vars);
    let expected = [
        ("server.lisen", "unknown field"),
        ("server.public_url", "not a valid URL"),
        ("channels[0].name", "`SMS Utama`"),
        ("channels[1] (sms-dua).secret", "no secret"),
        ("channels[2] (sms-dua).name", "duplicate channel name"),
        ("channels[3] (fax-utama).kind", "unknown channel kind `fax`"),
        ("channels[4] (sms-tiga).colour", "unknown field"),
        ("database.url", "unsupported database"),
        ("outbox.retry_schedule", "at least one"),
        ("sinks[0].url", "nats://"),
    ];
    for (path, needle) in expected {
        assert_error(&errors, path, needle);
    }
    assert_eq!(errors.len(), expected.len(), "{}", report(&errors));

    let text = report(&errors);
    assert_eq!(text.lines().count(), errors.len());
    assert!(
        text.lines()
            .any(|l| l.starts_with("channels[1] (sms-dua).secret: no secret: set `secret`")),
        "{text}"
    );
    assert!(
        !text.contains("root@localhost"),
        "the database URL is not echoed"
    );
}

#[test]
fn value_rules_are_checked() {
    let file = toml_file(
        r#"
        [server]
        public_url = "ftp://aduan.example.go.id"
        body_limit = 0

        [database]
        url = "sqlite://"
        write_batch_max = 0

        [intake]
        quiet_period = "500ms"
        default_region = "XX"

        [log]
        level = "salur=loud"

        [[sinks]]
        kind = "webhook"
        name = "Dashboard!"
        url = "ftp://example.go.id"
        secret = "s"

        [[sinks]]
        kind = "nats"
        url = "nats://127.0.0.1:4222"
        stream = "a.b"
        subject_prefix = "salur.*"

        [[channels]]
        name = "sms-utama"
        kind = "sms"
        provider = "generic"
        secret = "s"
        signature_header = "Bad Header"
        "#,
    );
    let errors = invalid(Some(file.path()), &Environment::default());
    let expected = [
        ("server.public_url", "not http or https"),
        ("server.body_limit", "at least 1"),
        ("database.url", "no file path"),
        ("database.write_batch_max", "at least 1"),
        ("intake.quiet_period", "at least 1s"),
        ("intake.default_region", "`XX`"),
        ("log.level", "log filter"),
        ("sinks[0].name", "`Dashboard!`"),
        ("sinks[0].url", "http(s)"),
        ("sinks[1].stream", "stream name"),
        ("sinks[1].subject_prefix", "wildcards"),
        ("channels[0] (sms-utama).signature_header", "header name"),
    ];
    for (path, needle) in expected {
        assert_error(&errors, path, needle);
    }
    assert_eq!(errors.len(), expected.len(), "{}", report(&errors));
}

#[test]
fn type_errors_carry_their_path() {
    let file = toml_file(
        r#"
        [intake]
        quiet_period = "soon"

        [outbox]
        retry_schedule = ["5s", "later"]
        batch_size = "many"

        [[channels]]
        name = "sms-utama"
        kind = "sms"
        provider = "nokia"
        secret = "env:"

        [[sinks]]
        url = "nats://127.0.0.1:4222"
        "#,
    );
    let errors = invalid(Some(file.path()), &Environment::default());
    let expected = [
        ("intake.quiet_period", "invalid duration `soon`"),
        ("outbox.retry_schedule[1]", "invalid duration `later`"),
        ("outbox.batch_size", "invalid type"),
        ("channels[0] (sms-utama).provider", "unknown value `nokia`"),
        ("channels[0] (sms-utama).secret", "`env:` must be followed"),
        ("sinks[0].kind", "missing"),
    ];
    for (path, needle) in expected {
        assert_error(&errors, path, needle);
    }
    assert_eq!(errors.len(), expected.len(), "{}", report(&errors));
}

#[test]
fn every_listed_kind_deserializes() {
    let empty = figment::value::Value::from(figment::value::Dict::new());
    for kind in channels::CHANNEL_KINDS {
        assert!(ChannelConfig::from_kind(kind, &empty).is_some(), "{kind}");
    }
    for kind in sinks::SINK_KINDS {
        assert!(SinkConfig::from_kind(kind, &empty).is_some(), "{kind}");
    }
    assert!(ChannelConfig::from_kind("fax", &empty).is_none());
    assert!(SinkConfig::from_kind("kafka", &empty).is_none());
}

#[test]
fn unknown_sections_are_errors() {
    let file = toml_file("[servre]\nlisten = \"0.0.0.0:1\"\n");
    let errors = invalid(Some(file.path()), &Environment::default());
    assert_error(&errors, "servre", "unknown section");
    assert_eq!(errors.len(), 1, "{}", report(&errors));
}

#[test]
fn sqlite_urls_map_to_paths() {
    let db = |url: &str| DatabaseConfig {
        url: url.to_owned(),
        max_connections: 1,
        sqlite_synchronous: SqliteSynchronous::Full,
        write_batch_max: 1,
    };
    let cases = [
        ("sqlite://salur-data/salur.db", Some("salur-data/salur.db")),
        (
            "sqlite:///var/lib/salur/salur.db",
            Some("/var/lib/salur/salur.db"),
        ),
        ("sqlite:relative.db", Some("relative.db")),
        ("sqlite://data.db?mode=rwc", Some("data.db")),
        ("sqlite://", None),
        ("postgres://salur@localhost/salur", None),
    ];
    for (url, expected) in cases {
        assert_eq!(db(url).sqlite_path(), expected.map(PathBuf::from), "{url}");
    }
    assert!(db("postgresql://localhost/salur").is_postgres());
    assert!(db("postgres://localhost/salur").is_postgres());
    assert!(!db("sqlite:x.db").is_postgres());
}

#[test]
fn the_example_config_loads_and_validates() {
    let path = example_path();
    let vars = env(&[
        ("SALUR_API_TOKEN", "api-token"),
        ("SMS_SECRET", "sms-secret"),
    ]);
    let settings = Settings::load_with_env(Some(&path), &vars).expect("example is valid");
    assert_eq!(settings.api_tokens().len(), 1);
    assert_eq!(
        settings.config().server.public_url.as_deref(),
        Some("https://aduan.example.go.id")
    );
    let channel = settings.channel("sms-utama").expect("example channel");
    assert_eq!(
        channel.secret.map(|s| s.expose_secret()),
        Some("sms-secret")
    );
    let sinks: Vec<_> = settings.sinks().collect();
    assert_eq!(sinks.len(), 1);
    assert_eq!(sinks[0].config.kind(), "nats");

    let errors = invalid(Some(&path), &Environment::default());
    assert_error(&errors, "api.tokens[0]", "SALUR_API_TOKEN");
    assert_error(&errors, "channels[0] (sms-utama).secret", "SMS_SECRET");
    assert_eq!(errors.len(), 2, "{}", report(&errors));
}

#[test]
fn worker_threads_leave_a_core_to_the_sqlite_writer_unless_set() {
    let mut server = Config::load_with_env(None, &Environment::default())
        .expect("defaults")
        .server;
    assert_eq!(server.worker_threads(true, 2), 1);
    assert_eq!(server.worker_threads(true, 1), 1);
    assert_eq!(server.worker_threads(true, 8), 7);
    assert_eq!(server.worker_threads(false, 2), 2);
    server.workers = 3;
    assert_eq!(server.worker_threads(true, 2), 3);
    assert_eq!(server.worker_threads(false, 8), 3);
}

#[test]
fn sending_providers_need_their_api_settings_unless_replies_are_off() {
    let file = toml_file(
        r#"
        [[channels]]
        name = "sms-twilio"
        kind = "sms"
        provider = "twilio"
        secret = "env:SMS_SECRET"

        [[channels]]
        name = "sms-kannel"
        kind = "sms"
        provider = "kannel"
        secret = "env:SMS_SECRET"
        api_url = "127.0.0.1:13013/cgi-bin/sendsms"
        username = "salur"
        password = "env:KANNEL_PASSWORD"

        [[channels]]
        name = "sms-vonage"
        kind = "sms"
        provider = "vonage"
        secret = "env:SMS_SECRET"
        signature_method = "crc32"
        replies = false

        [[channels]]
        name = "sms-gammu"
        kind = "sms"
        provider = "gammu"
        inject_command = [""]
        "#,
    );
    let errors = invalid(Some(file.path()), &env(&[("SMS_SECRET", "s")]));
    let expected = [
        ("channels[0] (sms-twilio).provider", "set server.public_url"),
        (
            "channels[0] (sms-twilio).account_sid",
            "needed to send replies through `twilio`",
        ),
        ("channels[0] (sms-twilio).from", "or `replies = false`"),
        ("channels[1] (sms-kannel).api_url", "not a valid URL"),
        ("channels[1] (sms-kannel).password", "KANNEL_PASSWORD"),
        (
            "channels[2] (sms-vonage).signature_method",
            "unknown Vonage signature method `crc32`",
        ),
        (
            "channels[3] (sms-gammu).inject_command",
            "must name a program",
        ),
    ];
    for (path, needle) in expected {
        assert_error(&errors, path, needle);
    }
    assert_eq!(errors.len(), expected.len(), "{}", report(&errors));
}

#[test]
fn meta_channels_need_their_secret_token_and_sending_settings() {
    let file = toml_file(
        r#"
        [[channels]]
        name = "wa-utama"
        kind = "whatsapp"
        app_secret = "env:WA_SECRET"
        verify_token = "env:WA_VERIFY"
        access_token = "env:WA_TOKEN"
        phone_number_id = "106540352242922"
        template = "aduan_diterima"

        [[channels]]
        name = "wa-kedua"
        kind = "whatsapp"
        phone_number_id = "nomor-dua"
        graph_url = "graph.facebook.com"

        [[channels]]
        name = "fb-halaman"
        kind = "messenger"
        app_secret = "env:WA_SECRET"
        verify_token = "env:WA_VERIFY"
        phone_number_id = "1"

        [[channels]]
        name = "ig-akun"
        kind = "instagram"
        app_secret = "env:WA_SECRET"
        verify_token = "env:WA_VERIFY"
        replies = false
        "#,
    );
    let vars = env(&[("WA_SECRET", "s"), ("WA_VERIFY", "v"), ("WA_TOKEN", "t")]);
    let errors = invalid(Some(file.path()), &vars);
    let expected = [
        ("channels[1] (wa-kedua).app_secret", "no app secret"),
        (
            "channels[1] (wa-kedua).verify_token",
            "subscription handshake",
        ),
        ("channels[1] (wa-kedua).graph_url", "not a valid URL"),
        ("channels[1] (wa-kedua).phone_number_id", "digits"),
        (
            "channels[1] (wa-kedua).access_token",
            "needed to send replies",
        ),
        (
            "channels[2] (fb-halaman).phone_number_id",
            "only WhatsApp channels",
        ),
        (
            "channels[2] (fb-halaman).access_token",
            "needed to send replies through messenger",
        ),
    ];
    for (path, needle) in expected {
        assert_error(&errors, path, needle);
    }
    assert_eq!(errors.len(), expected.len(), "{}", report(&errors));
}

#[test]
fn telegram_bots_need_a_token_and_a_consistent_mode() {
    let file = toml_file(
        r#"
        [[channels]]
        name = "tg-warga"
        kind = "telegram"
        token = "env:TG_TOKEN"

        [[channels]]
        name = "tg-hook"
        kind = "telegram"
        token = "env:TG_TOKEN"
        mode = "webhook"
        webhook_secret = "env:TG_SECRET"
        api_url = "http://127.0.0.1:8081"

        [[channels]]
        name = "tg-kosong"
        kind = "telegram"
        mode = "webhook"

        [[channels]]
        name = "tg-salah"
        kind = "telegram"
        token = "env:TG_BAD"
        webhook_secret = "env:TG_SECRET"
        guided = true
        assemble = false
        poll_timeout = "2m"
        api_url = "api.telegram.org"
        "#,
    );
    let vars = env(&[
        ("TG_TOKEN", "7000000001:AAH-abc"),
        ("TG_SECRET", "s3cret"),
        ("TG_BAD", "not-a-token"),
    ]);
    let errors = invalid(Some(file.path()), &vars);
    let expected = [
        ("channels[2] (tg-kosong).token", "@BotFather"),
        ("channels[2] (tg-kosong).webhook_secret", "no secret"),
        ("channels[3] (tg-salah).token", "not a bot token"),
        ("channels[3] (tg-salah).api_url", "not a valid URL"),
        ("channels[3] (tg-salah).guided", "assemble = true"),
        ("channels[3] (tg-salah).webhook_secret", "only used with"),
        ("channels[3] (tg-salah).poll_timeout", "at most 50s"),
    ];
    for (path, needle) in expected {
        assert_error(&errors, path, needle);
    }
    assert_eq!(errors.len(), expected.len(), "{}", report(&errors));

    let ok = toml_file(
        r#"
        [[channels]]
        name = "tg-warga"
        kind = "telegram"
        token = "env:TG_TOKEN"
        "#,
    );
    let settings = Settings::load_with_env(Some(ok.path()), &vars).expect("a polling bot loads");
    let bot = settings.channels().next().expect("one channel");
    assert_eq!(
        bot.credentials
            .token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        Some("7000000001:AAH-abc".to_owned())
    );
    assert!(bot.secret.is_none(), "polling takes no webhook secret");
}

#[test]
fn email_channels_need_an_intake_and_a_safe_server() {
    let file = toml_file(
        r#"
        [[channels]]
        name = "mail-aduan"
        kind = "email"
        push_secret = "env:MAIL_PUSH"
        [channels.imap]
        host = "imap.example-kab.go.id"
        username = "aduan@example-kab.go.id"
        password = "env:MAIL_PASS"
        mailboxes = ["INBOX", "Pengaduan"]
        move_to = "Arsip"
        [channels.smtp]
        host = "smtp.example-kab.go.id"
        from = "Layanan Pengaduan <aduan@example-kab.go.id>"

        [[channels]]
        name = "mail-kosong"
        kind = "email"

        [[channels]]
        name = "mail-salah"
        kind = "email"
        [channels.imap]
        host = "imap.example.com"
        tls = "plain"
        username = "u"
        password = "env:MAIL_PASS"
        mailboxes = ["INBOX"]
        move_to = "INBOX"
        [channels.smtp]
        host = "smtp.example.com"
        tls = "plain"
        from = "bukan alamat"
        "#,
    );
    let vars = env(&[("MAIL_PUSH", "push-token"), ("MAIL_PASS", "rahasia")]);
    let errors = invalid(Some(file.path()), &vars);
    let expected = [
        ("channels[1] (mail-kosong).imap", "no intake"),
        (
            "channels[1] (mail-kosong).smtp",
            "needed to send acknowledgements",
        ),
        (
            "channels[2] (mail-salah).imap.tls",
            "only to a server on this machine",
        ),
        (
            "channels[2] (mail-salah).imap.move_to",
            "must not be one of the polled",
        ),
        (
            "channels[2] (mail-salah).smtp.tls",
            "only to a server on this machine",
        ),
        ("channels[2] (mail-salah).smtp.from", "not an address"),
    ];
    for (path, needle) in expected {
        assert_error(&errors, path, needle);
    }
    assert_eq!(errors.len(), expected.len(), "{}", report(&errors));
}
