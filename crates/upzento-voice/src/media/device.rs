//! Sound devices through cpal: the microphone as an [`AudioSource`], the speaker or
//! headset as an [`AudioSink`].
//!
//! cpal's PulseAudio host is used when a sound server answers (PulseAudio, or
//! PipeWire's pulse server on current desktops): it names the real devices ("Jabra
//! Evolve2 65", "Built-in Audio") where ALSA offers only `default`. Without a server,
//! ALSA. Buffers are fixed at 10 ms: the defaults hold up to two seconds, which a
//! call would hear as delay.
//!
//! Devices run at their own rate (usually 48 kHz); calls at 8 kHz, so audio is
//! converted on the way (box-filtered decimation in, linear interpolation out:
//! telephone band, not hi-fi).
//!
//! A cpal stream stays on the thread that built it, so each device lives on a thread of
//! its own and stops when its handle is dropped. When the device fails (a headset
//! unplugged), the thread opens the default device instead: the call goes on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::audio::{AudioSink, AudioSource, FRAME, RATE};

/// At most this much audio waits in a device buffer (older samples are dropped: a
/// growing delay is worse than a skip).
const MAX_BUFFERED: usize = RATE as usize / 5;

/// The speaker starts (and restarts after running dry) with this much audio buffered.
const PRIME: usize = FRAME;

/// How often a device thread looks whether its stream failed.
const WATCH: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("no sound device named {0}")]
    NotFound(String),
    #[error("no default {0} device")]
    NoDefault(&'static str),
    #[error("the sound device failed: {0}")]
    Backend(String),
}

fn backend(e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Backend(e.to_string())
}

/// The sound server when one answers, else the platform's default host.
fn host() -> cpal::Host {
    #[cfg(target_os = "linux")]
    if let Ok(host) = cpal::host_from_id(cpal::HostId::PulseAudio) {
        return host;
    }
    cpal::default_host()
}

fn name_of(device: &cpal::Device) -> Option<String> {
    device.description().ok().map(|d| d.name().to_owned())
}

/// The devices the user can choose from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub default_input: Option<String>,
    pub default_output: Option<String>,
}

/// The input and output devices, by name.
pub fn devices() -> Result<Devices, DeviceError> {
    let host = host();
    Ok(Devices {
        inputs: host
            .input_devices()
            .map_err(backend)?
            .filter_map(|d| name_of(&d))
            .collect(),
        outputs: host
            .output_devices()
            .map_err(backend)?
            .filter_map(|d| name_of(&d))
            .collect(),
        default_input: host.default_input_device().and_then(|d| name_of(&d)),
        default_output: host.default_output_device().and_then(|d| name_of(&d)),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Input,
    Output,
}

fn pick(direction: Direction, name: Option<&str>) -> Result<cpal::Device, DeviceError> {
    let host = host();
    match (name, direction) {
        (None, Direction::Input) => host
            .default_input_device()
            .ok_or(DeviceError::NoDefault("input")),
        (None, Direction::Output) => host
            .default_output_device()
            .ok_or(DeviceError::NoDefault("output")),
        (Some(wanted), _) => {
            let mut list = match direction {
                Direction::Input => host.input_devices(),
                Direction::Output => host.output_devices(),
            }
            .map_err(backend)?;
            list.find(|d| name_of(d).as_deref() == Some(wanted))
                .ok_or_else(|| DeviceError::NotFound(wanted.to_owned()))
        }
    }
}

/// What a device thread shares with its handle.
#[derive(Debug)]
struct Shared {
    buffer: Mutex<VecDeque<i16>>,
    /// Set by the stream's error callback; the thread then falls back to the default.
    failed: AtomicBool,
    /// The device in use (changes on a fallback).
    current: Mutex<String>,
    /// The level of the last 20 ms (input) as dBFS × -100 (0 = full scale).
    level: AtomicU32,
    /// Until the device's handle is dropped (the backend may keep its callbacks, and so
    /// this, alive a while longer).
    open: AtomicBool,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            buffer: Mutex::new(VecDeque::with_capacity(MAX_BUFFERED)),
            failed: AtomicBool::new(false),
            current: Mutex::new(String::new()),
            level: AtomicU32::new(u32::MAX),
            open: AtomicBool::new(true),
        })
    }
}

type Build = dyn Fn(&cpal::Device, Arc<Shared>) -> Result<cpal::Stream, DeviceError> + Send;

/// Keeps a device's thread alive; dropping it stops the stream.
#[derive(Debug)]
struct DeviceThread {
    shared: Arc<Shared>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for DeviceThread {
    fn drop(&mut self) {
        self.shared.open.store(false, Ordering::Relaxed);
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn open_stream(
    direction: Direction,
    name: Option<&str>,
    build: &Build,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, DeviceError> {
    let device = pick(direction, name)?;
    let stream = build(&device, shared.clone())?;
    stream.play().map_err(backend)?;
    if let Ok(mut current) = shared.current.lock() {
        *current = name_of(&device).unwrap_or_default();
    }
    Ok(stream)
}

/// Opens the device on its own thread; returns once it plays, or why it cannot.
fn run_device(
    direction: Direction,
    name: Option<String>,
    build: Box<Build>,
) -> Result<DeviceThread, DeviceError> {
    let shared = Shared::new();
    let (ready_tx, ready) = mpsc::channel();
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("audio-device".into())
            .spawn(move || {
                let mut stream = match open_stream(direction, name.as_deref(), &*build, &shared) {
                    Ok(stream) => {
                        let _ = ready_tx.send(Ok(()));
                        stream
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                // Until the handle is dropped.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(WATCH) {
                    if !shared.failed.swap(false, Ordering::Relaxed) {
                        continue;
                    }
                    drop(stream);
                    // The device went away: the default one carries the call on.
                    loop {
                        match open_stream(direction, None, &*build, &shared) {
                            Ok(s) => {
                                tracing::warn!(device = ?shared.current, "sound device failed; using the default one");
                                stream = s;
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "no sound device to fall back to yet");
                                if !matches!(
                                    stopped.recv_timeout(Duration::from_millis(500)),
                                    Err(mpsc::RecvTimeoutError::Timeout)
                                ) {
                                    return;
                                }
                            }
                        }
                    }
                }
                drop(stream);
            })
            .map_err(backend)?
    };
    ready
        .recv()
        .map_err(|_| backend("the audio thread ended"))??;
    Ok(DeviceThread {
        shared,
        stop: Some(stop),
        thread: Some(thread),
    })
}

fn config_for(
    device: &cpal::Device,
    direction: Direction,
) -> Result<cpal::StreamConfig, DeviceError> {
    let mut config = match direction {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
    .map_err(backend)?
    .config();
    config.buffer_size = cpal::BufferSize::Fixed(config.sample_rate / 100);
    Ok(config)
}

fn on_error(shared: Arc<Shared>, what: &'static str) -> impl FnMut(cpal::Error) + Send {
    move |e| {
        tracing::warn!(error = %e, "{what}");
        shared.failed.store(true, Ordering::Relaxed);
    }
}

/// A microphone (or headset) as the call's audio source.
#[derive(Debug)]
pub struct Microphone {
    device: DeviceThread,
}

impl Microphone {
    /// Opens `name`, or the default input device.
    pub fn open(name: Option<&str>) -> Result<Self, DeviceError> {
        let build = |device: &cpal::Device, shared: Arc<Shared>| {
            let config = config_for(device, Direction::Input)?;
            let channels = usize::from(config.channels.max(1));
            let step = f64::from(RATE) / f64::from(config.sample_rate);
            // Box filter: average the device samples that make up one 8 kHz sample.
            let (mut phase, mut sum, mut count) = (0.0f64, 0.0f64, 0u32);
            let errors = on_error(shared.clone(), "microphone");
            device
                .build_input_stream(
                    config,
                    move |data: &[f32], _: &cpal::InputCallbackInfo| {
                        let Ok(mut out) = shared.buffer.lock() else {
                            return;
                        };
                        let mut energy = 0.0f64;
                        for frame in data.chunks(channels) {
                            energy += f64::from(frame[0]) * f64::from(frame[0]);
                            sum += f64::from(frame[0]);
                            count += 1;
                            phase += step;
                            if phase >= 1.0 {
                                phase -= 1.0;
                                let mean = sum / f64::from(count.max(1));
                                #[allow(clippy::cast_possible_truncation)]
                                out.push_back((mean.clamp(-1.0, 1.0) * 32767.0) as i16);
                                (sum, count) = (0.0, 0);
                            }
                        }
                        while out.len() > MAX_BUFFERED {
                            out.pop_front();
                        }
                        #[allow(clippy::cast_precision_loss)]
                        let frames = (data.len() / channels).max(1) as f64;
                        shared
                            .level
                            .store(level_code(energy / frames), Ordering::Relaxed);
                    },
                    errors,
                    None,
                )
                .map_err(backend)
        };
        Ok(Self {
            device: run_device(Direction::Input, name.map(str::to_owned), Box::new(build))?,
        })
    }

    /// The device in use (the default one after the chosen one went away).
    pub fn current(&self) -> String {
        self.device
            .shared
            .current
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// The input level of the last few milliseconds, in dBFS (-100 for silence).
    pub fn level_dbfs(&self) -> f32 {
        decode_level(self.device.shared.level.load(Ordering::Relaxed))
    }

    /// A handle that reads this microphone's level while it is open (for a meter).
    pub fn meter(&self) -> LevelMeter {
        LevelMeter(Arc::downgrade(&self.device.shared))
    }
}

/// Reads a microphone's input level from elsewhere (the UI's meter); knows when the
/// microphone has been closed.
#[derive(Debug, Clone)]
pub struct LevelMeter(std::sync::Weak<Shared>);

impl LevelMeter {
    /// The level in dBFS, or `None` once the microphone is closed.
    pub fn dbfs(&self) -> Option<f32> {
        self.0
            .upgrade()
            .filter(|shared| shared.open.load(Ordering::Relaxed))
            .map(|shared| decode_level(shared.level.load(Ordering::Relaxed)))
    }
}

/// Mean square → dBFS × -100, as an integer an atomic can hold.
fn level_code(mean_square: f64) -> u32 {
    if mean_square <= 1e-10 {
        return 10_000;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let code = (-10.0 * mean_square.log10() * 100.0).clamp(0.0, 10_000.0) as u32;
    code
}

fn decode_level(code: u32) -> f32 {
    #[allow(clippy::cast_precision_loss)]
    let db = -(code.min(10_000) as f32) / 100.0;
    db
}

impl AudioSource for Microphone {
    fn read(&mut self, frame: &mut [i16; FRAME]) {
        let Ok(mut buffer) = self.device.shared.buffer.lock() else {
            *frame = [0; FRAME];
            return;
        };
        for sample in frame.iter_mut() {
            // Not enough captured yet: silence rather than waiting.
            *sample = buffer.pop_front().unwrap_or(0);
        }
    }
}

/// A speaker (or headset) as the call's audio sink.
#[derive(Debug)]
pub struct Speaker {
    device: DeviceThread,
}

impl Speaker {
    /// Opens `name`, or the default output device.
    pub fn open(name: Option<&str>) -> Result<Self, DeviceError> {
        let build = |device: &cpal::Device, shared: Arc<Shared>| {
            let config = config_for(device, Direction::Output)?;
            let channels = usize::from(config.channels.max(1));
            let step = f64::from(RATE) / f64::from(config.sample_rate);
            // Linear interpolation between consecutive 8 kHz samples.
            let (mut phase, mut previous, mut next) = (0.0f64, 0.0f32, 0.0f32);
            // Plays once a frame is buffered, and waits for one again after running dry:
            // the call's 20 ms writes and the device's 10 ms reads are on different clocks,
            // and a gap of silence in the middle of a frame is a click.
            let mut primed = false;
            let errors = on_error(shared.clone(), "speaker");
            device
                .build_output_stream(
                    config,
                    move |data: &mut [f32], _: &cpal::OutputCallbackInfo| {
                        let Ok(mut input) = shared.buffer.lock() else {
                            data.fill(0.0);
                            return;
                        };
                        primed = if primed {
                            !input.is_empty()
                        } else {
                            input.len() >= PRIME
                        };
                        if !primed {
                            data.fill(0.0);
                            return;
                        }
                        for frame in data.chunks_mut(channels) {
                            phase += step;
                            while phase >= 1.0 {
                                phase -= 1.0;
                                previous = next;
                                next = input.pop_front().map_or(0.0, |s| f32::from(s) / 32768.0);
                            }
                            #[allow(clippy::cast_possible_truncation)]
                            let value = previous + (next - previous) * phase as f32;
                            frame.fill(value);
                        }
                    },
                    errors,
                    None,
                )
                .map_err(backend)
        };
        Ok(Self {
            device: run_device(Direction::Output, name.map(str::to_owned), Box::new(build))?,
        })
    }

    /// The device in use (the default one after the chosen one went away).
    pub fn current(&self) -> String {
        self.device
            .shared
            .current
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }
}

impl AudioSink for Speaker {
    fn write(&mut self, frame: &[i16]) {
        if let Ok(mut buffer) = self.device.shared.buffer.lock() {
            buffer.extend(frame);
            while buffer.len() > MAX_BUFFERED {
                buffer.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_in_dbfs() {
        assert!((decode_level(level_code(1.0)) - 0.0).abs() < 0.01);
        // A full-scale sine has a mean square of 0.5: -3 dBFS.
        assert!((decode_level(level_code(0.5)) + 3.01).abs() < 0.02);
        assert!((decode_level(level_code(0.0)) + 100.0).abs() < 0.01);
    }
}
