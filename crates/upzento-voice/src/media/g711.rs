//! G.711 µ-law (PCMU) and A-law (PCMA), as ITU-T G.711 defines them: 16-bit linear
//! PCM to 8-bit codes and back, one sample at a time.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

pub fn ulaw_encode(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(CLIP) + BIAS;
    // The segment: the highest set bit among bits 7..14.
    let mut exponent = 7;
    while exponent > 0 && pcm & (0x80 << exponent) == 0 {
        exponent -= 1;
    }
    let mantissa = (pcm >> (exponent + 3)) & 0x0f;
    // Low-order 8 bits only: the cast keeps exactly the code.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let code = !(sign | (exponent << 4) | mantissa) as u8;
    code
}

pub fn ulaw_decode(code: u8) -> i16 {
    let code = !code;
    let sign = code & 0x80;
    let exponent = i32::from((code >> 4) & 0x07);
    let mantissa = i32::from(code & 0x0f);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    #[allow(clippy::cast_possible_truncation)]
    let value = if sign == 0 { magnitude } else { -magnitude } as i16;
    value
}

pub fn alaw_encode(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3; // 13-bit
    let sign = if pcm >= 0 {
        0xd5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let code = if pcm < 32 {
        (pcm >> 1) & 0x0f
    } else {
        let mut exponent = 1;
        while exponent < 7 && (pcm >> (exponent + 5)) > 0 {
            exponent += 1;
        }
        (exponent << 4) | ((pcm >> exponent) & 0x0f)
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let code = (code ^ sign) as u8;
    code
}

pub fn alaw_decode(code: u8) -> i16 {
    let code = i32::from(code ^ 0x55);
    let exponent = (code >> 4) & 0x07;
    let mantissa = code & 0x0f;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    #[allow(clippy::cast_possible_truncation)]
    let value = if code & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    } as i16;
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_matches_the_standard_codes() {
        // Silence, full scale and a few points of the G.711 tables.
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(ulaw_encode(-1), 0x7f);
        assert_eq!(ulaw_encode(32_767), 0x80);
        assert_eq!(ulaw_encode(-32_768), 0x00);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x80), 32_124);
        assert_eq!(ulaw_decode(0x00), -32_124);
    }

    #[test]
    fn alaw_matches_the_standard_codes() {
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(alaw_encode(-8), 0x55);
        assert_eq!(alaw_encode(32_767), 0xaa);
        assert_eq!(alaw_encode(-32_768), 0x2a);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0xaa), 32_256);
        assert_eq!(alaw_decode(0x2a), -32_256);
    }

    #[test]
    fn round_trips_stay_within_the_quantisation_step() {
        for s in (-32_000_i32..32_000).step_by(97) {
            #[allow(clippy::cast_possible_truncation)]
            let s = s as i16;
            let u = ulaw_decode(ulaw_encode(s));
            let a = alaw_decode(alaw_encode(s));
            // The step grows with the magnitude: at most 1/16 of it, plus the low end.
            let tolerance = (i32::from(s).abs() / 16).max(16);
            assert!(
                (i32::from(u) - i32::from(s)).abs() <= tolerance,
                "µ-law {s} -> {u}"
            );
            assert!(
                (i32::from(a) - i32::from(s)).abs() <= tolerance,
                "A-law {s} -> {a}"
            );
        }
    }
}
