//! Compiles the shipped `templates/` (provider presets and message texts) into the binary, so
//! that every preset and message works whatever the working directory.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    println!("cargo:rerun-if-changed=templates");
    let mut out =
        String::from("/// Files of the shipped `templates/`: (path under templates/, text).\n");
    out.push_str("pub const BUILTIN_TEMPLATES: &[(&str, &str)] = &[\n");
    for folder in ["providers", "messages"] {
        let dir = root.join(folder);
        println!("cargo:rerun-if-changed=templates/{folder}");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".yml") || n.ends_with(".hbs"))
            .collect();
        names.sort();
        for name in names {
            let full = dir.join(&name);
            println!("cargo:rerun-if-changed={}", full.display());
            writeln!(
                out,
                "    ({:?}, include_str!({:?})),",
                format!("{folder}/{name}"),
                full.display().to_string()
            )
            .expect("write to a String");
        }
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin_templates.rs");
    std::fs::write(dest, out).expect("write builtin_templates.rs");
}
