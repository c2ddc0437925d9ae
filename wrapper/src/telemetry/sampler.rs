//! Head sampling from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, as the OpenTelemetry
//! SDK environment specification defines them. Rejections are kept whatever this decides.

use crate::config::ConfigError;

/// Which traces are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Sampler {
    /// Every trace (`always_on`).
    AlwaysOn,
    /// No trace (`always_off`); rejections are still kept.
    AlwaysOff,
    /// A share of traces chosen by trace id (`traceidratio`, the ratio in 0..=1).
    TraceIdRatio(f64),
    /// The caller's sampled flag when there is a caller, else the inner sampler (`parentbased_*`).
    ParentBased(Root),
}

/// The sampler a [`Sampler::ParentBased`] applies to traces without a caller.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Root {
    /// `parentbased_always_on` (the default).
    AlwaysOn,
    /// `parentbased_always_off`.
    AlwaysOff,
    /// `parentbased_traceidratio`.
    TraceIdRatio(f64),
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::ParentBased(Root::AlwaysOn)
    }
}

impl Sampler {
    /// Reads the sampler and its argument.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `OTEL_TRACES_SAMPLER` for an unknown sampler, or
    /// `OTEL_TRACES_SAMPLER_ARG` for a ratio outside 0..=1.
    pub fn parse(name: Option<&str>, arg: Option<&str>) -> Result<Sampler, ConfigError> {
        let ratio = || -> Result<f64, ConfigError> {
            match arg {
                None => Ok(1.0),
                Some(text) => text.trim().parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)).ok_or_else(|| {
                    ConfigError::new(
                        "OTEL_TRACES_SAMPLER_ARG",
                        format!("`{text}` is not a sampling ratio; expected a number from 0 to 1"),
                    )
                }),
            }
        };
        Ok(match name.map(str::trim).unwrap_or("parentbased_always_on") {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio()?),
            "parentbased_always_on" => Sampler::ParentBased(Root::AlwaysOn),
            "parentbased_always_off" => Sampler::ParentBased(Root::AlwaysOff),
            "parentbased_traceidratio" => Sampler::ParentBased(Root::TraceIdRatio(ratio()?)),
            other => {
                return Err(ConfigError::new(
                    "OTEL_TRACES_SAMPLER",
                    format!(
                        "unknown sampler `{other}`; expected always_on, always_off, traceidratio, \
                         parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
                    ),
                ));
            }
        })
    }

    /// Whether a trace is kept, given its id and the caller's sampled flag (`None`: no caller).
    #[must_use]
    pub fn should_sample(&self, trace_id: &[u8; 16], parent_sampled: Option<bool>) -> bool {
        match (self, parent_sampled) {
            (Sampler::AlwaysOn, _) => true,
            (Sampler::AlwaysOff, _) => false,
            (Sampler::TraceIdRatio(ratio), _) => ratio_keeps(*ratio, trace_id),
            (Sampler::ParentBased(_), Some(sampled)) => sampled,
            (Sampler::ParentBased(Root::AlwaysOn), None) => true,
            (Sampler::ParentBased(Root::AlwaysOff), None) => false,
            (Sampler::ParentBased(Root::TraceIdRatio(ratio)), None) => ratio_keeps(*ratio, trace_id),
        }
    }
}

/// The OpenTelemetry SDKs' rule: the trace id's last 8 bytes, as a number, below ratio × 2^64
/// (so every service deciding on one trace decides alike).
fn ratio_keeps(ratio: f64, trace_id: &[u8; 16]) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id[8..]);
    let value = u64::from_be_bytes(low) >> 1;
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    value < bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_defaults() {
        assert_eq!(Sampler::parse(None, None), Ok(Sampler::ParentBased(Root::AlwaysOn)));
        assert_eq!(Sampler::parse(Some("traceidratio"), Some("0.25")), Ok(Sampler::TraceIdRatio(0.25)));
        assert_eq!(
            Sampler::parse(Some("parentbased_traceidratio"), None),
            Ok(Sampler::ParentBased(Root::TraceIdRatio(1.0)))
        );
        assert_eq!(Sampler::parse(Some("jaeger_remote"), None).map_err(|e| e.setting), Err("OTEL_TRACES_SAMPLER"));
        assert_eq!(
            Sampler::parse(Some("traceidratio"), Some("-1")).map_err(|e| e.setting),
            Err("OTEL_TRACES_SAMPLER_ARG")
        );
    }

    #[test]
    fn parent_decides_for_parent_based() {
        let sampler = Sampler::ParentBased(Root::AlwaysOff);
        let id = [7u8; 16];
        assert!(sampler.should_sample(&id, Some(true)));
        assert!(!sampler.should_sample(&id, Some(false)));
        assert!(!sampler.should_sample(&id, None));
        assert!(Sampler::AlwaysOn.should_sample(&id, Some(false)));
        assert!(!Sampler::AlwaysOff.should_sample(&id, Some(true)));
    }

    #[test]
    fn ratio_keeps_about_its_share_by_trace_id() {
        let sampler = Sampler::TraceIdRatio(0.25);
        let kept = (0u64..4000)
            .filter(|i| {
                let mut id = [0u8; 16];
                id[8..].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
                sampler.should_sample(&id, None)
            })
            .count();
        assert!((800..1200).contains(&kept), "{kept} of 4000 kept at 0.25");
        let mut low = [0u8; 16];
        low[15] = 1;
        assert!(sampler.should_sample(&low, None));
        assert!(!sampler.should_sample(&[0xff; 16], None));
        assert!(!Sampler::TraceIdRatio(0.0).should_sample(&low, None));
    }
}
