//! Where call audio comes from and goes to: 8 kHz mono 16-bit frames of 20 ms. The
//! devices (cpal) implement these; so do the tone generator and the recorder that the
//! tests and benchmarks use.

use std::sync::{Arc, Mutex};

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
pub const RATE: u32 = 8000;

pub trait AudioSource: Send {
    /// The next 20 ms of microphone audio.
    fn read(&mut self, frame: &mut [i16; FRAME]);
}

pub trait AudioSink: Send {
    /// 20 ms of the other side's voice, in order.
    fn write(&mut self, frame: &[i16]);
}

/// A sine tone (the "microphone" of tests).
#[derive(Debug, Clone)]
pub struct Tone {
    frequency: f64,
    amplitude: f64,
    n: u64,
}

impl Tone {
    pub fn new(frequency: f64, amplitude: f64) -> Self {
        Self {
            frequency,
            amplitude,
            n: 0,
        }
    }
}

impl AudioSource for Tone {
    fn read(&mut self, frame: &mut [i16; FRAME]) {
        for sample in frame.iter_mut() {
            #[allow(clippy::cast_precision_loss)]
            let t = self.n as f64 / f64::from(RATE);
            #[allow(clippy::cast_possible_truncation)]
            let value =
                (self.amplitude * (std::f64::consts::TAU * self.frequency * t).sin()) as i16;
            *sample = value;
            self.n += 1;
        }
    }
}

/// Keeps what it hears (shared, so a test can look while the call goes on).
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    samples: Arc<Mutex<Vec<i16>>>,
}

impl Recorder {
    pub fn samples(&self) -> Vec<i16> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl AudioSink for Recorder {
    fn write(&mut self, frame: &[i16]) {
        if let Ok(mut s) = self.samples.lock() {
            s.extend_from_slice(frame);
        }
    }
}

/// The relative power of `frequency` in `samples` (Goertzel), 0 to about 1 for a
/// full-scale pure tone: how the tests tell a tone from silence or noise.
pub fn goertzel(samples: &[i16], frequency: f64, rate: u32) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = std::f64::consts::TAU * frequency / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = f64::from(x) / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    #[allow(clippy::cast_precision_loss)]
    let n = samples.len() as f64;
    // A full-scale sine of n samples has power (n/2)².
    power / (n * n / 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goertzel_finds_the_tone_and_not_another() {
        let mut tone = Tone::new(1000.0, 16_000.0);
        let mut samples = Vec::new();
        for _ in 0..50 {
            let mut frame = [0; FRAME];
            tone.read(&mut frame);
            samples.extend_from_slice(&frame);
        }
        let at = goertzel(&samples, 1000.0, RATE);
        assert!(at > 0.2, "{at}");
        assert!(goertzel(&samples, 440.0, RATE) < 0.01);
        assert!(goertzel(&vec![0; 8000], 1000.0, RATE) < 1e-9);
    }
}
