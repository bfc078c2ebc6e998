//! Real sound devices: cpal on a PulseAudio server of the test's own with null sinks
//! (`TestSpeaker`, and `TestMic` fed through `TestMicFeed`). What goes to a speaker is
//! heard on its monitor; a device that goes away mid-stream falls back to the default;
//! a call to baresip carries the microphone out and baresip's voice to the speaker.
//!
//! Sound libraries read PULSE_SERVER from the environment, which a test may not set for
//! its own process, so each test runs its body in a child process (`in_pulse::*`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Pulse, run_child_test};

#[test]
fn a_speaker_is_heard_on_its_monitor_and_a_missing_device_is_a_clear_error() {
    let pulse = Pulse::start();
    run_child_test("in_pulse::speaker_to_monitor", &pulse.env());
}

#[test]
fn a_speaker_whose_device_goes_away_falls_back_to_the_default_one() {
    let pulse = Pulse::start();
    run_child_test("in_pulse::hot_swap", &pulse.env());
}

#[test]
fn a_call_to_baresip_takes_the_microphone_and_plays_on_the_speaker() {
    let pulse = Pulse::start();
    run_child_test("in_pulse::call_with_devices", &pulse.env());
}

mod in_pulse {
    use std::net::{IpAddr, Ipv4Addr};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use upzento_voice::media::audio::{AudioSink, AudioSource, FRAME, RATE, Tone, goertzel};
    use upzento_voice::media::device::{DeviceError, Microphone, Speaker, devices};
    use upzento_voice::ua::UserAgent;

    use super::common::{Baresip, Kamailio, alice, answered, registered};

    /// The share of the 20 ms frames of `samples` that carry `frequency`: robust to the
    /// odd glitch of a loaded test machine, unlike one Goertzel over a whole second.
    fn tone_share(samples: &[i16], frequency: f64) -> f64 {
        let frames: Vec<_> = samples.chunks(FRAME).collect();
        let toned = frames
            .iter()
            .filter(|f| goertzel(f, frequency, RATE) > 0.02)
            .count();
        toned as f64 / frames.len().max(1) as f64
    }

    /// `seconds` of the tone into the speaker, paced as a call would, while
    /// `microphone` is read; returns what it heard.
    fn play_and_listen(
        speaker: &mut Speaker,
        microphone: &mut Microphone,
        tone: &mut Tone,
        frames: usize,
    ) -> Vec<i16> {
        let mut heard = Vec::new();
        let start = std::time::Instant::now();
        for i in 0..frames {
            let mut frame = [0i16; FRAME];
            tone.read(&mut frame);
            speaker.write(&frame);
            let mut captured = [0i16; FRAME];
            microphone.read(&mut captured);
            heard.extend_from_slice(&captured);
            let next = start + Duration::from_millis(20 * (i as u64 + 1));
            std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
        }
        heard
    }

    #[test]
    #[ignore = "run by a test above, inside its PulseAudio"]
    fn speaker_to_monitor() {
        let found = devices().unwrap();
        assert!(
            found.outputs.iter().any(|d| d == "TestSpeaker"),
            "{found:?}"
        );
        assert!(found.inputs.iter().any(|d| d == "TestMic"), "{found:?}");
        assert_eq!(found.default_output.as_deref(), Some("TestSpeaker"));

        let mut speaker = Speaker::open(Some("TestSpeaker")).unwrap();
        let mut microphone = Microphone::open(Some("Monitor of TestSpeaker")).unwrap();
        let heard = play_and_listen(
            &mut speaker,
            &mut microphone,
            &mut Tone::new(1000.0, 12_000.0),
            100,
        );
        let tail = &heard[heard.len() - RATE as usize..];
        let share = tone_share(tail, 1000.0);
        assert!(
            share > 0.8,
            "the tone came back in {share:.2} of the frames"
        );
        assert!(tone_share(tail, 440.0) < 0.05);
        let level = microphone.level_dbfs();
        assert!(level > -20.0 && level < 0.0, "input level {level} dBFS");
        let meter = microphone.meter();
        assert!(meter.dbfs().is_some_and(|l| l > -20.0));
        drop(microphone);
        assert_eq!(meter.dbfs(), None, "a closed microphone has no level");

        assert_eq!(
            Speaker::open(Some("No Such Headset")).unwrap_err(),
            DeviceError::NotFound("No Such Headset".into())
        );
        assert!(Microphone::open(Some("No Such Headset")).is_err());
    }

    fn pactl(args: &[&str]) -> String {
        let out = Command::new("pactl").args(args).output().unwrap();
        assert!(out.status.success(), "pactl {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    #[test]
    #[ignore = "run by a test above, inside its PulseAudio"]
    fn hot_swap() {
        let module = pactl(&[
            "load-module",
            "module-null-sink",
            "sink_name=headset",
            "sink_properties=device.description=TestHeadset",
        ]);
        let mut speaker = Speaker::open(Some("TestHeadset")).unwrap();
        assert_eq!(speaker.current(), "TestHeadset");
        let mut monitor = Microphone::open(Some("Monitor of TestSpeaker")).unwrap();
        let mut tone = Tone::new(1000.0, 12_000.0);
        let heard = play_and_listen(&mut speaker, &mut monitor, &mut tone, 50);
        let on_default = goertzel(&heard[heard.len() - 4000..], 1000.0, RATE);
        assert!(
            on_default < 0.01,
            "the headset played on the default speaker: {on_default}"
        );

        // The headset is unplugged mid-call. The sound server moves the stream to the
        // default sink (PulseAudio and PipeWire do); where the stream fails instead,
        // the speaker reopens the default device itself.
        pactl(&["unload-module", &module]);
        let heard = play_and_listen(&mut speaker, &mut monitor, &mut tone, 100);
        let tail = &heard[heard.len() - RATE as usize..];
        let share = tone_share(tail, 1000.0);
        assert!(
            share > 0.8,
            "after the fallback the tone came back in {share:.2} of the frames"
        );
    }

    #[test]
    #[ignore = "run by a test above, inside its PulseAudio"]
    fn call_with_devices() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let kamailio = Kamailio::start();
            let bob = Baresip::start(&kamailio, 1000);
            let ua = UserAgent::start(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .await
                .unwrap();
            let account = alice(&kamailio);
            let registration = ua.register(account.clone()).unwrap();
            registered(&registration).await;

            // The agent's voice: a 600 Hz tone into the microphone's feed.
            let raw = std::env::temp_dir().join(format!("voice-{}.raw", std::process::id()));
            let mut tone = Tone::new(600.0, 12_000.0);
            let mut bytes = Vec::new();
            for _ in 0..400 {
                let mut f = [0i16; FRAME];
                tone.read(&mut f);
                bytes.extend(f.iter().flat_map(|s| s.to_le_bytes()));
            }
            std::fs::write(&raw, bytes).unwrap();
            let mut voice = Command::new("pacat")
                .args([
                    "--device=micsrc",
                    "--format=s16le",
                    "--rate=8000",
                    "--channels=1",
                    "--raw",
                ])
                .arg(&raw)
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            // What the speaker plays, as the test hears it.
            let mut ear = Microphone::open(Some("Monitor of TestSpeaker")).unwrap();

            let call = ua
                .call(
                    &account,
                    "bob",
                    Box::new(Microphone::open(Some("TestMic")).unwrap()),
                    Box::new(Speaker::open(Some("TestSpeaker")).unwrap()),
                )
                .await
                .unwrap();
            answered(&call).await;
            let mut heard = Vec::new();
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            for _ in 0..150 {
                ticker.tick().await;
                let mut frame = [0i16; FRAME];
                ear.read(&mut frame);
                heard.extend_from_slice(&frame);
            }
            let tail = &heard[heard.len() - RATE as usize..];
            let share = tone_share(tail, 1000.0);
            assert!(
                share > 0.8,
                "bob's 1 kHz at our speaker in {share:.2} of the frames; {} samples, max {:?}",
                heard.len(),
                heard.iter().map(|s| s.unsigned_abs()).max(),
            );
            call.hangup();
            call.finished().await;
            let _ = voice.kill();
            let _ = voice.wait();
            let _ = std::fs::remove_file(&raw);

            let (samples, rate) = bob.heard().await;
            let mid = &samples[samples.len() / 2..samples.len() * 7 / 8];
            let at = goertzel(mid, 600.0, rate);
            assert!(
                at > 0.05,
                "our microphone's 600 Hz in bob's recording: {at}"
            );
        });
    }
}
