//! Replies through a local command, typically Gammu SMSD's
//! `gammu-smsd-inject`, which puts the message in the daemon's outbox.
//!
//! The command is a list of arguments run without a shell, for example
//! `["gammu-smsd-inject", "TEXT", "{to}", "-unicode", "-len", "{len}",
//! "-text", "{text}"]`. Inside each argument `{to}` becomes the E.164
//! number, `{text}` the text and `{len}` the text's length in characters;
//! the values are not searched again, so a text containing `{to}` stays as
//! written. Exit status 0 is success, and the `Written message with ID …`
//! line that `gammu-smsd-inject` prints gives the receipt. Any other exit,
//! a timeout, or a command that cannot be started is
//! [`ChannelError::Transient`](salur_channels_core::ChannelError::Transient):
//! the operator may fix the modem or the configuration while the reply
//! waits for its retry.

use std::process::Stdio;
use std::time::Duration;

use salur_channels_core::{BoxFuture, OutboundReply, ReplySender, Result, SentReceipt};

use super::outcome::{Failure, receipt};
use super::recipient;

/// How long the command may run before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What `gammu-smsd-inject` prints before the new message's id.
const WRITTEN_PREFIX: &str = "Written message with ID ";

/// Sends replies by running a configured command.
pub struct GammuSender {
    command: Vec<String>,
    timeout: Duration,
}

impl GammuSender {
    /// A sender running `command` (program, then arguments, with `{to}`,
    /// `{text}` and `{len}` placeholders) for each reply, killed after
    /// [`DEFAULT_TIMEOUT`].
    pub fn new(command: Vec<String>) -> Self {
        Self {
            command,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same sender with another time limit for the command.
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    async fn deliver(&self, reply: &OutboundReply) -> Result<SentReceipt> {
        let to = recipient(reply)?;
        let failure = Failure::new("Gammu", &[to]);
        let Some((program, arguments)) = self.command.split_first() else {
            return Err(failure.transient("no command configured", None));
        };
        let len = reply.text.chars().count().to_string();
        let values = [
            ("{to}", to),
            ("{text}", reply.text.as_str()),
            ("{len}", &len),
        ];
        let mut command = tokio::process::Command::new(program);
        command
            .args(arguments.iter().map(|a| fill(a, &values)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = match tokio::time::timeout(self.timeout, command.output()).await {
            Err(_) => {
                let what = format!("`{program}` timed out after {:?}", self.timeout);
                return Err(failure.transient(&what, None));
            }
            Ok(Err(e)) => {
                return Err(failure.transient(&format!("cannot run `{program}`: {e}"), None));
            }
            Ok(Ok(output)) => output,
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.success() {
            return Ok(receipt(written_id(&stdout)));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = first_line(&stderr).or_else(|| first_line(&stdout));
        let what = match said {
            Some(line) => format!("`{program}` failed ({}): {line}", output.status),
            None => format!("`{program}` failed ({})", output.status),
        };
        Err(failure.transient(&what, None))
    }
}

impl ReplySender for GammuSender {
    fn send<'a>(&'a self, reply: &'a OutboundReply) -> BoxFuture<'a, Result<SentReceipt>> {
        Box::pin(self.deliver(reply))
    }
}

/// `template` with each placeholder of `values` replaced, in one pass.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        match values.iter().find(|(key, _)| tail.starts_with(key)) {
            Some((key, value)) => {
                out.push_str(value);
                rest = &tail[key.len()..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The id from `gammu-smsd-inject`'s `Written message with ID …` line.
fn written_id(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix(WRITTEN_PREFIX))
        .map(str::to_owned)
}

/// The first line with something on it.
fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|line| !line.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once_inside_arguments() {
        let values = [
            ("{to}", "+62812"),
            ("{text}", "a {to} b {len}"),
            ("{len}", "13"),
        ];
        assert_eq!(fill("{text}", &values), "a {to} b {len}");
        assert_eq!(fill("--to={to};n={len}", &values), "--to=+62812;n=13");
        assert_eq!(fill("{x} {to", &values), "{x} {to");
        assert_eq!(fill("{{to}}", &values), "{+62812}");
    }

    #[test]
    fn the_receipt_is_the_written_message_id() {
        let out = "gammu-smsd-inject: Created outbox message OUTC1\n\
                   Written message with ID /var/spool/gammu/outbox/OUTC1.smsbackup\n";
        assert_eq!(
            written_id(out),
            Some("/var/spool/gammu/outbox/OUTC1.smsbackup".into())
        );
        assert_eq!(written_id("Written message with ID 42"), Some("42".into()));
        assert_eq!(written_id("Written message without ID"), None);
        assert_eq!(
            first_line("\n  \n Error: modem \nmore"),
            Some("Error: modem")
        );
        assert_eq!(first_line(" \n"), None);
    }
}
