//! intercept-sam: runs SAM templates locally, without Docker, under Intercept.

pub mod template;
