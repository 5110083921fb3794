//! The command line: `--help` on every command, `check-config` reporting,
//! `migrate`.

#![allow(clippy::unwrap_used)]

use std::process::Command;

/// Runs the `salur` binary; returns its exit code, stdout and stderr.
pub(crate) fn salur(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_salur"));
    cmd.args(args).env_remove("SALUR_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "serve",
        "migrate",
        "check-config",
        "replay",
        "reprocess",
        "gammu-receive",
        "telegram-webhook",
    ] {
        let (code, out, err) = salur(&[cmd, "--help"], &[]);
        assert_eq!(code, 0, "{cmd}: {err}");
        assert!(out.contains("Usage: salur"), "{cmd}: {out}");
    }
}

#[test]
fn telegram_webhook_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("salur.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n\n[[channels]]\nname = \"tg-warga\"\n\
             kind = \"telegram\"\ntoken = \"7000000001:AAH-abc\"\n",
            dir.path().join("salur.db").display()
        ),
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let (code, _, err) = salur(&["--config", config, "telegram-webhook", "tg-lain"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("no Telegram channel named `tg-lain`"), "{err}");
    let (code, _, err) = salur(&["--config", config, "telegram-webhook", "tg-warga"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("polls; set `mode = \"webhook\"`"), "{err}");
}

#[test]
fn check_config_reports_each_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("salur.toml");
    std::fs::write(
        &path,
        r#"
[database]
url = "mysql://nope"

[[channels]]
name = "SMS Utama"
kind = "sms"
provider = "generic"

[[channels]]
name = "sms-2"
kind = "sms"
provider = "generic"
secret = "env:CHECK_CONFIG_MISSING_VAR"
"#,
    )
    .unwrap();
    let (code, _out, err) = salur(&["check-config", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("database.url"), "{err}");
    assert!(err.contains("channels[0]"), "{err}");
    assert!(err.contains("channels[1] (sms-2).secret"), "{err}");
    assert!(err.contains("CHECK_CONFIG_MISSING_VAR"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn check_config_accepts_the_shipped_examples() {
    let root = env!("CARGO_MANIFEST_DIR");
    let env = [
        ("SALUR_API_TOKEN", "t"),
        ("SMS_SECRET", "s"),
        ("SALUR_WEBHOOK_SECRET", "whsec_dGVzdA=="),
    ];
    for file in ["config/salur.example.toml", "config/local.toml"] {
        let (code, out, err) = salur(
            &["check-config", "--config", &format!("{root}/{file}")],
            &env,
        );
        assert_eq!(code, 0, "{file}: {err}");
        assert!(out.contains("configuration OK"), "{file}: {out}");
    }
    let (code, out, _) = salur(&["check-config"], &[]);
    assert_eq!(code, 0, "built-in defaults are valid");
    assert!(out.contains("sqlite"), "{out}");
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x/salur.db").display());
    let (code, out, err) = salur(&["migrate"], &[("SALUR_DATABASE__URL", &url)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("migrations applied (sqlite)"), "{out}");
    assert!(dir.path().join("x/salur.db").exists());
    let (code, _, err) = salur(&["migrate"], &[("SALUR_DATABASE__URL", &url)]);
    assert_eq!(code, 0, "migrate is idempotent: {err}");
}
