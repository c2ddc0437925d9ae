//! Entry points for the fuzz targets in `fuzz/`. Not part of the API: hidden from the docs, and
//! free to change with any release.

use std::path::Path;

use crate::functions::build_root;
use crate::template::{LoadOptions, Template, is_logical_id};

/// Loads `source` as the template `dir/template.yaml` and checks what a loaded template promises:
/// every function and layer has a CloudFormation logical id, and the folders the emulator would
/// lay its layers out in stay inside its build root. The loader may refuse `source`; it must not
/// panic.
///
/// # Panics
/// When a promise is broken: that is the finding.
pub fn load_template(source: &str, dir: &Path) {
    let Ok(template) = Template::from_source(&dir.join("template.yaml"), source, &LoadOptions::default()) else {
        return;
    };
    let root = build_root(&template);
    let ids = template.functions.iter().map(|f| &f.logical_id).chain(template.layers.iter().map(|l| &l.logical_id));
    for id in ids {
        assert!(is_logical_id(id), "the loader accepted the logical id {id:?}");
        let folder = root.join(id);
        assert!(
            folder.parent() == Some(root.as_path()) && folder.file_name().is_some_and(|name| name == id.as_str()),
            "{id:?} names {} outside the build root {}",
            folder.display(),
            root.display()
        );
    }
    for function in &template.functions {
        for layer in &function.layers {
            assert!(
                layer.starts_with("arn:") || template.layers.iter().any(|l| &l.logical_id == layer),
                "{}: layer {layer:?} is neither an ARN nor a layer of the template",
                function.logical_id
            );
        }
    }
}

/// Reads `data` as what a Lambda authorizer answered, for every kind of authorizer, and as
/// `pattern\ntext` for the IAM wildcard matcher, which must agree with a regular expression
/// built the way SAM CLI builds one (`*` as `.*`, `?` as `.`, the rest literal).
///
/// # Panics
/// When the matchers disagree, or an answer evaluated as an explicit Deny is let through.
pub fn lambda_authorizer_response(data: &[u8]) {
    crate::api::lambda_authorizer::fuzz_response(data);
}

/// Builds every kind of API event from `data` (`content-type\naccept\nbytes`) and reads the
/// bytes as a function's answer: a base64 body decodes to the request's bytes, a text body is
/// them, and a 1.0 answer without `statusCode` is a 502.
///
/// # Panics
/// When an event's body does not carry the request's, or a 1.0 answer is accepted unshaped.
pub fn api_payloads(data: &[u8]) {
    crate::api::fuzz_payloads(data);
}

/// Reads `data` as a chunk of a function's streamed response (outside input) as the Runtime API
/// passes it on, and as the start of an HTTP integration stream as a function URL splits its
/// prelude off.
///
/// # Panics
/// When a byte of the chunk is lost or changed, or the prelude split does not give `data` back.
pub fn streamed_response(data: &[u8]) {
    crate::sandbox::fuzz_stream(data);
}
