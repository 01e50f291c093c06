//! The process log: `tracing` events to standard error, as text or as JSON lines
//! (`log.format`). It starts as text, before any configuration is read (so that loading can
//! log), and takes the configured format once the configuration is loaded.

use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

use crate::config::LogFormat;

type Output = Box<dyn Layer<Registry> + Send + Sync>;

/// The installed process log; [`Logger::set_format`] switches its format.
pub struct Logger {
    output: reload::Handle<Output, Registry>,
}

impl Logger {
    /// Installs the process log as text, at the level of `RUST_LOG` (default `info`). When a
    /// log is installed already (a test process), the returned logger changes nothing.
    pub fn init() -> Logger {
        let (output, handle) = reload::Layer::new(output(LogFormat::Text));
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        let _ = tracing_subscriber::registry()
            .with(output)
            .with(filter)
            .try_init();
        Logger { output: handle }
    }

    /// Writes every line from now on in `format`.
    pub fn set_format(&self, format: LogFormat) {
        if let Err(e) = self.output.reload(output(format)) {
            tracing::warn!(error = %e, "the log format could not be changed");
        }
    }
}

fn output(format: LogFormat) -> Output {
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => layer.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => layer.with_ansi(false).event_format(JsonLines).boxed(),
    }
}

/// One JSON object per event, on one line: `time` (RFC 3339, UTC), `level`, `target`,
/// `message`, and when there are some, `fields` (the event's other fields) and `spans` (the
/// names of the spans it happened in, outermost first). A newline in a message is escaped, so
/// a line is always one whole event.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        let meta = event.metadata();
        let mut fields = FieldValues(Map::new());
        event.record(&mut fields);
        let mut fields = fields.0;
        let mut line = Map::new();
        line.insert("time".into(), Value::String(time));
        line.insert("level".into(), Value::String(meta.level().as_str().into()));
        line.insert("target".into(), Value::String(meta.target().into()));
        let message = fields
            .remove("message")
            .unwrap_or(Value::String(String::new()));
        line.insert("message".into(), message);
        if !fields.is_empty() {
            line.insert("fields".into(), Value::Object(fields));
        }
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|span| Value::String(span.name().into()))
                .collect();
            line.insert("spans".into(), Value::Array(spans));
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// An event's fields as JSON values: numbers and booleans as such, the rest as text.
struct FieldValues(Map<String, Value>);

impl Visit for FieldValues {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(log: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .event_format(JsonLines),
        );
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }

    #[test]
    fn an_event_is_one_json_object_with_its_fields_typed() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("request");
            let _in = span.enter();
            tracing::warn!(status = 502, slow = true, route = "/x", "provider\nfailed");
        });

        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "provider\nfailed");
        assert_eq!(line["fields"]["status"], 502);
        assert_eq!(line["fields"]["slow"], true);
        assert_eq!(line["fields"]["route"], "/x");
        assert_eq!(line["spans"], serde_json::json!(["request"]));
        assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
    }

    #[test]
    fn an_event_without_other_fields_has_no_fields_object() {
        let lines = lines_of(|| tracing::info!("listening"));

        assert_eq!(lines[0]["message"], "listening");
        assert!(lines[0].get("fields").is_none(), "{}", lines[0]);
        assert!(lines[0].get("spans").is_none(), "{}", lines[0]);
    }
}
