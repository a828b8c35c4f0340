//! A QMP client: the JSON line protocol libvirt speaks to qemu (qemu docs/interop/qmp-spec).
//! Commands are answered in order; events arrive between answers and are kept for whoever
//! waits for them.

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

pub struct Qmp {
    lines: Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
    /// Events read while waiting for an answer, oldest first.
    pub events: Vec<Value>,
}

impl Qmp {
    /// Takes qemu's monitor connection and leaves the capabilities negotiation mode, as every
    /// QMP client must before its first command.
    pub async fn connect_stream(stream: UnixStream) -> Result<Qmp, String> {
        let (read, writer) = stream.into_split();
        let mut qmp = Qmp {
            lines: BufReader::new(read).lines(),
            writer,
            events: Vec::new(),
        };
        let greeting = qmp.next().await?;
        if greeting.get("QMP").is_none() {
            return Err(format!("QMP greeting expected, qemu sent {greeting}"));
        }
        qmp.execute("qmp_capabilities", json!({})).await?;
        Ok(qmp)
    }

    /// Runs `command` with `arguments` and returns its `return` value, or qemu's error
    /// (`class: desc`).
    pub async fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, String> {
        let mut request = json!({"execute": command});
        if arguments.as_object().is_some_and(|a| !a.is_empty()) {
            request["arguments"] = arguments;
        }
        let line = format!("{request}\n");
        self.writer
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("QMP {command}: {e}"))?;
        loop {
            let reply = self.next().await?;
            if reply.get("event").is_some() {
                self.events.push(reply);
            } else if let Some(value) = reply.get("return") {
                return Ok(value.clone());
            } else {
                let error = &reply["error"];
                return Err(format!(
                    "QMP {command}: {}: {}",
                    error["class"], error["desc"]
                ));
            }
        }
    }

    /// The next event named `name`: one already read, or the next to arrive.
    pub async fn event(&mut self, name: &str) -> Result<Value, String> {
        if let Some(i) = self.events.iter().position(|e| e["event"] == name) {
            return Ok(self.events.remove(i));
        }
        loop {
            let message = self.next().await?;
            if message["event"] == name {
                return Ok(message);
            }
            self.events.push(message);
        }
    }

    /// The next event: one already read, or the next to arrive. Cancel-safe (a line is
    /// either read whole or not at all).
    pub async fn next_event(&mut self) -> Result<Value, String> {
        if !self.events.is_empty() {
            return Ok(self.events.remove(0));
        }
        loop {
            let message = self.next().await?;
            if message.get("event").is_some() {
                return Ok(message);
            }
        }
    }

    async fn next(&mut self) -> Result<Value, String> {
        let line = self
            .lines
            .next_line()
            .await
            .map_err(|e| format!("QMP: {e}"))?
            .ok_or("QMP: qemu closed the monitor (the process ended)")?;
        serde_json::from_str(&line).map_err(|e| format!("QMP sent {line:?}: {e}"))
    }
}
