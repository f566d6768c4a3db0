//! TypeScript to JavaScript, once per module at load: oxc strips the types, nothing else is
//! lowered because QuickJS runs modern JavaScript.

use oxc_allocator::Allocator;
use oxc_codegen::Codegen;
use oxc_parser::Parser;
use oxc_semantic::SemanticBuilder;
use oxc_span::SourceType;
use oxc_transformer::{TransformOptions, Transformer};
use std::path::Path;

/// Returns JavaScript for `source`; `.js`/`.mjs` files pass through unchanged.
pub fn to_javascript(path: &str, source: &str) -> Result<String, String> {
    let is_ts = path.ends_with(".ts") || path.ends_with(".mts");
    if !is_ts {
        return Ok(source.to_owned());
    }
    let allocator = Allocator::default();
    let ret = Parser::new(&allocator, source, SourceType::ts()).parse();
    if let Some(d) = ret.diagnostics.iter().next() {
        return Err(d.message.to_string());
    }
    let mut program = ret.program;
    let scoping = SemanticBuilder::new()
        .build(&program)
        .semantic
        .into_scoping();
    let options = TransformOptions::default();
    let out = Transformer::new(&allocator, Path::new(path), &options)
        .build_with_scoping(scoping, &mut program);
    if let Some(d) = out.diagnostics.iter().next() {
        return Err(d.message.to_string());
    }
    Ok(Codegen::new().build(&program).code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_types_and_keeps_logic() {
        let js = to_javascript(
            "a.ts",
            "interface In { n: number }\nexport default async function run(ctx: unknown, input: In): Promise<number> { return input.n as number + 1; }",
        )
        .unwrap();
        assert!(!js.contains("interface"));
        assert!(!js.contains(": number"));
        assert!(js.contains("input.n + 1"), "{js}");
    }
}
